"""
pytest configuration shared by every test module.

trial TestCases that spin the real reactor fail with
DirtyReactorAggregateError once a pytest-twisted test has started its
reactor in the same run, so trial TestCases are collected first.
"""

from __future__ import annotations

import pytest
from twisted.trial.unittest import SynchronousTestCase


def _is_trial(item: pytest.Item) -> bool:
    cls = getattr(item, "cls", None)
    return isinstance(cls, type) and issubclass(cls, SynchronousTestCase)


def pytest_collection_modifyitems(
    session: pytest.Session, config: pytest.Config, items: list[pytest.Item]
) -> None:
    """Run trial TestCases before every other test (a stable sort)."""
    items.sort(key=lambda item: 0 if _is_trial(item) else 1)
