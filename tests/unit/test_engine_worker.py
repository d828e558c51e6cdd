"""The engine worker with a stand-in backend: ordering, newest-wins, cancellation."""

from __future__ import annotations

import threading
import time

import pytest

from distill_lsp.engine.types import CancelToken, EngineNotReady, JobFailed, StopReason
from distill_lsp.engine.worker import Engine, EngineState


class Info:
    name = "stand-in"


class SlowBackend:
    info = Info()

    def __init__(self) -> None:
        self.steps = 0
        self.started = threading.Event()
        """Set when a job starts running (the moment to supersede or cancel it)."""

    def run(self, token: CancelToken, steps: int = 200) -> str:
        self.started.set()
        for _ in range(steps):  # like decode steps: check the token between them
            if token.cancelled:
                return f"stopped:{token.reason.value}"
            self.steps += 1
            time.sleep(0.005)
        return "done"


@pytest.fixture
def engine():
    e = Engine()
    backend = SlowBackend()
    e.load(lambda: backend).result(5)
    yield e
    e.close()


def test_load_failure_is_reported() -> None:
    e = Engine()
    def boom():
        raise RuntimeError("no such model")
    fut = e.load(boom)
    with pytest.raises(RuntimeError):
        fut.result(5)
    assert e.state is EngineState.FAILED and "no such model" in e.error
    with pytest.raises(EngineNotReady):
        e.submit(lambda b, t: 1).result(5)
    e.close()


def test_jobs_run_in_order(engine) -> None:
    results = [engine.submit(lambda b, t, i=i: i) for i in range(5)]
    assert [f.result(5) for f in results] == [0, 1, 2, 3, 4]


def test_newer_job_supersedes_queued_and_running(engine) -> None:
    running = engine.submit(lambda b, t: b.run(t), key="doc")
    assert engine.backend.started.wait(5)
    queued = engine.submit(lambda b, t: b.run(t), key="doc")
    newest = engine.submit(lambda b, t: b.run(t, 2), key="doc")
    other = engine.submit(lambda b, t: b.run(t, 2), key="other")
    assert running.result(5) == "stopped:superseded"
    assert queued.result(5) is None  # answered, never started
    assert newest.result(5) == "done"
    assert other.result(5) == "done"


def test_cancel_token_stops_within_a_step(engine) -> None:
    token = CancelToken()
    fut = engine.submit(lambda b, t: b.run(t, 10_000), token=token)
    assert engine.backend.started.wait(5)
    t0 = time.monotonic()
    token.cancel()
    assert fut.result(5) == "stopped:cancelled"
    assert time.monotonic() - t0 < 1


def test_cancel_key_and_close(engine) -> None:
    fut = engine.submit(lambda b, t: b.run(t, 10_000), key="doc")
    assert engine.backend.started.wait(5)
    engine.cancel_key("doc", StopReason.SUPERSEDED)
    assert fut.result(5) == "stopped:superseded"
    engine.close()
    assert engine.submit(lambda b, t: 1).result(1) is None


def test_a_failing_job_does_not_kill_the_worker(engine) -> None:
    def bad(b, t):
        raise ValueError("bug")
    with pytest.raises(ValueError):
        engine.submit(bad).result(5)
    assert engine.submit(lambda b, t: "alive").result(5) == "alive"  # the same worker thread, still serving


class LibraryAbort(BaseException):
    """A BaseException that is neither SystemExit nor KeyboardInterrupt (as some libraries raise)."""


@pytest.mark.parametrize("raised", [SystemExit(3), KeyboardInterrupt(), LibraryAbort("abort"), GeneratorExit()],
                         ids=lambda e: type(e).__name__)
def test_a_job_raising_any_base_exception_fails_that_job_alone(engine, raised: BaseException) -> None:
    def bad(b, t):
        raise raised
    with pytest.raises(JobFailed, match=type(raised).__name__) as caught:
        engine.submit(bad, key="k").result(5)
    assert caught.value.__cause__ is raised
    assert engine.submit(lambda b, t: "alive", key="k").result(5) == "alive", "the worker went on"
    assert engine.state is EngineState.READY


@pytest.mark.parametrize("raised", [RuntimeError("disk"), SystemExit(1)], ids=lambda e: type(e).__name__)
def test_a_failed_load_can_be_retried_with_the_same_key(raised: BaseException) -> None:
    e = Engine()
    attempts = []

    def flaky():
        attempts.append(1)
        if len(attempts) == 1:
            raise raised
        return SlowBackend()

    with pytest.raises((type(raised), JobFailed)):
        e.load(flaky, key="m").result(5)
    assert e.state is EngineState.FAILED
    assert e.load(flaky, key="m").result(5).name == "stand-in", "the same settings load again after a failure"
    assert e.state is EngineState.READY and e.loads == 1
    assert e.load(flaky, key="m").result(5) and len(attempts) == 2, "a loaded model is not loaded again"
    e.load(flaky, key="m", force=True).result(5)
    assert len(attempts) == 3 and e.loads == 2, "force reloads"
    e.close()


def test_idle_work_waits_for_the_queue_and_any_real_job_stops_it(engine) -> None:
    gate = threading.Event()
    busy = engine.submit(lambda b, t: gate.wait(5) and "busy")
    order: list[str] = []
    idle = engine.submit_idle(lambda b, t: order.append("idle") or b.run(t, 10_000), key="doc#next")
    real = engine.submit(lambda b, t: order.append("real") or "real")
    gate.set()
    assert busy.result(5) == "busy" and real.result(5) == "real"
    assert engine.backend.started.wait(5)  # the idle job (the only one that runs `b.run`) starts last
    assert order == ["real", "idle"]
    assert engine.submit(lambda b, t: "next").result(5) == "next"  # a real job stops it
    assert idle.result(5) == "stopped:superseded"


def test_idle_work_is_bounded_and_replaced_per_key(engine) -> None:
    from distill_lsp.engine.worker import IDLE_JOBS

    gate = threading.Event()
    engine.submit(lambda b, t: gate.wait(5))
    first = engine.submit_idle(lambda b, t: "first", key="a#next")
    second = engine.submit_idle(lambda b, t: "second", key="a#next")  # replaces the first
    others = [engine.submit_idle(lambda b, t, i=i: i, key=f"k{i}") for i in range(IDLE_JOBS)]
    assert first.result(5) is None
    assert second.result(5) is None  # the oldest of more than IDLE_JOBS waiting is dropped
    gate.set()
    assert sorted(f.result(5) for f in others) == list(range(IDLE_JOBS))  # newest first, all run


def test_idle_work_is_dropped_on_close_and_cancel_key(engine) -> None:
    gate = threading.Event()
    engine.submit(lambda b, t: gate.wait(5))
    keyed = engine.submit_idle(lambda b, t: "x", key="doc#next")
    engine.cancel_key("doc#next")
    assert keyed.result(5) is None
    later = engine.submit_idle(lambda b, t: "y")
    engine.close()
    gate.set()
    assert later.result(5) is None
