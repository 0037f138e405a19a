"""
The status page in a real headless browser (Debian's C{chromium}): while
slow downloads run, the page shows them live, updates without a reload,
and draws the timeline.  Skipped, saying so, where no chromium is
installed.

Chromium runs as a child process of the reactor (C{spawnProcess}), so the
server keeps serving while the page polls it; it dumps the page's DOM
after a few seconds of virtual time (C{--virtual-time-budget}), which
include several of the page's one-second polls.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from html.parser import HTMLParser
from typing import Any

from twisted.internet import reactor
from twisted.internet.defer import Deferred
from twisted.internet.protocol import ClientFactory, ProcessProtocol
from twisted.internet.task import deferLater
from twisted.python.failure import Failure
from twisted.trial.unittest import SkipTest, TestCase

from poetry.service import makeService
from tests.helpers import Collect, parse, waitFor

#: A poem name that is markup: the page must show it as text.
MARKUP = "<img src=x onerror=alert(1)>"

CHROMIUM = next(
    (p for p in map(shutil.which, ["chromium", "chromium-browser"]) if p), None
)

#: The flags the page test runs chromium with: no sandbox (containers), no
#: GPU, and nothing that would reach beyond this machine.
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-dev-shm-usage",
]


def _serve_with_admin(case: TestCase, *options: str) -> tuple[Any, int]:
    """
    A slow server (C{--delay 0.1}) on 127.0.0.1 port 0 with C{--admin
    tcp:0} and C{options}, stopped at cleanup; the service and the admin
    port.
    """
    service = makeService(
        parse(
            "--port", "tcp:0:interface=127.0.0.1", "--admin", "tcp:0",
            "--delay", "0.1", *options,
        )
    )  # fmt: skip
    service.startService()
    case.addCleanup(service.stopService)
    assert service.admin_listener is not None and service.admin_listener.port
    return service, service.admin_listener.port.getHost().port


class _Collect(ProcessProtocol):
    """Collects a child's stdout; C{done} fires with it when it exits."""

    def __init__(self) -> None:
        self.out: list[bytes] = []
        self.err: list[bytes] = []
        self.done: Deferred[tuple[bytes, bytes, Failure]] = Deferred()

    def outReceived(self, data: bytes) -> None:
        self.out.append(data)

    def errReceived(self, data: bytes) -> None:
        self.err.append(data)

    def processEnded(self, reason: Failure) -> None:
        self.done.callback((b"".join(self.out), b"".join(self.err), reason))


class _Page(HTMLParser):
    """The elements of the dumped DOM the test looks at."""

    def __init__(self) -> None:
        super().__init__()
        self.attrs: dict[str, dict[str, str | None]] = {}
        self.text: dict[str, str] = {}
        self.live_cells: list[str] = []
        self.tags: list[str] = []
        self._open: list[str] = []
        self._in_live = False
        self._in_cell = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        values = dict(attrs)
        ident = values.get("id")
        if ident:
            self.attrs[ident] = values
            self.text.setdefault(ident, "")
        if ident == "live":
            self._in_live = True
        self._in_cell = self._in_live and tag == "td"
        self._open.append(ident or "")

    def handle_endtag(self, tag: str) -> None:
        if tag == "table":
            self._in_live = False
        if self._open:
            self._open.pop()

    def handle_data(self, data: str) -> None:
        for ident in self._open:
            if ident:
                self.text[ident] = self.text.get(ident, "") + data
        if self._in_cell:
            self.live_cells.append(data)
            self._in_cell = False


async def dump_dom(url: str, budget_ms: int) -> str:
    """Open C{url} in headless chromium; the DOM after C{budget_ms}."""
    profile = tempfile.mkdtemp(prefix="poetry-chromium-")
    try:
        proto = _Collect()
        assert CHROMIUM is not None
        reactor.spawnProcess(
            proto,
            CHROMIUM,
            [
                CHROMIUM,
                *CHROMIUM_FLAGS,
                f"--user-data-dir={profile}",
                f"--virtual-time-budget={budget_ms}",
                "--dump-dom",
                url,
            ],
            env={"HOME": profile, "PATH": os.environ.get("PATH", "")},
        )
        timer = reactor.callLater(60, proto.transport.signalProcess, "KILL")  # type: ignore[union-attr]
        out, err, _ = await proto.done
        if timer.active():
            timer.cancel()
        if not out:
            raise AssertionError(f"chromium printed no DOM: {err[-2000:]!r}")
        return out.decode("utf-8")
    finally:
        shutil.rmtree(profile, ignore_errors=True)


def require_chromium(what: str) -> None:
    """Skip the test, saying C{what} went untested, without a chromium."""
    if CHROMIUM is None:
        raise SkipTest(
            f"no chromium installed (apt-get install chromium): {what} was not"
            " tested in a browser"
        )


