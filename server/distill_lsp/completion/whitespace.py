"""Where the prompt ends and the generation begins: the space, or the partial word, cut
from the end of a prompt, and the generation as it reads from the cursor once that text is
given back."""

from __future__ import annotations

import re

_LAST_WORD = re.compile(r"\w+$")
MAX_HEALED_CHARS = 32
"""A longer word at the cursor is left in the prompt (it is not one a model writes in a few tokens)."""


def split_trailing_whitespace(prompt: str) -> tuple[str, str]:
    """Cut the one space the cursor stands after, if it stands after a space.

    Tokenizers of the GPT-2 kind attach a space to the word after it (`Ġreturn`) and merge
    a newline with the next line's indentation less its last space (`ĊĠĠĠ` + `Ġreturn`):
    a prompt that ends in that last space is off the distribution the model saw. Without
    it, the model writes the space back as part of its first token and `rejoin_whitespace`
    takes it off again. The newline and the rest of the indentation stay: cutting them let
    the model go on with the line before the cursor instead of starting the cursor's line.
    """
    if prompt.endswith(" "):
        return prompt[:-1], " "
    return prompt, ""


def split_partial_word(prompt: str, line_prefix: str) -> tuple[str, str]:
    """Cut the word the cursor stands in (or just after) off the prompt, with the one space
    before it: the engine gives it back in tokens the model chooses (token healing,
    `engine.healing`). A prompt ending inside a word ends on a token boundary the model
    rarely saw there (`a_pa` is `a` + `_pa`, where `a_path` is `a` + `_path`), and the model
    takes the word for finished. Nothing is cut when the cursor is not after a word."""
    found = _LAST_WORD.search(line_prefix)
    if found is None or len(found.group()) > MAX_HEALED_CHARS:
        return prompt, ""
    start = found.start() - (found.start() > 0 and line_prefix[found.start() - 1] == " ")
    tail = line_prefix[start:]
    if not prompt.endswith(tail) or len(tail) == len(prompt):
        return prompt, ""
    return prompt[:-len(tail)], tail


def rejoin_whitespace(generated: str, removed: str) -> str:
    """The generation as seen from the cursor, given the whitespace cut from the prompt."""
    if not removed or generated.startswith(removed):
        return generated[len(removed):]
    if generated.startswith(("\n", "\r")):
        return generated
    return generated.lstrip(" \t")


def start_on_cursor_line(text: str, line_prefix: str) -> str:
    """On a blank cursor line, a generation that first ends that line (and maybe more blank
    lines) starts at its first non-blank line, placed at the cursor: the cursor's own
    indentation is taken off that line, any deeper indentation kept."""
    if line_prefix.strip() or not text.startswith(("\n", "\r")):
        return text
    lines = text.replace("\r\n", "\n").split("\n")
    first = next((i for i, line in enumerate(lines) if line.strip()), None)
    if first is None:
        return ""
    head = lines[first]
    head = head[len(line_prefix):] if head.startswith(line_prefix) else head.lstrip(" \t")
    return "\n".join([head, *lines[first + 1:]])


def as_seen(generated: str, removed: str, line_prefix: str) -> str:
    """The generation as it would be inserted at the cursor."""
    return start_on_cursor_line(rejoin_whitespace(generated, removed), line_prefix)
