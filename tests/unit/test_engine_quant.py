"""Weight-only quantization: the layers against float linears, the choice `auto` makes,
and the bundled model's next-token agreement with its float32 self."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest
import torch
from torch import nn

from distill_lsp.engine import quant
from distill_lsp.engine.quant import (
    Int4WeightLinear,
    Int8WeightLinear,
    QuantizationError,
    RescoredHead,
    int4_error,
    quantize_model,
    resolve_mode,
)


def _four_bit_linear(n: int = 64, k: int = 128, bias: bool = True) -> nn.Linear:
    """A linear whose weights are exactly q * scale + minimum per group of 32 (like Q4_1)."""
    torch.manual_seed(3)
    q = torch.randint(0, 16, (n, k // 32, 32)).float()
    q[..., 0], q[..., 1] = 0, 15
    scale, low = torch.rand(n, k // 32) * 0.05 + 0.01, torch.randn(n, k // 32) * 0.1
    layer = nn.Linear(k, n, bias=bias)
    with torch.no_grad():
        layer.weight.copy_((q * scale[..., None] + low[..., None]).reshape(n, k))
    return layer


def _close(a: torch.Tensor, b: torch.Tensor) -> float:
    return float((a - b).detach().norm() / b.detach().norm())


@pytest.mark.parametrize("rows", [1, 7, quant.DENSE_ROWS + 9])
def test_int4_layer_matches_the_float_layer(rows: int) -> None:
    layer = _four_bit_linear()
    assert int4_error(layer.weight) < 1e-6
    q = Int4WeightLinear(layer.weight, layer.bias)
    x = torch.randn(2, rows, 128)
    assert q(x).shape == layer(x).shape
    assert _close(q(x), layer(x)) < 0.01  # bf16 activations
    torch.testing.assert_close(q.dequantized().float(), layer.weight.detach(), atol=2e-3, rtol=1e-2)


@pytest.mark.parametrize("rows", [1, quant.DENSE_ROWS + 1])
def test_int8_layer_is_close_to_the_float_layer(rows: int) -> None:
    torch.manual_seed(4)
    layer = nn.Linear(96, 40)
    q = Int8WeightLinear(layer.weight, layer.bias)
    x = torch.randn(rows, 96)
    assert _close(q(x), layer(x)) < 0.02


def test_rescored_head_is_exact_where_it_matters() -> None:
    torch.manual_seed(6)
    head = nn.Linear(48, 500, bias=False)
    rescored = RescoredHead(head.weight, None, top=16)
    x = torch.randn(3, 48)
    with torch.no_grad():
        want, got = head(x), rescored(x)
    top = want.topk(8, dim=-1).indices
    torch.testing.assert_close(got.gather(1, top), want.gather(1, top), atol=1e-5, rtol=1e-5)
    assert torch.equal(got.argmax(-1), want.argmax(-1))
    assert (got - want).abs().max() > 1e-4  # the rest are int8 approximations


def test_int4_error_tells_four_bit_weights_from_others() -> None:
    assert int4_error(_four_bit_linear().weight) < quant.EXACT_INT4
    torch.manual_seed(5)
    assert int4_error(torch.randn(64, 128)) > 0.05


class _Toy(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.exact = _four_bit_linear()
        self.other = nn.Linear(128, 64)
        self.lm_head = _four_bit_linear(k=64, bias=False)

    def get_output_embeddings(self) -> nn.Module:
        return self.lm_head


def test_auto_uses_int4_only_where_lossless_and_int8_for_the_head() -> None:
    toy = _Toy()
    summary = quantize_model(toy, "auto", "cpu")
    assert isinstance(toy.exact, Int4WeightLinear)
    assert isinstance(toy.other, Int8WeightLinear)
    assert isinstance(toy.lm_head, RescoredHead)
    assert (summary.int4_layers, summary.int8_layers) == (1, 2)
    assert summary.bytes_after < summary.bytes_before / 2
    assert "int4" in summary.describe()


def test_modes() -> None:
    assert resolve_mode("auto", "cuda:0") == "none"
    assert resolve_mode("auto", "cpu") == "auto"
    with pytest.raises(QuantizationError, match="on the CPU"):
        resolve_mode("int4", "cuda")
    with pytest.raises(QuantizationError, match="one of"):
        resolve_mode("int3", "cpu")
    toy = _Toy()
    assert quantize_model(toy, "none").describe() == "none" and isinstance(toy.exact, nn.Linear)


def test_bundled_model_keeps_its_next_token_choices() -> None:
    """Teacher-forced over real code: the quantized model picks the float model's next
    token almost everywhere (the bundled GGUF is 4-bit, so int4 loses nothing)."""
    from distill_lsp.engine.loader import load_model
    from distill_lsp.engine.resolve import resolve_model
    from distill_lsp.settings import Settings
    from tests.conftest import TEST_CACHE

    loaded = load_model(resolve_model("auto", "cpu"), device="cpu", cache_dir=Settings(cache_dir=str(TEST_CACHE))
                        .resolved_cache_dir())
    reference = loaded.model
    quantized = copy.deepcopy(reference)
    summary = quantize_model(quantized, "auto", "cpu")
    assert summary.int4_layers > 200 and summary.int8_layers == 1
    source = (Path(torch.__file__).parent / "functional.py").read_text()[:6000]
    ids = torch.tensor([loaded.tokenizer(source).input_ids[:400]])
    with torch.inference_mode():
        want = reference(input_ids=ids).logits[0].argmax(-1)
        got = quantized(input_ids=ids).logits[0].argmax(-1)
    agreement = float((want == got).float().mean())
    assert agreement >= 0.95, agreement


def test_dense_rows_are_padded_to_few_shapes_and_answered_exactly(monkeypatch: pytest.MonkeyPatch) -> None:
    """Prompt rows go to the dense matmul padded to a multiple of DENSE_ROWS (the matmul
    library keeps state per shape; any row count would grow a server's memory), and the
    padding never shows: each row's output is what it is alone in a batch of that size."""
    layer = _four_bit_linear()
    q = Int4WeightLinear(layer.weight, layer.bias)
    seen: list[int] = []
    real_linear = nn.functional.linear

    def spy(x: torch.Tensor, w: torch.Tensor, b: torch.Tensor | None = None) -> torch.Tensor:
        seen.append(x.shape[0])
        return real_linear(x, w, b)

    monkeypatch.setattr(quant.nn.functional, "linear", spy)
    x = torch.randn(quant.DENSE_ROWS * 2 + 3, 128)
    out = q(x)
    assert seen == [quant.DENSE_ROWS * 3] and out.shape == (x.shape[0], 64)
    for rows in range(quant.DENSE_ROWS + 1, quant.DENSE_ROWS * 4 + 1, 7):
        q(torch.randn(rows, 128))
    assert {n % quant.DENSE_ROWS for n in seen} == {0} and len(set(seen)) <= 3
    alone = q(torch.cat([x[:5], torch.zeros(quant.DENSE_ROWS * 2 + 3 - 5, 128)]))[:5]
    torch.testing.assert_close(out[:5], alone)