class StatusPageBrowserTests(TestCase):
    """The status page, as a browser runs it."""

    def setUp(self) -> None:
        require_chromium("the status page")

    async def test_liveConnectionsAppear(self) -> None:
        """
        With three slow downloads running, the page (loaded once, never
        reloaded) polls several times, shows the three connections with
        their peers and the live count, and loads the timeline picture.  A
        poem whose name is markup shows as text: no element is made of it.
        """
        poems = tempfile.mkdtemp()
        self.addCleanup(shutil.rmtree, poems)
        with open(os.path.join(poems, f"{MARKUP}.txt"), "wb") as f:
            f.write(b"a line of verse\n" * 200)
        page = await self.check_page(["--poems", poems])
        self.assertIn(MARKUP, page.live_cells)
        self.assertEqual(page.tags.count("img"), 1)  # the timeline only

    async def test_tokenFromTheFragment(self) -> None:
        """
        With a token, the page given it in its URL's fragment sends it on
        every poll and shows the live connections; without it, it asks for
        the token and shows none.
        """
        fd, path = tempfile.mkstemp()
        os.write(fd, b"browser-token-0123456789\n")
        os.close(fd)
        self.addCleanup(os.unlink, path)
        await self.check_page(
            ["--admin-token-file", path], "#token=browser-token-0123456789"
        )
        service = makeService(
            parse("--port", "tcp:0", "--admin", "tcp:0", "--admin-token-file", path)
        )
        service.startService()
        self.addCleanup(service.stopService)
        assert service.admin_listener is not None and service.admin_listener.port
        admin_port = service.admin_listener.port.getHost().port
        page = _Page()
        page.feed(await dump_dom(f"http://127.0.0.1:{admin_port}/", 2000))
        self.assertIn("needs its admin token", page.text["state"])
        self.assertIn("display: block", page.attrs["token-form"].get("style") or "")
        self.assertEqual(page.attrs["updated"]["data-updates"], "0")

    async def check_page(
        self,
        options: list[str] = [],  # noqa: B006
        fragment: str = "",
    ) -> _Page:
        """
        Three slow downloads of a server started with C{options}; the page,
        opened at C{/}C{fragment}, shows them live.
        """
        service, admin_port = _serve_with_admin(
            self, "--chunk-size", "1", "--grace", "0.1", *options
        )
        poem_port = service.ports[0].getHost().port
        clients = [Collect() for _ in range(3)]
        for c in clients:
            reactor.connectTCP(
                "127.0.0.1", poem_port, ClientFactory.forProtocol(lambda c=c: c)
            )
        factory = service.factory
        await waitFor(lambda: len(factory.live) == 3)
        peers = {f"127.0.0.1:{c.transport.getHost().port}" for c in clients}  # type: ignore[union-attr]

        dom = await dump_dom(f"http://127.0.0.1:{admin_port}/{fragment}", 4500)

        page = _Page()
        page.feed(dom)
        updates = int(page.attrs["updated"]["data-updates"] or 0)
        self.assertGreaterEqual(updates, 2, "the page did not update itself")
        self.assertEqual(page.text["live-total"].strip(), "3")
        self.assertEqual(page.text["state"].strip(), "live")
        self.assertEqual(peers, peers & set(page.live_cells))
        self.assertIn("slow: 1 bytes every 0.1 s", page.text["behaviour"])
        timeline = page.attrs["timeline"]
        self.assertTrue((timeline.get("src") or "").startswith("blob:"))
        self.assertGreaterEqual(int(timeline.get("data-loaded") or 0), 1)
        factory.cut_all()
        for c in clients:
            await c.done
        return page


class _DevTools(ProcessProtocol):
    """
    Chromium driven over the DevTools protocol on a pipe
    (C{--remote-debugging-pipe}): commands written to its fd 3, answers
    read from its fd 4, each a JSON message ended by a NUL byte.
    """

    def __init__(self) -> None:
        self.buffer = b""
        self.err: list[bytes] = []
        self.last_id = 0
        self.waiting: dict[int, Deferred[Any]] = {}
        self.ended: Deferred[None] = Deferred()

    def childDataReceived(self, fd: int, data: bytes) -> None:
        if fd != 4:
            self.err.append(data)
            return
        self.buffer += data
        while b"\0" in self.buffer:
            raw, self.buffer = self.buffer.split(b"\0", 1)
            message = json.loads(raw)
            waiting = self.waiting.pop(message.get("id"), None)
            if waiting is None:
                continue
            if "error" in message:
                waiting.errback(AssertionError(f"DevTools: {message['error']}"))
            else:
                waiting.callback(message.get("result", {}))

    def send(
        self, method: str, params: dict[str, Any] | None = None, session: str = ""
    ) -> Deferred[Any]:
        """Send one command; fire with its result."""
        self.last_id += 1
        message: dict[str, Any] = {
            "id": self.last_id,
            "method": method,
            "params": params or {},
        }
        if session:
            message["sessionId"] = session
        answer: Deferred[Any] = Deferred()
        self.waiting[self.last_id] = answer
        assert self.transport is not None
        self.transport.writeToChild(3, json.dumps(message).encode() + b"\0")
        return answer

    def processEnded(self, reason: Failure) -> None:
        waiting, self.waiting = self.waiting, {}
        for answer in waiting.values():
            answer.errback(AssertionError(f"chromium exited: {self.err[-5:]!r}"))
        self.ended.callback(None)


