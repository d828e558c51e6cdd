"""The compiled decoding step (`engine.compiled`, `engine.step_build`) on real, tiny,
randomly initialised models: a Llama with int4 layers and a tied, rescored head (the
bundled SmolLM2's shape) compiled in process, and a Qwen2 (q/k/v biases, its own head)
built by the background child process from its directory, as a server does."""

from __future__ import annotations

import copy
import time

import pytest
import torch

from distill_lsp.engine import compiled, fastpath
from distill_lsp.engine.kvcache import new_cache
from distill_lsp.engine.quant import kernel_layers, quantize_model
from distill_lsp.engine.types import GenerationRequest
from distill_lsp.profiles import SamplingProfile
from tests.fixtures.models import save_tiny_qwen2, smollm2_tokenizer

GREEDY = SamplingProfile("greedy", do_sample=False, repetition_penalty=1.0)
SOURCE = "import os\n\ndef walk(root):\n    for name in os.listdir(root):\n        path = os.path.join(root, name)\n"


@pytest.fixture(scope="module")
def tokenizer():
    return smollm2_tokenizer()


@pytest.fixture(scope="module")
def llama_int4(tokenizer, tmp_path_factory):
    """A tiny Llama whose layers decode on int4 with bf16 activations, its compiled step built."""
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(3)
    config = LlamaConfig(vocab_size=len(tokenizer), hidden_size=128, intermediate_size=256, num_hidden_layers=2,
                         num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=512,
                         tie_word_embeddings=True)
    model = LlamaForCausalLM(config).eval()
    with torch.no_grad():
        for p in model.parameters():
            if p.dim() == 2:
                p.mul_(8.0)  # greedy continuations that vary with the prompt
    quantize_model(model, "int4", "cpu")
    for layer in kernel_layers(model):
        layer.use("dense-fp32", "int4-bf16")
    fast = fastpath.FastDecoder(model)
    package = tmp_path_factory.mktemp("compiled") / "step.pt2"
    compiled.build(fast, package)
    return fast, compiled.load(package), package


def _prefilled(fast, ids):
    cache = new_cache(fast.model)
    with torch.inference_mode():
        fast.model(input_ids=torch.tensor([ids]), cache=cache, use_cache=True, logits_to_keep=1)
    return cache


def test_the_compiled_step_decodes_what_the_eager_step_does(llama_int4, tokenizer) -> None:
    fast, step, _ = llama_int4
    assert fast.compilable and fast.head.rescore_top  # the tied head's top logits are recomputed
    ids = tokenizer(SOURCE).input_ids
    eager, ours = _prefilled(fast, ids[:-1]), _prefilled(fast, ids[:-1])
    token, picked = ids[-1], []
    with torch.inference_mode():
        for _ in range(12):
            want, got = fast.run(fast.graph, token, eager), fast.run(step, token, ours)
            assert got.shape == want.shape
            torch.testing.assert_close(got, want, atol=2e-2 * float(want.abs().max()), rtol=0)
            token = int(want.argmax())
            assert int(got.argmax()) == token
            picked.append(token)
    assert len(set(picked)) > 1
    for a, b in zip(eager.layers, ours.layers):  # the same keys and values, written in place
        assert a.get_seq_length() == b.get_seq_length() == len(ids) + 11
        torch.testing.assert_close(a.keys, b.keys, atol=1e-3, rtol=1e-3)
        torch.testing.assert_close(a.values, b.values, atol=1e-3, rtol=1e-3)
    assert compiled.agrees(fast, step)


def test_the_compiled_step_goes_on_past_a_full_buffer_with_the_same_graph(llama_int4, tokenizer) -> None:
    fast, step, _ = llama_int4
    decoder = fastpath.FastDecoder(fast.model)
    decoder.compiled = step
    ids = tokenizer(SOURCE).input_ids
    cache, eager = _prefilled(decoder, ids), _prefilled(decoder, ids)
    capacity = cache.layers[0].buffers()[0].shape[2]
    with torch.inference_mode():
        for _ in range(capacity - len(ids) + 3):
            got, want = decoder.step(7, cache), decoder.run(decoder.graph, 7, eager)
        torch.testing.assert_close(got, want, atol=2e-2 * float(want.abs().max()), rtol=0)
    assert cache.layers[0].buffers()[0].shape[2] > capacity  # grown, and the one graph ran on
    assert decoder.compiled_steps == capacity - len(ids) + 3 == cache.get_seq_length() - len(ids)


class _Wrapped(torch.nn.Module):
    """A layer the step can only call (not a linear it can read as data)."""

    def __init__(self, inner: torch.nn.Module) -> None:
        super().__init__()
        self.inner = inner

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.inner(x)


