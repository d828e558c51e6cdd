"""LSP base-protocol framing: bytes in, message bodies or framing errors out.

Owns bytes, not meaning: `FrameDecoder` turns a byte stream into message bodies or
framing errors (header case and extra headers tolerated, resynchronisation on the
next ``Content-Length:`` after a bad or lying header, oversized messages skipped
without buffering them, truncation at EOF). Pure: no I/O, no threads, no LSP.
"""

from __future__ import annotations

import json
import logging
import re
from dataclasses import dataclass, field
from enum import Enum

logger = logging.getLogger(__name__)

DEFAULT_MAX_MESSAGE_BYTES = 32 * 1024 * 1024
MAX_HEADER_BYTES = 16 * 1024
_HEAD_KEEP_BYTES = 4096
_SCAN_CARRY = 96

_HEADER_END = re.compile(rb"\r?\n\r?\n")
_LINE_BREAK = re.compile(rb"\r?\n")
_LEADING_NEWLINES = re.compile(rb"[\r\n]*")
_HEADER_LINE = re.compile(rb"([!#$%&'*+.^_`|~0-9A-Za-z-]+)[ \t]*:[ \t]*(.*?)[ \t]*")
_CL_TOKEN = re.compile(rb"content-length[ \t]*:", re.IGNORECASE)
# A complete Content-Length line cannot occur inside valid JSON (raw newlines are not
# allowed in JSON strings), so one inside a body means the body's length was wrong.
_EMBEDDED_HEADER = re.compile(rb"content-length[ \t]{0,8}:[ \t]{0,8}\d{1,20}[ \t]{0,8}\r?\n", re.IGNORECASE)


def encode_frame(body: bytes) -> bytes:
    """Prefix a UTF-8 JSON body with its LSP header (Content-Length counts bytes)."""
    return b"Content-Length: %d\r\n\r\n%s" % (len(body), body)


def _prefix_pattern(parts: list[bytes]) -> bytes:
    """Regex matching any non-empty prefix of the concatenation of `parts`."""
    return parts[0] + (b"(?:" + _prefix_pattern(parts[1:]) + b")?" if len(parts) > 1 else b"")


# A body that overshot by less than a header line ends with "}" plus the start of the
# next "Content-Length: N\r" (a JSON object cannot end that way).
_HEADER_START_AT_END = re.compile(
    rb"\}[ \t\r\n]*(" + _prefix_pattern([bytes([c]) for c in b"content-length"] + [rb"[ \t]*", rb":[ \t]*\d*", rb"\r"]) + rb")\Z",
    re.IGNORECASE,
)
_SNIFF_HEAD_ID = re.compile(rb'"id"\s*:\s*(-?\d{1,20}|"(?:[^"\\]|\\.){0,200}")')
_SNIFF_TAIL_ID = re.compile(rb'"id"\s*:\s*(-?\d{1,20}|"(?:[^"\\]|\\.){0,200}")\s*}\s*$')


class FramingErrorKind(Enum):
    """What went wrong in the byte stream."""

    GARBAGE = "garbage"  # bytes outside any frame, skipped
    BAD_HEADER = "bad-header"  # a header block without a usable Content-Length
    OVERSIZED = "oversized"  # a message over the size limit, skipped unread
    TRUNCATED = "truncated"  # the stream ended inside a message


@dataclass(frozen=True)
class Frame:
    """One complete message body."""

    body: bytes


@dataclass(frozen=True)
class FramingError:
    """A framing problem; `request_id` is the id sniffed from a skipped oversized request."""

    kind: FramingErrorKind
    detail: str
    request_id: int | str | None = None


DecodedEvent = Frame | FramingError


@dataclass
class _Body:
    """The message body being read: buffered whole, or only its head when oversized."""

    length: int
    keep: bool
    received: int = 0
    data: bytearray = field(default_factory=bytearray)
    tail: bytes = b""  # the last bytes received, to find a header split across reads


