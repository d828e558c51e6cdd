"""The decode loop on real (tiny, randomly initialised) Llama and Qwen2 models: our loop
against transformers' generate, prefix reuse against none, the lean decode step against
the model's forward, the cache store's bookkeeping, sampling with a seed, cancellation."""

from __future__ import annotations

import pytest
import torch

from distill_lsp.engine import fastpath
from distill_lsp.engine.kvcache import GrowingLayer, PrefixStore, common_prefix, new_cache
from distill_lsp.engine.loader import LoadedModel
from distill_lsp.engine.local import LocalBackend
from distill_lsp.engine.types import GenerationRequest, ModelInfo, StopReason
from distill_lsp.profiles import BUILTIN_PROFILES, SamplingProfile
from tests.fixtures.models import smollm2_tokenizer

GREEDY = SamplingProfile("greedy", do_sample=False, repetition_penalty=1.0)
GREEDY_PENALTY = BUILTIN_PROFILES["greedy"]


@pytest.fixture(scope="module")
def tokenizer():
    return smollm2_tokenizer()


def _tiny(kind: str, vocab: int):
    from transformers import LlamaConfig, LlamaForCausalLM, Qwen2Config, Qwen2ForCausalLM

    torch.manual_seed(1)
    common = dict(vocab_size=vocab, hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                  num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=2048)
    if kind == "qwen2":
        model = Qwen2ForCausalLM(Qwen2Config(**common, tie_word_embeddings=False))
    else:
        model = LlamaForCausalLM(LlamaConfig(**common, tie_word_embeddings=True))
    # larger weights than the init gives, so greedy continuations vary with the prompt
    with torch.no_grad():
        for p in model.parameters():
            if p.dim() == 2:
                p.mul_(8.0)
    return model.eval()


def _backend(model, tokenizer, **kwargs) -> LocalBackend:
    info = ModelInfo(name="tiny", source="directory", path="", device="cpu", dtype="float32",
                     context_length=2048, model_type=model.config.model_type, has_chat_template=False)
    return LocalBackend(LoadedModel(model=model, tokenizer=tokenizer, info=info), threads=1, **kwargs)


@pytest.fixture(scope="module", params=["qwen2", "llama"])
def model(request, tokenizer):
    return _tiny(request.param, len(tokenizer))


SOURCE = "import os\n\ndef walk(root):\n    for name in os.listdir(root):\n        path = os.path.join(root, name)\n"


def test_our_loop_matches_generate(model, tokenizer) -> None:
    backend = _backend(model, tokenizer, prefix_cache_mb=0)
    ids = backend.encode(SOURCE)
    for profile in (GREEDY, GREEDY_PENALTY):
        x = torch.tensor([ids])
        with torch.inference_mode():
            expected = model.generate(input_ids=x, attention_mask=torch.ones_like(x), max_new_tokens=24,
                                      min_new_tokens=24, do_sample=False,
                                      repetition_penalty=profile.repetition_penalty)[0, len(ids):].tolist()
        backend.eos_ids = []
        result = backend.generate(GenerationRequest(ids, profile, 24))
        assert result.new_tokens == 24
        assert result.text == tokenizer.decode(expected, skip_special_tokens=True)


def test_prefix_reuse_gives_the_same_greedy_output(model, tokenizer) -> None:
    reusing = _backend(model, tokenizer, prefix_cache_mb=64)
    fresh = _backend(model, tokenizer, prefix_cache_mb=0)
    reusing.eos_ids = fresh.eos_ids = []
    # a user typing: each request extends, edits or shortens the previous prompt
    texts = [SOURCE, SOURCE + "        if", SOURCE + "        if os", SOURCE + "        if o",
             SOURCE.replace("walk", "walk_all") + "        if os.path"]
    reused = []
    for text in texts:
        ids = reusing.encode(text)
        a = reusing.generate(GenerationRequest(ids, GREEDY_PENALTY, 16, cache_key="file:///a.py"))
        b = fresh.generate(GenerationRequest(ids, GREEDY_PENALTY, 16, cache_key="file:///a.py"))
        assert a.text == b.text
        assert b.reused_tokens == 0
        reused.append(a.reused_tokens)
    assert reused[0] == 0 and all(r > 10 for r in reused[1:4])
    # the rename near the top keeps only the tokens before it
    assert reused[4] < reused[3]


