"""The engine: one worker thread owns the model and runs every job that touches it
(loading, tokenizing, generating), one at a time, newest-wins per document.

Sessions (one per editor connection over TCP) share the engine. Each job carries its
session's id; the queue takes turns between sessions (round robin), so one window that
floods the queue delays another by at most one job. Keys are per session: two windows
with the same file open do not supersede each other. `Engine.session(id)` is the view
a session holds: the same calls, with its id filled in.
"""

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

from .types import CancelToken, EngineNotReady, JobFailed, ModelInfo, StopReason

logger = logging.getLogger(__name__)

T = TypeVar("T")
IDLE_JOBS = 4
"""Lowest-priority jobs (speculation) waiting at most; newer ones push the oldest out."""


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
    session: str = ""
    idle: bool = False
    """Runs only when nothing else is queued; any other job stops it (see `Engine.submit_idle`)."""


class FairQueue:
    """Queued jobs per session; `popleft` takes the oldest job of the session whose turn
    it is, then sends that session to the back of the line."""

    def __init__(self) -> None:
        self._by_session: dict[str, deque[_Job[Any]]] = {}
        self._turns: deque[str] = deque()

    def append(self, job: _Job[Any]) -> None:
        if job.session not in self._by_session:
            self._by_session[job.session] = deque()
            self._turns.append(job.session)
        self._by_session[job.session].append(job)

    def popleft(self) -> _Job[Any]:
        session = self._turns.popleft()
        jobs = self._by_session[session]
        job = jobs.popleft()
        if jobs:
            self._turns.append(session)
        else:
            del self._by_session[session]
        return job

    def remove(self, job: _Job[Any]) -> None:
        jobs = self._by_session[job.session]
        jobs.remove(job)
        if not jobs:
            del self._by_session[job.session]
            self._turns.remove(job.session)

    def matching(self, predicate: Callable[[_Job[Any]], bool]) -> list[_Job[Any]]:
        return [job for jobs in self._by_session.values() for job in jobs if predicate(job)]

    def __len__(self) -> int:
        return sum(len(jobs) for jobs in self._by_session.values())


