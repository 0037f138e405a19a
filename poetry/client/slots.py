"""
Download slots: which of a run's downloads may start next, under a cap in
all and a cap per server (L{DownloadSlots}), for L{DownloadScheduler
<poetry.client.scheduler.DownloadScheduler>}.
"""

from __future__ import annotations

import heapq
from collections import deque
from collections.abc import Sequence

from poetry.addresses import Address

__all__ = ["DownloadSlots"]


class _ServerQueue:
    """
    The downloads of one server (one L{Address}): the indices not started
    yet, in input order, and how many hold a slot.
    """

    __slots__ = ("pending", "running")

    def __init__(self) -> None:
        self.pending: deque[int] = deque()
        self.running = 0

    def __lt__(self, other: _ServerQueue) -> bool:  # pragma: no cover
        # Heap entries are (head index, queue) and head indices are unique,
        # so queues are never compared; defined for the type checker.
        return id(self) < id(other)


class DownloadSlots:
    """
    The slots of a run of downloads, one per target: at most C{limit} held
    at once in all and C{per_server} to any one server (equal addresses
    are one server).  L{take} gives the next download, in input order,
    that both caps allow; L{release} frees a download's slot.

    Each server has a queue of its downloads not started yet; a heap holds
    the queues that may start one now (pending, below the per-server cap),
    keyed by the index of their next download, so the next download is the
    first in input order across servers and a download waiting for its
    server never blocks another server's behind it.

    @ivar in_flight: how many slots are held.
    """

    __slots__ = ("_cap", "_limit", "_queue_of", "_queues", "_ready", "in_flight")

    def __init__(
        self, targets: Sequence[Address], *, limit: int, per_server: int
    ) -> None:
        self._limit = limit
        self._cap = per_server
        # The same object (an address repeated in the input is parsed once)
        # is found by identity first, which costs no hash of the address.
        queues: dict[Address, _ServerQueue] = {}
        by_identity: dict[int, _ServerQueue] = {}
        self._queue_of: list[_ServerQueue] = []
        for index, target in enumerate(targets):
            queue = by_identity.get(id(target))
            if queue is None:
                queue = queues.get(target)
                if queue is None:
                    queue = queues[target] = _ServerQueue()
                by_identity[id(target)] = queue
            queue.pending.append(index)
            self._queue_of.append(queue)
        self._queues = list(queues.values())
        self._ready = [(q.pending[0], q) for q in self._queues]
        heapq.heapify(self._ready)
        self.in_flight = 0

    def take(self) -> int | None:
        """
        The next download both caps allow, which now holds a slot; L{None}
        if none may start now.
        """
        ready = self._ready
        if not ready or self.in_flight >= self._limit:
            return None
        _, queue = heapq.heappop(ready)
        index = queue.pending.popleft()
        queue.running += 1
        if queue.pending and queue.running < self._cap:
            heapq.heappush(ready, (queue.pending[0], queue))
        self.in_flight += 1
        return index

    def release(self, index: int) -> None:
        """Download C{index}, which L{take} gave, no longer holds its slot."""
        queue = self._queue_of[index]
        queue.running -= 1
        self.in_flight -= 1
        if queue.pending and queue.running == self._cap - 1:
            # It was at its cap: it may start a download again.
            heapq.heappush(self._ready, (queue.pending[0], queue))

    def drop_pending(self) -> list[int]:
        """
        Forget every download not started yet: none will be L{take}n.

        @return: their indices, in input order.
        """
        dropped = sorted(i for q in self._queues for i in q.pending)
        for q in self._queues:
            q.pending.clear()
        self._ready.clear()
        return dropped