def test_fast_step_matches_the_models_forward(model, tokenizer) -> None:
    assert fastpath.supports(model)
    fast = fastpath.FastDecoder(model)
    ids = tokenizer(SOURCE).input_ids
    with torch.inference_mode():
        cache = new_cache(model)
        model(input_ids=torch.tensor([ids[:-3]]), cache=cache, use_cache=True)
        assert fast.can_use(cache)
        ours = [fast.step(t, cache) for t in ids[-3:]]
        reference = model(input_ids=torch.tensor([ids])).logits[0, -3:]
    for got, want in zip(ours, reference):
        torch.testing.assert_close(got, want, atol=1e-4, rtol=1e-4)


@pytest.mark.parametrize("path", ["dense-fp32", "dense-bf16", "int8-fp32", "int8-bf16", "int4-bf16"])
def test_fast_step_on_quantized_layers_matches_the_forward_on_the_same_paths(model, tokenizer, path) -> None:
    import copy

    from distill_lsp.engine.quant import kernel_layers, quantize_model

    quantized = copy.deepcopy(model)
    quantize_model(quantized, "int8" if path.startswith("int8") else "int4", "cpu")
    for layer in kernel_layers(quantized):
        layer.use(path, path)
    fast = fastpath.FastDecoder(quantized)  # joins q/k/v and gate/up
    ids = tokenizer(SOURCE).input_ids
    with torch.inference_mode():
        cache, theirs = new_cache(quantized), new_cache(quantized)
        for c in (cache, theirs):
            quantized(input_ids=torch.tensor([ids[:-3]]), cache=c, use_cache=True)
        for token in ids[-3:]:
            want = quantized(input_ids=torch.tensor([[token]]), cache=theirs, use_cache=True).logits[0, -1]
            torch.testing.assert_close(fast.step(token, cache), want, atol=1e-4, rtol=1e-4)


def test_growing_layer_crop_and_growth() -> None:
    layer = GrowingLayer()
    k = torch.arange(2 * 300 * 4, dtype=torch.float32).reshape(1, 2, 300, 4)
    keys, _ = layer.update(k, k)
    assert layer.get_seq_length() == 300 and torch.equal(keys, k)
    layer.crop(-100)
    assert layer.get_seq_length() == 200 and torch.equal(layer.keys, k[..., :200, :])
    more = torch.ones(1, 2, 500, 4)
    keys, values = layer.update(more, more)
    assert keys.shape[-2] == 700 and torch.equal(keys[..., :200, :], k[..., :200, :])
    assert torch.equal(values[..., 200:, :], more)
    with pytest.raises(ValueError):
        layer.crop(5)


def test_growing_layer_keeps_its_dtype_when_a_decode_step_outgrows_it() -> None:
    # Seen in bench/actions.py: the decode step hands over float32 keys and bfloat16 values (its
    # int4 kernels' output); a buffer that replaced a full one once took those dtypes, and
    # attention then failed on keys and values of different dtypes.
    layer = GrowingLayer()
    prompt = torch.randn(1, 2, 300, 4)
    layer.update(prompt, prompt)
    for _ in range(400):  # past the capacity of 600, as a decoding step writes: in place
        layer.make_room()
        k_buf, v_buf = layer.buffers()
        at = layer.get_seq_length()
        k_buf[..., at, :] = torch.randn(1, 2, 4)
        v_buf[..., at, :] = torch.randn(1, 2, 4, dtype=torch.bfloat16)
        layer.appended_in_place()
    keys, values = layer.keys, layer.values
    assert keys.dtype == values.dtype == torch.float32 and keys.shape[-2] == values.shape[-2] == 700
    layer.update(torch.randn(1, 2, 600, 4), torch.randn(1, 2, 600, 4, dtype=torch.bfloat16))  # grows again
    assert layer.values.dtype == torch.float32 and layer.values.shape[-2] == 1300
    assert torch.equal(keys[..., :300, :], prompt)


