"""TypedAheadCache: serve the rest of a suggestion while the user types it."""

from __future__ import annotations

import pytest
from distill_lsp.completion.cache import TypedAheadCache


def test_typing_through_a_suggestion() -> None:
    cache = TypedAheadCache()
    cache.remember("u", "x = ", "compute(a, b)")
    assert cache.lookup("u", "x = ") == "compute(a, b)"
    assert cache.lookup("u", "x = comp") == "ute(a, b)"
    assert cache.lookup("u", "x = compute(a, ") == "b)"
    assert cache.lookup("u", "x = compute(a, b)") is None  # fully typed: forgotten
    assert cache.lookup("u", "x = ") is None


@pytest.mark.parametrize("typed", ["x = cx", "x =", "y = ", "x = compute(a, c"])
def test_divergence_forgets(typed: str) -> None:
    cache = TypedAheadCache()
    cache.remember("u", "x = ", "compute(a, b)")
    assert cache.lookup("u", typed) is None
    assert cache.lookup("u", "x = co") is None


def test_per_document_and_bounded() -> None:
    cache = TypedAheadCache(max_entries=2)
    cache.remember("a", "p", "1")
    cache.remember("b", "p", "2")
    assert cache.lookup("a", "p") == "1"  # refreshes a
    cache.remember("c", "p", "3")  # evicts b, the least recently used
    assert len(cache) == 2
    assert cache.lookup("b", "p") is None
    assert cache.lookup("a", "p") == "1" and cache.lookup("c", "p") == "3"


def test_empty_suggestion_and_forget() -> None:
    cache = TypedAheadCache()
    cache.remember("u", "p", "abc")
    cache.remember("u", "p", "")
    assert cache.lookup("u", "p") is None
    cache.remember("u", "p", "abc")
    cache.forget("u")
    assert cache.lookup("u", "pa") is None
    with pytest.raises(ValueError):
        TypedAheadCache(0)
