"""FrameDecoder: round trips under any split, header tolerance, resynchronisation, limits."""

from __future__ import annotations

import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from distill_lsp.framing import Frame, FrameDecoder, FramingError, FramingErrorKind, encode_frame, sniff_request_id

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=20),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=12,
)
bodies = st.builds(lambda v: json.dumps({"jsonrpc": "2.0", "v": v}, ensure_ascii=False).encode(), json_values)
header_styles = st.sampled_from(
    [
        b"Content-Length: %d\r\n\r\n",
        b"content-length: %d\r\n\r\n",
        b"CONTENT-LENGTH:%d\r\n\r\n",
        b"Content-Length: %d\r\nContent-Type: application/vscode-jsonrpc; charset=utf-8\r\n\r\n",
        b"Content-Type: application/vscode-jsonrpc; charset=utf-8\r\nContent-Length: %d\r\n\r\n",
        b"Content-Length:   %d  \r\nX-Extra: 1\r\n\r\n",
        b"Content-Length: %d\n\n",
    ]
)
# Bytes outside frames. CR/LF-free garbage always yields an error event; the header
# token itself is excluded (garbage that *is* a header cannot be told from one).
garbage = st.binary(min_size=1, max_size=40).filter(lambda g: b"\r" not in g and b"\n" not in g)


def framed(body: bytes, style: bytes) -> bytes:
    return style % len(body) + body


def decode_in_pieces(stream: bytes, cuts: list[int], limit: int = 1 << 20) -> list:
    decoder = FrameDecoder(limit)
    events, start = [], 0
    for cut in sorted(set(c % (len(stream) + 1) for c in cuts)) + [len(stream)]:
        events += decoder.feed(stream[start:cut])
        start = cut
    return events + decoder.feed_eof()


def frames_of(events: list) -> list[bytes]:
    return [e.body for e in events if isinstance(e, Frame)]


@settings(max_examples=150, deadline=None)
@given(st.lists(st.tuples(bodies, header_styles), min_size=1, max_size=6), st.lists(st.integers(0, 10**6), max_size=12))
def test_any_split_of_valid_frames_decodes_to_the_same_bodies(messages, cuts):
    stream = b"".join(framed(body, style) for body, style in messages)
    events = decode_in_pieces(stream, cuts)
    assert events == [Frame(body) for body, _ in messages]


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.filter_too_much])
@given(
    st.lists(st.tuples(bodies, garbage), min_size=1, max_size=5),
    st.lists(st.integers(0, 10**6), max_size=8),
)
def test_garbage_between_frames_is_skipped_and_reported(messages, cuts):
    stream = b"".join(junk + encode_frame(body) for body, junk in messages)
    events = decode_in_pieces(stream, cuts)
    assert frames_of(events) == [body for body, _ in messages]
    errors = [e for e in events if isinstance(e, FramingError)]
    assert len(errors) >= len(messages)
    assert {e.kind for e in errors} <= {FramingErrorKind.GARBAGE, FramingErrorKind.BAD_HEADER}


@settings(max_examples=100, deadline=None)
@given(
    bodies,
    bodies,
    st.binary(max_size=30).filter(lambda g: b"content-length" not in g.lower()),
    st.lists(st.integers(0, 10**6), max_size=8),
)
def test_any_garbage_without_a_header_token_never_loses_the_next_frame(first, second, junk, cuts):
    stream = encode_frame(first) + junk + b"\r\n" + encode_frame(second)
    assert frames_of(decode_in_pieces(stream, cuts))[-1] == second


@settings(max_examples=100, deadline=None)
@given(bodies, bodies, st.integers(-30, 30).filter(lambda d: d != 0), st.lists(st.integers(0, 10**6), max_size=8))
def test_a_wrong_content_length_loses_at_most_that_message(bad, good, delta, cuts):
    length = max(0, len(bad) + delta)
    stream = b"Content-Length: %d\r\n\r\n" % length + bad + encode_frame(good) + encode_frame(good)
    found = frames_of(decode_in_pieces(stream, cuts))
    assert found[-2:] == [good, good] or (found[-1:] == [good] and delta > 0 and length >= len(bad))
    if delta > 0:  # a length that runs into the next header is cut back: nothing is lost
        assert found == [bad, good, good]


