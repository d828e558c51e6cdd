"""`.gitignore` rules of one folder, matched as git does for the common forms: `#`
comments, `!` negation, a trailing `/` for directories only, a leading or inner `/`
anchoring the pattern to the folder, `*`, `?`, `[...]` and `**`."""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from pathlib import Path

logger = logging.getLogger(__name__)

MAX_RULES = 2000
MAX_BYTES = 256_000


@dataclass(frozen=True)
class Rule:
    regex: re.Pattern[str]
    negated: bool
    dir_only: bool


def _translate(pattern: str) -> str:
    """The regular expression for a gitignore glob (without its anchoring)."""
    out, i = [], 0
    while i < len(pattern):
        if pattern.startswith("**/", i):
            out.append("(?:.*/)?")
            i += 3
        elif pattern.startswith("/**", i) and i + 3 == len(pattern):
            out.append("/.*")
            i += 3
        elif pattern.startswith("**", i):
            out.append(".*")
            i += 2
        elif pattern[i] == "*":
            out.append("[^/]*")
            i += 1
        elif pattern[i] == "?":
            out.append("[^/]")
            i += 1
        elif pattern[i] == "[" and "]" in pattern[i + 1:]:
            end = pattern.index("]", i + 2) if pattern[i + 1:i + 2] == "]" else pattern.index("]", i + 1)
            body = pattern[i + 1:end].replace("\\", "\\\\")
            out.append("[" + ("^" + body[1:] if body.startswith("!") else body) + "]")
            i = end + 1
        elif pattern[i] == "\\" and i + 1 < len(pattern):
            out.append(re.escape(pattern[i + 1]))
            i += 2
        else:
            out.append(re.escape(pattern[i]))
            i += 1
    return "".join(out)


def parse_rule(line: str) -> Rule | None:
    """One line of a .gitignore; None for blanks and comments."""
    line = line.rstrip("\n\r")
    if not line.endswith("\\ "):
        line = line.rstrip(" ")
    if not line or line.startswith("#"):
        return None
    negated = line.startswith("!")
    if negated:
        line = line[1:]
    if line.startswith("\\"):
        line = line[1:]
    dir_only = line.endswith("/")
    line = line.rstrip("/")
    if not line:
        return None
    anchored = "/" in line
    line = line.lstrip("/")
    body = _translate(line)
    regex = re.compile(("^" if anchored else "^(?:.*/)?") + body + "$")
    return Rule(regex, negated, dir_only)


class IgnoreRules:
    """The rules of one .gitignore; paths are given relative to its folder, with `/`."""

    def __init__(self, rules: list[Rule]) -> None:
        self.rules = rules

    @classmethod
    def load(cls, path: Path) -> IgnoreRules:
        """The rules in `path` (none when it is missing, a symlink, or unreadable)."""
        try:
            if path.is_symlink() or not path.is_file() or path.stat().st_size > MAX_BYTES:
                return cls([])
            text = path.read_text(encoding="utf-8", errors="replace")
        except OSError:
            return cls([])
        return cls.parse(text)

    @classmethod
    def parse(cls, text: str) -> IgnoreRules:
        rules = [r for r in map(parse_rule, text.splitlines()[:MAX_RULES]) if r is not None]
        return cls(rules)

    def match(self, relative: str, is_dir: bool) -> bool | None:
        """True: ignored; False: re-included by a `!` rule; None: no rule speaks of it.
        The last matching rule wins, as in git."""
        verdict: bool | None = None
        for rule in self.rules:
            if rule.dir_only and not is_dir:
                continue
            if rule.regex.match(relative):
                verdict = not rule.negated
        return verdict
