"""Linear layers that can run several ways on a CPU ("paths"), and weight-only quantization.

Which path is fastest depends on the CPU: a dense bf16 matmul is fast only where bf16 is
native (AVX-512 bf16, AMX), the packed int8/int4 kernels only take their fast route with
bf16 activations, and decoding (one row, bound by the bytes of weights read) favours
other kernels than a prompt (many rows, bound by arithmetic). So every linear layer
becomes a `KernelLinear` that holds what each candidate path needs; `engine.kernels`
measures the candidates on the machine, picks one path for prompt rows and one for
decoding rows, and `KernelLinear.keep` drops the rest. Nothing is rebuilt in a forward.

Paths:
- ``dense-fp32``: the float32 weights (the model as loaded);
- ``dense-bf16``: a bf16 copy (offered only where bf16 is native);
- ``int8-bf16`` / ``int8-fp32``: torch's weight-only packed int8 kernel (a scale per
  output row), with bf16 or float32 activations;
- ``int4-bf16`` / ``int4-fp32``: the packed int4 kernel (groups of 32 with a scale and an
  offset each); layers without int4 weights run these on their int8 ones.

A model dequantized from a 4-bit GGUF (the bundled SmolLM2 is Q4_1: groups of 32, a scale
and a minimum each) goes back to int4 without any loss: ``auto`` offers int4 only where a
layer's reconstruction is (near) exact, and int8 everywhere (on a CPU without fast int4
kernels, int8 decodes faster). The output head keeps its float
weights (usually tied to the embeddings) and recomputes its top `RESCORE_TOP` logits
from them whenever it runs on another path, so it is offered int4 even where that is lossy.
It sees one row per forward (the last position's), so it runs on the decoding path always.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Sequence
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
"""Logits the output head recomputes exactly when it runs on a quantized or bf16 path."""
DENSE_ROWS = 32
"""Inputs with more rows than this are prompt rows (they take the prompt path). The dense
bf16 matmul's rows are padded to a multiple of this: the bf16 matmul library keeps
compiled kernels and buffers per shape, and a prompt's rows take any count, which grew a
long-running server's memory by hundreds of KiB per new count and layer shape."""

INT4_BLOCK_ROWS = 64
"""torch's CPU int4 packing lays rows out in blocks of this many."""

DENSE_FP32, DENSE_BF16 = "dense-fp32", "dense-bf16"
INT8_BF16, INT8_FP32, INT4_BF16, INT4_FP32 = "int8-bf16", "int8-fp32", "int4-bf16", "int4-fp32"
PATHS = (DENSE_FP32, DENSE_BF16, INT8_BF16, INT8_FP32, INT4_BF16, INT4_FP32)
_ACTIVATIONS = {"bf16": torch.bfloat16, "fp32": torch.float32}


class QuantizationError(ValueError):
    """A quantization mode or kernel path that does not exist or cannot apply."""


@dataclass(frozen=True)
class DecodeMatmul:
    """One decoding matmul as data. Its input must be in `dtype` already (a decode step
    converts each input once, not once per layer that reads it); the result is in that
    dtype, or float32 where there is a bias (added in float32, as `KernelLinear.forward`)."""

    kind: str
    """"dense" (tensors: the weight), "int8" or "int4" (tensors: packed codes, scales)."""
    dtype: torch.dtype
    tensors: tuple[torch.Tensor, ...]
    bias: torch.Tensor | None = None

    def run(self, rows: torch.Tensor, tensors: Sequence[torch.Tensor] | None = None,
            bias: torch.Tensor | None = None) -> torch.Tensor:
        """`rows @ weight.T (+ bias)`; a compiled graph passes the tensors it was given."""
        a, *rest = self.tensors if tensors is None else tensors
        if self.kind == "dense":
            y = nn.functional.linear(rows, a)
        elif self.kind == "int8":
            y = torch.ops.aten._weight_int8pack_mm(rows, a, rest[0])
        else:
            y = torch.ops.aten._weight_int4pack_mm_for_cpu(rows, a, GROUP, rest[0])
        bias = self.bias if tensors is None else bias
        return y if bias is None else y.float() + bias


