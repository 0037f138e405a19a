"""
Tests for the admin endpoint over real loopback HTTP, with Twisted's own
client (L{twisted.web.client.Agent}): every endpoint, the bearer token,
methods that are refused, no CORS, and bad HTTP (malformed requests, huge
bodies, a slowloris client) that never stops poems being served.
"""

from __future__ import annotations

import json
import os
import tempfile
import xml.etree.ElementTree as ElementTree
from io import BytesIO
from typing import Any

from prometheus_client.parser import text_string_to_metric_families
from twisted.internet import reactor
from twisted.internet.defer import Deferred
from twisted.internet.error import ConnectionDone, ConnectionLost
from twisted.internet.protocol import ClientFactory, Protocol, connectionDone
from twisted.logger import globalLogPublisher
from twisted.python.failure import Failure
from twisted.trial.unittest import TestCase
from twisted.web.client import (
    Agent,
    FileBodyProducer,
    HTTPConnectionPool,
    ResponseDone,
)
from twisted.web.http_headers import Headers
from twisted.web.server import Site

from poetry.admin import AdminRequest, read_json_body
from poetry.admin.control import ADMIN_NAMESPACE
from poetry.admin.resources import JSONResource
from poetry.service import CannotListen, PoetryService, makeService
from tests.helpers import Collect, fetch, parse, waitFor

TOKEN = "s3cret-token-of-thirty-two-bytes"
JSON = {"content-type": "application/json"}


class Response:
    """What a request got: status, headers, body."""

    def __init__(self, code: int, headers: Headers, body: bytes) -> None:
        self.code = code
        self.headers = headers
        self.body = body

    def header(self, name: str) -> str | None:
        values = self.headers.getRawHeaders(name)
        return None if values is None else values[0]

    def json(self) -> Any:
        return json.loads(self.body)


class _Body(Protocol):
    """
    Collects a response's body (L{readBody} warns about Agent's own
    transport, which has no C{abortConnection}).
    """

    def __init__(self) -> None:
        self.chunks: list[bytes] = []
        self.done: Deferred[bytes] = Deferred()

    def dataReceived(self, data: bytes) -> None:
        self.chunks.append(data)

    def connectionLost(self, reason: Failure = connectionDone) -> None:
        if reason.check(ResponseDone):
            self.done.callback(b"".join(self.chunks))
        else:
            self.done.errback(reason)


class _Echo(JSONResource):
    """A resource reading a JSON body, as the behaviour endpoint will."""

    def render_PUT(self, request: Any) -> bytes:
        return self._json(request, read_json_body)


class AdminTestCase(TestCase):
    """A server with an admin endpoint, both on loopback port 0."""

    def start(self, *argv: str) -> PoetryService:
        service = makeService(
            parse("--port", "tcp:0:interface=127.0.0.1", "--admin", "tcp:0", *argv)
        )
        service.startService()
        self.addCleanup(service.stopService)
        assert service.admin_listener is not None
        admin_port = service.admin_listener.port
        assert admin_port is not None
        self.admin_port = admin_port.getHost().port
        self.poem_port = service.ports[0].getHost().port
        self.service = service
        pool = HTTPConnectionPool(reactor, persistent=False)
        self.agent = Agent(reactor, pool=pool)
        return service

    async def request(
        self,
        method: str,
        path: str,
        headers: dict[str, str] | None = None,
        body: bytes | None = None,
    ) -> Response:
        producer = None if body is None else FileBodyProducer(BytesIO(body))
        response = await self.agent.request(
            method.encode("ascii"),
            f"http://127.0.0.1:{self.admin_port}{path}".encode("ascii"),
            Headers({k: [v] for k, v in (headers or {}).items()}),
            producer,
        )
        body = _Body()
        response.deliverBody(body)
        data = await body.done
        return Response(response.code, response.headers, data)

    async def raw(self, data: bytes) -> tuple[bytes, Any]:
        """Send C{data} on a new admin connection; what came back, and how."""
        proto = Collect(data)
        factory = ClientFactory.forProtocol(lambda: proto)
        reactor.connectTCP("127.0.0.1", self.admin_port, factory, timeout=5)
        result: tuple[bytes, Any] = await proto.done
        return result


def _token_file(case: TestCase, text: str = TOKEN) -> str:
    fd, path = tempfile.mkstemp()
    os.write(fd, text.encode("ascii") + b"\n")
    os.close(fd)
    case.addCleanup(os.unlink, path)
    return path


