"""Weight-only quantization for decoding on a CPU.

Decoding one token reads every weight once, so on a CPU its speed is set by the bytes of
weights, not by arithmetic. These layers keep the weights as int4 (groups of 32 with a
scale and an offset each) or int8 (one scale per output row) and multiply with torch's
packed kernels, while activations stay in floating point; that is what keeps the output
close to the float model (quantizing activations too, as dynamic int8 does, is not).

A model dequantized from a 4-bit GGUF (the bundled SmolLM2 is Q4_1: groups of 32, a scale
and a minimum each) goes back to int4 without any loss: ``quantize_model`` checks each
layer's reconstruction error and uses int4 only where it is (near) exact in ``auto``
mode, int8 elsewhere. The output head, usually tied to the embeddings and stored at
higher precision, gets int8.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

import torch
from torch import nn

from .memory import release_freed_memory

logger = logging.getLogger(__name__)

MODES = ("auto", "none", "int8", "int4")
GROUP = 32
EXACT_INT4 = 1e-3
"""Relative reconstruction error under which int4 counts as lossless (a 4-bit source)."""
RESCORE_TOP = 64
"""Logits the output head recomputes exactly (see `RescoredHead`)."""
DENSE_ROWS = 32
"""Inputs with more rows than this (prompt processing) use a dequantized dense matmul:
the packed kernels are tuned for decoding, a few rows at a time. The dense matmul's rows
are padded to a multiple of this: the bf16 matmul library keeps compiled kernels and
buffers per shape, and a prompt's rows take any count, which grew a long-running
server's memory by hundreds of KiB per new count and layer shape (`bench/soak.py`)."""


class QuantizationError(ValueError):
    """A quantization mode that does not exist or cannot apply."""


COMPUTE = torch.bfloat16
"""The packed kernels' fast paths take bf16 activations (their float32 paths are several
times slower than a dense float32 matmul); the layers cast in and out, so the rest of
the model (norms, attention, residuals) keeps its own dtype."""


