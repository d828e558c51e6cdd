"""Kernel choice: the CPU class under each limit, the candidates each class is offered,
the measured choice on a real (tiny, random) Llama and on the bundled model, the cache,
forcing a path, and the safe fall-back when kernels are missing (as on aarch64)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from torch import nn

from distill_lsp.engine import kernels
from distill_lsp.engine.kernels import CpuClass, candidates, choose_kernels, limited_below_bf16, parse_forced
from distill_lsp.engine.quant import (
    DENSE_BF16,
    DENSE_FP32,
    INT4_BF16,
    INT8_BF16,
    INT8_FP32,
    KernelLinear,
    QuantizationError,
    kernel_layers,
    quantize_model,
)

AVX512_BF16 = CpuClass("AVX512", True, "x86_64", "test CPU")
AVX2 = CpuClass("AVX2", False, "x86_64", "test CPU")
DEFAULT = CpuClass("DEFAULT", False, "x86_64", "test CPU")
ARM = CpuClass("SVE256", False, "aarch64", "test ARM CPU")


@pytest.mark.parametrize(("capability", "env", "limited"), [
    ("AVX512", {}, False),
    ("AVX512", {"ONEDNN_MAX_CPU_ISA": "AVX2"}, True),
    ("AVX512", {"ONEDNN_MAX_CPU_ISA": "AVX512_CORE"}, True),
    ("AVX512", {"ONEDNN_MAX_CPU_ISA": "AVX512_CORE_BF16"}, False),
    ("AVX512", {"ATEN_CPU_CAPABILITY": "avx2"}, True),
    ("AVX2", {}, True),
    ("DEFAULT", {}, True),
    ("SVE256", {}, False),
])
def test_each_class_is_limited_below_bf16_as_its_isa_says(capability: str, env: dict[str, str],
                                                           limited: bool) -> None:
    assert limited_below_bf16(capability, env) is limited


@pytest.mark.parametrize("isa", ["avx2", "default"])
def test_torch_and_onednn_report_the_limited_class_in_a_real_process(isa: str) -> None:
    """The variables a user (or bench/latency.py --isa) sets reach what the choice reads."""
    env = {**os.environ, "ATEN_CPU_CAPABILITY": isa, "ONEDNN_MAX_CPU_ISA": "AVX2"}
    code = ("import json; from distill_lsp.engine.kernels import cpu_class; c = cpu_class(); "
            "print(json.dumps([c.capability, c.bf16_native]))")
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    capability, bf16 = json.loads(out.stdout.strip().splitlines()[-1])
    assert capability == isa.upper() and bf16 is False


def _tiny_llama(seed: int = 0) -> nn.Module:
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(seed)
    config = LlamaConfig(vocab_size=320, hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                         num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=256,
                         tie_word_embeddings=True)
    return LlamaForCausalLM(config).eval()


IDS = list(range(3, 120))


@pytest.mark.parametrize(("cpu", "bf16_offered"), [(AVX512_BF16, True), (AVX2, False), (DEFAULT, False), (ARM, False)])
def test_candidates_per_class(cpu: CpuClass, bf16_offered: bool) -> None:
    model = _tiny_llama()
    quantize_model(model, "int8", "cpu")
    offered = candidates(kernel_layers(model), cpu)
    assert (DENSE_BF16 in offered) is bf16_offered
    assert {DENSE_FP32, INT8_BF16, INT8_FP32} <= set(offered)
    assert not any(p.startswith("int4") for p in offered)  # no layer has int4 weights


@pytest.mark.parametrize("cpu", [AVX512_BF16, AVX2, DEFAULT, ARM])
def test_the_choice_is_measured_agrees_with_float32_and_is_cached(tmp_path: Path, cpu: CpuClass,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    reference = _tiny_llama()
    model = _tiny_llama()
    quantize_model(model, "int8", "cpu")
    monkeypatch.setattr(kernels, "NOISY", float("inf"))  # this test is about the cache, not the machine's load
    offered = candidates(kernel_layers(model), cpu)  # before the choice drops what it does not use
    choice = choose_kernels(model, IDS, cache_dir=tmp_path, cache_key="tiny", cpu=cpu)
    assert choice.source == "probed"
    assert choice.prompt in offered and choice.decode in offered
    assert set(choice.decode_ms) <= set(offered) and choice.agreement[DENSE_FP32] == 1.0
    assert all(choice.agreement.get(p, 1.0) >= kernels.MIN_AGREEMENT for p in (choice.prompt, choice.decode))
    ids = torch.tensor([IDS])
    with torch.inference_mode():
        want = reference(input_ids=ids).logits[0].argmax(-1)
        got = model(input_ids=ids).logits[0].argmax(-1)
        got_decode = model(input_ids=ids[:, :5]).logits[0].argmax(-1)  # decoding rows
    assert float((want == got).float().mean()) >= kernels.MIN_AGREEMENT
    assert torch.equal(got_decode, want[:5]) or choice.decode != DENSE_FP32
    assert choice.weight_mib > 0
    # the same machine, model and threads: the cached choice, no measurement
    monkeypatch.setattr(kernels, "_probe", lambda *a, **k: pytest.fail("probed again"))
    again = _tiny_llama()
    quantize_model(again, "int8", "cpu")
    cached = choose_kernels(again, IDS, cache_dir=tmp_path, cache_key="tiny", cpu=cpu)
    assert (cached.source, cached.prompt, cached.decode) == ("cached", choice.prompt, choice.decode)


def test_a_disturbed_measurement_is_used_but_not_cached(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    model = _tiny_llama()
    quantize_model(model, "int8", "cpu")
    monkeypatch.setattr(kernels, "NOISY", 0.5)  # every measurement counts as disturbed
    choice = choose_kernels(model, IDS, cache_dir=tmp_path, cache_key="tiny", cpu=AVX2)
    assert choice.source.startswith("probed, noisy") and not (tmp_path / kernels.CACHE_FILE).exists()


def test_a_path_below_the_agreement_bar_is_not_chosen(monkeypatch: pytest.MonkeyPatch) -> None:
    model = _tiny_llama()
    quantize_model(model, "int8", "cpu")
    monkeypatch.setattr(kernels._Agreement, "good", lambda self, path: path == DENSE_FP32)
    choice = choose_kernels(model, IDS, cpu=AVX2)
    assert (choice.prompt, choice.decode) == (DENSE_FP32, DENSE_FP32)
    layer = kernel_layers(model)[0]
    assert not layer.codes and layer.weight is not None  # the packed copies are gone


def test_missing_kernels_fall_back_to_dense_float32(monkeypatch: pytest.MonkeyPatch) -> None:
    """As on a CPU whose torch lacks the packed kernels: the probe drops what raises."""
    model = _tiny_llama()
    quantize_model(model, "int8", "cpu")
    real_run = KernelLinear.run

    def run(self: KernelLinear, rows: torch.Tensor, path: str) -> torch.Tensor:
        if path != DENSE_FP32:
            raise RuntimeError("no kernel for this CPU")
        return real_run(self, rows, path)

    monkeypatch.setattr(KernelLinear, "run", run)
    choice = choose_kernels(model, IDS, cpu=ARM)
    assert (choice.prompt, choice.decode) == (DENSE_FP32, DENSE_FP32)


def test_forcing_paths(tmp_path: Path) -> None:
    assert parse_forced("auto") is None
    assert parse_forced("dense-fp32, int8-bf16") == (DENSE_FP32, INT8_BF16)
    assert parse_forced("int8-bf16") == (INT8_BF16, INT8_BF16)
    with pytest.raises(QuantizationError, match="PROMPT,DECODE"):
        parse_forced("fast")
    model = _tiny_llama()
    quantize_model(model, "int4", "cpu")
    choice = choose_kernels(model, IDS, forced="dense-fp32,int4-bf16", cpu=AVX2, cache_dir=tmp_path)
    assert (choice.source, choice.prompt, choice.decode) == ("forced", DENSE_FP32, INT4_BF16)
    assert not (tmp_path / kernels.CACHE_FILE).exists()
    with pytest.raises(QuantizationError, match="not available"):
        other = _tiny_llama()
        quantize_model(other, "int8", "cpu")
        choose_kernels(other, IDS, forced="dense-bf16", cpu=AVX2)


def test_the_settings_table_knows_every_path() -> None:
    from distill_lsp import settings
    from distill_lsp.engine.quant import PATHS

    assert settings.KERNEL_PATHS == PATHS


def test_quantize_none_is_the_model_as_loaded() -> None:
    model = _tiny_llama()
    quantize_model(model, "none", "cpu")
    choice = choose_kernels(model, IDS, cpu=AVX512_BF16)
    assert (choice.prompt, choice.decode) == (DENSE_FP32, DENSE_FP32) and not kernel_layers(model)
    with pytest.raises(QuantizationError, match="quantize"):
        choose_kernels(model, IDS, forced="int8-bf16", cpu=AVX2)


def test_bundled_model_keeps_its_next_token_choices(tmp_path: Path) -> None:
    """On this machine's CPU: the chosen paths pick the float model's next token over real
    code (text other than the probe's) at least as often as the bar the choice enforces."""
    import copy

    from distill_lsp.engine.loader import load_model
    from distill_lsp.engine.resolve import resolve_model
    from distill_lsp.settings import Settings
    from tests.conftest import TEST_CACHE

    loaded = load_model(resolve_model("auto", "cpu"), device="cpu",
                        cache_dir=Settings(cache_dir=str(TEST_CACHE)).resolved_cache_dir())
    reference = loaded.model
    model = copy.deepcopy(reference)
    summary = quantize_model(model, "auto", "cpu")
    assert summary.int4_layers > 200 and summary.int8_layers == 0
    head = model.get_output_embeddings()
    assert head.rescore and set(head.codes) == {"int4", "int8"}  # lossy int4, top logits rescored
    choice = choose_kernels(model, kernels.agreement_ids(loaded.tokenizer), cache_dir=tmp_path, cache_key="bundled")
    source = (Path(torch.__file__).parent / "functional.py").read_text()[:6000]
    ids = torch.tensor([loaded.tokenizer(source).input_ids[:300]])
    with torch.inference_mode():
        want = reference(input_ids=ids).logits[0].argmax(-1)
        for path in {choice.prompt, choice.decode}:
            for layer in kernel_layers(model):  # the head runs the decoding path always
                layer.force = choice.decode if layer.rescore else path
            got = model(input_ids=ids).logits[0].argmax(-1)
            assert float((want == got).float().mean()) >= 0.97, (path, choice)


def test_agreement_is_checked_fastest_first_and_only_until_a_path_passes() -> None:
    """Each agreement check is a forward of the model: the probe asks for as few as it needs."""
    asked: list[str] = []

    class Agreement:
        def good(self, path: str) -> bool:
            asked.append(path)
            return path != "dense-bf16"

    times = {"dense-bf16": 1.0, "int4-bf16": 2.0, "dense-fp32": 3.0, "int8-bf16": 4.0}
    assert kernels._prompt_choice(times, "int8-bf16", Agreement()) == "int4-bf16"  # type: ignore[arg-type]
    assert asked == ["dense-bf16", "int4-bf16"]
    asked.clear()
    assert kernels._prompt_choice(times, "int4-bf16", Agreement()) == "int4-bf16"  # type: ignore[arg-type]
    assert asked == ["dense-bf16", "int4-bf16", "int4-bf16"]
