"""
A fake L{IHostnameResolver} for the client's tests: each host name resolves
to the addresses given for it (IPv4 and IPv6 literals, in order), or to
none at all (a name that does not resolve), at once or when told.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from twisted.internet.address import IPv4Address, IPv6Address
from twisted.internet.interfaces import IHostnameResolver, IHostResolution
from zope.interface import implementer

__all__ = ["FakeResolver"]


@implementer(IHostResolution)
class _Resolution:
    def __init__(self, name: str) -> None:
        self.name = name

    def cancel(self) -> None:  # pragma: no cover (never called by the client)
        raise NotImplementedError


@implementer(IHostnameResolver)
class FakeResolver:
    """
    Resolves each name in C{answers} to its addresses; any other name to
    nothing.  With C{hold}, the answers wait for L{complete}.

    @ivar asked: the names asked for, in order.
    """

    def __init__(
        self, answers: Mapping[str, Sequence[str]], *, hold: bool = False
    ) -> None:
        self.answers = answers
        self.hold = hold
        self.asked: list[str] = []
        self._waiting: list[tuple[Any, str, int]] = []

    def resolveHostName(
        self,
        resolutionReceiver: Any,
        hostName: str,
        portNumber: int = 0,
        addressTypes: Any = None,
        transportSemantics: str = "TCP",
    ) -> IHostResolution:
        self.asked.append(hostName)
        resolutionReceiver.resolutionBegan(_Resolution(hostName))
        if self.hold:
            self._waiting.append((resolutionReceiver, hostName, portNumber))
        else:
            self._answer(resolutionReceiver, hostName, portNumber)
        return _Resolution(hostName)

    def complete(self) -> None:
        """Give the held answers."""
        waiting, self._waiting = self._waiting, []
        for receiver, name, port in waiting:
            self._answer(receiver, name, port)

    def _answer(self, receiver: Any, name: str, port: int) -> None:
        for host in self.answers.get(name, ()):
            kind = IPv6Address if ":" in host else IPv4Address
            receiver.addressResolved(kind("TCP", host, port))
        receiver.resolutionComplete()
