"""Token healing: the partial word cut off a prompt, and the tokens allowed while it is owed."""

from __future__ import annotations

import pytest

from distill_lsp.completion.whitespace import MAX_HEALED_CHARS, as_seen, split_partial_word
from distill_lsp.engine.healing import TokenHealer


@pytest.mark.parametrize(("line_prefix", "tail"), [
    ("    a_stat = os.stat(a_pa", "a_pa"),
    ("        if gra", " gra"),
    ("#[inli", "inli"),
    ("\tmp.needPerThrea", "needPerThrea"),
    ("    size = 42", " 42"),
    ("    return ", ""),
    ("    call(x, ", ""),
    ("x = y.", ""),
    ("    naïve_wör", " naïve_wör"),
])
def test_the_word_at_the_cursor_is_cut_with_the_space_before_it(line_prefix: str, tail: str) -> None:
    prompt = "# file a.py\n" + line_prefix
    head, cut = split_partial_word(prompt, line_prefix)
    assert cut == tail and head + cut == prompt


def test_nothing_is_cut_from_a_prompt_that_does_not_end_with_the_cursor_line() -> None:
    assert split_partial_word("<fim_suffix>x", "    value") == ("<fim_suffix>x", "")
    long_word = "w" * (MAX_HEALED_CHARS + 1)
    assert split_partial_word("x = " + long_word, "x = " + long_word) == ("x = " + long_word, "")
    assert split_partial_word("retur", "retur") == ("retur", "")  # never the whole prompt


def test_the_healed_word_is_taken_off_the_generation_as_seen_from_the_cursor() -> None:
    assert as_seen("a_path)\n", "a_pa", "    x = os.stat(a_pa") == "th)\n"
    assert as_seen(" graph is None:", " gra", "        if gra") == "ph is None:"


def test_allowed_tokens_agree_with_what_is_owed() -> None:
    texts = ["a", "_p", "_pa", "_path", "_pat", "th", "_", "x", "", "_p\ufffd"]
    healer = TokenHealer(texts, excluded=[3])
    assert sorted(texts[t] for t in healer.allowed("_pa")) == ["_", "_p", "_pa", "_pat"]  # `_path` excluded
    assert healer.after("_pa", texts.index("_p")) == "a"
    assert healer.after("_pa", texts.index("_pat")) == ""
    assert healer.allowed("") == [] and healer.allowed("zz") == []


def test_the_healer_reads_the_real_tokenizers_vocabulary() -> None:
    from tests.fixtures.models import smollm2_tokenizer

    tokenizer = smollm2_tokenizer()
    healer = TokenHealer.of(tokenizer, 0)
    fits = [healer.texts[t] for t in healer.allowed(" gra")]
    assert fits and all(" gra".startswith(f) or f.startswith(" gra") for f in fits)
    assert " graph" in fits and " g" in fits


def test_a_tokenizer_without_a_length_or_batch_decoding_is_read_one_id_at_a_time() -> None:
    class Ids:
        def decode(self, ids: list[int]) -> str:
            return f" {ids[0]}"

    healer = TokenHealer.of(Ids(), 12)
    assert [healer.texts[t] for t in healer.allowed(" 1")] == [" 1", " 10", " 11"]
