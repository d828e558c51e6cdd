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
    assert rows["greedy", "python"] == {"profile": "greedy", "language": "python", "shown": 2, "accepted": 1,
                                         "acceptedChars": len("return x"), "acceptRate": 0.5}
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
