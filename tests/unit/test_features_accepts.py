"""Accept counting: per profile and language, once per shown item, bounded memory."""

from __future__ import annotations

from distill_lsp.features.accepts import REMEMBERED, SuggestionStats, accept_command


def test_shown_and_accepted_are_counted_per_profile_and_language() -> None:
    stats = SuggestionStats()
    stats.shown("a", "greedy", "python", "return x")
    stats.shown("b", "greedy", "python", "pass")
    stats.shown("c", "coding", "go", "x := 1")
    assert stats.accepted("a") and not stats.accepted("a") and not stats.accepted("nope")
    rows = {(r["profile"], r["language"]): r for r in stats.as_dict()}
    assert rows["greedy", "python"] == {"profile": "greedy", "language": "python", "shown": 2, "displayed": 0,
                                         "accepted": 1, "acceptedChars": len("return x"), "partialAccepts": 0,
                                         "partialChars": 0, "acceptRate": 0.5}
    assert rows["coding", "go"]["accepted"] == 0


def test_only_recent_items_are_remembered() -> None:
    stats = SuggestionStats()
    for i in range(REMEMBERED + 5):
        stats.shown(str(i), "greedy", "python", "x")
    assert len(stats.recent) == REMEMBERED and not stats.accepted("0") and stats.accepted(str(REMEMBERED + 4))


def test_the_command_carries_the_id_and_a_rounded_confidence() -> None:
    command = accept_command("s-1", 0.123456)
    assert command.command == "distill.accepted" and command.arguments == [{"id": "s-1", "confidence": 0.1235}]
    assert accept_command("s-2", None).arguments == [{"id": "s-2"}]


def test_an_accept_is_seen_in_the_document_without_the_command_and_counted_once() -> None:
    stats = SuggestionStats()
    stats.shown("a", "greedy", "python", "return x")
    before = "def f(x):\n    "
    stats.expect("file:///f.py", "a", before + "return x", len(before) + 8)
    assert not stats.saw_document("file:///f.py", before + "return y", len(before) + 8)  # typed something else
    stats.expect("file:///f.py", "a", before + "return x", len(before) + 8)
    assert not stats.saw_document("file:///f.py", before + "return x", len(before) + 3)  # cursor elsewhere
    stats.expect("file:///f.py", "a", before + "return x", len(before) + 8)
    assert stats.saw_document("file:///f.py", before + "return x", len(before) + 8)
    assert not stats.accepted("a")  # the command that comes after counts nothing more
    assert stats.as_dict()[0]["accepted"] == 1


def test_copilot_shows_and_partial_accepts_are_counted_for_known_items() -> None:
    stats = SuggestionStats()
    stats.shown("a", "greedy", "go", "x := compute(y)")
    stats.displayed("a")
    stats.displayed("unknown")
    stats.partially_accepted("a", 4)
    stats.partially_accepted("a", 999)  # never more than the item
    row = stats.as_dict()[0]
    assert (row["displayed"], row["partialAccepts"], row["partialChars"], row["accepted"]) == (1, 2, 4 + 15, 0)


def test_item_ids_are_read_from_copilot_shaped_notifications() -> None:
    from distill_lsp.features.accepts import _item_id

    item = {"insertText": "x", "command": {"command": "distill.accepted", "arguments": [{"id": "s-3"}]}}
    assert _item_id({"item": item}) == "s-3"
    assert _item_id({"item": {"insertText": "x"}}) is None
    assert _item_id({"item": {"command": {"arguments": "nope"}}}) is None
    assert _item_id(None) is None
