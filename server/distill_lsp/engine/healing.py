"""Token healing: a generation made to begin with a given text, in tokens the model chooses.

A prompt that ends inside a word (`os.stat(a_pa`) ends on a token boundary the model rarely
saw there: subword tokenizers split `a_path` as `a`, `_path`, not `a`, `_pa`, and the model,
seeing a word that looks finished, goes on with `)`. So the caller cuts the partial word off
the prompt and asks for a generation that starts with it (`GenerationRequest.start_with`):
each step allows only the tokens that agree with what is still owed (a token that is a
start of it, or one that begins with all of it), and the model picks among them, `_path`
where the word goes on. The text owed is part of the generation; the caller takes it off.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from typing import Any


class TokenHealer:
    """The vocabulary's texts, indexed by first character, for allowed-token lookups."""

    def __init__(self, texts: Sequence[str], excluded: Sequence[int] = ()) -> None:
        self.texts = list(texts)
        skip = set(excluded)
        self._by_first: dict[str, list[int]] = defaultdict(list)
        for token, text in enumerate(self.texts):
            if text and token not in skip and "\ufffd" not in text:
                self._by_first[text[0]].append(token)

    @classmethod
    def of(cls, tokenizer: Any, vocab_size: int, excluded: Sequence[int] = ()) -> TokenHealer:
        """The index of `tokenizer`'s texts (its own length where it has one, else the
        model's `vocab_size`), decoded in one batch where the tokenizer can."""
        size = len(tokenizer) if hasattr(tokenizer, "__len__") else vocab_size
        if hasattr(tokenizer, "batch_decode"):
            texts = tokenizer.batch_decode([[i] for i in range(size)])
        else:
            texts = [tokenizer.decode([i]) for i in range(size)]
        return cls(texts, excluded)

    def allowed(self, owed: str) -> list[int]:
        """Tokens that may come next while `owed` is still to be written."""
        if not owed:
            return []
        return [t for t in self._by_first.get(owed[0], ())
                if owed.startswith(self.texts[t]) or self.texts[t].startswith(owed)]

    def after(self, owed: str, token: int) -> str:
        """What is still owed once `token` is written."""
        text = self.texts[token] if 0 <= token < len(self.texts) else ""
        return owed[len(text):] if owed.startswith(text) else ""