class StatusTests(AdminTestCase):
    """C{GET /api/status} and the read-only rule."""

    async def test_statusShowsLiveSlowConnections(self) -> None:
        """
        While three slow downloads run, the status names the server's
        version and slow behaviour, counts three live connections and lists
        each (peer, poem, bytes sent of size, seconds open, state).
        """
        self.start("--delay", "0.2", "--chunk-size", "5")
        clients = [Collect() for _ in range(3)]
        for c in clients:
            reactor.connectTCP(
                "127.0.0.1", self.poem_port, ClientFactory.forProtocol(lambda c=c: c)
            )
        factory = self.service.factory
        await waitFor(lambda: len(factory.live) == 3 and all(c.chunks for c in clients))
        response = await self.request("GET", "/api/status")
        self.assertEqual(response.code, 200)
        self.assertEqual(
            response.header("content-type"), "application/json; charset=utf-8"
        )
        status = response.json()
        from poetry import __version__

        self.assertEqual(status["version"], __version__)
        self.assertEqual(status["mode"], "slow")
        self.assertEqual(status["behaviour"]["delay"], 0.2)
        self.assertEqual(status["behaviour"]["chunk_size"], 5)
        self.assertEqual(status["limits"]["idle_timeout"], factory.idle_timeout)
        self.assertEqual(status["counters"]["live"], 3)
        self.assertEqual(status["live"]["total"], 3)
        self.assertEqual(len(status["live"]["connections"]), 3)
        poems = {
            factory.display_name(p.name): len(p.data) for p in factory.library.poems
        }
        for connection in status["live"]["connections"]:
            self.assertTrue(connection["peer"].startswith("127.0.0.1:"))
            self.assertEqual(connection["size"], poems[connection["poem"]])
            self.assertGreaterEqual(connection["bytes_sent"], 5)
            self.assertLess(connection["bytes_sent"], connection["size"])
            self.assertGreaterEqual(connection["seconds_open"], 0)
            self.assertEqual(connection["state"], "sending")
        self.assertEqual(
            status["counters"]["bytes_sent_live"],
            sum(c["bytes_sent"] for c in status["live"]["connections"]),
        )
        factory.cut_all()
        for c in clients:
            await c.done

    async def test_getChangesNothing(self) -> None:
        """
        GET and HEAD on every resource leave the counters and the behaviour
        as they were; PUT, POST, DELETE and OPTIONS are 405 with an Allow
        header naming GET and HEAD, and change nothing either.
        """
        self.start("--fault", "reset:3")
        before = (self.service.factory.counts(), self.service.factory.fault)
        for path in ["/", "/api/status", "/metrics", "/api/timeline.svg"]:
            for method in ["GET", "HEAD"]:
                response = await self.request(method, path)
                self.assertEqual(response.code, 200, (method, path))
                if method == "HEAD":
                    self.assertEqual(response.body, b"")
            for method in ["PUT", "POST", "DELETE", "OPTIONS"]:
                response = await self.request(
                    method,
                    path,
                    {"content-type": "application/json"},
                    b'{"delay": 1}',
                )
                self.assertEqual(response.code, 405, (method, path))
                self.assertEqual(response.header("allow"), "GET, HEAD")
        self.assertEqual(
            (self.service.factory.counts(), self.service.factory.fault), before
        )

    async def test_noCors(self) -> None:
        """
        A request from another origin, and a CORS preflight, get no
        Access-Control-* header: a browser never lets another site's page
        read the answers.
        """
        self.start()
        origin = {
            "origin": "http://evil.example",
            "access-control-request-method": "PUT",
        }
        for method in ["GET", "OPTIONS"]:
            response = await self.request(method, "/api/status", origin)
            names = [name.lower() for name, _ in response.headers.getAllRawHeaders()]
            self.assertFalse(
                [n for n in names if n.startswith(b"access-control-")], names
            )

    async def test_unknownPaths(self) -> None:
        """Paths outside the tree are 404 with one line of text."""
        self.start()
        for path in ["/nope", "/api", "/api/nope", "/api/status/more", "/index.html"]:
            response = await self.request("GET", path)
            self.assertEqual(response.code, 404, path)
            self.assertEqual(response.body, b"no such resource\n", path)

    async def test_page(self) -> None:
        """
        GET / is the status page: HTML whose Content-Security-Policy lets
        only its own script run (by hash) and connect only to this server.
        """
        self.start()
        response = await self.request("GET", "/")
        self.assertEqual(response.code, 200)
        self.assertEqual(response.header("content-type"), "text/html; charset=utf-8")
        self.assertIn(b'<table id="live">', response.body)
        policy = response.header("content-security-policy") or ""
        self.assertIn("script-src 'sha256-", policy)
        self.assertIn("connect-src 'self'", policy)
        self.assertNotIn("unsafe-inline'; img", policy.split("script-src")[1][:40])


