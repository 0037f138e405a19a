"""
The control plane's write side: L{BehaviourControl}, the one thing the
admin endpoint changes a running server through (the L{ServerView} beside
it only reads).  A change is the whole behaviour document
(L{poetry.service.behaviour}), checked by L{Behaviour.from_document} (the
rules of the command line, written once) and given to the factory by
L{Behaviour.apply_to} for the connections it accepts from then on.
"""

from __future__ import annotations

import json
from typing import Any

from twisted.logger import Logger

from poetry.server.factory import PoetryServerFactory
from poetry.server.rules import ConfigError
from poetry.service.behaviour import Behaviour

__all__ = ["ADMIN_NAMESPACE", "BehaviourControl", "BehaviourRefused"]

#: The namespace of the admin endpoint's log events.
ADMIN_NAMESPACE = "poetry.admin"


class BehaviourRefused(ConfigError):
    """
    A behaviour the running server cannot take now (L{Behaviour.apply_to}
    refused it: slow connections in flight, an idle timeout not longer
    than the delay); one line.  Nothing changed.
    """


class BehaviourControl:
    """
    Changes what a running server does with the connections it accepts
    from then on, and logs one event per change.

    @ivar factory: the server's factory.
    @ivar initial: the behaviour the server started with (read from the
        factory when the control is made, at start-up: the seed its mix
        drew is kept, so a reset replays the same faults in order).
    """

    def __init__(self, factory: PoetryServerFactory) -> None:
        self.factory = factory
        self.initial = Behaviour.of(factory)
        #: One event per change, in the admin's namespace.
        self.log = Logger(namespace=ADMIN_NAMESPACE, source=self)

    def current(self) -> Behaviour:
        """The behaviour the factory has now."""
        return Behaviour.of(self.factory)

    def document(self) -> dict[str, Any]:
        """The current behaviour as its document (L{Behaviour.as_document})."""
        return self.current().as_document()

    def replace(self, document: Any, peer: str) -> Behaviour:
        """
        Check C{document} as a whole behaviour (a key left out has its
        default: a PUT replaces, it does not merge), then apply it.

        @param peer: who asked, for the log.
        @raise ConfigError: a bad value, one line naming its key; nothing
            changed.
        @raise BehaviourRefused: the server cannot take it now; nothing
            changed.
        """
        behaviour = Behaviour.from_document(document, typed=True)
        return self._apply(behaviour, peer, "replaced")

    def reset(self, peer: str) -> Behaviour:
        """
        Go back to L{initial}.

        @raise BehaviourRefused: the server cannot take it now.
        """
        return self._apply(self.initial, peer, "reset")

    def _apply(self, behaviour: Behaviour, peer: str, change: str) -> Behaviour:
        try:
            behaviour.apply_to(self.factory)
        except ConfigError as e:
            raise BehaviourRefused(str(e)) from None
        document = behaviour.as_document()
        self.log.info(
            "Admin {peer}: behaviour {change}: {behaviour_text}",
            peer=peer,
            change=change,
            behaviour=document,
            behaviour_text=_text(document),
        )
        return behaviour


def _text(document: dict[str, Any]) -> str:
    """The document's set keys as C{key=value} words, for the log line."""
    words = []
    for key, value in document.items():
        if value is None or value == []:
            continue
        shown = json.dumps(value) if isinstance(value, list) else value
        words.append(f"{key}={shown}")
    return " ".join(words) or "fast"