class FrameDecoder:
    """Incremental, pure decoder of the LSP base protocol: feed bytes, get events."""

    def __init__(self, max_message_bytes: int = DEFAULT_MAX_MESSAGE_BYTES):
        self.max_message_bytes = max_message_bytes
        self._buf = bytearray()
        self._body: _Body | None = None

    @property
    def buffered_bytes(self) -> int:
        """Bytes held right now (bounded by the message limit, not by the stream)."""
        body = 0 if self._body is None else len(self._body.data)
        return len(self._buf) + body

    def feed(self, data: bytes) -> list[DecodedEvent]:
        """Consume `data`; return the bodies and errors it completed, in stream order."""
        events: list[DecodedEvent] = []
        view = memoryview(data)
        while len(view):
            if self._body is not None:
                view = self._consume_body(view, events)
            else:
                self._buf += view[:MAX_HEADER_BYTES]
                view = view[MAX_HEADER_BYTES:]
                self._drain_headers(events)
        return events

    def feed_eof(self) -> list[DecodedEvent]:
        """The stream ended: report a message cut short, then reset."""
        events: list[DecodedEvent] = []
        if self._body is not None:
            detail = f"stream ended after {self._body.received} of {self._body.length} body bytes"
            events.append(FramingError(FramingErrorKind.TRUNCATED, detail))
        elif self._buf.strip():
            events.append(FramingError(FramingErrorKind.TRUNCATED, f"stream ended inside a header ({len(self._buf)} bytes)"))
        self._buf.clear()
        self._body = None
        return events

    # ---- headers --------------------------------------------------------------------

    def _drain_headers(self, events: list[DecodedEvent]) -> None:
        """Parse every header block in `_buf`, handing the bytes after one to its body."""
        while self._body is None and self._parse_header(events):
            if self._body is not None and self._buf:
                take = min(len(self._buf), self._body.length)
                chunk = bytes(self._buf[:take])
                del self._buf[:take]  # cheap: bytearray drops its head in place
                leftover = self._consume_body(memoryview(chunk), events)
                self._buf[:0] = leftover  # only after a wrong length: bytes to re-read

    def _parse_header(self, events: list[DecodedEvent]) -> bool:
        """Try to take one header block off `_buf`; True if progress was made."""
        del self._buf[: _LEADING_NEWLINES.match(self._buf).end()]  # type: ignore[union-attr]
        end = _HEADER_END.search(self._buf)
        if end is None:
            return self._drop_overlong_header(events)
        block = bytes(self._buf[: end.start()])
        length, problem = _content_length(block)
        if problem is None and length is not None:
            del self._buf[: end.end()]
            self._start_body(length, events)
            return True
        self._resync(block, end.end(), problem or "no Content-Length header", events)
        return True

    def _resync(self, block: bytes, block_end: int, problem: str, events: list[DecodedEvent]) -> None:
        """Drop a bad header block, or the garbage glued before a Content-Length token."""
        first_line = _LINE_BREAK.split(block, 1)[0]
        token = _CL_TOKEN.search(block, 1)
        glued = token is not None and block[token.start() - 1 : token.start()] != b"\n"
        if _HEADER_LINE.fullmatch(first_line) is not None and not glued:
            kind, cut = FramingErrorKind.BAD_HEADER, block_end
        else:
            kind, cut = FramingErrorKind.GARBAGE, token.start() if token is not None else block_end
        detail = f"{problem}; skipped {cut} bytes: {bytes(self._buf[: min(cut, 60)])!r}"
        events.append(FramingError(kind, detail))
        del self._buf[:cut]

    def _drop_overlong_header(self, events: list[DecodedEvent]) -> bool:
        if len(self._buf) <= MAX_HEADER_BYTES:
            return False
        token = _CL_TOKEN.search(self._buf, 1)
        cut = token.start() if token is not None else len(self._buf) - 32
        events.append(FramingError(FramingErrorKind.GARBAGE, f"no header end within {MAX_HEADER_BYTES} bytes; skipped {cut}"))
        del self._buf[:cut]
        return True

    def _start_body(self, length: int, events: list[DecodedEvent]) -> None:
        keep = length <= self.max_message_bytes
        if not keep:
            logger.warning("Refusing a %d-byte message (limit %d); skipping it", length, self.max_message_bytes)
        self._body = _Body(length=length, keep=keep)
        if length == 0:
            self._finish_body(events)

    # ---- bodies ---------------------------------------------------------------------

    def _consume_body(self, view: memoryview, events: list[DecodedEvent]) -> memoryview:
        """Take body bytes from `view`; return what is left after the body (if it ended)."""
        body = self._body
        assert body is not None
        chunk = view[: body.length - body.received]
        after = view[len(chunk) :]
        embedded = self._find_embedded_header(body, chunk)
        if embedded is not None:
            cut, rest = embedded
            self._cut_body(body, chunk, cut, events)
            return memoryview(rest + bytes(after))
        self._store(body, chunk)
        if body.received == body.length:
            self._finish_body(events)
        return after

    @staticmethod
    def _find_embedded_header(body: _Body, chunk: memoryview) -> tuple[int, bytes] | None:
        """(body offset, stream bytes from there) of a next message's header inside the body."""
        window = body.tail + bytes(chunk)
        if b"\n" not in window:
            return None
        match = _EMBEDDED_HEADER.search(window)
        if match is None:
            return None
        return body.received - len(body.tail) + match.start(), window[match.start() :]

    @staticmethod
    def _store(body: _Body, chunk: memoryview) -> None:
        room = len(chunk) if body.keep else max(0, _HEAD_KEEP_BYTES - len(body.data))
        body.data += chunk[:room]
        body.received += len(chunk)
        body.tail = (body.tail + bytes(chunk[-_SCAN_CARRY:]))[-_SCAN_CARRY:]

    def _cut_body(self, body: _Body, chunk: memoryview, cut: int, events: list[DecodedEvent]) -> None:
        """The declared length was too long: the body ends at offset `cut`."""
        self._store(body, chunk[: max(0, cut - body.received)])
        self._body = None
        if cut <= len(body.data):
            logger.warning("Content-Length %d was wrong: the message ended after %d bytes", body.length, cut)
            events.append(Frame(bytes(body.data[:cut])))
        else:
            detail = f"Content-Length {body.length} overran into the next message after {cut} bytes"
            events.append(FramingError(FramingErrorKind.BAD_HEADER, detail, sniff_request_id(bytes(body.data), b"")))

    def _trim_header_start(self, data: bytearray) -> bytes:
        """Give back the start of a next header that a too-long Content-Length swallowed."""
        window = bytes(data[-64:])
        match = _HEADER_START_AT_END.search(window) if not window.endswith(b"}") else None
        if match is None:
            return bytes(data)
        swallowed = len(window) - match.start(1)
        logger.warning("Content-Length was %d bytes too long; re-reading them as a header", swallowed)
        self._buf[:0] = data[-swallowed:]
        return bytes(data[:-swallowed])

    def _finish_body(self, events: list[DecodedEvent]) -> None:
        body = self._body
        assert body is not None
        self._body = None
        if body.keep:
            events.append(Frame(self._trim_header_start(body.data)))
            return
        detail = f"message of {body.length} bytes exceeds the {self.max_message_bytes}-byte limit"
        events.append(FramingError(FramingErrorKind.OVERSIZED, detail, sniff_request_id(bytes(body.data), body.tail)))