def test_prefix_store_reuse_budget_and_eviction(model) -> None:
    store = PrefixStore(budget_bytes=10**9)
    prompt = list(range(100, 140))
    first = store.take("a", prompt, model)
    assert first.reused == 0
    with torch.inference_mode():
        model(input_ids=torch.tensor([prompt]), cache=first.cache, use_cache=True)
    store.put("a", prompt, first.cache)
    # a shared prefix of 30 tokens is reused; at least one token is always left to run
    again = store.take("a", prompt[:30] + [7, 8, 9], model)
    assert again.reused == 30 and again.cache.get_seq_length() == 30
    store.put("a", prompt[:30], again.cache)
    same = store.take("a", prompt[:30], model)
    assert same.reused == 29
    # a cache whose token list is out of step is not kept
    store.put("a", prompt, same.cache)
    assert len(store) == 0
    # beyond the budget the least recently used key goes first
    small = PrefixStore(budget_bytes=1)
    entry = small.take("b", prompt, model)
    with torch.inference_mode():
        model(input_ids=torch.tensor([prompt]), cache=entry.cache, use_cache=True)
    small.put("b", prompt, entry.cache)
    assert len(small) == 0
    assert common_prefix([1, 2, 3], [1, 2, 4, 5]) == 2 and common_prefix([], [1]) == 0


def test_a_second_entry_is_copied_from_and_left_in_place(model) -> None:
    store = PrefixStore(budget_bytes=10**9)
    document = list(range(100, 160))
    base = store.take("doc", document, model)
    with torch.inference_mode():
        model(input_ids=torch.tensor([document]), cache=base.cache, use_cache=True)
        reference = model(input_ids=torch.tensor([document + [5, 6]])).logits[0, -1]
    store.put("doc", document, base.cache)
    # speculative work on the document with more text: starts from a copy of "doc"'s prefix
    ahead = document + [5, 6]
    spec = store.take("doc#next", ahead, model, also="doc")
    assert spec.reused == len(document) and spec.cache is not base.cache
    with torch.inference_mode():
        got = model(input_ids=torch.tensor([[5, 6]]), cache=spec.cache, use_cache=True).logits[0, -1]
    torch.testing.assert_close(got, reference, atol=1e-4, rtol=1e-4)
    store.put("doc#next", ahead, spec.cache)
    assert base.cache.get_seq_length() == len(document)  # the document's own cache is untouched
    # the document's next request takes its own entry when it serves as much
    own = store.take("doc", document[:50] + [1], model, also="doc#next")
    assert own.cache is base.cache and own.reused == 50 and len(store) == 1


def test_sampling_is_reproducible_with_a_seed(model, tokenizer) -> None:
    backend = _backend(model, tokenizer, prefix_cache_mb=64)
    ids = backend.encode(SOURCE)
    creative = BUILTIN_PROFILES["creative"]
    runs = [backend.generate(GenerationRequest(ids, creative, 16, cache_key="k", seed=7)).text for _ in range(2)]
    assert runs[0] == runs[1]
    others = {backend.generate(GenerationRequest(ids, creative, 16, seed=s)).text for s in range(6)}
    assert len(others) > 1


def test_cancel_stops_within_a_step(model, tokenizer) -> None:
    backend = _backend(model, tokenizer)
    backend.eos_ids = []
    ids = backend.encode(SOURCE)
    steps = []

    def stop_when(text: str) -> bool:
        steps.append(text)
        if len(steps) == 3:
            request.cancel.cancel(StopReason.SUPERSEDED)
        return False

    request = GenerationRequest(ids, GREEDY, 200, key="k", stop_when=stop_when)
    result = backend.generate(request)
    assert result.stop_reason is StopReason.SUPERSEDED and result.new_tokens == 3
    # cancelled before it starts: no token at all
    early = GenerationRequest(ids, GREEDY, 200)
    early.cancel.cancel()
    assert backend.generate(early).new_tokens == 0