class KernelLinear(nn.Module):
    """``y = x @ w.T + b``, run on `prompt_path` for prompt rows and `decode_path` for the
    few rows of decoding; `force` makes every row take one path (for measuring). A layer
    without int4 weights runs the int4 paths on its int8 ones."""

    def __init__(self, weight: torch.Tensor, bias: torch.Tensor | None, *, int8: bool = False,
                 int4: tuple[torch.Tensor, torch.Tensor, torch.Tensor] | None = None, rescore: bool = False) -> None:
        super().__init__()
        self.out_features, self.in_features = weight.shape
        self.rescore = rescore
        self.top = min(RESCORE_TOP, self.out_features)
        # the float weights stay registered as they were (a head's are tied to the embeddings)
        self.weight: torch.Tensor | None = weight
        self.bias = None if bias is None else nn.Parameter(bias.detach().float(), requires_grad=False)
        self.bf16: torch.Tensor | None = None
        self.codes: dict[str, torch.Tensor] = {}
        """Packed weights by format: "int8" [n, k] int8 codes, "int4" torch's packed layout."""
        self.scales: dict[tuple[str, torch.dtype], torch.Tensor] = {}
        """Scales (int8) or scales and zeros (int4) by format and activation dtype."""
        if int8:
            self._pack_int8(weight.detach().float())
        if int4 is not None:
            self._pack_int4(int4)
        self.prompt_path = self.decode_path = DENSE_FP32
        self.force: str | None = None

    # -- building ------------------------------------------------------------------------------

    def _pack_int8(self, w: torch.Tensor) -> None:
        scale = (w.abs().amax(dim=1) / 127.0).clamp(min=1e-10)
        self.codes["int8"] = torch.round(w / scale[:, None]).clamp(-127, 127).to(torch.int8)
        self.scales["int8", torch.float32] = scale

    def _pack_int4(self, groups: tuple[torch.Tensor, torch.Tensor, torch.Tensor]) -> None:
        q, scale, minimum = groups
        q = q.reshape(self.out_features, self.in_features)
        self.codes["int4"] = torch.ops.aten._convert_weight_to_int4pack_for_cpu(q.to(torch.int32), 1)
        zero = minimum + 8 * scale  # the kernel computes (q - 8) * scale + zero
        self.scales["int4", torch.float32] = torch.stack([scale, zero], dim=-1).transpose(0, 1).contiguous()

    def _format(self, path: str) -> tuple[str, torch.dtype]:
        """The packed format and activation dtype `path` runs on in this layer."""
        kind, act = path.split("-")
        if kind == "int4" and "int4" not in self.codes:
            kind = "int8"
        return kind, _ACTIVATIONS[act]

    def available(self, bf16_native: bool = True) -> tuple[str, ...]:
        """The paths this layer can run (dense-bf16 only where bf16 is native)."""
        paths = [DENSE_FP32] if self.weight is not None else []
        if (bf16_native and self.weight is not None) or self.bf16 is not None:
            paths.append(DENSE_BF16)
        if "int8" in self.codes:
            paths += [INT8_BF16, INT8_FP32]
        if "int8" in self.codes or "int4" in self.codes:
            paths += [INT4_BF16, INT4_FP32]
        return tuple(paths)

    def prepare(self, path: str) -> None:
        """Build what `path` needs (a bf16 copy, bf16 scales) once, before it runs."""
        if path == DENSE_BF16 and self.bf16 is None:
            if self.weight is None:
                raise QuantizationError("dense-bf16 needs the float weights, which were dropped")
            self.bf16 = self.weight.detach().to(torch.bfloat16)
        elif path not in (DENSE_FP32, DENSE_BF16):
            kind, dtype = self._format(path)
            if (kind, dtype) in self.scales:
                return
            if (kind, torch.float32) not in self.scales:
                raise QuantizationError(f"{path} needs {kind} weights; this layer has none (or dropped them)")
            self.scales[kind, dtype] = self.scales[kind, torch.float32].to(dtype)

    def use(self, prompt: str, decode: str) -> None:
        for path in {prompt, decode}:
            self.prepare(path)
        self.prompt_path, self.decode_path, self.force = prompt, decode, None

    def keep(self) -> None:
        """Drop every representation the two chosen paths do not use."""
        used = {self.prompt_path, self.decode_path}
        if DENSE_BF16 not in used:
            self.bf16 = None
        formats = {self._format(p) for p in used if p not in (DENSE_FP32, DENSE_BF16)}
        self.codes = {kind: codes for kind, codes in self.codes.items() if any(kind == f[0] for f in formats)}
        self.scales = {key: scales for key, scales in self.scales.items() if key in formats}
        if DENSE_FP32 not in used and not self.rescore:
            self.weight = None

    def nbytes(self) -> int:
        """Bytes of weights this layer keeps (a head's float weights are the embeddings: not counted)."""
        tensors = [*self.codes.values(), *self.scales.values()]
        if self.bf16 is not None:
            tensors.append(self.bf16)
        if self.weight is not None and not self.rescore:
            tensors.append(self.weight)
        return sum(t.numel() * t.element_size() for t in tensors)

    # -- running -------------------------------------------------------------------------------

    def run(self, rows: torch.Tensor, path: str) -> torch.Tensor:
        """`rows` [r, in] through `path`, in float32, without the bias."""
        if path == DENSE_FP32:
            return nn.functional.linear(rows, self.weight)  # type: ignore[arg-type]
        if path == DENSE_BF16:
            count = rows.shape[0]
            padded = -(-count // DENSE_ROWS) * DENSE_ROWS if count > DENSE_ROWS else count
            x = rows.to(torch.bfloat16)
            if padded != count:
                x = nn.functional.pad(x, (0, 0, 0, padded - count))
            return nn.functional.linear(x, self.bf16)[:count].float()
        packed = self._packed(path)
        return packed.run(rows.to(packed.dtype).contiguous()).float()

    def _packed(self, path: str) -> DecodeMatmul:
        """An int8/int4 path's packed kernel, without the bias."""
        kind, dtype = self._format(path)
        return DecodeMatmul(kind, dtype, (self.codes[kind], self.scales[kind, dtype]))

    def decode_matmul(self) -> DecodeMatmul:
        """The decoding path as data (kernel, activation dtype, tensors, bias): the eager
        decode step and the compiled one run it the same way, through `DecodeMatmul.run`."""
        path = self.decode_path
        if path in (DENSE_FP32, DENSE_BF16):
            weight = self.weight if path == DENSE_FP32 else self.bf16
            return DecodeMatmul("dense", weight.dtype, (weight,), self.bias)  # type: ignore[union-attr]
        return dataclasses.replace(self._packed(path), bias=self.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        shape = x.shape
        rows = x.reshape(-1, shape[-1]).float()
        path = self.force or (self.prompt_path if rows.shape[0] > DENSE_ROWS else self.decode_path)
        y = self.run(rows, path)
        if self.rescore and path != DENSE_FP32:
            y = self._rescored(y, rows)
        if self.bias is not None:
            y = y + self.bias
        return y.reshape(*shape[:-1], self.out_features).to(x.dtype)

    def _rescored(self, approx: torch.Tensor, rows: torch.Tensor) -> torch.Tensor:
        """The `top` highest approximate logits recomputed from the float weights: greedy
        decoding picks the float model's token unless it falls outside that top, and
        sampling sees exact values where its probability mass is."""
        index = approx.topk(self.top, dim=-1).indices
        exact = torch.einsum("rkd,rd->rk", self.weight[index], rows)  # type: ignore[index]
        return approx.scatter(1, index, exact)


def side_by_side(layers: list[nn.Module]) -> nn.Module | None:
    """One layer computing `layers` at once for decoding rows (their outputs concatenated,
    as q/k/v or gate/up read the same input): one kernel call instead of several. The
    originals' weights become views of the joined ones, so memory grows only by the small
    scales. None when the layers cannot be joined (different paths or formats)."""
    if all(type(layer) is nn.Linear for layer in layers):
        joined = nn.Linear(layers[0].in_features, sum(layer.out_features for layer in layers),
                           bias=any(layer.bias is not None for layer in layers),
                           device=layers[0].weight.device, dtype=layers[0].weight.dtype)
        joined.weight = nn.Parameter(_joined([layer.weight for layer in layers]), requires_grad=False)
        if joined.bias is not None:
            joined.bias = nn.Parameter(_joined_bias(layers).to(joined.weight), requires_grad=False)
        return joined
    if not all(isinstance(layer, KernelLinear) and not layer.rescore and layer.force is None for layer in layers):
        return None
    path = layers[0].decode_path
    if any(layer.decode_path != path for layer in layers):
        return None
    joined = KernelLinear(torch.empty(0, layers[0].in_features), None)
    joined.weight = None
    joined.out_features = sum(layer.out_features for layer in layers)
    joined.prompt_path = joined.decode_path = path
    if path == DENSE_FP32:
        joined.weight = _joined([layer.weight for layer in layers])
    elif path == DENSE_BF16:
        joined.bf16 = _joined([layer.bf16 for layer in layers])
    else:
        formats = {layer._format(path) for layer in layers}
        if len(formats) != 1:
            return None
        kind, dtype = formats.pop()
        if kind == "int4" and any(layer.out_features % INT4_BLOCK_ROWS for layer in layers[:-1]):
            return None
        joined.codes[kind] = _joined([layer.codes[kind] for layer in layers])
        joined.scales[kind, dtype] = torch.cat([layer.scales[kind, dtype] for layer in layers],
                                               dim=1 if kind == "int4" else 0)
    if any(layer.bias is not None for layer in layers):
        joined.bias = nn.Parameter(_joined_bias(layers), requires_grad=False)
    return joined


def _joined(tensors: list) -> torch.Tensor:
    """`tensors` stacked by rows, each replaced in place (in its layer) by a view of the result.
    Packed int4 weights join the same way where every part but the last has whole blocks of
    `INT4_BLOCK_ROWS` rows: packing the joined codes then gives the same bytes."""
    joined = torch.cat([t.detach() for t in tensors])
    start = 0
    for tensor in tensors:
        rows = tensor.shape[0]
        tensor.data = joined[start:start + rows]
        start += rows
    return joined


def _joined_bias(layers: list[nn.Module]) -> torch.Tensor:
    return torch.cat([layer.bias.detach().float().cpu() if layer.bias is not None
                      else torch.zeros(layer.out_features) for layer in layers])


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
    bytes_before: int = 0
    notes: list[str] = field(default_factory=list)

    def describe(self) -> str:
        if self.mode == "none":
            return "none"
        return f"{self.mode}: {self.int4_layers} int4 + {self.int8_layers} int8 layers"


def resolve_mode(mode: str, device: str) -> str:
    if mode not in MODES:
        raise QuantizationError(f"quantize must be one of {', '.join(MODES)}, not {mode!r}")
    if mode == "auto":
        return "auto" if device.startswith("cpu") else "none"
    if mode != "none" and not device.startswith("cpu"):
        raise QuantizationError(f"weight-only {mode} kernels run on the CPU; on {device} use quantize=none")
    return mode


def kernel_layers(model: nn.Module) -> list[KernelLinear]:
    return [m for m in model.modules() if isinstance(m, KernelLinear)]


def quantize_model(model: nn.Module, mode: str, device: str = "cpu") -> QuantSummary:
    """Make every linear layer a `KernelLinear`, packed as `mode` says (`auto`: int4 where
    lossless, else int8). All layers start on dense-fp32; `engine.kernels` chooses their
    paths. `none` (and any GPU) leaves the model as loaded: plain float, no choice to make."""
    mode = resolve_mode(mode, device)
    summary = QuantSummary(mode)
    if mode == "none":
        return summary
    head = model.get_output_embeddings() if hasattr(model, "get_output_embeddings") else None
    with torch.no_grad():
        for parent in list(model.modules()):
            for name, child in list(parent.named_children()):
                if isinstance(child, nn.Linear):
                    setattr(parent, name, _kernel_layer(child, mode, is_head=child is head, summary=summary))
    _detach_from_file(model)
    release_freed_memory()
    logger.info("weight-only quantization %s", summary.describe())
    return summary


def _kernel_layer(layer: nn.Linear, mode: str, *, is_head: bool, summary: QuantSummary) -> KernelLinear:
    """int8 weights for every layer (auto, int8), int4 where lossless (auto) or always (int4);
    the output head gets both, lossy or not: its top logits are recomputed from its float weights."""
    w = layer.weight
    summary.bytes_before += w.numel() * w.element_size()
    n, k = w.shape
    groups = int4_groups(w.detach().float()) if k % GROUP == 0 and mode in ("auto", "int4") else None
    if groups is not None and not (mode == "int4" or is_head or int4_error(w, groups=groups) < EXACT_INT4):
        groups = None
    int8 = mode in ("auto", "int8") or groups is None
    if groups is not None:
        try:
            quantized = KernelLinear(w, layer.bias, int8=int8 or is_head, int4=groups, rescore=is_head)
            summary.int4_layers += 1
            return quantized
        except RuntimeError as exc:  # a shape the packed kernel does not take
            summary.notes.append(f"{n}x{k}: int4 unavailable ({exc}); int8")
    summary.int8_layers += 1
    return KernelLinear(w, layer.bias, int8=True, rescore=is_head)


def _detach_from_file(model: nn.Module) -> None:
    """Copy the float tensors that stay into memory of their own: they may be views of the
    memory-mapped checkpoint, which would keep every page of it that quantization read
    resident for as long as the process lives."""
    for tensor in [*model.parameters(), *model.buffers()]:
        if tensor.is_floating_point() and tensor.device.type == "cpu":
            tensor.data = tensor.data.clone()
