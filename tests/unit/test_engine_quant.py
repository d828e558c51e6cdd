"""Weight-only quantization: the layers against float linears, the choice `auto` makes,
and the bundled model's next-token agreement with its float32 self."""

from __future__ import annotations


import pytest
import torch
from torch import nn

from distill_lsp.engine import quant
from distill_lsp.engine.quant import (
    DENSE_BF16,
    DENSE_FP32,
    INT4_BF16,
    INT4_FP32,
    INT8_BF16,
    INT8_FP32,
    KernelLinear,
    QuantizationError,
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


def _int4(layer: nn.Linear, int8: bool = False) -> KernelLinear:
    return KernelLinear(layer.weight, layer.bias, int8=int8, int4=quant.int4_groups(layer.weight.detach()))


@pytest.mark.parametrize("path", [DENSE_FP32, DENSE_BF16, INT4_BF16, INT4_FP32])
@pytest.mark.parametrize("rows", [1, 7, quant.DENSE_ROWS + 9])
def test_int4_layer_matches_the_float_layer_on_every_path(rows: int, path: str) -> None:
    layer = _four_bit_linear()
    assert int4_error(layer.weight) < 1e-6
    q = _int4(layer)
    q.use(path, path)
    x = torch.randn(2, rows, 128)
    with torch.no_grad():
        want = layer(x)
        got = q(x)
    assert got.shape == want.shape and got.dtype == want.dtype
    tolerance = 1e-5 if path == DENSE_FP32 else 1e-4 if path == INT4_FP32 else 0.01  # bf16 activations
    assert _close(got, want) < tolerance


@pytest.mark.parametrize("path", [INT8_BF16, INT8_FP32, INT4_BF16])
@pytest.mark.parametrize("rows", [1, quant.DENSE_ROWS + 1])
def test_int8_layer_is_close_to_the_float_layer(rows: int, path: str) -> None:
    """On every packed path: a layer without int4 weights runs the int4 paths on int8."""
    torch.manual_seed(4)
    layer = nn.Linear(96, 40)
    q = KernelLinear(layer.weight, layer.bias, int8=True)
    q.use(path, path)
    x = torch.randn(rows, 96)
    assert _close(q(x), layer(x)) < 0.02


def test_prompt_rows_and_decoding_rows_take_their_own_paths(monkeypatch: pytest.MonkeyPatch) -> None:
    q = _int4(_four_bit_linear())
    q.use(DENSE_FP32, INT4_BF16)
    seen: list[tuple[int, str]] = []
    real_run = KernelLinear.run
    monkeypatch.setattr(KernelLinear, "run", lambda self, rows, path: seen.append((rows.shape[0], path))
                        or real_run(self, rows, path))
    q(torch.randn(quant.DENSE_ROWS + 1, 128))
    q(torch.randn(1, 128))
    q(torch.randn(quant.DENSE_ROWS, 128))
    assert seen == [(quant.DENSE_ROWS + 1, DENSE_FP32), (1, INT4_BF16), (quant.DENSE_ROWS, INT4_BF16)]


def test_keep_drops_what_the_chosen_paths_do_not_use() -> None:
    layer = _four_bit_linear()
    q = _int4(layer, int8=True)
    q.use(DENSE_BF16, INT4_BF16)
    before = q.nbytes()
    q.keep()
    assert q.weight is None and q.bf16 is not None and list(q.codes) == ["int4"]
    assert list(q.scales) == [("int4", torch.bfloat16)]
    assert q.nbytes() < before
    assert q.available(bf16_native=False) == (DENSE_BF16, INT4_BF16, INT4_FP32)
    dense = _int4(layer, int8=True)
    dense.use(DENSE_FP32, DENSE_FP32)
    dense.keep()
    assert not dense.codes and dense.bf16 is None and dense.nbytes() == 64 * 128 * 4
    with pytest.raises(QuantizationError):
        dense.prepare(INT8_BF16)


def test_rescored_head_is_exact_where_it_matters() -> None:
    torch.manual_seed(6)
    head = nn.Linear(48, 500, bias=False)
    rescored = KernelLinear(head.weight, None, int8=True, rescore=True)
    rescored.top = 16
    rescored.use(INT8_BF16, INT8_BF16)
    rescored.keep()
    assert rescored.weight is head.weight  # the float weights stay for rescoring (tied embeddings)
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


def test_auto_uses_int4_only_where_lossless_and_both_for_the_rescored_head() -> None:
    toy = _Toy()
    with torch.no_grad():
        toy.lm_head.weight.add_(torch.randn_like(toy.lm_head.weight) * 0.05)  # not four-bit any more
    summary = quantize_model(toy, "auto", "cpu")
    assert all(isinstance(m, KernelLinear) for m in (toy.exact, toy.other, toy.lm_head))
    assert (set(toy.exact.codes), set(toy.other.codes), set(toy.lm_head.codes)) == \
        ({"int4", "int8"}, {"int8"}, {"int4", "int8"})
    assert toy.lm_head.rescore and not toy.exact.rescore
    assert (summary.int4_layers, summary.int8_layers) == (2, 1)
    assert "int4" in summary.describe()


def test_modes() -> None:
    assert resolve_mode("auto", "cuda:0") == "none"
    assert resolve_mode("auto", "cpu") == "auto"
    with pytest.raises(QuantizationError, match="on the CPU"):
        resolve_mode("int4", "cuda")
    with pytest.raises(QuantizationError, match="one of"):
        resolve_mode("int3", "cpu")
    toy = _Toy()
    assert quantize_model(toy, "none").describe() == "none" and not isinstance(toy.exact, KernelLinear)
    gpu = _Toy()
    quantize_model(gpu, "auto", "cuda:0")
    assert isinstance(gpu.exact, nn.Linear) and not isinstance(gpu.exact, KernelLinear)


def test_dense_bf16_rows_are_padded_to_few_shapes_and_answered_exactly(monkeypatch: pytest.MonkeyPatch) -> None:
    """Prompt rows on dense bf16 are padded to a multiple of DENSE_ROWS (the matmul library
    keeps state per shape; any row count would grow a server's memory), and the padding
    never shows: each row's output is what it is alone in a batch of that size."""
    layer = _four_bit_linear()
    q = _int4(layer)
    q.use(DENSE_BF16, INT4_BF16)
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


@pytest.mark.parametrize("path", [DENSE_FP32, DENSE_BF16, INT8_BF16, INT8_FP32, INT4_BF16, INT4_FP32])
def test_layers_side_by_side_compute_what_they_compute_apart_and_share_their_weights(path: str) -> None:
    torch.manual_seed(8)
    parts = [_int4(_four_bit_linear(n=n, bias=bias), int8=True) for n, bias in ((64, True), (128, False), (32, True))]
    for part in parts:
        part.use(path, path)
        part.keep()
    x = torch.randn(1, 128)
    with torch.no_grad():
        apart = torch.cat([part(x) for part in parts], dim=-1)
        joined = quant.side_by_side(parts)
        assert joined is not None and joined.out_features == 224
        matmul = joined.decode_matmul()
        torch.testing.assert_close(matmul.run(x.to(matmul.dtype)).float(), apart, atol=1e-5, rtol=1e-5)
        torch.testing.assert_close(joined(x), apart, atol=1e-5, rtol=1e-5)
        # the parts still compute the same, now on views of the joined weights (no second copy)
        torch.testing.assert_close(torch.cat([part(x) for part in parts], dim=-1), apart, atol=0, rtol=0)
    stored = {DENSE_FP32: lambda p: p.weight, DENSE_BF16: lambda p: p.bf16}.get(
        path, lambda p: p.codes[p._format(path)[0]])
    assert all(stored(p).untyped_storage().data_ptr() == stored(parts[0]).untyped_storage().data_ptr()
               for p in parts)


def test_layers_on_different_paths_or_int4_blocks_cut_are_not_joined() -> None:
    parts = [_int4(_four_bit_linear(), int8=True) for _ in range(2)]
    parts[0].use(INT4_BF16, INT4_BF16)
    parts[1].use(INT8_BF16, INT8_BF16)
    assert quant.side_by_side(parts) is None
    parts = [_int4(_four_bit_linear(n=n)) for n in (32, 64)]  # int4 rows are packed in blocks of 64
    for part in parts:
        part.use(INT4_BF16, INT4_BF16)
    assert quant.side_by_side(parts) is None


def test_plain_linears_side_by_side_keep_their_biases() -> None:
    torch.manual_seed(9)
    parts = [nn.Linear(16, 8, bias=True), nn.Linear(16, 4, bias=False)]
    x = torch.randn(2, 16)
    with torch.no_grad():
        apart = torch.cat([p(x) for p in parts], dim=-1)
        joined = quant.side_by_side(parts)
        torch.testing.assert_close(joined(x), apart)
        torch.testing.assert_close(torch.cat([p(x) for p in parts], dim=-1), apart)
