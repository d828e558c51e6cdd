"""Key/value cache reuse between requests: the last prompt's cache per document, kept
within a memory budget, so the next request runs the model only on the tokens after the
longest common token prefix.

A plain transformers ``DynamicLayer`` concatenates its whole history at every decode
step (a copy that grows with the context); ``GrowingLayer`` writes into a buffer with
spare room instead, doubling it when full, and crops by moving its length back.
"""

from __future__ import annotations

import logging
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

from transformers.cache_utils import DynamicCache, DynamicLayer

logger = logging.getLogger(__name__)

MIN_REUSE_TOKENS = 8
"""A shorter common prefix is not worth the bookkeeping: the prompt runs from scratch."""
COPY_WORTH_TOKENS = 16
"""Another entry is copied from only when it serves this many more tokens than the key's own."""


class GrowingLayer(DynamicLayer):
    """A dynamic cache layer backed by a buffer with spare capacity (amortised growth)."""

    def lazy_initialization(self, key_states: Any, value_states: Any) -> None:
        super().lazy_initialization(key_states, value_states)
        self._k = self._v = None
        self._len = 0

    def update(self, key_states: Any, value_states: Any, *args: Any, **kwargs: Any) -> tuple[Any, Any]:
        import torch

        if not self.is_initialized:
            self.lazy_initialization(key_states, value_states)
        need = self._len + key_states.shape[-2]
        if self._k is None or need > self._k.shape[-2]:
            # a larger buffer keeps the dtype of the one it replaces (a decode step may hand over
            # keys and values of another dtype: they are converted as they are written)
            self._grow(need, key_states if self._k is None else self._k,
                       value_states if self._v is None else self._v)
        with torch.no_grad():
            self._k[..., self._len:need, :] = key_states
            self._v[..., self._len:need, :] = value_states
        self._len = need
        self.keys, self.values = self._k[..., :need, :], self._v[..., :need, :]
        return self.keys, self.values

    def _grow(self, need: int, like_k: Any, like_v: Any) -> None:
        """Buffers with room for twice `need` positions (at least 256), holding what these hold."""
        capacity = max(need * 2, 256)
        k = like_k.new_empty((*like_k.shape[:-2], capacity, like_k.shape[-1]))
        v = like_v.new_empty((*like_v.shape[:-2], capacity, like_v.shape[-1]))
        if self._len:
            k[..., :self._len, :] = self._k[..., :self._len, :]
            v[..., :self._len, :] = self._v[..., :self._len, :]
        self._k, self._v = k, v

    def make_room(self) -> None:
        """Room in the buffers for one more position (a decoding step writes it in place)."""
        if self._len >= self._k.shape[-2]:
            self._grow(self._len + 1, self._k, self._v)

    def buffers(self) -> tuple[Any, Any]:
        """The key and value buffers, spare room included (None before the first update)."""
        return (self._k, self._v) if self.is_initialized else (None, None)

    def appended_in_place(self) -> None:
        """Count one more position, written into the buffers by a decoding step."""
        self._len += 1
        self.keys, self.values = self._k.narrow(-2, 0, self._len), self._v.narrow(-2, 0, self._len)

    def get_seq_length(self) -> int:
        return self._len if self.is_initialized else 0

    def crop(self, tokens_to_remove: int) -> None:
        """Drop the last ``-tokens_to_remove`` tokens (transformers' convention: negative)."""
        if tokens_to_remove == 0 or not self.is_initialized:
            return
        if tokens_to_remove > 0:
            raise ValueError("crop takes a negative number of tokens to remove")
        self._len = max(0, self._len + tokens_to_remove)
        self.keys, self.values = self._k[..., :self._len, :], self._v[..., :self._len, :]

    def nbytes(self) -> int:
        if not self.is_initialized or self._k is None:
            return 0
        return 2 * self._k.numel() * self._k.element_size()


def copy_prefix(cache: Any, tokens: int, model: Any) -> Any:
    """A new cache holding a copy of the first `tokens` positions of `cache` (all growing layers)."""
    copy = new_cache(model)
    for source, target in zip(cache.layers, copy.layers):
        if source.is_initialized:
            target.update(source.keys[..., :tokens, :], source.values[..., :tokens, :])
    return copy


def new_cache(model: Any) -> Any:
    """A cache for `model`: its own layer types (sliding windows stay as they are), with
    plain full-attention layers replaced by growing buffers."""
    cache = DynamicCache(config=model.config)
    cache.layers = [GrowingLayer() if type(layer) is DynamicLayer else layer for layer in cache.layers]
    return cache


