"""Settings for every test run from the repository root.

The docstring examples are collected as doctests (``--doctest-modules``).
Users copy them, so a warning there is a fault of the example: each one
runs with warnings turned into errors.
"""

from __future__ import annotations

import pytest


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if isinstance(item, pytest.DoctestItem):
            item.add_marker(pytest.mark.filterwarnings("error"))