def _content_length(block: bytes) -> tuple[int | None, str | None]:
    """Parse a header block: (Content-Length, None) or (None, what is wrong)."""
    lines = _LINE_BREAK.split(block)
    first = _HEADER_LINE.fullmatch(lines[0])
    if first is None:
        return None, "malformed header line"
    lengths = set()
    for line in lines:
        match = _HEADER_LINE.fullmatch(line)
        if match is None:
            logger.debug("Ignoring malformed header line %r", line)
        elif match.group(1).lower() == b"content-length":
            lengths.add(match.group(2))
    if len(lengths) != 1:
        return None, "no Content-Length header" if not lengths else "conflicting Content-Length headers"
    value = lengths.pop()
    if not value.isdigit():
        return None, f"non-numeric Content-Length {value[:40]!r}"
    return int(value), None


def sniff_request_id(head: bytes, tail: bytes) -> int | str | None:
    """Best-effort id of a skipped message: a top-level "id" before "params", or as last key."""
    params_at = head.find(b'"params"')
    match = _SNIFF_HEAD_ID.search(head, 0, params_at if params_at >= 0 else len(head))
    match = match or _SNIFF_TAIL_ID.search(tail)
    if match is None:
        return None
    try:
        found = json.loads(match.group(1))
    except ValueError:
        return None
    return found if isinstance(found, (int, str)) else None
