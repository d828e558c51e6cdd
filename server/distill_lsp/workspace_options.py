"""The options of the workspace context (`context/repo_session.py`): the fields of entries
of `settings.OPTIONS`, kept here so that the table stays readable (as `job_options.py`)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from .job_options import Option


def _is_bool(v: Any) -> bool:
    return isinstance(v, bool)


def _int_in(lo: int, hi: int) -> Callable[[Any], bool]:
    return lambda v: isinstance(v, int) and not isinstance(v, bool) and lo <= v <= hi


WORKSPACE_OPTIONS: tuple[dict[str, Any], ...] = (
    Option("workspaceContext", "workspace_context",
           "Completions use the workspace: definitions from the files the document imports (read from disk "
           "within the workspace folders, indexed in the background) and regions of other documents edited "
           "recently. false: only the open documents.", _is_bool, "true or false"),
    Option("workspaceMaxFiles", "workspace_max_files",
           "Most files of the workspace the background index lists.", _int_in(0, 1_000_000),
           "an integer in [0, 1000000]", server_owned=True),
    Option("workspaceMaxFileKB", "workspace_max_file_kb",
           "Workspace files larger than this (KiB) are neither indexed nor read.", _int_in(1, 100_000),
           "an integer in [1, 100000]", server_owned=True),
    Option("workspaceIndexMB", "workspace_index_mb",
           "Memory the workspace index may hold (MiB): outlines are evicted, least recently used, beyond it.",
           _int_in(1, 65536), "an integer in [1, 65536]", server_owned=True),
)
