"""
Tracing a download's callbacks by wrapping, as
L{twisted.protocols.policies.TrafficLoggingFactory} logs traffic:
L{TracingFactory} wraps one attempt's L{PoetryClientFactory} and records
each factory callback, and its L{TracingProtocol} each protocol callback,
to a L{TraceRecorder}, then hands the call on.

The client wraps a factory only when it was given a tracer, so the poem's
own classes carry no tracing code and tracing costs nothing when off.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, cast

from twisted.internet.error import ConnectionDone
from twisted.internet.protocol import connectionDone
from twisted.protocols.policies import ProtocolWrapper, WrappingFactory
from twisted.python.failure import Failure

from poetry.addresses import format_address

if TYPE_CHECKING:
    from twisted.internet.interfaces import IAddress

    from poetry.client.protocol import PoetryClientFactory, TraceRecorder

__all__ = ["TracingFactory", "TracingProtocol"]


def _reason_name(reason: Failure) -> str:
    return type(reason.value).__name__


class TracingProtocol(ProtocolWrapper):
    """Records each protocol callback of the wrapped protocol, then calls it."""

    factory: TracingFactory

    def makeConnection(self, transport: Any) -> None:
        self.factory.record("protocol", "makeConnection")
        ProtocolWrapper.makeConnection(self, transport)

    def connectionMade(self) -> None:
        # ProtocolWrapper.makeConnection connects the wrapped protocol (it
        # records nothing itself); recorded here, before the poem's protocol
        # runs its own connectionMade.
        transport: Any = self.transport
        self.factory.record(
            "protocol",
            "connectionMade",
            peer=format_address(transport.getPeer()),
            host=format_address(transport.getHost()),
        )

    def dataReceived(self, data: bytes) -> None:
        self.factory.record("protocol", "dataReceived", bytes=len(data))
        ProtocolWrapper.dataReceived(self, data)

    def connectionLost(self, reason: Failure = connectionDone) -> None:
        self.factory.record(
            "protocol",
            "connectionLost",
            reason=_reason_name(reason),
            clean=isinstance(reason.value, ConnectionDone),
        )
        ProtocolWrapper.connectionLost(self, reason)


class TracingFactory(WrappingFactory):
    """
    Wraps one attempt's factory: records C{doStart}, C{startedConnecting}
    (its C{destination}: where this attempt connects, and C{address}, the
    address asked for, when that differs), C{buildProtocol},
    C{clientConnectionFailed}, C{clientConnectionLost} and C{doStop}, each
    before the wrapped factory's own.
    """

    protocol = TracingProtocol
    noisy = False

    def __init__(
        self,
        wrapped: PoetryClientFactory,
        tracer: TraceRecorder,
        task: int,
        destination: str,
    ) -> None:
        super().__init__(wrapped)
        self.tracer = tracer
        self.task = task
        self.destination = destination

    def record(self, source: str, name: str, **detail: object) -> None:
        """Record one callback of this download."""
        self.tracer.record(self.task, source, name, **detail)

    def doStart(self) -> None:
        self.record("factory", "doStart")
        super().doStart()

    def startedConnecting(self, connector: Any) -> None:
        asked = str(self.wrappedFactory.address)
        if asked == self.destination:
            self.record("factory", "startedConnecting", destination=asked)
        else:
            self.record(
                "factory",
                "startedConnecting",
                destination=self.destination,
                address=asked,
            )
        super().startedConnecting(connector)

    def buildProtocol(self, addr: IAddress | None) -> Any:
        self.record("factory", "buildProtocol", address=format_address(addr))
        wrapped = self.wrappedFactory.buildProtocol(addr)
        return None if wrapped is None else TracingProtocol(cast(Any, self), wrapped)

    def clientConnectionFailed(self, connector: Any, reason: Failure) -> None:
        self.record("factory", "clientConnectionFailed", reason=_reason_name(reason))
        super().clientConnectionFailed(connector, reason)

    def clientConnectionLost(self, connector: Any, reason: Failure) -> None:
        self.record("factory", "clientConnectionLost", reason=_reason_name(reason))
        super().clientConnectionLost(connector, reason)

    def doStop(self) -> None:
        self.record("factory", "doStop")
        super().doStop()