class MetricsTests(AdminTestCase):
    """C{GET /metrics}, parsed by prometheus_client's own parser."""

    async def metrics(self) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
        response = await self.request("GET", "/metrics")
        self.assertEqual(response.code, 200)
        self.assertTrue(
            (response.header("content-type") or "").startswith("text/plain")
        )
        samples = {}
        for family in text_string_to_metric_families(response.body.decode()):
            for s in family.samples:
                samples[(s.name, tuple(sorted(s.labels.items())))] = s.value
        return samples

    async def test_servedPoems(self) -> None:
        """
        After two poems: two connections ended complete, the bytes sent
        are theirs, none live, and the duration histogram counted two.
        """
        self.start()
        sizes = []
        for _ in range(2):
            data, reason = await fetch(self.poem_port)
            self.assertTrue(reason.check(ConnectionDone))
            sizes.append(len(data))
        await waitFor(lambda: self.service.factory.served == 2)
        samples = await self.metrics()
        self.assertEqual(
            samples[("poetry_connections_ended_total", (("outcome", "complete"),))], 2
        )
        self.assertEqual(
            samples[("poetry_connections_ended_total", (("outcome", "client_gone"),))],
            0,
        )
        self.assertEqual(samples[("poetry_bytes_sent_total", ())], sum(sizes))
        self.assertEqual(samples[("poetry_live_connections", ())], 0)
        self.assertEqual(samples[("poetry_connection_duration_seconds_count", ())], 2)
        self.assertEqual(
            samples[("poetry_connection_duration_seconds_bucket", (("le", "+Inf"),))], 2
        )
        self.assertEqual(
            samples[("poetry_refused_total", (("limit", "max_connections"),))], 0
        )

    async def test_faultActivationsByMode(self) -> None:
        """Two connections under --fault reset:4 are two activations of reset."""
        self.start("--fault", "reset:4")
        for _ in range(2):
            data, _ = await fetch(self.poem_port)
            self.assertEqual(len(data), 4)
        await waitFor(lambda: self.service.factory.faults == 2)
        samples = await self.metrics()
        self.assertEqual(
            samples[("poetry_fault_activations_total", (("mode", "reset"),))], 2
        )
        self.assertEqual(
            samples[("poetry_connections_ended_total", (("outcome", "fault"),))], 2
        )


class TimelineTests(AdminTestCase):
    """C{GET /api/timeline.svg}: the recent connections, drawn."""

    async def test_drawsRecentConnections(self) -> None:
        """
        After two poems the picture is an SVG document with one task per
        connection, each ended "ok".
        """
        self.start()
        for _ in range(2):
            await fetch(self.poem_port)
        await waitFor(lambda: self.service.factory.served == 2)
        response = await self.request("GET", "/api/timeline.svg")
        self.assertEqual(response.code, 200)
        self.assertEqual(
            response.header("content-type"), "image/svg+xml; charset=utf-8"
        )
        root = ElementTree.fromstring(response.body)
        tasks = root.findall("{http://www.w3.org/2000/svg}g[@class='task']")
        self.assertEqual(len(tasks), 2)
        texts = " ".join(t.text or "" for t in root.iter() if t.text)
        self.assertIn("ok", texts)
        self.assertIn("127.0.0.1:", texts)


