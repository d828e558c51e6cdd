"""Pure measures of a set of sampled answers: consistency, distinct answers, syntax errors
(tree-sitter, answer inserted at the cursor), mean length, and the pass rate of a check."""

from __future__ import annotations

import logging
import subprocess
import sys
from collections import Counter
from collections.abc import Sequence
from dataclasses import asdict, dataclass

from ..context.languages import LanguageSpec
from ..context.parse_errors import count_errors
from ..context.positions import encode
from .cases import SweepCase

logger = logging.getLogger(__name__)

CHECK_TIMEOUT_S = 10.0


@dataclass(frozen=True)
class Measures:
    label: str
    temperature: float | None
    """None for a profile that is not one temperature (`auto`, greedy)."""
    samples: int
    consistency: float
    distinct: int
    syntax_error_rate: float | None
    mean_length: float
    pass_rate: float | None
    empty_rate: float

    def as_dict(self) -> dict[str, object]:
        return asdict(self)


def consistency(answers: Sequence[str]) -> float:
    """Share of the most common answer."""
    if not answers:
        return 0.0
    return Counter(answers).most_common(1)[0][1] / len(answers)


def adds_syntax_error(text: str, offset: int, answer: str, lang: LanguageSpec) -> bool:
    """Whether inserting `answer` at `offset` makes the document's parse worse."""
    parser = lang.parser()
    before = count_errors(parser.parse(encode(text)).root_node)
    after = count_errors(parser.parse(encode(text[:offset] + answer + text[offset:])).root_node)
    return after > before


def passes(case: SweepCase, answer: str, timeout: float = CHECK_TIMEOUT_S) -> bool:
    """Run the document with `answer` inserted, then `check(entry_point)`, in a fresh interpreter.

    The check also sees the completed document as the string `__document__` (a check of a
    comment reads it there; a docstring is on `candidate.__doc__`).
    """
    assert case.check is not None and case.entry_point is not None
    document = case.text[:case.offset] + answer + case.text[case.offset:]
    program = (document + "\n\n" + f"__document__ = {document!r}\n" + case.check
               + f"\n\ncheck({case.entry_point})\n")
    try:
        done = subprocess.run([sys.executable, "-I", "-c", program], capture_output=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return False
    return done.returncode == 0


def measure(label: str, temperature: float | None, case: SweepCase, answers: Sequence[str],
            ungated: Sequence[str]) -> Measures:
    """The row of one setting; `ungated` are the answers before the syntax gate."""
    n = len(answers)
    syntax = None
    if case.lang is not None and n:
        syntax = sum(adds_syntax_error(case.text, case.offset, a, case.lang) for a in ungated if a) / n
    pass_rate = None
    if case.check is not None and n:
        verdicts = {a: passes(case, a) for a in set(answers)}
        pass_rate = sum(verdicts[a] for a in answers) / n
    return Measures(label=label, temperature=temperature, samples=n, consistency=consistency(answers),
                    distinct=len(set(answers)), syntax_error_rate=syntax,
                    mean_length=sum(map(len, answers)) / n if n else 0.0, pass_rate=pass_rate,
                    empty_rate=sum(not a for a in answers) / n if n else 0.0)
