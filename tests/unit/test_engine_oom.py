"""Out of memory while generating: retry with fewer tokens, then the CPU, one notice;
the DISTILL_LSP_FAULT hook; lone surrogates never reach the tokenizer."""

from __future__ import annotations

import dataclasses

import pytest
import torch

from distill_lsp.engine import local
from distill_lsp.engine.local import LocalBackend, injected_ooms, scrub_surrogates, shorter
from distill_lsp.engine.types import EngineOutOfMemory, GenerationRequest, GenerationResult, ModelInfo, StopReason
from distill_lsp.profiles import BUILTIN_PROFILES

INFO = ModelInfo("m", "directory", "/m", "cuda:0", "bfloat16", 2048, "llama", False)


class FakeModel:
    def __init__(self) -> None:
        self.moved_to: list[str] = []

    def to(self, device: str) -> FakeModel:
        self.moved_to.append(device)
        return self


def backend(monkeypatch: pytest.MonkeyPatch, fail_on: set[str], device: str = "cuda:0",
            ooms: int = 0) -> tuple[LocalBackend, list[tuple[str, int]]]:
    """A LocalBackend without a real model; `_generate` fails with OOM on the listed devices."""
    b = LocalBackend.__new__(LocalBackend)
    b.model, b.tokenizer = FakeModel(), None
    b.info = dataclasses.replace(INFO, device=device)
    b._ooms_to_inject, b._fell_back, b.fast = ooms, False, None
    calls: list[tuple[str, int]] = []

    def fake_generate(request: GenerationRequest, max_new_tokens: int) -> GenerationResult:
        calls.append((b.info.device, max_new_tokens))
        b._inject_fault()
        if b.info.device in fail_on:
            raise torch.OutOfMemoryError("CUDA out of memory (test)")
        return GenerationResult("ok", max_new_tokens, 3, StopReason.LENGTH)

    monkeypatch.setattr(b, "_generate", fake_generate)
    monkeypatch.setattr(b, "_free_cache", lambda: None)
    return b, calls


def req(n: int = 16) -> GenerationRequest:
    return GenerationRequest(prompt_ids=[1, 2, 3], profile=BUILTIN_PROFILES["greedy"], max_new_tokens=n)


def test_no_oom_is_one_plain_generation(monkeypatch) -> None:
    b, calls = backend(monkeypatch, fail_on=set())
    result = b.generate(req())
    assert calls == [("cuda:0", 16)] and result.notice == ""


def test_oom_retries_with_fewer_tokens_on_the_same_device(monkeypatch) -> None:
    b, calls = backend(monkeypatch, fail_on=set(), ooms=1)
    result = b.generate(req())
    assert calls == [("cuda:0", 16), ("cuda:0", shorter(16))]
    assert shorter(16) < 16 and result.notice == "" and b.model.moved_to == []


def test_persistent_gpu_oom_moves_to_cpu_with_one_notice(monkeypatch) -> None:
    b, calls = backend(monkeypatch, fail_on={"cuda:0"})
    first = b.generate(req())
    assert calls == [("cuda:0", 16), ("cuda:0", 8), ("cpu", 8)]
    assert b.model.moved_to == ["cpu"] and b.info.device == "cpu"
    assert "cuda:0" in first.notice and "CPU" in first.notice
    second = b.generate(req())
    assert second.notice == "" and calls[-1] == ("cpu", 16)


def test_oom_even_on_cpu_raises_an_engine_error(monkeypatch) -> None:
    b, _ = backend(monkeypatch, fail_on={"cuda:0", "cpu"})
    with pytest.raises(EngineOutOfMemory):
        b.generate(req())


def test_fault_hook_on_cpu_gives_one_notice(monkeypatch) -> None:
    b, calls = backend(monkeypatch, fail_on=set(), device="cpu", ooms=2)
    result = b.generate(req())
    assert [n for _, n in calls] == [16, 8, 8] and "CPU" in result.notice
    assert b.model.moved_to == []
    assert b.generate(req()).notice == ""


@pytest.mark.parametrize("value,expected", [("", 0), ("oom", 2), ("OOM:3", 3), ("oom:x", 0), ("other", 0)])
def test_injected_ooms(value: str, expected: int) -> None:
    assert injected_ooms({local.FAULT_ENV: value}) == expected


def test_scrub_surrogates() -> None:
    assert scrub_surrogates("a\ud800b\udfffc😀") == "a\ufffdb\ufffdc😀"
    scrub_surrogates("x\ud800").encode("utf-8")  # encodable now
