"""Property: whatever sequence of messages arrives, each request is answered exactly once."""

from __future__ import annotations

import json
from collections import Counter

from hypothesis import given, settings
from hypothesis import strategies as st
from lsprotocol import types

from tests.fixtures.lsp_wire import INIT_PARAMS, make_server

METHODS = [
    types.INITIALIZE, types.INITIALIZED, types.SHUTDOWN, types.EXIT, types.CANCEL_REQUEST,
    types.TEXT_DOCUMENT_DID_OPEN, types.TEXT_DOCUMENT_DID_CHANGE, types.TEXT_DOCUMENT_INLINE_COMPLETION,
    types.WORKSPACE_EXECUTE_COMMAND, "$/setTrace", "$/unknown", "distill/unknown",
]
json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-5, 5) | st.text(max_size=5),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.sampled_from(["id", "uri", "text", "line"]), inner, max_size=3),
    max_leaves=8,
)
good_params = {
    types.INITIALIZE: INIT_PARAMS,
    types.TEXT_DOCUMENT_DID_OPEN: {"textDocument": {"uri": "file:///a", "languageId": "python", "version": 1, "text": "x"}},
    types.TEXT_DOCUMENT_INLINE_COMPLETION: {
        "textDocument": {"uri": "file:///a"}, "position": {"line": 0, "character": 0}, "context": {"triggerKind": 1},
    },
    types.CANCEL_REQUEST: {"id": 1},
}


@st.composite
def messages(draw):
    method = draw(st.sampled_from(METHODS))
    message = {"jsonrpc": draw(st.sampled_from(["2.0", "2.0", "2.0", "1.0"])), "method": method}
    if draw(st.booleans()):
        message["params"] = good_params.get(method) if draw(st.booleans()) else draw(json_values)
    return message


@settings(max_examples=100, deadline=None)
@given(st.booleans(), st.lists(st.tuples(messages(), st.booleans(), st.sampled_from([None, True, 1.5, "x"])), max_size=25))
def test_every_request_is_answered_exactly_once(start_initialized, sequence):
    server, protocol, writer = make_server()

    @server.feature(types.TEXT_DOCUMENT_INLINE_COMPLETION)
    def inline(ls, params):
        return types.InlineCompletionList(items=[])

    sent_ids = []
    if start_initialized:
        sequence = [({"jsonrpc": "2.0", "method": types.INITIALIZE, "params": INIT_PARAMS}, True, None), *sequence]
    for number, (message, is_request, bad_id) in enumerate(sequence):
        if is_request:
            message["id"] = {None: number, "x": f"s{number}"}.get(bad_id, bad_id)
            sent_ids.append(message["id"])
        protocol.handle_body(json.dumps(message).encode())
    answered = Counter(m["id"] for m in writer.messages() if "method" not in m)
    valid = [i for i in sent_ids if isinstance(i, str) or (isinstance(i, int) and not isinstance(i, bool))]
    assert all(answered[i] == 1 for i in valid)
    assert set(answered) <= set(valid) | {None}
    assert protocol.pending_request_ids == frozenset()
