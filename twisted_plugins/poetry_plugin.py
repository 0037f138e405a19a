"""
The twistd plugin for the poetry server: C{twistd -n poetry}, C{twist poetry}.

Only wiring lives here; the options and the service are in L{poetry.service},
imported only when the plugin is used, so listing plugins stays cheap and
never imports a reactor.
"""

from twisted.application.service import ServiceMaker

poetry = ServiceMaker(
    "Poetry server",
    "poetry.service",
    "Serve poems over TCP, fast or slow (N bytes every D seconds).",
    "poetry",
)