def cache_nbytes(cache: Any) -> int:
    total = 0
    for layer in cache.layers:
        if isinstance(layer, GrowingLayer):
            total += layer.nbytes()
        elif getattr(layer, "keys", None) is not None and getattr(layer, "is_initialized", False):
            total += 2 * layer.keys.numel() * layer.keys.element_size()
    return total


def croppable(cache: Any) -> bool:
    return all(getattr(layer, "is_croppable", False) for layer in cache.layers)


def common_prefix(a: list[int], b: list[int]) -> int:
    """Length of the longest common prefix of two token lists."""
    n = min(len(a), len(b))
    i = 0
    while i < n and a[i] == b[i]:
        i += 1
    return i


@dataclass
class Entry:
    ids: list[int]
    """The tokens whose keys and values the cache holds, in order."""
    cache: Any


@dataclass
class Reuse:
    cache: Any
    reused: int
    """Tokens of the prompt already in `cache`; the model runs on the rest."""


class PrefixStore:
    """The last cache per key, least recently used dropped first beyond `budget_bytes`.

    ``take`` removes the entry (the generation mutates the cache in place); ``put`` gives
    it back with the tokens it now holds. Only the engine worker calls these.
    """

    def __init__(self, budget_bytes: int) -> None:
        self.budget_bytes = budget_bytes
        self._entries: OrderedDict[str, Entry] = OrderedDict()
        self.hits = 0
        self.misses = 0

    def take(self, key: str, prompt: list[int], model: Any, also: str = "") -> Reuse:
        """A cache holding the longest reusable prefix of `prompt` (at least one prompt
        token is left to run, so the model yields the next token's logits).

        `also` names a second entry to reuse from, left in place (a copy of its prefix is
        taken): speculative work keeps an entry of its own, so it never replaces the cache
        that the document's real requests reuse, and each side can start from the other's."""
        entry = self._entries.get(key) if key and self.budget_bytes > 0 else None
        keep = self._usable(entry, prompt, key)
        if entry is not None and keep >= MIN_REUSE_TOKENS:
            del self._entries[key]  # taken: the generation extends it in place
        else:
            entry = None  # of no use to this prompt: it stays for the next one (a miss cut short keeps it)
        other = self._entries.get(also) if also and self.budget_bytes > 0 else None
        borrowed = self._usable(other, prompt, also)
        if other is not None and borrowed > max(keep, MIN_REUSE_TOKENS - 1) + COPY_WORTH_TOKENS:
            if entry is not None:
                self._entries[key] = entry  # kept for later: it is not the better start this time
            self.hits += 1
            return Reuse(copy_prefix(other.cache, borrowed, model), borrowed)
        if entry is not None:
            held = entry.cache.get_seq_length()
            if held > keep:
                entry.cache.crop(keep - held)
            self.hits += 1
            return Reuse(entry.cache, keep)
        self.misses += 1
        return Reuse(new_cache(model), 0)

    @staticmethod
    def _usable(entry: Entry | None, prompt: list[int], key: str) -> int:
        """Prompt tokens `entry` could serve (0 when it cannot be cut back)."""
        if entry is None or not croppable(entry.cache):
            return 0
        keep = min(common_prefix(entry.ids, prompt), len(prompt) - 1)
        logger.debug("prefix cache %s: %d of %d prompt tokens in common with the %d kept",
                     key, keep, len(prompt), len(entry.ids))
        return keep

    def put(self, key: str, ids: list[int], cache: Any) -> None:
        """Keep `cache` (holding `ids`) for `key`, unless it holds too little to be worth more
        than what the key keeps already (a generation cancelled before its prompt ran)."""
        if not key or self.budget_bytes <= 0 or (len(ids) < MIN_REUSE_TOKENS and key in self._entries):
            return
        if cache.get_seq_length() != len(ids):
            logger.debug("cache for %s out of step (%d vs %d tokens); dropped", key, cache.get_seq_length(), len(ids))
            return
        self._entries[key] = Entry(list(ids), cache)
        self._entries.move_to_end(key)
        self._evict()

    def drop(self, key: str) -> None:
        self._entries.pop(key, None)

    def clear(self) -> None:
        self._entries.clear()

    def nbytes(self) -> int:
        return sum(cache_nbytes(e.cache) for e in self._entries.values())

    def __len__(self) -> int:
        return len(self._entries)

    def _evict(self) -> None:
        while self._entries and self.nbytes() > self.budget_bytes:
            key, _ = self._entries.popitem(last=False)
            logger.debug("prefix cache: evicted %s", key)