def test_a_step_with_a_layer_it_can_only_call_runs_eagerly_and_is_not_built(llama_int4, tokenizer, tmp_path) -> None:
    fast, _, _ = llama_int4
    model = copy.deepcopy(fast.model)
    attn = model.model.layers[0].self_attn
    attn.o_proj = _Wrapped(attn.o_proj)
    other = fastpath.FastDecoder(model)
    assert not other.compilable and _step_build(other, tmp_path).state == "unsupported"
    ids = tokenizer(SOURCE).input_ids
    cache, theirs = _prefilled(other, ids[:-1]), _prefilled(other, ids[:-1])
    with torch.inference_mode():
        want = model(input_ids=torch.tensor([ids[-1:]]), cache=theirs, use_cache=True).logits[0, -1]
        torch.testing.assert_close(other.step(ids[-1], cache), want, atol=2e-2 * float(want.abs().max()), rtol=0)


def test_the_backend_builds_the_step_in_the_background_and_then_decodes_with_it(tokenizer, tmp_path) -> None:
    from distill_lsp.engine.factory import make_backend_factory
    from distill_lsp.settings import Settings

    directory = save_tiny_qwen2(tmp_path / "tiny-qwen2", tokenizer)
    common = dict(model=str(directory), device="cpu", threads=1, quantize="int8", kernels="dense-fp32,int8-bf16",
                  cache_dir=str(tmp_path / "cache"))
    eager = make_backend_factory(Settings(**common, compile_step="off"))()
    backend = make_backend_factory(Settings(**common, compile_step="auto"))()
    assert eager.step_build is None and backend.step_build.state == "pending"  # not in a one-shot session
    request = GenerationRequest(tokenizer(SOURCE).input_ids, GREEDY, 24)
    expected = eager.generate(request)
    backend.step_build._build_at = 0.0  # the server has been in use for a while
    assert backend.generate(request).token_ids == expected.token_ids  # this generation starts the build
    assert backend.step_build.state == "building"
    deadline = time.monotonic() + 600
    while backend.step_build.state in ("building", "loading") and time.monotonic() < deadline:
        assert backend.generate(request).token_ids == expected.token_ids  # eager meanwhile
        time.sleep(1.0)
    assert backend.step_build.state == "ready", (backend.step_build.package.with_suffix(".log").read_text())
    assert backend.info.kernels["compiled"] == "ready"
    before = backend.fast.compiled_steps
    assert backend.generate(request).token_ids == expected.token_ids
    assert backend.fast.compiled_steps - before == len(expected.token_ids) - 1 > 0  # every step after the prompt
    # the next start loads the package in a thread of its own, and takes it up once checked
    again = make_backend_factory(Settings(**common, compile_step="auto"))()
    assert again.info.kernels["compiled"] == "loading" and again.fast.compiled is None
    assert again.step_build.wait() == "ready" and again.fast.compiled is not None


def _step_build(fast, cache_dir):
    """A StepBuild for a decoder of its own (a ready one sets the decoder's compiled step)."""
    from distill_lsp.engine.step_build import StepBuild

    return StepBuild(fastpath.FastDecoder(fast.model), {"model": "unused"}, "dense-fp32,int4-bf16", cache_dir,
                     "test CPU", "tiny llama")


def test_without_a_compiler_or_after_a_failed_build_nothing_is_started(llama_int4, tmp_path, monkeypatch) -> None:
    from distill_lsp.engine import step_build

    fast, _, _ = llama_int4
    monkeypatch.setattr(step_build, "compiler", lambda: None)
    build = _step_build(fast, tmp_path)
    assert build.poll() == "no compiler" and build._child is None
    monkeypatch.setattr(step_build, "compiler", lambda: "/usr/bin/c++")
    build.failure.parent.mkdir(parents=True)
    build.failure.write_text("RuntimeError: the compiler crashed\n")
    again = _step_build(fast, tmp_path)
    assert again.poll() == "failed" and again._child is None and again.fast.compiled is None  # not retried
    assert step_build.kept(tmp_path) == (0, 1)


def test_a_package_that_cannot_be_loaded_leaves_decoding_eager(llama_int4, tmp_path, monkeypatch) -> None:
    from distill_lsp.engine import step_build

    fast, _, _ = llama_int4
    monkeypatch.setattr(step_build, "compiler", lambda: None)
    package = _step_build(fast, tmp_path).package
    package.parent.mkdir(parents=True)
    package.write_bytes(b"not a package")
    build = _step_build(fast, tmp_path)
    assert build.wait() == "failed" and build.fast.compiled is None


def test_a_package_that_does_not_match_the_eager_step_is_not_used(llama_int4, tmp_path, monkeypatch) -> None:
    import shutil

    from distill_lsp.engine import step_build

    fast, _, built = llama_int4
    monkeypatch.setattr(step_build, "compiler", lambda: None)
    package = _step_build(fast, tmp_path).package
    package.parent.mkdir(parents=True)
    shutil.copy(built, package)
    loaded = _step_build(fast, tmp_path)
    assert loaded.wait() == "ready" and loaded.fast.compiled is not None  # the real package passes its check
    monkeypatch.setattr(compiled, "agrees", lambda fast, step, tokens=3: False)
    refused = _step_build(fast, tmp_path)
    assert refused.wait() == "disagrees" and refused.fast.compiled is None
