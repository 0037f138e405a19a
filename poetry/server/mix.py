"""
The fault mix: which fault, if any, each connection plays.  Several
C{--fault MODE@PROBABILITY} make a L{FaultMix}; each connection, as it is
accepted, draws at most one of them by those probabilities (the rest of
the probability is the poem, served normally), from a generator the mix
owns and seeds (C{--seed}), so that connection number k in accept order
gets the same fault in every run with the same seed and mix.
C{--fault-peer CIDR} limits faults to clients from those networks.
"""

from __future__ import annotations

import ipaddress
import math
import random
import secrets
from bisect import bisect_right
from collections.abc import Callable, Iterable, Sequence
from functools import partial
from typing import TYPE_CHECKING, Any

from twisted.internet.interfaces import IAddress

if TYPE_CHECKING:
    from poetry.server.faults import Fault, FaultProtocol

__all__ = ["FaultMix", "Network", "parse_network"]

Network = ipaddress.IPv4Network | ipaddress.IPv6Network

#: Sums of probabilities are compared with this much slack, so that
#: 0.1 + 0.2 + 0.7 (0.9999999999999999 or 1.0000000000000002) is 1.
_SLACK = 1e-9


def parse_network(text: str) -> Network:
    """
    A C{--fault-peer} value: a network (C{10.0.0.0/8}, C{::1/128}) or a
    single address (C{127.0.0.1}); host bits set are allowed
    (C{10.1.2.3/8} is C{10.0.0.0/8}).

    @raise ValueError: one line, quoting the value.
    """
    try:
        return ipaddress.ip_network(text.strip(), strict=False)
    except ValueError:
        raise ValueError(
            f"{text!r} is not an IP network (like 10.0.0.0/8, ::1/128 or 127.0.0.1)"
        ) from None


class FaultMix:
    """
    Faults with probabilities, a seed, and the networks faults apply to.

    @ivar entries: the C{(fault, probability)} pairs, in the order given.
    @ivar seed: the seed of the mix's generator (chosen at random when not
        given: log it, and a run can be replayed).
    @ivar peers: the networks whose clients are subject to faults (empty:
        every client).
    @ivar drawn: how many connections have drawn so far.
    """

    def __init__(
        self,
        entries: Iterable[tuple[Fault, float]],
        *,
        seed: int | None = None,
        peers: Sequence[Network] = (),
    ) -> None:
        self.entries = tuple(entries)
        total = 0.0
        self._bounds: list[float] = []
        for fault, probability in self.entries:
            if not (
                isinstance(probability, int | float)
                and not isinstance(probability, bool)
                and math.isfinite(probability)
                and 0 < probability <= 1
            ):
                raise ValueError(
                    f"the probability of {fault} must be a number in (0, 1],"
                    f" not {probability!r}"
                )
            total += probability
            self._bounds.append(total)
        if total > 1 + _SLACK:
            raise ValueError(
                f"the probabilities of a fault mix add up to at most 1, not {total:g}"
            )
        if self._bounds and total >= 1 - _SLACK:
            self._bounds[-1] = 2.0  # random() < 1: the last fault always wins
        if seed is None:
            seed = secrets.randbits(32)
        if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
            raise ValueError(f"a seed must be a whole number >= 0, not {seed!r}")
        self.seed = seed
        self.peers = tuple(peers)
        self._random = random.Random(seed)
        self._targeted: dict[str | None, bool] = {}
        self.drawn = 0

    @property
    def total(self) -> float:
        """The probability that a connection gets a fault."""
        return min(1.0, sum(p for _, p in self.entries))

    @property
    def hangs(self) -> bool:
        """Whether every connection hangs on purpose (see L{Fault.hangs})."""
        return (
            bool(self.entries)
            and self.total >= 1 - _SLACK
            and all(f.hangs for f, _ in self.entries)
        )

    @property
    def only(self) -> Fault | None:
        """The one fault every connection gets, if the mix is just that."""
        if len(self.entries) == 1 and self.entries[0][1] >= 1 - _SLACK:
            return self.entries[0][0]
        return None

    #: How many client hosts L{targets} remembers (then it starts again):
    #: parsing an address costs more than the draw itself.
    TARGET_CACHE = 4096

    def targets(self, addr: IAddress) -> bool:
        """Whether a client at C{addr} is subject to faults."""
        if not self.peers:
            return True
        host = getattr(addr, "host", None)
        cache = self._targeted
        known = cache.get(host)
        if known is None:
            if len(cache) >= self.TARGET_CACHE:
                cache.clear()
            known = cache[host] = self._in_peers(host)
        return known

    def _in_peers(self, host: str | None) -> bool:
        peers = self.peers
        try:
            ip: Any = ipaddress.ip_address(host)  # type: ignore[arg-type]
        except ValueError:
            return False  # a UNIX socket, or no address at all
        mapped = getattr(ip, "ipv4_mapped", None)
        return any(ip in net or (mapped is not None and mapped in net) for net in peers)

    def draw(self, addr: IAddress) -> Callable[[], FaultProtocol] | None:
        """
        The fault the connection being accepted from C{addr} plays, as a
        builder of its protocol, or L{None} (serve the poem).  Every call
        draws exactly one number, whether or not C{addr} is targeted, so
        connection k's draw depends only on the seed, the mix and k.
        """
        number = self.drawn
        self.drawn = number + 1
        index = bisect_right(self._bounds, self._random.random())
        if index >= len(self.entries):
            return None
        if self.peers and not self.targets(addr):
            return None
        return partial(self.entries[index][0].build, number, self.seed)

    def sequence(self, count: int) -> list[Fault | None]:
        """
        The faults connections 0 to C{count - 1} of a run with this seed
        and mix draw (targeting aside), without touching this mix's own
        generator: what a replay will do.
        """
        rng = random.Random(self.seed)
        faults: list[Fault | None] = []
        for _ in range(count):
            index = bisect_right(self._bounds, rng.random())
            faults.append(self.entries[index][0] if index < len(self.entries) else None)
        return faults

    def __str__(self) -> str:
        parts = ", ".join(f"{f}@{p:g}" for f, p in self.entries) or "none"
        text = f"{parts}; seed {self.seed}"
        if self.peers:
            text += "; peers " + " ".join(str(n) for n in self.peers)
        return text

    def __repr__(self) -> str:
        return f"<FaultMix {self}>"
