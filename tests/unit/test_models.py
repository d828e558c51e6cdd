"""Model resolution and loading with real (small) models: the bundled GGUF through the
conversion cache, and the reference architecture (Qwen2) from a hub-style cache."""

from __future__ import annotations

import pytest

from distill_lsp.engine.loader import conversion_dir, load_model
from distill_lsp.engine.local import LocalBackend
from distill_lsp.engine.resolve import REFERENCE_MODEL, resolve_model
from distill_lsp.engine.types import GenerationRequest, ModelLoadError, ModelNotFound
from distill_lsp.profiles import BUILTIN_PROFILES
from tests.fixtures.models import TINY_REPO, hub_cache_with_tiny_qwen2


@pytest.fixture(scope="module")
def hub(tmp_path_factory):
    return hub_cache_with_tiny_qwen2(tmp_path_factory.mktemp("hub"))


@pytest.fixture
def use_hub(hub, monkeypatch):
    from huggingface_hub import constants

    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(hub))
    return hub


def test_auto_without_cuda_is_the_bundled_model() -> None:
    spec = resolve_model("auto", "cpu")
    assert spec.source == "bundled" and spec.is_gguf
    assert "no CUDA" in spec.reason


def test_hub_id_resolves_offline_from_the_cache(use_hub) -> None:
    spec = resolve_model(TINY_REPO)
    assert spec.source == "hf-cache" and (spec.path / "config.json").is_file()
    with pytest.raises(ModelNotFound, match="not in the local Hugging Face cache"):
        resolve_model(REFERENCE_MODEL)


@pytest.mark.parametrize("setting, message", [
    ("/no/such/model.gguf", "does not exist"),
    ("not a model", "neither a file, a directory, nor a Hugging Face id"),
])
def test_unresolvable_settings(setting, message) -> None:
    with pytest.raises(ModelNotFound, match=message):
        resolve_model(setting)


def test_tiny_qwen2_loads_and_generates_through_the_real_path(use_hub, tmp_path) -> None:
    loaded = load_model(resolve_model(TINY_REPO), device="cpu", cache_dir=tmp_path)
    assert type(loaded.model).__name__ == "Qwen2ForCausalLM"
    assert loaded.info.model_type == "qwen2" and loaded.info.source == "hf-cache"
    backend = LocalBackend(loaded, threads=1)
    result = backend.generate(GenerationRequest(backend.encode("def f():"), BUILTIN_PROFILES["greedy"], 8))
    assert result.new_tokens > 0 and result.prompt_tokens > 0


def test_bad_model_directory_is_a_clear_error(tmp_path) -> None:
    (tmp_path / "config.json").write_text("{ not json")
    with pytest.raises(ModelLoadError, match="could not load"):
        load_model(resolve_model(str(tmp_path)), device="cpu", cache_dir=tmp_path / "cache")


def test_gguf_conversion_cache(tmp_path) -> None:
    spec = resolve_model("auto", "cpu")
    first = load_model(spec, device="cpu", cache_dir=tmp_path)
    assert not first.info.from_conversion_cache
    assert (conversion_dir(spec.path, tmp_path) / "model.safetensors").is_file()
    second = load_model(spec, device="cpu", cache_dir=tmp_path)
    assert second.info.from_conversion_cache
    # same weights either way: greedy output agrees
    a, b = LocalBackend(first, 1), LocalBackend(second, 1)
    prompt = a.encode("def add(a, b):\n    return")
    req = lambda: GenerationRequest(prompt, BUILTIN_PROFILES["greedy"], 8)
    assert a.generate(req()).text == b.generate(req()).text
