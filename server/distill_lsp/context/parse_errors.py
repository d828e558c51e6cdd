"""Syntax errors in a tree-sitter parse: its ERROR and MISSING nodes, counted or found
(only subtrees that have errors are visited). The one place that walks them: the syntax
gate, the edits of code actions, their targets and the sweep's metrics all ask here."""

from __future__ import annotations

from collections.abc import Iterator

from tree_sitter import Node


def is_syntax_error(node: Node) -> bool:
    return node.is_error or node.is_missing


def count_errors(node: Node) -> int:
    """ERROR and MISSING nodes in the subtree of `node` (a Tree: pass its root_node)."""
    count, stack = 0, [node]
    while stack:
        node = stack.pop()
        count += is_syntax_error(node)
        if node.has_error:
            stack.extend(node.children)
    return count


def error_nodes(node: Node, lo: int, hi: int) -> Iterator[Node]:
    """ERROR and MISSING nodes that overlap bytes [lo, hi), in document order."""
    if node.end_byte < lo or node.start_byte >= hi:
        return
    if is_syntax_error(node):
        yield node
    if node.has_error:
        for child in node.children:
            yield from error_nodes(child, lo, hi)


def error_within(node: Node, start: int, end: int) -> bool:
    """An ERROR/MISSING node lying wholly in bytes [start, end) (a MISSING one at `start`
    counts; at `end` it belongs to the text after)."""
    if not node.has_error or node.end_byte < start or node.start_byte > end:
        return False
    if is_syntax_error(node) and start <= node.start_byte and node.end_byte <= end \
            and (node.start_byte < end or node.start_byte == start):
        return True
    return any(error_within(child, start, end) for child in node.children)