class TokenTests(AdminTestCase):
    """With --admin-token-file every API request needs the bearer token."""

    async def test_withoutTokenIs401(self) -> None:
        """
        No Authorization header, a wrong token, another scheme, an empty
        token, or the token with a byte more or less: 401 with a Bearer
        challenge, for the API and the metrics alike.
        """
        self.start("--admin-token-file", _token_file(self))
        wrong: list[dict[str, str]] = [
            {},
            {"authorization": "Bearer wrong-token-of-thirty-two-bytes!"},
            {"authorization": f"Basic {TOKEN}"},
            {"authorization": "Bearer "},
            {"authorization": f"Bearer {TOKEN[:-1]}"},
            {"authorization": f"Bearer {TOKEN}x"},
        ]
        for path in ["/api/status", "/metrics", "/api/timeline.svg"]:
            for headers in wrong:
                response = await self.request("GET", path, headers)
                self.assertEqual(response.code, 401, (path, headers))
                self.assertEqual(
                    response.header("www-authenticate"),
                    'bearer realm="poetry admin"',
                )
                self.assertNotIn(b"counters", response.body)

    async def test_withTokenIs200(self) -> None:
        """The right token (the scheme in any case) is let through."""
        self.start("--admin-token-file", _token_file(self))
        for scheme in ["Bearer", "bearer"]:
            headers = {"authorization": f"{scheme} {TOKEN}"}
            for path in ["/api/status", "/metrics"]:
                response = await self.request("GET", path, headers)
                self.assertEqual(response.code, 200, (scheme, path))
        response = await self.request(
            "GET", "/api/status", {"authorization": f"Bearer {TOKEN}"}
        )
        self.assertIn("counters", response.json())

    async def test_hostMustNameLoopback(self) -> None:
        """
        Without a token, a request whose C{Host} names anything but
        loopback (a DNS-rebinding page's own name) is a 403 and changes
        nothing; loopback names with any port are answered.
        """
        self.start()
        before = (await self.request("GET", "/api/behaviour")).body
        for host in ["rebound.example:%d", "127.0.0.1.nip.example", "10.0.0.1:%d"]:
            value = host % self.admin_port if "%d" in host else host
            for method, path in [("GET", "/api/status"), ("GET", "/")]:
                response = await self.request(method, path, {"Host": value})
                self.assertEqual(response.code, 403, (value, path))
            put = await self.request(
                "PUT",
                "/api/behaviour",
                {"Host": value, "Content-Type": "application/json"},
                b'{"faults": ["reset:1"]}',
            )
            self.assertEqual(put.code, 403)
        self.assertEqual((await self.request("GET", "/api/behaviour")).body, before)
        for value in ["localhost:%d", "127.0.0.2:%d", "[::1]:%d", "LOCALHOST"]:
            host = value % self.admin_port if "%d" in value else value
            response = await self.request("GET", "/api/status", {"Host": host})
            self.assertEqual(response.code, 200, host)

    async def test_withTokenAnyHost(self) -> None:
        """With a token the Host is not checked: the token is the guard."""
        self.start("--admin-token-file", _token_file(self))
        response = await self.request(
            "GET",
            "/api/status",
            {"Host": "admin.example", "Authorization": "Bearer " + TOKEN},
        )
        self.assertEqual(response.code, 200)

    async def test_pageWithoutTokenIs401(self) -> None:
        """
        With a token, even the page is a 401 without it, but the 401's body
        is the static page (no server data), so a browser shows the form
        that asks for the token; with the token it is a 200.
        """
        token = _token_file(self)
        self.start("--admin-token-file", token)
        response = await self.request("GET", "/")
        self.assertEqual(response.code, 401)
        self.assertEqual(
            response.headers.getRawHeaders(b"www-authenticate"),
            [b'Bearer realm="poetry admin"'],
        )
        self.assertIn(b"Admin token", response.body)
        self.assertNotIn(b"127.0.0.1", response.body)
        wrong = await self.request("GET", "/", {"Authorization": "Bearer " + "x" * 24})
        self.assertEqual(wrong.code, 401)
        right = await self.request("GET", "/", {"Authorization": "Bearer " + TOKEN})
        self.assertEqual(right.code, 200)
        self.assertEqual(right.body, response.body)