class Engine:
    """Runs jobs on one worker thread. A job is `work(backend, token) -> result`.

    Submitting a job with the same non-empty key as a queued one resolves the queued
    one with None (superseded, never started) and cancels a running one's token.
    """

    def __init__(self) -> None:
        self._cv = threading.Condition()
        self._queue = FairQueue()
        self._idle: deque[_Job[Any]] = deque()
        self._running: _Job[Any] | None = None
        self._closed = False
        self.backend: Any = None
        self.state = EngineState.EMPTY
        self.error: str | None = None
        self._load_key: Any = None
        self._load_future: Future | None = None
        self.loads = 0
        """Backends installed so far (a shared engine loads its model once for every session)."""
        self.sessions: set[str] = set()
        """Ids of the sessions holding a view of this engine."""
        self._thread = threading.Thread(target=self._loop, name="distill-engine", daemon=True)
        self._thread.start()

    @property
    def ready(self) -> bool:
        return self.state is EngineState.READY

    @property
    def info(self) -> ModelInfo | None:
        return self.backend.info if self.backend is not None else None

    def load(self, factory: Callable[[], Any], key: Any = None, force: bool = False) -> Future:
        """Replace the backend with `factory()`, run on the worker; resolves to its ModelInfo.

        With a `key` equal to the one of the model loaded or loading, nothing is reloaded:
        the future of that load is returned (sessions sharing an engine ask for the same model),
        unless the load failed (it is tried again) or `force` asks for a fresh load.
        """
        with self._cv:
            same = key is not None and key == self._load_key and self._load_future is not None
            if same and (self.state is EngineState.LOADING or self.state is EngineState.READY and not force):
                return self._load_future
            self.state = EngineState.LOADING
            self.error = None
            self._load_key = key
            self._load_future = self._enqueue(
                _Job(lambda _b, _t: self._install(factory), "", CancelToken(), needs_backend=False))
            return self._load_future

    def load_in_progress(self) -> Future | None:
        """The future of the load under way, None when no load is queued or running."""
        with self._cv:
            return self._load_future if self.state is EngineState.LOADING else None

    def submit(self, work: Callable[[Any, CancelToken], T], *, key: str = "",
               token: CancelToken | None = None, session: str = "") -> Future:
        """Queue `work`; the future resolves to its result, or None if superseded unstarted."""
        return self._enqueue(_Job(work, key, token or CancelToken(), session=session))

    def submit_idle(self, work: Callable[[Any, CancelToken], T], *, key: str = "",
                    token: CancelToken | None = None, session: str = "") -> Future:
        """Queue `work` at the lowest priority: it starts only when no other job is queued,
        and any job submitted after that cancels it (its token; a generation stops within
        one decoding step). At most `IDLE_JOBS` wait; the oldest resolve to None."""
        job = _Job(work, key, token or CancelToken(), session=session, idle=True)
        with self._cv:
            if self._closed:
                _settle(job.future, None)
                return job.future
            if key:
                for old in [j for j in self._idle if j.key == key and j.session == session]:
                    self._drop_idle(old)
                running = self._running
                if running is not None and running.idle and running.key == key and running.session == session:
                    running.token.cancel(StopReason.SUPERSEDED)
            self._idle.append(job)
            while len(self._idle) > IDLE_JOBS:
                self._drop_idle(self._idle[0])
            self._cv.notify()
        return job.future

    def _drop_idle(self, job: _Job[Any]) -> None:
        self._idle.remove(job)
        job.token.cancel(StopReason.SUPERSEDED)
        _settle(job.future, None)

    def cancel_key(self, key: str, reason: StopReason = StopReason.SUPERSEDED, session: str = "") -> None:
        """Stop queued and running jobs with `key` (e.g. the document just changed)."""
        with self._cv:
            self._supersede(key, reason, session)

    def session(self, session_id: str) -> EngineSession:
        """A view of this engine for one session (its jobs carry `session_id`)."""
        with self._cv:
            self.sessions.add(session_id)
        return EngineSession(self, session_id)

    def end_session(self, session_id: str) -> int:
        """Drop a session: its queued jobs resolve to None, its running one is cancelled.
        Returns how many jobs it had queued or running."""
        with self._cv:
            self.sessions.discard(session_id)
            dropped = self._queue.matching(lambda j: j.session == session_id)
            for job in dropped:
                self._queue.remove(job)
                job.token.cancel(StopReason.CANCELLED)
                _settle(job.future, None)
            for job in [j for j in self._idle if j.session == session_id]:
                self._drop_idle(job)
            running = self._running is not None and self._running.session == session_id
            if running:
                self._running.token.cancel(StopReason.CANCELLED)
        return len(dropped) + running

    def pending(self) -> int:
        """Jobs queued or running for a request (speculative idle work is not counted)."""
        with self._cv:
            return len(self._queue) + (self._running is not None and not self._running.idle)

    def close(self) -> None:
        with self._cv:
            self._closed = True
            if self._running is not None:
                self._running.token.cancel(StopReason.CANCELLED)
            while len(self._queue):
                _settle(self._queue.popleft().future, None)
            while self._idle:
                self._drop_idle(self._idle[0])
            self._cv.notify_all()

    def join(self, timeout: float | None = None) -> None:
        self._thread.join(timeout)

    def _enqueue(self, job: _Job[Any]) -> Future:
        with self._cv:
            if self._closed:
                _settle(job.future, None)
                return job.future
            if job.key:
                self._supersede(job.key, StopReason.SUPERSEDED, job.session)
            if self._running is not None and self._running.idle:
                self._running.token.cancel(StopReason.SUPERSEDED)  # real work first
            self._queue.append(job)
            self._cv.notify()
        return job.future

    def _supersede(self, key: str, reason: StopReason, session: str) -> None:
        for old in self._queue.matching(lambda j: j.key == key and j.session == session):
            self._queue.remove(old)
            old.token.cancel(reason)
            _settle(old.future, None)
        for old in [j for j in self._idle if j.key == key and j.session == session]:
            self._drop_idle(old)
        running = self._running
        if running is not None and running.key == key and running.session == session:
            running.token.cancel(reason)

    def _install(self, factory: Callable[[], Any]) -> ModelInfo:
        try:
            backend = factory()
        except BaseException as exc:  # whatever the failure, the engine says so and can load again
            with self._cv:
                self.state = EngineState.FAILED
                self.error = str(exc) or type(exc).__name__
            raise
        with self._cv:
            old, self.backend = self.backend, backend
            self.state = EngineState.READY
            self.loads += 1
        if old is not None and hasattr(old, "close"):
            old.close()  # an HTTP backend's connections and loop thread
        return backend.info

    def _next(self) -> _Job[Any] | None:
        with self._cv:
            while not len(self._queue) and not self._idle and not self._closed:
                self._cv.wait()
            if self._closed:
                return None
            self._running = self._queue.popleft() if len(self._queue) else self._idle.pop()
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
        except BaseException as exc:  # anything, even SystemExit: it fails this job, never the worker
            job.future.set_exception(exc if isinstance(exc, Exception) else _job_failed(job, exc))
            return
        job.future.set_result(result)


class EngineSession:
    """One session's view of a shared engine: submit / cancel_key carry its id."""

    def __init__(self, engine: Engine, session_id: str) -> None:
        self.engine = engine
        self.session_id = session_id

    def submit(self, work: Callable[[Any, CancelToken], T], *, key: str = "",
               token: CancelToken | None = None) -> Future:
        return self.engine.submit(work, key=key, token=token, session=self.session_id)

    def submit_idle(self, work: Callable[[Any, CancelToken], T], *, key: str = "",
                    token: CancelToken | None = None) -> Future:
        return self.engine.submit_idle(work, key=key, token=token, session=self.session_id)

    def cancel_key(self, key: str, reason: StopReason = StopReason.SUPERSEDED) -> None:
        self.engine.cancel_key(key, reason, session=self.session_id)

    def end(self) -> int:
        """The session is over: cancel its jobs (the engine keeps serving the others)."""
        return self.engine.end_session(self.session_id)

    def __getattr__(self, name: str) -> Any:  # state, ready, info, load, pending, close, join...
        return getattr(self.engine, name)


def _job_failed(job: _Job[Any], exc: BaseException) -> JobFailed:
    """`exc` (not an Exception) as an error the awaiting handler maps: raised on the event
    loop, a SystemExit or KeyboardInterrupt would end the whole server."""
    logger.error("engine job %r raised %s; only this job fails", job.key or "load", type(exc).__name__)
    error = JobFailed(f"the engine job failed: {type(exc).__name__}: {exc}")
    error.__cause__ = exc
    return error


def _settle(future: Future, result: Any) -> None:
    """Resolve a future that the other side may have cancelled meanwhile."""
    try:
        future.set_result(result)
    except InvalidStateError:
        pass
