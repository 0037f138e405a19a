"""
twisted-poetry: a Twisted poetry client and server.

The package holds the poem library (L{poetry.library}), the server
(L{poetry.server}, run under twistd by L{poetry.service}), and the client
(L{poetry.client}, driven from the command line by L{poetry.cli}).
"""

__version__ = "0.1.0"

__all__ = ["__version__"]
