"""
The sink: what a part of C{get-poetry}'s output is given as the downloads
progress.  L{poetry.cli.Run} feeds every sink in its list, in order, with
each chunk's size, each task's L{TaskResult} (with the poem's bytes, which a
sink must not keep once it is done with them) and, once the downloads end,
all the results.

A sink that fails a task (L{SavingSink}, when a poem cannot be saved)
comes first, so that every later sink sees the final result.  To add an
output, subclass L{Sink}, override what it needs, and append it to
L{poetry.cli.Run.sinks} before the run starts.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from poetry.addresses import Address
from poetry.cli.saving import SaveError, Saver
from poetry.cli.summary import TaskResult, chunk_line, task_line

__all__ = ["SavingSink", "Sink", "VerboseLog"]


class Sink:
    """A part of the output; every method does nothing until overridden."""

    def on_data(self, index: int, nbytes: int) -> None:
        """
        Task C{index} (0-based) received a chunk of C{nbytes} bytes.  Only
        called when the run counts chunks (C{-v} or the progress bar).
        """

    def on_result(self, result: TaskResult, data: bytes | None) -> None:
        """A task ended as C{result}, with its poem C{data} (L{None}: no poem)."""

    def on_end(self, results: Sequence[TaskResult]) -> None:
        """
        The downloads ended (or were interrupted) with C{results}, in
        command-line order: before the C{--json} document and the summary.
        """


class SavingSink(Sink):
    """
    C{--output-dir}: each poem saved by L{saver} the moment it arrives; a
    poem that cannot be saved fails its task (L{TaskResult.fail_saving}).

    @ivar saver: the L{Saver} (a test may replace it before the run starts).
    """

    def __init__(self, saver: Saver) -> None:
        self.saver = saver

    def on_result(self, result: TaskResult, data: bytes | None) -> None:
        if data is None:
            return
        try:
            result.file = str(self.saver.save(result.task, result.address, data))
        except SaveError as e:
            result.fail_saving(e)


class VerboseLog(Sink):
    """C{-v}: a line for each chunk as it arrives and for each task's end."""

    def __init__(
        self, addresses: Sequence[Address], write_line: Callable[[str], object]
    ) -> None:
        self._addresses = addresses
        self._write_line = write_line

    def on_data(self, index: int, nbytes: int) -> None:
        self._write_line(chunk_line(index, nbytes, self._addresses[index]))

    def on_result(self, result: TaskResult, data: bytes | None) -> None:
        self._write_line(task_line(result))