class _Tab:
    """One page in a L{_DevTools} chromium: evaluate script, wait."""

    def __init__(self, tools: _DevTools, session: str) -> None:
        self.tools = tools
        self.session = session

    async def evaluate(self, expression: str) -> Any:
        result = await self.tools.send(
            "Runtime.evaluate",
            {"expression": expression, "returnByValue": True, "awaitPromise": True},
            self.session,
        )
        return result.get("result", {}).get("value")

    async def wait_for(self, expression: str, tries: int = 150) -> Any:
        """Evaluate C{expression} every 0.1 s until it is truthy (bounded)."""
        for _ in range(tries):
            value = await self.evaluate(expression)
            if value:
                return value
            await deferLater(reactor, 0.1)
        raise AssertionError(f"never true in the page: {expression}")


class BehaviourFormBrowserTests(TestCase):
    """The status page's behaviour form, used in a real browser."""

    def setUp(self) -> None:
        require_chromium("the behaviour form")

    async def open_page(self, url: str) -> _Tab:
        profile = tempfile.mkdtemp(prefix="poetry-chromium-")
        self.addCleanup(shutil.rmtree, profile, ignore_errors=True)
        tools = _DevTools()
        assert CHROMIUM is not None
        reactor.spawnProcess(
            tools,
            CHROMIUM,
            [
                CHROMIUM,
                *CHROMIUM_FLAGS,
                f"--user-data-dir={profile}",
                "--remote-debugging-pipe",
                "about:blank",
            ],
            env={"HOME": profile, "PATH": os.environ.get("PATH", "")},
            childFDs={0: "w", 1: "r", 2: "r", 3: "w", 4: "r"},
        )
        killer = reactor.callLater(90, tools.transport.signalProcess, "KILL")  # type: ignore[union-attr]

        async def close() -> None:
            if not tools.ended.called:
                try:
                    await tools.send("Browser.close")
                except AssertionError:
                    pass
            await tools.ended
            if killer.active():
                killer.cancel()

        self.addCleanup(close)
        target = await tools.send("Target.createTarget", {"url": url})
        attached = await tools.send(
            "Target.attachToTarget", {"targetId": target["targetId"], "flatten": True}
        )
        return _Tab(tools, attached["sessionId"])

    async def test_formChangesTheBehaviour(self) -> None:
        """
        In the page: a negative delay typed in the form shows the
        server's one-line 400 error and changes nothing; a fault typed in
        it is applied (the server's factory and the page's behaviour line
        show it); "Reset to start-up" brings back the slow start-up
        behaviour.
        """
        service, admin_port = _serve_with_admin(self, "--chunk-size", "3")
        factory = service.factory
        tab = await self.open_page(f"http://127.0.0.1:{admin_port}/")
        await tab.wait_for("document.getElementById('form-delay').value === '0.1'")

        def type_and(button: str, **fields: str) -> str:
            sets = "".join(
                f"document.getElementById({('form-' + k.replace('_', '-'))!r})"
                f".value = {v!r};"
                for k, v in fields.items()
            )
            return (
                "document.getElementById('form-result').dataset.code = '';"
                f"{sets} document.getElementById({button!r}).click(); true"
            )

        code = "document.getElementById('form-result').dataset.code"
        result = "document.getElementById('form-result').textContent"
        await tab.evaluate(type_and("form-apply", delay="-1"))
        self.assertEqual(await tab.wait_for(code), "400")
        error = await tab.evaluate(result)
        self.assertIn("delay", error)
        self.assertNotIn("\n", error)
        self.assertEqual((factory.delay, factory.chunk_size), (0.1, 3))

        await tab.evaluate(
            type_and("form-apply", delay="", chunk_size="", faults="reset:10")
        )
        self.assertEqual(await tab.wait_for(code), "200")
        self.assertEqual(str(factory.fault), "reset:10")
        self.assertIsNone(factory.delay)
        await tab.wait_for(
            "document.getElementById('behaviour').textContent === 'fault: reset:10'"
        )

        await tab.evaluate(type_and("form-reset"))
        self.assertEqual(await tab.wait_for(code), "200")
        self.assertEqual(
            (factory.delay, factory.chunk_size, factory.mix), (0.1, 3, None)
        )
        self.assertEqual(
            await tab.wait_for("document.getElementById('form-faults').value === ''"),
            True,
        )
