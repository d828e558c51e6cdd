"""Document URIs: the one key a document is stored under, and the one way from a URI to a
file path.

Editors spell the same file differently: VS Code on Windows sends
``file:///c%3A/Users/dev/a.py``, others ``file:///C:/Users/dev/a.py``; a space may come as
``%20`` or not at all. `document_key` folds every spelling into one (pygls.uris decodes and
re-encodes, drive letters are lower-cased); `to_path` decodes percent escapes and drive
letters for prompts, file names and language detection.
"""

from __future__ import annotations

import logging
import posixpath
import re

from pygls import uris

logger = logging.getLogger(__name__)

_DRIVE = re.compile(r"^/[a-zA-Z]:")


def document_key(uri: str) -> str:
    """The normalised spelling of `uri`: the key of its document in the store."""
    try:
        scheme, netloc, path, params, query, fragment = uris.urlparse(uri)
        if _DRIVE.match(path):
            path = path[0] + path[1].lower() + path[2:]
        return uris.urlunparse((scheme, netloc, path, params, query, fragment))
    except (TypeError, ValueError):  # e.g. a lone surrogate: not a URI a file can have; keep it as sent
        logger.debug("cannot normalise uri %r", uri)
        return uri


def to_path(uri: str) -> str:
    """The file path of `uri` (``/home/dev/with space.py``, ``c:/Users/dev/win.py``); for a
    URI without a path (``untitled:Untitled-1``) whatever follows the scheme."""
    try:
        scheme, netloc, path, *_ = uris.urlparse(uri)
    except (TypeError, ValueError):
        return uri
    if netloc and scheme == "file":
        return f"//{netloc}{path}"  # a UNC share
    if _DRIVE.match(path):
        return path[1].lower() + path[2:]
    return path or uri


def file_name(uri: str) -> str:
    """The last component of the document's path (``win.py``)."""
    path = to_path(uri)
    return posixpath.basename(path.replace("\\", "/")) or path
