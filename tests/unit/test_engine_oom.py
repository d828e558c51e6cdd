"""Out of memory while generating: retry with fewer tokens, then the CPU, one notice;
the DISTILL_LSP_FAULT hook; lone surrogates never reach the tokenizer."""

from __future__ import annotations

import pytest
import torch

from distill_lsp.engine.local import scrub_surrogates
from distill_lsp.engine.oom import FAULT_ENV, MemoryFallback, injected_ooms, shorter
from distill_lsp.engine.types import EngineOutOfMemory, GenerationRequest, GenerationResult, StopReason
from distill_lsp.profiles import BUILTIN_PROFILES


class FakeModel:
    """Where the model is, and where it was moved."""

    def __init__(self, device: str) -> None:
        self.device = device
        self.moved_to: list[str] = []

    def to(self, device: str) -> None:
        self.moved_to.append(device)
        self.device = device


def backend(fail_on: set[str], device: str = "cuda:0",
            ooms: int = 0) -> tuple[MemoryFallback, FakeModel, list[tuple[str, int]]]:
    """A generation that fails with out of memory on the listed devices, behind the fallback."""
    model = FakeModel(device)
    calls: list[tuple[str, int]] = []

    def generate(request: GenerationRequest, max_new_tokens: int) -> GenerationResult:
        calls.append((model.device, max_new_tokens))
        if model.device in fail_on:
            raise torch.OutOfMemoryError("CUDA out of memory (test)")
        return GenerationResult("ok", max_new_tokens, 3, StopReason.LENGTH)

    fallback = MemoryFallback(generate, device=lambda: model.device, move_to_cpu=lambda: model.to("cpu"),
                              free_cache=lambda: None, injected=ooms)
    return fallback, model, calls


def req(n: int = 16) -> GenerationRequest:
    return GenerationRequest(prompt_ids=[1, 2, 3], profile=BUILTIN_PROFILES["greedy"], max_new_tokens=n)


def test_no_oom_is_one_plain_generation(monkeypatch) -> None:
    b, _, calls = backend(fail_on=set())
    result = b.generate(req())
    assert calls == [("cuda:0", 16)] and result.notice == ""


def test_oom_retries_with_fewer_tokens_on_the_same_device(monkeypatch) -> None:
    b, model, calls = backend(fail_on=set(), ooms=1)
    result = b.generate(req())
    assert calls == [("cuda:0", shorter(16))], "the injected error fails the first try before it generates"
    assert shorter(16) < 16 and result.notice == "" and model.moved_to == []


def test_persistent_gpu_oom_moves_to_cpu_with_one_notice(monkeypatch) -> None:
    b, model, calls = backend(fail_on={"cuda:0"})
    first = b.generate(req())
    assert calls == [("cuda:0", 16), ("cuda:0", 8), ("cpu", 8)]
    assert model.moved_to == ["cpu"] and model.device == "cpu"
    assert "cuda:0" in first.notice and "CPU" in first.notice
    second = b.generate(req())
    assert second.notice == "" and calls[-1] == ("cpu", 16)


def test_oom_even_on_cpu_raises_an_engine_error(monkeypatch) -> None:
    b, _, _ = backend(fail_on={"cuda:0", "cpu"})
    with pytest.raises(EngineOutOfMemory):
        b.generate(req())


def test_fault_hook_on_cpu_gives_one_notice(monkeypatch) -> None:
    b, model, calls = backend(fail_on=set(), device="cpu", ooms=2)
    result = b.generate(req())
    assert [n for _, n in calls] == [8] and "CPU" in result.notice
    assert model.moved_to == []
    assert b.generate(req()).notice == ""


@pytest.mark.parametrize("value,expected", [("", 0), ("oom", 2), ("OOM:3", 3), ("oom:x", 0), ("other", 0)])
def test_injected_ooms(value: str, expected: int) -> None:
    assert injected_ooms({FAULT_ENV: value}) == expected


def test_scrub_surrogates() -> None:
    assert scrub_surrogates("a\ud800b\udfffc😀") == "a\ufffdb\ufffdc😀"
    scrub_surrogates("x\ud800").encode("utf-8")  # encodable now