class BadRequestTests(AdminTestCase):
    """Bad HTTP costs bounded memory and never stops poems being served."""

    def start_with_echo(self) -> None:
        """The server, with a test resource taking a JSON body at /api/echo."""
        self.start()
        assert self.service.admin_listener is not None
        root = self.site().resource
        getattr(root, "wrapped", root).children[b"api"].putChild(b"echo", _Echo())

    def site(self) -> Any:
        """The admin L{Site}, under its policy wrappers."""
        assert self.service.admin_listener is not None
        factory: Any = self.service.admin_listener.factory
        for _ in range(5):
            if isinstance(factory, Site):
                return factory
            factory = factory.wrappedFactory
        raise AssertionError("no Site under the admin factory")

    async def test_jsonBody(self) -> None:
        """
        The JSON body reader (what PUT /api/behaviour will use) answers a
        good object, and a 4xx with one line for each kind of bad body.
        """
        self.start_with_echo()
        json_type = {"content-type": "application/json"}
        good = await self.request("PUT", "/api/echo", json_type, b'{"delay": 0.2}')
        self.assertEqual((good.code, good.json()), (200, {"delay": 0.2}))
        cases = [
            ({"content-type": "text/plain"}, b'{"delay": 0.2}', 415),
            ({}, b'{"delay": 0.2}', 415),
            (json_type, b'{"delay": ', 400),
            (json_type, b"\xff\xfe", 400),
            (json_type, b"[1, 2]", 400),
            (json_type, b"x" * (AdminRequest.MAX_BODY_SIZE + 1), 413),
        ]
        for headers, body, code in cases:
            response = await self.request("PUT", "/api/echo", headers, body)
            self.assertEqual(response.code, code, (headers, body[:20]))
            error = response.json()["error"]
            self.assertNotIn("\n", error)

    async def test_malformedHttp(self) -> None:
        """
        A request line that is not HTTP, or headers over Twisted's limit,
        get a 400 and the connection closed; poems are served meanwhile.
        """
        self.start()
        for junk in [
            b"NOT HTTP AT ALL\r\n\r\n",
            b"GET / HTTP/1.1\r\n" + (b"X: " + b"y" * 9000 + b"\r\n") * 2 + b"\r\n",
            b"GET / HTTP/1.1\r\n" + b"X: y\r\n" * 600 + b"\r\n",
            b"\x00\x01\x02\r\n\r\n",
        ]:
            data, _ = await self.raw(junk)
            self.assertTrue(data.startswith(b"HTTP/1.1 400"), data[:40])
        data, reason = await fetch(self.poem_port)
        self.assertTrue(data)
        self.assertTrue(reason.check(ConnectionDone))

    async def test_slowlorisDoesNotBlockPoems(self) -> None:
        """
        An admin client that sends half a request and stalls holds only its
        own connection: poems and other admin requests are served.
        """
        self.start()
        stalled = Collect(b"GET /api/status HTTP/1.1\r\nHost: x\r\n")
        reactor.connectTCP(
            "127.0.0.1", self.admin_port, ClientFactory.forProtocol(lambda: stalled)
        )
        data, reason = await fetch(self.poem_port)
        self.assertTrue(data)
        self.assertTrue(reason.check(ConnectionDone))
        response = await self.request("GET", "/api/status")
        self.assertEqual(response.code, 200)
        self.assertFalse(stalled.done.called)
        assert stalled.transport is not None
        stalled.transport.loseConnection()
        await stalled.done

    async def test_hugeDeclaredBody(self) -> None:
        """
        A request declaring a 1 GiB body and sending 1 MiB of it is never
        buffered: the server's request holds at most MAX_BODY_SIZE bytes.
        """
        self.start_with_echo()
        made: list[AdminRequest] = []

        class Recording(AdminRequest):
            def __init__(self, *args: Any, **kwargs: Any) -> None:
                super().__init__(*args, **kwargs)
                made.append(self)

        self.site().requestFactory = Recording
        proto = Collect(
            b"PUT /api/echo HTTP/1.1\r\nHost: x\r\nContent-Type: application/json"
            b"\r\nContent-Length: 1073741824\r\n\r\n" + b"x" * (1 << 20)
        )
        reactor.connectTCP(
            "127.0.0.1", self.admin_port, ClientFactory.forProtocol(lambda: proto)
        )
        self.addCleanup(lambda: proto.done)
        self.addCleanup(lambda: proto.transport and proto.transport.loseConnection())
        await waitFor(lambda: made and made[0]._received >= 1 << 20)
        self.assertTrue(made[0].body_too_large)
        content: Any = made[0].content
        self.assertEqual(len(content.getvalue()), 0)
        self.assertFalse(proto.done.called)


