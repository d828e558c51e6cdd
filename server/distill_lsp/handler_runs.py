"""Running a request's handler the way pygls does, with every future kept under its
request id until it is done, so that cancelling a request always reaches its handler.

pygls 2.1 runs coroutine, thread and plain handlers and steps generator handlers (its
built-in lifecycle methods yield to the user's handler); this copy also tracks the futures
of plain handlers and of the sub-handlers a generator waits on, and cancelling a
generator's request cancels the sub-handler it waits on. `DistillProtocol` mixes it in.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import inspect
import uuid
from functools import partial
from typing import TYPE_CHECKING, Any, Callable

from pygls.feature_manager import is_thread_function

if TYPE_CHECKING:
    from collections.abc import Generator

    from pygls.protocol.json_rpc import MsgId


class HandlerRuns:
    """Handler execution for a pygls JsonRPCProtocol subclass (uses its `_request_futures`)."""

    _request_futures: dict[Any, Any]
    _server: Any

    def _execute_handler(
        self,
        msg_id: MsgId,
        handler: Callable[..., Any],
        callback: Callable[[Any], None],
        args: tuple[Any, ...] | None = None,
        kwargs: dict[str, Any] | None = None,
    ) -> None:
        """Run a handler; track its future under `msg_id` until it is done."""
        args, kwargs = args or (), kwargs or {}
        if asyncio.iscoroutinefunction(handler):
            future: Any = asyncio.ensure_future(handler(*args, **kwargs))
        elif is_thread_function(handler):
            future = self._server.thread_pool.submit(handler, *args, **kwargs)
        else:
            future = concurrent.futures.Future()
            self._track(msg_id, future, callback)
            self._run_inline(future, handler, args, kwargs)
            return
        self._track(msg_id, future, callback)

    def _run_inline(
        self, future: concurrent.futures.Future, handler: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> None:
        try:
            if inspect.isgeneratorfunction(handler):
                self._run_generator(None, gen=handler(*args, **kwargs), result_future=future)
            else:
                future.set_result(handler(*args, **kwargs))
        except Exception as exc:
            if not future.done():
                future.set_exception(exc)

    def _track(self, msg_id: MsgId, future: Any, callback: Callable[[Any], None]) -> None:
        self._request_futures[msg_id] = future

        def forget(done: Any) -> None:
            if self._request_futures.get(msg_id) is done:
                self._request_futures.pop(msg_id, None)

        future.add_done_callback(forget)
        future.add_done_callback(callback)

    def _run_generator(
        self, future: Any, *, gen: Generator[Any, Any, Any], result_future: concurrent.futures.Future
    ) -> None:
        """Step a generator handler; cancelling it also cancels the sub-handler it waits on."""
        if result_future.done():
            gen.close()
            return
        try:
            value = future.result() if future is not None else None
            handler, args, kwargs = gen.send(value)
            child_id = f"{uuid.uuid4()}"
            step = partial(self._run_generator, gen=gen, result_future=result_future)
            self._execute_handler(child_id, handler, step, args=args, kwargs=kwargs)
            child = self._request_futures.get(child_id)
            if child is not None:
                result_future.add_done_callback(lambda f: child.cancel() if f.cancelled() else None)
        except StopIteration as stop:
            _settle(result_future, result=stop.value)
        except (Exception, asyncio.CancelledError) as exc:
            _settle(result_future, exc=exc)


def _settle(future: concurrent.futures.Future, *, result: Any = None, exc: BaseException | None = None) -> None:
    if future.done():
        return
    if exc is None:
        future.set_result(result)
    else:
        future.set_exception(exc)
