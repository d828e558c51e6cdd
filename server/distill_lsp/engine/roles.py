"""A model for each job: completions and actions (Explain / Fix / Document) each name their
model and backend (`completionModel`, `actionModel`, `completionBackend`, `actionBackend`,
falling back to `model` and `backend`).

`role_settings` gives the settings one job loads its model with, so that `factory.model_key`
and `factory.make_backend_factory` serve both jobs unchanged. `EnginePool` holds the
engines of a process: one worker per distinct model. Completions always have theirs;
actions share it when their model key is the same (one copy, one load), and get a second
engine of their own otherwise, so that each model keeps newest-wins and cancellation for
its own jobs and neither waits behind the other's generation.
"""

from __future__ import annotations

import dataclasses
import logging
import threading
from collections.abc import Callable
from typing import Any

from ..settings import Settings
from .worker import Engine

logger = logging.getLogger(__name__)

_LOADS = threading.Lock()
"""Loads run one at a time: transformers builds a model under process-wide state (the meta
device), so two engines loading at once corrupt each other's model."""

COMPLETION = "completion"
ACTIONS = "actions"
ROLES = (COMPLETION, ACTIONS)


def role_settings(settings: Settings, role: str) -> Settings:
    """`settings` as the job `role` loads its model: its own model and backend where set."""
    if role not in ROLES:
        raise ValueError(f"unknown role {role!r}")
    model = settings.completion_model if role == COMPLETION else settings.action_model
    backend = (settings.completion_backend if role == COMPLETION else settings.action_backend) or settings.backend
    changes: dict[str, Any] = {"backend": backend}
    if model:
        if backend == "openai":
            changes["remote_model"] = "" if model == "auto" else model
        else:
            changes["model"] = model
    return dataclasses.replace(settings, **changes)


def one_at_a_time(factory: Callable[[], Any]) -> Callable[[], Any]:
    """`factory`, run while no other engine of the process loads a model."""
    def load() -> Any:
        with _LOADS:
            return factory()
    return load


class EnginePool:
    """The engines of one process (shared by every session over TCP)."""

    def __init__(self, completion: Engine | None = None) -> None:
        self.completion = completion or Engine()
        self._actions: Engine | None = None
        self._lock = threading.Lock()

    def actions(self, separate: bool) -> Engine:
        """The engine of the actions: the completion engine unless their model differs."""
        if not separate:
            return self.completion
        with self._lock:
            if self._actions is None:
                self._actions = Engine()
                logger.info("a second engine for the actions' model")
            return self._actions

    def drop_actions(self) -> None:
        """The actions' model is the completion model again: free the second one."""
        with self._lock:
            engine, self._actions = self._actions, None
        if engine is not None:
            engine.close()
            backend, engine.backend = engine.backend, None
            if backend is not None and hasattr(backend, "close"):
                backend.close()

    def engines(self) -> list[Engine]:
        with self._lock:
            return [self.completion, *([self._actions] if self._actions is not None else [])]

    def close(self) -> None:
        for engine in self.engines():
            engine.close()

    def join(self, timeout: float | None = None) -> None:
        for engine in self.engines():
            engine.join(timeout)
