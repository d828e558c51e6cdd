"""What flows through the completion pipeline: the document as the request saw it
(`Snapshot`), the settings it runs with (`CompletionConfig`), what it answers
(`Suggestion`), and what it needs of a model (`engine.types.Backend`)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from tree_sitter import Tree

from ..context.builder import ContextMemory, ContextShares
from ..context.languages import LanguageSpec
from ..context.repo_session import RepoRequest
from ..profiles import COMPLETION_MAX_LINES, SamplingProfile


@dataclass(frozen=True)
class Snapshot:
    """The document as it was when the request arrived."""

    uri: str
    version: int | None
    text: str
    offset: int
    """Cursor as an index into `text` (converted from UTF-16 at the protocol boundary)."""
    lang: LanguageSpec | None = None
    tree: Tree | None = None
    """Parse of `text` (never mutated afterwards), None for plain-text documents."""
    other_docs: Sequence[tuple[str, str]] = ()
    """(path, text) of the other open documents."""
    memory: ContextMemory | None = None
    """What the last context built for this document chose (kept steady), from the document store."""
    remember: Callable[[ContextMemory], None] | None = None
    """Hands what this request's context chose back to the document store (for the next request)."""
    automatic: bool = True
    path: str = ""
    """The document's file path (named in the prompt's header); empty: not named."""
    repo: RepoRequest | None = None
    """What the completion may use of the workspace and the recent edits (None: nothing)."""

    @property
    def prefix(self) -> str:
        return self.text[: self.offset]

    @property
    def suffix(self) -> str:
        return self.text[self.offset:]

    @property
    def line_prefix(self) -> str:
        return self.prefix.rsplit("\n", 1)[-1].rsplit("\r", 1)[-1]

    @property
    def line_suffix(self) -> str:
        return self.suffix.split("\n", 1)[0].split("\r", 1)[0]


@dataclass(frozen=True)
class CompletionConfig:
    profile: SamplingProfile
    max_new_tokens: int
    max_lines: int = COMPLETION_MAX_LINES
    context_tokens: int = 0
    shares: ContextShares = ContextShares()
    seed: int | None = None
    retries: int = 0
    """Further tries when post-processing leaves nothing (see `run`)."""
    min_token_probability: float = 0.0
    """Generation stops before a token the model gives less than this probability."""
    min_confidence: float = 0.0
    """Nothing is shown when the first line's confidence (`first_line_confidence`) is lower."""
    background: bool = False
    """Speculative work: the prompt runs in small chunks, so a real request stops it at once."""


@dataclass
class Suggestion:
    """What to show at the cursor; `text` is empty when there is nothing worth showing."""

    text: str
    reason: str = ""
    """Why `text` is empty (e.g. "inside a comment", a stop reason, `gate.UNSURE`), or where it came
    from when not from a generation ("typed-ahead cache")."""
    notice: str = ""
    """A one-time message from the engine for the user (e.g. it fell back to the CPU)."""
    mode: str = ""
    """The kind of suggestion generated (`rules.ModeKind`: single_line, multi_line)."""
    profile: str = ""
    """The profile the generation used (`auto:precise` etc. when `auto` chose it)."""
    confidence: float | None = None
    """The model's confidence in the first line (`first_line_confidence`); None when unknown."""
    ungated: str = ""
    """The postprocessed suggestion before the syntax gate cut it (for the sweep's syntax-error rate)."""
    tries: int = 1
    """Generations this answer took (more than one when post-processing threw answers away)."""
    timings: dict[str, float] = field(default_factory=dict)
    """Milliseconds by stage: context_ms, ttft_ms, generate_ms, total_ms."""
    prompt_tokens: int = 0
    reused_tokens: int = 0
    """Prompt tokens whose keys and values came from the engine's cache of an earlier request."""
    new_tokens: int = 0
    stopped_early: bool = False
    """The generation was cancelled or superseded before it ended (nothing is shown)."""
