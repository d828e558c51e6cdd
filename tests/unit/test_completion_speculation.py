"""The speculation store: a speculation answers only the document it expected (the shown
suggestion accepted, the cursor after it, the same settings), and what it cost is counted."""

from __future__ import annotations

from concurrent.futures import Future

from distill_lsp.completion.speculation import MAX_DOCUMENTS, Speculations, accepted
from distill_lsp.completion.types import CompletionConfig, Snapshot, Suggestion
from distill_lsp.context.languages import detect_language
from distill_lsp.context.trees import IncrementalParser
from distill_lsp.profiles import BUILTIN_PROFILES

CONFIG = CompletionConfig(profile=BUILTIN_PROFILES["greedy"], max_new_tokens=16)
TEXT = "def area(r):\n    \n\nprint(area(2))\n"
CURSOR = TEXT.index("    \n") + 4


def _snap(uri: str = "file:///a.py") -> Snapshot:
    lang = detect_language("python", uri)
    return Snapshot(uri=uri, version=3, text=TEXT, offset=CURSOR, lang=lang,
                    tree=IncrementalParser().parse(lang, TEXT))


def test_the_accepted_document_has_the_suggestion_at_the_cursor_and_a_fresh_parse() -> None:
    snap = _snap()
    after = accepted(snap, "return 3.14 * r * r", IncrementalParser())
    assert after.text == TEXT[:CURSOR] + "return 3.14 * r * r" + TEXT[CURSOR:]
    assert after.offset == CURSOR + len("return 3.14 * r * r") and after.version is None
    assert after.tree is not None and "return_statement" in str(after.tree.root_node)
    assert snap.text == TEXT  # the snapshot it came from is unchanged


def test_only_the_expected_document_and_settings_take_a_speculation() -> None:
    store = Speculations()
    snap = _snap()
    s = store.expect(snap, "return r", CONFIG, "item-1")
    expected_text, expected_offset = TEXT[:CURSOR] + "return r" + TEXT[CURSOR:], CURSOR + len("return r")
    other = CompletionConfig(profile=BUILTIN_PROFILES["coding"], max_new_tokens=16)
    assert store.take(snap.uri, expected_text, expected_offset, other) is None  # other settings: forgotten
    s = store.expect(snap, "return r", CONFIG, "item-1")
    assert store.take(snap.uri, TEXT, CURSOR, CONFIG) is None  # the user did not accept
    s = store.expect(snap, "return r", CONFIG, "item-1")
    assert store.take(snap.uri, expected_text, expected_offset, CONFIG) is s
    assert store.take(snap.uri, expected_text, expected_offset, CONFIG) is None  # used up


def test_wasted_speculations_are_counted_with_their_cost() -> None:
    store = Speculations()
    first = store.expect(_snap(), "return r", CONFIG, "item-1")
    first.future.set_result(Suggestion("x", new_tokens=7, timings={"total_ms": 250.0}))
    second = store.expect(_snap(), "return 2", CONFIG, "item-2")  # replaces the first: wasted
    store.forget("file:///a.py")
    second.future.set_result(None)  # dropped by the engine before it ran
    stats = store.figures()
    assert (stats["started"], stats["wasted"], stats["wastedTokens"], stats["wastedSeconds"]) == (2, 2, 7, 0.25)


def test_at_most_max_documents_are_kept() -> None:
    store = Speculations()
    for i in range(MAX_DOCUMENTS + 2):
        store.expect(_snap(f"file:///{i}.py"), "x", CONFIG, f"item-{i}").future = _done()
    assert len(store._by_uri) == MAX_DOCUMENTS and store.stats["wasted"] == 2


def _done() -> Future:
    future: Future = Future()
    future.set_result(None)
    return future