class ServiceWiringTests(AdminTestCase):
    """The admin endpoint as part of the PoetryService."""

    def test_adminPortInUse(self) -> None:
        """
        An admin port that is taken is CannotListen at start-up, one line
        naming it, and the poem port opened before it is closed again.
        """
        taken = reactor.listenTCP(0, ClientFactory(), interface="127.0.0.1")
        self.addCleanup(taken.stopListening)
        number = taken.getHost().port
        service = makeService(
            parse("--port", "tcp:0", "--admin", f"tcp:{number}:interface=127.0.0.1")
        )
        with self.assertRaises(CannotListen) as cm:
            service.privilegedStartService()
        message = str(cm.exception.code)
        self.assertIn(f"cannot listen on tcp:{number}:interface=127.0.0.1", message)
        self.assertNotIn("\n", message)
        self.assertEqual(service.ports, [])

    async def test_stopsWithTheServer(self) -> None:
        """Stopping the service stops the admin endpoint listening too."""
        service = self.start()
        assert service.admin_listener is not None
        self.assertIsNotNone(service.admin_listener.port)
        await service.stopService()
        self.assertIsNone(service.admin_listener.port)
        done: Deferred[None] = Deferred()
        proto = Collect()
        factory = ClientFactory.forProtocol(lambda: proto)
        factory.clientConnectionFailed = lambda c, r: done.callback(None)  # type: ignore[method-assign]
        reactor.connectTCP("127.0.0.1", self.admin_port, factory, timeout=5)
        await done