def test_prefix_cache_is_per_key(model, tokenizer) -> None:
    backend = _backend(model, tokenizer, prefix_cache_mb=64)
    ids = backend.encode(SOURCE)
    first = [backend.generate(GenerationRequest(ids, GREEDY, 4, cache_key=k)).reused_tokens for k in ("x", "y", "x")]
    assert first[0] == 0 and first[1] == 0 and first[2] > 0
    assert backend.generate(GenerationRequest(ids, GREEDY, 4, cache_key="")).reused_tokens == 0


def test_avoid_first_changes_only_the_first_choice(model, tokenizer) -> None:
    """A second try (`avoid_first`) starts with the best token not avoided, then decodes as
    usual; the kept cache is the same either way."""
    backend = _backend(model, tokenizer, prefix_cache_mb=64)
    backend.eos_ids = []
    ids = backend.encode(SOURCE)
    first = backend.generate(GenerationRequest(ids, GREEDY, 6, cache_key="k"))
    second = backend.generate(GenerationRequest(ids, GREEDY, 6, cache_key="k", avoid_first=first.token_ids[:1]))
    assert backend.avoids_first_tokens
    assert second.token_ids[0] != first.token_ids[0] and second.reused_tokens > 0
    with torch.inference_mode():
        logits = model(input_ids=torch.tensor([ids])).logits[0, -1]
    ranked = logits.argsort(descending=True).tolist()
    assert first.token_ids[0] == ranked[0] and second.token_ids[0] == ranked[1]
    again = backend.generate(GenerationRequest(ids, GREEDY, 6, cache_key="k"))
    assert again.token_ids == first.token_ids


def test_token_probabilities_are_the_models_and_an_unsure_token_ends_the_generation(model, tokenizer) -> None:
    backend = _backend(model, tokenizer, prefix_cache_mb=0)
    backend.eos_ids = []
    ids = backend.encode(SOURCE)
    result = backend.generate(GenerationRequest(ids, GREEDY, 8))
    assert len(result.token_probs) == len(result.token_ends) == 8
    assert list(result.token_ends) == sorted(result.token_ends) and result.token_ends[-1] == len(result.text)
    with torch.inference_mode():
        logits = model(input_ids=torch.tensor([ids + list(result.token_ids)])).logits[0]
    want = [float(torch.softmax(logits[len(ids) - 1 + i].float(), -1)[t]) for i, t in enumerate(result.token_ids)]
    assert list(result.token_probs) == pytest.approx(want, rel=1e-3, abs=1e-5)
    # a bar just above the least sure token's probability: the generation ends before it
    k = min(range(8), key=lambda i: result.token_probs[i])
    cut = backend.generate(GenerationRequest(ids, GREEDY, 8, min_token_probability=result.token_probs[k] * 1.001))
    assert cut.stop_reason is StopReason.UNSURE and cut.token_ids == result.token_ids[:k]


def test_start_with_makes_the_generation_begin_with_the_text_in_tokens_the_model_picks(model, tokenizer) -> None:
    """Token healing: a random model would write anything; told to start with `th` (the end
    of `os.path.join(root, na` cut off), it writes a text that begins with it, and among the
    tokens that fit it takes the one it ranks first."""
    backend = _backend(model, tokenizer)
    backend.eos_ids = []
    ids = backend.encode(SOURCE + "        size = os.stat(pa")
    result = backend.generate(GenerationRequest(ids, GREEDY, 4, start_with="th"))
    assert backend.heals_tokens
    assert result.text.startswith("th"), result.text
    fits = backend.healer.allowed("th")
    with torch.inference_mode():
        logits = model(input_ids=torch.tensor([ids])).logits[0, -1]
    assert result.token_ids[0] == max(fits, key=lambda t: float(logits[t]))
    assert result.token_probs[0] > 0.0  # the model's choice among the tokens that fit
    plain = backend.generate(GenerationRequest(ids, GREEDY, 4))
    assert plain.token_ids[0] == int(logits.argmax())