class _WeightOnlyLinear(nn.Module):
    """Shared forward: decoding rows go through the packed kernel (`_packed_mm`), prompt
    rows through a dense bf16 matmul on the rebuilt weights (`dequantized`)."""

    bias: nn.Parameter | None
    out_features: int

    def dequantized(self) -> torch.Tensor:
        raise NotImplementedError

    def _packed_mm(self, rows: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        shape = x.shape
        flat = x.reshape(-1, shape[-1]).to(COMPUTE)
        rows = flat.shape[0]
        if rows > DENSE_ROWS:
            padded = -(-rows // DENSE_ROWS) * DENSE_ROWS
            if padded != rows:
                flat = nn.functional.pad(flat, (0, 0, 0, padded - rows))
            y = nn.functional.linear(flat, self.dequantized())[:rows]
        else:
            y = self._packed_mm(flat.contiguous())
        y = y.to(x.dtype)
        if self.bias is not None:
            y = y + self.bias
        return y.reshape(*shape[:-1], self.out_features)


class Int8WeightLinear(_WeightOnlyLinear):
    """``y = x @ (q * scale).T + b`` with int8 ``q`` per output row."""

    def __init__(self, weight: torch.Tensor, bias: torch.Tensor | None) -> None:
        super().__init__()
        w = weight.detach().float()
        scale = (w.abs().amax(dim=1) / 127.0).clamp(min=1e-10)
        self.register_buffer("qweight", torch.round(w / scale[:, None]).clamp(-127, 127).to(torch.int8))
        self.register_buffer("scale", scale.to(COMPUTE))
        self.bias = None if bias is None else nn.Parameter(bias.detach(), requires_grad=False)
        self.in_features, self.out_features = w.shape[1], w.shape[0]

    def dequantized(self) -> torch.Tensor:
        return self.qweight.to(COMPUTE) * self.scale[:, None]

    def _packed_mm(self, rows: torch.Tensor) -> torch.Tensor:
        return torch.ops.aten._weight_int8pack_mm(rows, self.qweight, self.scale)


class Int4WeightLinear(_WeightOnlyLinear):
    """``y = x @ w.T + b`` with ``w = q * scale + minimum`` per group of 32 inputs, q in 0..15."""

    def __init__(self, weight: torch.Tensor, bias: torch.Tensor | None, group: int = GROUP,
                 groups: tuple[torch.Tensor, torch.Tensor, torch.Tensor] | None = None) -> None:
        super().__init__()
        w = weight.detach().float()
        n, k = w.shape
        q, scale, minimum = groups if groups is not None else int4_groups(w, group)
        q = q.reshape(n, k)
        packed = torch.ops.aten._convert_weight_to_int4pack_for_cpu(q.to(torch.int32), 1)
        zero = minimum + 8 * scale  # the kernel computes (q - 8) * scale + zero
        self.register_buffer("packed", packed)
        self.register_buffer("scales_zeros", torch.stack([scale, zero], dim=-1).transpose(0, 1).contiguous().to(COMPUTE))
        # for prompt processing (many rows): a dense bf16 matmul on the weights rebuilt from q
        self.register_buffer("q", q.to(torch.uint8))
        self.register_buffer("scale", scale.to(COMPUTE))
        self.register_buffer("minimum", minimum.to(COMPUTE))
        self.bias = None if bias is None else nn.Parameter(bias.detach(), requires_grad=False)
        self.group, self.in_features, self.out_features = group, k, n

    def dequantized(self) -> torch.Tensor:
        n, k, g = self.out_features, self.in_features, self.group
        w = self.q.reshape(n, k // g, g).to(COMPUTE) * self.scale[..., None] + self.minimum[..., None]
        return w.reshape(n, k)

    def _packed_mm(self, rows: torch.Tensor) -> torch.Tensor:
        return torch.ops.aten._weight_int4pack_mm_for_cpu(rows, self.packed, self.group, self.scales_zeros)


class RescoredHead(nn.Module):
    """The output head: int8 logits for the whole vocabulary, then the `top` highest
    recomputed exactly from the float weights. Greedy decoding picks from the exact
    values (the float model's choice unless its best token falls outside the int8 top
    `top`), and sampling sees exact values where its probability mass is. The float
    weights are usually the tied input embeddings, kept anyway for the lookups."""

    def __init__(self, weight: nn.Parameter, bias: torch.Tensor | None, top: int = RESCORE_TOP) -> None:
        super().__init__()
        self.approx = Int8WeightLinear(weight, bias)
        self.reference = weight  # registered as a parameter: tied to the embeddings when they are
        self.reference_bias = None if bias is None else nn.Parameter(bias.detach(), requires_grad=False)
        self.top = min(top, weight.shape[0])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        logits = self.approx(x)
        flat = logits.reshape(-1, logits.shape[-1])
        rows = x.reshape(-1, x.shape[-1]).to(self.reference.dtype)
        index = flat.topk(self.top, dim=-1).indices
        exact = torch.einsum("rkd,rd->rk", self.reference[index], rows)
        if self.reference_bias is not None:
            exact = exact + self.reference_bias[index]
        flat.scatter_(1, index, exact.to(flat.dtype))
        return flat.reshape(logits.shape)


def int4_groups(w: torch.Tensor, group: int = GROUP) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Asymmetric 4-bit quantization per group of `group` inputs: (q [n, k/g, g], scale, minimum)."""
    n, k = w.shape
    groups = w.reshape(n, k // group, group)
    low = groups.amin(dim=-1)
    high = groups.amax(dim=-1)
    scale = ((high - low) / 15.0).clamp(min=1e-10)
    q = torch.round((groups - low[..., None]) / scale[..., None]).clamp(0, 15)
    return q, scale, low


def int4_error(w: torch.Tensor, group: int = GROUP,
               groups: tuple[torch.Tensor, torch.Tensor, torch.Tensor] | None = None) -> float:
    """Relative error of `w` rebuilt from its int4 groups (0 for weights from a 4-bit GGUF)."""
    w = w.detach().float()
    q, scale, low = groups if groups is not None else int4_groups(w, group)
    rebuilt = (q * scale[..., None] + low[..., None]).reshape(w.shape)
    return float((rebuilt - w).norm() / w.norm().clamp(min=1e-12))


@dataclass
class QuantSummary:
    mode: str
    int4_layers: int = 0
    int8_layers: int = 0
    float_layers: int = 0
    bytes_before: int = 0
    bytes_after: int = 0
    notes: list[str] = field(default_factory=list)

    def describe(self) -> str:
        if self.mode == "none":
            return "none"
        return (f"{self.mode}: {self.int4_layers} int4 + {self.int8_layers} int8 layers, "
                f"{self.bytes_before / 2**20:.0f} -> {self.bytes_after / 2**20:.0f} MiB of linear weights")


def resolve_mode(mode: str, device: str) -> str:
    if mode not in MODES:
        raise QuantizationError(f"quantize must be one of {', '.join(MODES)}, not {mode!r}")
    if mode == "auto":
        return "auto" if device.startswith("cpu") else "none"
    if mode != "none" and not device.startswith("cpu"):
        raise QuantizationError(f"weight-only {mode} kernels run on the CPU; on {device} use quantize=none")
    return mode


def quantize_model(model: nn.Module, mode: str, device: str = "cpu") -> QuantSummary:
    """Replace the model's linear layers in place; `auto` picks int4 where it is lossless."""
    mode = resolve_mode(mode, device)
    summary = QuantSummary(mode)
    if mode == "none":
        return summary
    head = model.get_output_embeddings() if hasattr(model, "get_output_embeddings") else None
    for parent_name, parent in list(model.named_modules()):
        for name, child in list(parent.named_children()):
            if not isinstance(child, nn.Linear):
                continue
            replacement = _quantize_layer(child, mode, is_head=child is head, summary=summary)
            setattr(parent, name, replacement)
    _detach_from_file(model)
    release_freed_memory()
    logger.info("weight-only quantization %s", summary.describe())
    return summary


def _detach_from_file(model: nn.Module) -> None:
    """Copy the float tensors that stay (embeddings, norms) into memory of their own: they
    may be views of the memory-mapped checkpoint, which would keep every page of it that
    quantization read resident for as long as the process lives."""
    with torch.no_grad():
        for tensor in [*model.parameters(), *model.buffers()]:
            if tensor.is_floating_point() and tensor.device.type == "cpu":
                tensor.data = tensor.data.clone()



def _quantize_layer(layer: nn.Linear, mode: str, *, is_head: bool, summary: QuantSummary) -> nn.Module:
    w = layer.weight
    summary.bytes_before += w.numel() * w.element_size()
    n, k = w.shape
    groups = int4_groups(w.detach().float()) if not is_head and k % GROUP == 0 and mode in ("auto", "int4") else None
    want_int4 = groups is not None and (mode == "int4" or int4_error(w, groups=groups) < EXACT_INT4)
    if want_int4:
        try:
            q = Int4WeightLinear(w, layer.bias, groups=groups)
            summary.int4_layers += 1
            summary.bytes_after += q.packed.numel() + q.scales_zeros.numel() * q.scales_zeros.element_size()
            summary.bytes_after += q.q.numel()
            return q
        except RuntimeError as exc:  # a shape the packed kernel does not take
            summary.notes.append(f"{n}x{k}: int4 unavailable ({exc}); int8")
    if is_head:
        head = RescoredHead(layer.weight, layer.bias)
        summary.int8_layers += 1
        summary.bytes_after += head.approx.qweight.numel() + head.approx.scale.numel() * 2
        summary.notes.append(f"output head: int8, top {head.top} logits recomputed in float")
        return head
    q8 = Int8WeightLinear(w, layer.bias)
    summary.int8_layers += 1
    summary.bytes_after += q8.qweight.numel() + q8.scale.numel() * q8.scale.element_size()
    return q8
