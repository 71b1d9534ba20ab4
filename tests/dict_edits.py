"""Edits of a nested JSON-like dict, for tests that break a report or a chip profile one key
at a time and check that the validator names that key."""

from __future__ import annotations

from typing import Any, Callable

Edit = Callable[[dict], None]


def drop(*keys: str) -> Edit:
    """An edit deleting the key at the path ``keys``."""
    def edit(d: dict) -> None:
        for k in keys[:-1]:
            d = d[k]
        del d[keys[-1]]
    return edit


def set_to(value: Any, *keys: str) -> Edit:
    """An edit setting the key at the path ``keys`` to ``value``."""
    def edit(d: dict) -> None:
        for k in keys[:-1]:
            d = d[k]
        d[keys[-1]] = value
    return edit
