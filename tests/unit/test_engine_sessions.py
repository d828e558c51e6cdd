"""Sessions sharing one engine: fair turns, keys per session, a closed session's jobs
cancelled, the model loaded once."""

from __future__ import annotations

import threading

from distill_lsp.engine.types import CancelToken, StopReason
from distill_lsp.engine.worker import Engine, FairQueue, _Job


class Backend:
    info = None


def blocked_engine() -> tuple[Engine, threading.Event]:
    """An engine whose worker is held inside a first job until the event is set."""
    engine = Engine()
    engine.load(Backend).result(5)
    gate = threading.Event()
    engine.submit(lambda b, t: gate.wait(10), session="holder")
    return engine, gate


def test_fair_queue_takes_turns() -> None:
    queue = FairQueue()
    for name in ("a1", "a2", "a3", "b1", "a4", "c1", "b2"):
        queue.append(_Job(lambda b, t: None, name, CancelToken(), session=name[0]))
    assert [queue.popleft().key for _ in range(len(queue))] == ["a1", "b1", "c1", "a2", "b2", "a3", "a4"]


def test_a_session_flooding_the_queue_does_not_starve_another() -> None:
    engine, gate = blocked_engine()
    order: list[str] = []
    flood = [engine.submit(lambda b, t, i=i: order.append(f"flood{i}"), key=f"doc{i}", session="noisy")
             for i in range(50)]
    quiet = engine.submit(lambda b, t: order.append("quiet"), key="doc", session="quiet")
    gate.set()
    quiet.result(10)
    for f in flood:
        f.result(10)
    assert order.index("quiet") <= 1, order[:5]  # behind at most the one job whose turn it was
    engine.close()


def test_keys_are_per_session() -> None:
    engine, gate = blocked_engine()
    mine = engine.submit(lambda b, t: "mine", key="file:///same.py", session="one")
    theirs = engine.submit(lambda b, t: "theirs", key="file:///same.py", session="two")
    newer = engine.submit(lambda b, t: "newer", key="file:///same.py", session="two")
    gate.set()
    assert (mine.result(5), theirs.result(5), newer.result(5)) == ("mine", None, "newer")
    engine.close()


def test_ending_a_session_cancels_its_jobs_and_no_one_elses() -> None:
    engine, gate = blocked_engine()
    gone, stays = engine.session("gone"), engine.session("stays")
    assert engine.sessions == {"gone", "stays"}
    token = CancelToken()
    queued = [gone.submit(lambda b, t: "ran", key=f"k{i}", token=token if i == 0 else None) for i in range(3)]
    other = stays.submit(lambda b, t: "other", key="k0")
    assert gone.end() == 3
    assert engine.sessions == {"stays"}
    assert token.reason is StopReason.CANCELLED
    gate.set()
    assert [f.result(5) for f in queued] == [None, None, None]
    assert other.result(5) == "other"
    engine.close()


def test_a_running_job_of_an_ended_session_is_cancelled() -> None:
    engine = Engine()
    engine.load(Backend).result(5)
    started = threading.Event()

    def work(backend, token: CancelToken) -> str:
        started.set()
        while not token.cancelled:
            token._event.wait(0.01)
        return f"stopped:{token.reason.value}"

    view = engine.session("s")
    future = view.submit(work)
    started.wait(5)
    assert view.end() == 1
    assert future.result(5) == "stopped:cancelled"
    engine.close()


def test_sessions_asking_for_the_same_model_share_one_load() -> None:
    engine = Engine()
    loads: list[int] = []

    def factory() -> Backend:
        loads.append(1)
        return Backend()

    futures = [engine.session(f"s{i}").load(factory, key=("same",)) for i in range(3)]
    for f in futures:
        f.result(5)
    assert len(loads) == 1 and engine.loads == 1
    engine.close()


def test_a_closed_connection_frees_its_session_state() -> None:
    from distill_lsp.server import create_server
    from tests.fixtures.lsp_wire import initialize

    engine = Engine()
    server = create_server(engine=engine)
    other = create_server(engine=engine)
    other.end_session()  # ended before `initialize`: nothing to free, no error
    other = create_server(engine=engine)
    initialize(server.protocol)
    server.documents.open("file:///a.py", "x = 1\n", 1, "python")
    server.typed_ahead.remember("file:///a.py", "x = ", "1")
    assert engine.sessions == {server.session_id, other.session_id}
    server.end_session()
    assert server.documents.get("file:///a.py") is None and not server.documents.documents()
    assert server.typed_ahead.lookup("file:///a.py", "x = ") is None
    assert engine.sessions == {other.session_id}
    engine.close()