class BehaviourTests(AdminTestCase):
    """C{GET}/C{PUT /api/behaviour} and C{POST /api/reset}, over HTTP."""

    def setUp(self) -> None:
        self.events: list[dict[str, Any]] = []

        def observe(event: dict[str, Any]) -> None:
            if event.get("log_namespace") == ADMIN_NAMESPACE:
                self.events.append(event)

        globalLogPublisher.addObserver(observe)
        self.addCleanup(globalLogPublisher.removeObserver, observe)

    def poems(self, size: int = 400) -> str:
        """A poems directory of one poem of C{size} bytes."""
        path = tempfile.mkdtemp()
        self.addCleanup(
            lambda: [os.unlink(os.path.join(path, "verse.txt")), os.rmdir(path)]
        )
        with open(os.path.join(path, "verse.txt"), "wb") as f:
            f.write(b"x" * (size - 1) + b"\n")
        return path

    async def put(self, document: Any, headers: dict[str, str] = JSON) -> Response:
        return await self.request(
            "PUT", "/api/behaviour", headers, json.dumps(document).encode()
        )

    async def behaviour(self) -> Any:
        response = await self.request("GET", "/api/behaviour")
        self.assertEqual(response.code, 200)
        return response.json()

    async def test_getIsWhatPutTakes(self) -> None:
        """
        GET answers the behaviour as the document PUT takes, every key
        present; the status shows the same document; PUT back, it changes
        nothing; HEAD answers no body.
        """
        self.start("--delay", "0.2", "--chunk-size", "5")
        document = await self.behaviour()
        self.assertEqual(
            document,
            {
                "delay": 0.2,
                "chunk_size": 5,
                "faults": [],
                "seed": None,
                "fault_peers": [],
            },
        )
        status = (await self.request("GET", "/api/status")).json()
        self.assertEqual(status["behaviour"], document)
        response = await self.put(document)
        self.assertEqual((response.code, response.json()), (200, document))
        self.assertEqual(await self.behaviour(), document)
        head = await self.request("HEAD", "/api/behaviour")
        self.assertEqual((head.code, head.body), (200, b""))

    async def test_putReplaces(self) -> None:
        """
        PUT replaces the whole behaviour: its answer is the new document,
        keys left out at their defaults (slow mode ends when a fault mix
        without a delay is PUT); the status and the factory follow.
        """
        self.start("--delay", "0.2", "--chunk-size", "5")
        mix = {
            "faults": ["reset:10@0.5", "stall@0.25"],
            "seed": 7,
            "fault_peers": ["127.0.0.0/8"],
        }
        response = await self.put(mix)
        self.assertEqual(response.code, 200)
        expected = {"delay": None, "chunk_size": 10, **mix}
        expected["fault_peers"] = ["127.0.0.0/8"]
        self.assertEqual(response.json(), expected)
        self.assertEqual(await self.behaviour(), expected)
        factory = self.service.factory
        self.assertIsNone(factory.delay)
        assert factory.mix is not None
        self.assertEqual(factory.mix.seed, 7)
        status = (await self.request("GET", "/api/status")).json()
        self.assertEqual((status["mode"], status["behaviour"]), ("mix", expected))
        self.assertEqual(len(self.events), 1)
        self.assertTrue(self.events[0]["peer"].startswith("127.0.0.1:"))
        self.assertEqual(self.events[0]["behaviour"], expected)

    async def test_putReachesNewConnectionsOnly(self) -> None:
        """
        After PUT {"faults": ["reset:10"]} a new download is truncated
        after 10 bytes (a reset) while the download already live keeps its
        slicer fault and ends whole; after POST /api/reset (the start-up
        slicer), a new download is whole again.
        """
        self.start("--poems", self.poems(400), "--fault", "slicer:20,0,0.02")
        live = Collect()
        reactor.connectTCP(
            "127.0.0.1", self.poem_port, ClientFactory.forProtocol(lambda: live)
        )
        await waitFor(lambda: live.chunks)
        response = await self.put({"faults": ["reset:10"]})
        self.assertEqual(response.code, 200)
        self.assertEqual(response.json()["faults"], ["reset:10"])
        data, reason = await fetch(self.poem_port)
        self.assertEqual(len(data), 10)
        self.assertTrue(reason.check(ConnectionLost), reason)
        self.assertFalse(live.done.called, "the live download was cut")
        data, reason = await live.done
        self.assertEqual(len(data), 400)
        self.assertTrue(reason.check(ConnectionDone), reason)
        reset = await self.request("POST", "/api/reset", JSON)
        self.assertEqual(reset.code, 200)
        self.assertEqual(reset.json()["faults"], ["slicer:20,0,0.02"])
        data, reason = await fetch(self.poem_port)
        self.assertEqual(len(data), 400)
        self.assertTrue(reason.check(ConnectionDone), reason)

    async def test_resetIsTheStart(self) -> None:
        """
        POST /api/reset after two PUTs gives the behaviour the server
        started with (its seed too), not either PUT; an empty body or {}
        both do.
        """
        self.start("--fault", "reset:3@0.5", "--seed", "11")
        start = await self.behaviour()
        self.assertEqual(start["seed"], 11)
        for document in [{"faults": ["stall"]}, {"delay": 0.5}]:
            self.assertEqual((await self.put(document)).code, 200)
        for body in [b"", b"{}"]:
            response = await self.request("POST", "/api/reset", JSON, body)
            self.assertEqual((response.code, response.json()), (200, start), body)
            self.assertEqual(await self.behaviour(), start)
            await self.put({"delay": 0.5})
        self.assertEqual(
            [e["change"] for e in self.events],
            ["replaced", "replaced", "reset", "replaced", "reset", "replaced"],
        )

    async def test_badInputChangesNothing(self) -> None:
        """
        Each bad PUT or POST is a 4xx with a one-line error, and the
        behaviour, the factory's mix and pacing are as they were, with no
        change logged: malformed JSON, not an object, unknown keys, a
        negative delay, a wrong type, a good value beside a bad one, delay
        with faults, a wrong content type (what a cross-site form sends),
        a body over the limit, a delay the idle timeout refuses (409), a
        document for reset.
        """
        self.start("--delay", "0.2", "--chunk-size", "5")
        factory = self.service.factory
        big = json.dumps({"faults": ["stall"] * 3000}).encode()
        self.assertGreater(len(big), AdminRequest.MAX_BODY_SIZE)
        cases: list[tuple[str, str, dict[str, str], bytes, int, str]] = [
            ("PUT", "/api/behaviour", JSON, b'{"delay": ', 400, "not valid JSON"),
            ("PUT", "/api/behaviour", JSON, b"[1]", 400, "JSON object"),
            ("PUT", "/api/behaviour", JSON, b'{"dealy": 1}', 400, "unknown key"),
            ("PUT", "/api/behaviour", JSON, b'{"delay": -1}', 400, "delay"),
            ("PUT", "/api/behaviour", JSON, b'{"delay": "1"}', 400, "a number"),
            ("PUT", "/api/behaviour", JSON, b'{"delay": true}', 400, "a number"),
            (
                "PUT",
                "/api/behaviour",
                JSON,
                b'{"delay": 0.5, "chunk_size": 0}',
                400,
                "chunk_size",
            ),
            (
                "PUT",
                "/api/behaviour",
                JSON,
                b'{"faults": ["reset:1", "nonsense"]}',
                400,
                "faults[2]",
            ),
            (
                "PUT",
                "/api/behaviour",
                JSON,
                b'{"delay": 0.5, "faults": ["reset:1"]}',
                400,
                "cannot be combined",
            ),
            ("PUT", "/api/behaviour", JSON, b'{"delay": 120}', 409, "idle timeout"),
            ("PUT", "/api/behaviour", {}, b'{"delay": 0.5}', 415, "application/json"),
            (
                "PUT",
                "/api/behaviour",
                {"content-type": "text/plain"},
                b'{"delay": 0.5}',
                415,
                "application/json",
            ),
            ("PUT", "/api/behaviour", JSON, big, 413, "over"),
            (
                "POST",
                "/api/reset",
                {"content-type": "application/x-www-form-urlencoded"},
                b"a=b",
                415,
                "application/json",
            ),
            (
                "POST",
                "/api/reset",
                {"content-type": "multipart/form-data; boundary=x"},
                b'--x\r\nContent-Disposition: form-data; name="a"\r\n\r\nb\r\n'
                b"--x--\r\n",
                415,
                "application/json",
            ),
            ("POST", "/api/reset", {}, b"", 415, "application/json"),
            ("POST", "/api/reset", JSON, b'{"delay": 1}', 400, "no document"),
            ("POST", "/api/reset", JSON, b"nope", 400, "not valid JSON"),
        ]
        self.assertEqual((await self.put({"delay": 0.3, "chunk_size": 4})).code, 200)
        before = await self.behaviour()
        self.events.clear()
        mix, pacing = factory.mix, (factory.delay, factory.chunk_size)
        for method, path, headers, body, code, words in cases:
            response = await self.request(method, path, headers, body)
            where = (method, path, body[:40])
            self.assertEqual(response.code, code, where)
            error = response.json()["error"]
            self.assertIn(words, error, where)
            self.assertNotIn("\n", error, where)
            self.assertEqual(await self.behaviour(), before, where)
            self.assertIs(factory.mix, mix, where)
            self.assertEqual((factory.delay, factory.chunk_size), pacing, where)
        self.assertEqual(self.events, [])

    async def test_refusedWhileSlowInFlight(self) -> None:
        """
        A new delay while a slow download is in flight is a 409 naming
        why; nothing changes, and the download ends whole.
        """
        self.start("--poems", self.poems(40), "--delay", "0.05", "--chunk-size", "4")
        before = await self.behaviour()
        live = Collect()
        reactor.connectTCP(
            "127.0.0.1", self.poem_port, ClientFactory.forProtocol(lambda: live)
        )
        await waitFor(lambda: live.chunks)
        response = await self.put({"delay": 0.1, "chunk_size": 4})
        self.assertEqual(response.code, 409)
        self.assertIn("in flight", response.json()["error"])
        self.assertEqual(await self.behaviour(), before)
        data, reason = await live.done
        self.assertEqual(len(data), 40)
        self.assertTrue(reason.check(ConnectionDone))

    async def test_methods(self) -> None:
        """
        /api/behaviour takes GET, HEAD and PUT; /api/reset only POST:
        other methods are 405 with Allow, and change nothing (a GET or
        HEAD of /api/reset does not reset).
        """
        self.start("--delay", "0.2", "--chunk-size", "5")
        await self.put({"faults": ["reset:4"], "seed": 1})
        before = await self.behaviour()
        for path, methods, allowed in [
            ("/api/behaviour", ["POST", "DELETE", "PATCH"], "GET, HEAD, PUT"),
            ("/api/reset", ["GET", "HEAD", "PUT", "DELETE"], "POST"),
        ]:
            for method in methods:
                response = await self.request(method, path, JSON, b"{}")
                self.assertEqual(response.code, 405, (method, path))
                self.assertEqual(response.header("allow"), allowed, (method, path))
                if method != "HEAD":
                    self.assertIn(method, response.body.decode())
        self.assertEqual(await self.behaviour(), before)

    async def test_tokenGuardsChanges(self) -> None:
        """
        With a token, PUT and POST without it are 401 and change nothing;
        with it they work.
        """
        self.start("--admin-token-file", _token_file(self))
        auth = {"authorization": f"Bearer {TOKEN}"}
        before = self.service.factory.mix
        body = b'{"faults": ["reset:1"]}'
        for method, path in [("PUT", "/api/behaviour"), ("POST", "/api/reset")]:
            response = await self.request(method, path, JSON, body)
            self.assertEqual(response.code, 401, path)
            self.assertIs(self.service.factory.mix, before)
        response = await self.request("PUT", "/api/behaviour", {**JSON, **auth}, body)
        self.assertEqual((response.code, response.json()["faults"]), (200, ["reset:1"]))
        response = await self.request("POST", "/api/reset", {**JSON, **auth})
        self.assertEqual((response.code, response.json()["faults"]), (200, []))
        self.assertIsNone(self.service.factory.mix)
