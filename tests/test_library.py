"""
Tests for L{poetry.library}: the bundled poems, loading from files and
directories, validation errors, and the order poems are handed out.
"""

from __future__ import annotations

import os
import random
import shutil
import tempfile
import threading
from pathlib import Path

from twisted.trial.unittest import SynchronousTestCase

from poetry.library import LibraryError, PoemFile, PoemLibrary


class BundledTests(SynchronousTestCase):
    """The poems that ship inside the package."""

    def test_bundledPoems(self) -> None:
        """
        At least six poems ship with the package, all valid UTF-8, one with
        non-ASCII text and one over 4 KB, found without any path given (so
        the server works from any directory).
        """
        library = PoemLibrary.bundled()
        poems = library.poems
        self.assertGreaterEqual(len(poems), 6)
        for poem in poems:
            poem.data.decode("utf-8")
            self.assertTrue(poem.data)
        self.assertTrue(any(not p.data.isascii() for p in poems))
        self.assertTrue(any(len(p.data) > 4096 for p in poems))
        self.assertEqual(len({p.name for p in poems}), len(poems))


class LoadingTests(SynchronousTestCase):
    """L{PoemLibrary.from_paths} and L{PoemFile.from_path}."""

    def setUp(self) -> None:
        self.tmp = Path(tempfile.mkdtemp())
        self.addCleanup(shutil.rmtree, self.tmp)

    def test_filesThenDirectories(self) -> None:
        """
        Files come first in the order given, then each directory's C{*.txt}
        files sorted by name; other files are ignored; bytes are kept exactly.
        """
        (self.tmp / "z.txt").write_bytes(b"zed\r\n")
        d = self.tmp / "d"
        d.mkdir()
        (d / "b.txt").write_bytes("bé\n".encode())
        (d / "a.txt").write_bytes(b"a\n")
        (d / "notes.md").write_bytes(b"skip\n")
        library = PoemLibrary.from_paths([self.tmp / "z.txt"], [d])
        self.assertEqual([p.name for p in library.poems], ["z", "a", "b"])
        self.assertEqual(library.poems[0].data, b"zed\r\n")
        self.assertEqual(library.poems[2].data, "bé\n".encode())

    def test_errors(self) -> None:
        """
        Missing or empty files, missing directories and directories with no
        poems raise L{LibraryError} with a one-line message naming the path.
        """
        (self.tmp / "empty.txt").write_bytes(b"")
        (self.tmp / "void").mkdir()
        for files, dirs in [
            ([self.tmp / "nope.txt"], []),
            ([self.tmp / "empty.txt"], []),
            ([self.tmp], []),
            ([], [self.tmp / "nodir"]),
            ([], [self.tmp / "void"]),
        ]:
            with self.assertRaises(LibraryError) as cm:
                PoemLibrary.from_paths(files, dirs)
            message = str(cm.exception)
            self.assertIn(self.tmp.name, message)
            self.assertNotIn("\n", message)

    def test_notRegularOrTooLarge(self) -> None:
        """
        A FIFO (reading one blocks until a writer comes: the server would
        hang before listening), a device like /dev/zero (never ends) and a
        file over L{PoemFile.MAX_SIZE} are refused with one line, without
        blocking; a file of exactly MAX_SIZE bytes is accepted.
        """
        fifo = self.tmp / "pipe.txt"
        os.mkfifo(fifo)
        # A safety net: if the check regresses to a blocking open, a writer
        # unblocks it so the test fails instead of hanging.
        guard = threading.Timer(10, lambda: open(fifo, "wb").close())
        guard.start()
        self.addCleanup(guard.cancel)
        for path, expected in [
            (fifo, "is not a regular file"),
            ("/dev/zero", "is not a regular file"),
        ]:
            with self.assertRaises(LibraryError) as cm:
                PoemFile.from_path(path)
            self.assertIn(expected, str(cm.exception))
        self.patch(PoemFile, "MAX_SIZE", 10)
        (self.tmp / "big.txt").write_bytes(b"x" * 11)
        (self.tmp / "fits.txt").write_bytes(b"x" * 10)
        with self.assertRaises(LibraryError) as cm:
            PoemFile.from_path(self.tmp / "big.txt")
        self.assertIn("is larger than 10 bytes", str(cm.exception))
        self.assertEqual(PoemFile.from_path(self.tmp / "fits.txt").data, b"x" * 10)

    def test_maxSizeAsDocumented(self) -> None:
        """--help and the README state the maximum as 16 MiB."""
        from poetry.service import Options

        self.assertEqual(PoemFile.MAX_SIZE, 16 * 1024 * 1024)
        self.assertIn("at most 16 MiB", " ".join(str(Options()).split()))

    def test_poemsOnAFile(self) -> None:
        """--poems naming an existing file says it is not a directory."""
        (self.tmp / "a.txt").write_bytes(b"a\n")
        with self.assertRaises(LibraryError) as cm:
            PoemLibrary.from_paths([], [self.tmp / "a.txt"])
        self.assertIn("is not a directory", str(cm.exception))
        with self.assertRaises(LibraryError) as cm:
            PoemLibrary.from_paths([], [self.tmp / "nope"])
        self.assertIn("does not exist", str(cm.exception))

    def test_emptyLibrary(self) -> None:
        """A library needs at least one poem."""
        self.assertRaises(LibraryError, PoemLibrary, [])


class OrderTests(SynchronousTestCase):
    """Which poem the next connection gets."""

    def test_roundRobin(self) -> None:
        """By default poems are handed out in order, wrapping around."""
        library = PoemLibrary([PoemFile(n, n.encode()) for n in "xyz"])
        self.assertEqual([library.next().name for _ in range(7)], list("xyzxyzx"))

    def test_random(self) -> None:
        """
        With random=True each pick is the given random source's choice, so
        picks are reproducible with a seeded source and do not follow the
        round-robin order; over many picks they cover the library.
        """
        poems = [PoemFile(n, n.encode()) for n in "abcde"]
        library = PoemLibrary(poems, random=True, rng=random.Random(3))
        picks = [library.next().name for _ in range(200)]
        expected = random.Random(3)
        self.assertEqual(picks, [expected.choice(poems).name for _ in range(200)])
        self.assertNotEqual(picks[:10], list("abcdeabcde"))
        self.assertEqual(set(picks), set("abcde"))
