"""The engine: one worker thread owns the model and runs every job that touches it
(loading, tokenizing, generating), one at a time, newest-wins per document."""

from __future__ import annotations

import enum
import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future, InvalidStateError
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from .types import CancelToken, EngineNotReady, ModelInfo, StopReason

logger = logging.getLogger(__name__)

T = TypeVar("T")


class EngineState(str, enum.Enum):
    EMPTY = "empty"
    LOADING = "loading"
    READY = "ready"
    FAILED = "failed"


@dataclass
class _Job(Generic[T]):
    work: Callable[[Any, CancelToken], T]
    key: str
    token: CancelToken
    future: Future = field(default_factory=Future)
    needs_backend: bool = True
    submitted: float = field(default_factory=time.perf_counter)


class Engine:
    """Runs jobs on one worker thread. A job is `work(backend, token) -> result`.

    Submitting a job with the same non-empty key as a queued one resolves the queued
    one with None (superseded, never started) and cancels a running one's token.
    """

    def __init__(self) -> None:
        self._cv = threading.Condition()
        self._queue: deque[_Job[Any]] = deque()
        self._running: _Job[Any] | None = None
        self._closed = False
        self.backend: Any = None
        self.state = EngineState.EMPTY
        self.error: str | None = None
        self._load_key: Any = None
        self._load_future: Future | None = None
        self._thread = threading.Thread(target=self._loop, name="distill-engine", daemon=True)
        self._thread.start()

    @property
    def ready(self) -> bool:
        return self.state is EngineState.READY

    @property
    def info(self) -> ModelInfo | None:
        return self.backend.info if self.backend is not None else None

    def load(self, factory: Callable[[], Any], key: Any = None) -> Future:
        """Replace the backend with `factory()`, run on the worker; resolves to its ModelInfo.

        With a `key` equal to the one of the model loaded or loading, nothing is reloaded:
        the future of that load is returned (sessions sharing an engine ask for the same model).
        """
        with self._cv:
            same = key is not None and key == self._load_key and self._load_future is not None
            if same and self.state in (EngineState.LOADING, EngineState.READY):
                return self._load_future
            self.state = EngineState.LOADING
            self.error = None
            self._load_key = key
            self._load_future = self._enqueue(
                _Job(lambda _b, _t: self._install(factory), "", CancelToken(), needs_backend=False))
            return self._load_future

    def submit(self, work: Callable[[Any, CancelToken], T], *, key: str = "",
               token: CancelToken | None = None) -> Future:
        """Queue `work`; the future resolves to its result, or None if superseded unstarted."""
        return self._enqueue(_Job(work, key, token or CancelToken()))

    def cancel_key(self, key: str, reason: StopReason = StopReason.SUPERSEDED) -> None:
        """Stop queued and running jobs with `key` (e.g. the document just changed)."""
        with self._cv:
            self._supersede(key, reason)

    def pending(self) -> int:
        with self._cv:
            return len(self._queue) + (self._running is not None)

    def close(self) -> None:
        with self._cv:
            self._closed = True
            if self._running is not None:
                self._running.token.cancel(StopReason.CANCELLED)
            while self._queue:
                _settle(self._queue.popleft().future, None)
            self._cv.notify_all()

    def join(self, timeout: float | None = None) -> None:
        self._thread.join(timeout)

    def _enqueue(self, job: _Job[Any]) -> Future:
        with self._cv:
            if self._closed:
                _settle(job.future, None)
                return job.future
            if job.key:
                self._supersede(job.key, StopReason.SUPERSEDED)
            self._queue.append(job)
            self._cv.notify()
        return job.future

    def _supersede(self, key: str, reason: StopReason) -> None:
        for old in [j for j in self._queue if j.key == key]:
            self._queue.remove(old)
            old.token.cancel(reason)
            _settle(old.future, None)
        if self._running is not None and self._running.key == key:
            self._running.token.cancel(reason)

    def _install(self, factory: Callable[[], Any]) -> ModelInfo:
        try:
            backend = factory()
        except Exception as exc:
            with self._cv:
                self.state = EngineState.FAILED
                self.error = str(exc)
            raise
        with self._cv:
            self.backend = backend
            self.state = EngineState.READY
        return backend.info

    def _next(self) -> _Job[Any] | None:
        with self._cv:
            while not self._queue and not self._closed:
                self._cv.wait()
            if self._closed:
                return None
            self._running = self._queue.popleft()
            return self._running

    def _loop(self) -> None:
        while (job := self._next()) is not None:
            try:
                self._run(job)
            finally:
                with self._cv:
                    self._running = None

    def _run(self, job: _Job[Any]) -> None:
        if not job.future.set_running_or_notify_cancel():
            return  # the awaiting side gave up before the job started
        if job.token.cancelled:
            job.future.set_result(None)
            return
        try:
            if job.needs_backend and self.backend is None:
                raise EngineNotReady(self.error or "no model is loaded yet")
            result = job.work(self.backend, job.token)
        except BaseException as exc:  # handed to the awaiting handler, which maps it
            job.future.set_exception(exc)
            if not isinstance(exc, Exception):
                raise
            return
        job.future.set_result(result)


def _settle(future: Future, result: Any) -> None:
    """Resolve a future that the other side may have cancelled meanwhile."""
    try:
        future.set_result(result)
    except InvalidStateError:
        pass
