"""JSON data back from what pygls hands over: params of methods it has no type for (custom
notifications, command arguments) come as namedtuples; `to_json_data` turns them back into
the dicts and lists the client sent."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


def to_json_data(value: Any) -> Any:
    """Namedtuples, attrs objects, mappings and sequences -> dicts and lists, recursively."""
    if hasattr(value, "_asdict"):
        return {k: to_json_data(v) for k, v in value._asdict().items()}
    if isinstance(value, Mapping):
        return {k: to_json_data(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [to_json_data(v) for v in value]
    if hasattr(value, "__attrs_attrs__"):
        return {a.name: to_json_data(getattr(value, a.name)) for a in value.__attrs_attrs__}
    return value