def test_header_without_or_with_bad_content_length_is_reported_then_recovered():
    good = b'{"jsonrpc":"2.0","method":"x"}'
    for header in (b"Content-Type: a/b\r\n\r\n", b"Content-Length: abc\r\n\r\n", b"Content-Length: 1\r\nContent-Length: 2\r\n\r\n"):
        events = FrameDecoder().feed(header + b"{}" + encode_frame(good))
        assert events[0].kind is FramingErrorKind.BAD_HEADER, header
        assert frames_of(events) == [good]


def test_header_line_endings_and_case_are_tolerated():
    decoder = FrameDecoder()
    assert decoder.feed(b"\r\ncOnTeNt-LeNgTh: 2\nX: y\n\n{}") == [Frame(b"{}")]


def test_zero_length_body_is_an_empty_frame():
    assert FrameDecoder().feed(b"Content-Length: 0\r\n\r\n") == [Frame(b"")]


def test_oversized_message_is_skipped_without_buffering_and_its_id_sniffed():
    limit = 1 << 20
    decoder = FrameDecoder(limit)
    head = b'{"jsonrpc":"2.0","id":42,"method":"textDocument/didOpen","params":{"text":"'
    size = 10 * limit
    body_rest = b"x" * (size - len(head) - 3) + b'"}}'
    stream = b"Content-Length: %d\r\n\r\n" % size + head + body_rest + encode_frame(b"{}")
    events, peak = [], 0
    for start in range(0, len(stream), 64 * 1024):
        events += decoder.feed(stream[start : start + 64 * 1024])
        peak = max(peak, decoder.buffered_bytes)
    assert peak < 100 * 1024
    assert len(events) == 2
    assert events[0].kind is FramingErrorKind.OVERSIZED and events[0].request_id == 42
    assert events[1] == Frame(b"{}")


def test_oversized_message_with_a_lying_length_still_lets_the_next_message_through():
    stream = b"Content-Length: 999999999\r\n\r\n" + b'{"a":1}' + encode_frame(b'{"b":2}')
    assert FrameDecoder(1000).feed(stream) == [Frame(b'{"a":1}'), Frame(b'{"b":2}')]


def test_truncated_message_at_eof_is_reported():
    decoder = FrameDecoder()
    assert decoder.feed(b"Content-Length: 10\r\n\r\n{\"a\"") == []
    (error,) = decoder.feed_eof()
    assert error.kind is FramingErrorKind.TRUNCATED and "4 of 10" in error.detail
    assert decoder.feed_eof() == []


def test_truncated_header_at_eof_is_reported():
    decoder = FrameDecoder()
    decoder.feed(b"Content-Len")
    assert [e.kind for e in decoder.feed_eof()] == [FramingErrorKind.TRUNCATED]


def test_endless_garbage_does_not_grow_the_buffer():
    decoder = FrameDecoder()
    for _ in range(100):
        decoder.feed(b"z" * 10_000)
    assert decoder.buffered_bytes <= 20_000


def test_encode_frame_counts_utf8_bytes():
    body = json.dumps({"t": "é😀"}, ensure_ascii=False).encode()
    assert encode_frame(body).startswith(b"Content-Length: %d\r\n" % len(body))
    assert len(body) > len(body.decode())


@pytest.mark.parametrize(
    ("head", "tail", "expected"),
    [
        (b'{"jsonrpc":"2.0","id":7,"method":"m","params":{', b"", 7),
        (b'{"id":"abc","params":{"id":3', b"", "abc"),
        (b'{"jsonrpc":"2.0","method":"m","params":{"id":3,', b'"x"},"id":9}', 9),
        (b'{"jsonrpc":"2.0","method":"m","params":{"id":3,', b'"x":{"id":1}}}', None),
    ],
)
def test_sniff_request_id(head, tail, expected):
    assert sniff_request_id(head, tail) == expected
