"""
The package's surface: C{poetry} exports exactly the public API, and its
version has one source, the installed distribution's metadata.
"""

from __future__ import annotations

from importlib import metadata

from twisted.trial.unittest import SynchronousTestCase

import poetry


class PackageTests(SynchronousTestCase):
    def test_versionFromMetadata(self) -> None:
        """
        C{poetry.__version__} is the installed distribution's version, as
        pyproject.toml gives it: no second copy to forget.
        """
        self.assertEqual(poetry.__version__, metadata.version("twisted-poetry"))

    def test_publicAPI(self) -> None:
        """
        C{poetry} exports the client's public API and nothing else: every
        name in C{__all__} exists, and every public attribute that is not a
        subpackage or module is in C{__all__}.
        """
        exported = set(poetry.__all__)
        self.assertEqual(
            exported,
            {
                "Address",
                "AddressError",
                "DownloadResult",
                "DownloadStatus",
                "EmptyPoem",
                "Poem",
                "PoemCallbackError",
                "PoemConnectionFailed",
                "PoemError",
                "PoemTimeout",
                "PoemTLSError",
                "PoemTooLarge",
                "PoemTruncated",
                "TraceRecorder",
                "__version__",
                "get_poem",
                "get_poems",
                "parse_address",
            },
        )
        for name in exported:
            self.assertTrue(hasattr(poetry, name), name)
        public = {
            name
            for name, value in vars(poetry).items()
            if not name.startswith("_") and type(value).__name__ != "module"
        }
        self.assertEqual(public - exported, set())
