"""The decoding step compiled ahead of time for this machine (torch.export + AOTInductor).

Eager PyTorch pays a fixed cost per operator; a decoding step of a small model runs about
forty of them per layer, and on a CPU that cost is as large as the arithmetic. This module
traces `fastpath.FastDecoder`'s step (embedding, every layer, the final norm and the
head) into one graph, which AOTInductor compiles into a shared library: the small
operations fuse into a few C++ loops, the packed int4/int8 matmuls stay torch's kernels,
and one call runs the whole step.

The weights are the graph's inputs, not constants: the package holds code only (a few
MiB), and it runs on the very tensors the eager step uses, so no memory is added. The
key/value buffers of `kvcache.GrowingLayer` are inputs too, written in place at the new
position; the buffer's capacity is a dynamic size, so one graph serves every length.

Building takes about a minute on two cores and needs a C++ compiler; `step_build` runs it
once per machine in a low-priority process and keeps the package in `cacheDir`. Loading
it takes milliseconds. A loaded step is checked against the eager one before it is used.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
from pathlib import Path
from typing import Any

import torch

from .fastpath import FastDecoder
from .kvcache import GrowingLayer, new_cache
from .quant import DENSE_FP32, DecodeMatmul, KernelLinear

logger = logging.getLogger(__name__)

FORMAT = 1
"""Bumped whenever the graph's inputs or its computation change (old packages are not loaded)."""
BUFFER_DTYPE = torch.float32
"""The key/value buffers' dtype the graph is built for (the prompt path writes float32)."""
CHECK_STEPS = 3
"""Decoding steps a loaded package must match the eager step on before it is used."""
TABLE_POSITIONS = 16384
"""Positions the rotary tables cover (a longer context decodes eagerly past them)."""


@dataclasses.dataclass(frozen=True)
class _Head:
    matmul: DecodeMatmul
    rescore_top: int
    """Top logits recomputed from the float weights (0: none), as `KernelLinear.forward` does."""


class StepGraph(torch.nn.Module):
    """What is traced: ``forward(token, position, keys, values, weights) -> logits``.

    `token` and `position` are 1-element int64 tensors; `keys`/`values` one buffer per
    layer [1, kv_heads, capacity, head_dim], written at `position`; `weights` is
    `inputs(fast)`, in its order."""

    def __init__(self, fast: FastDecoder) -> None:
        super().__init__()
        self.heads, self.kv, self.d = fast.heads, fast.kv_heads, fast.head_dim
        self.scaling, self.act = fast.scaling, fast.act
        self.eps = [block.eps for block in fast.blocks]
        self.final_eps = fast.norm.variance_epsilon
        # the layout without tensors: the graph reads every tensor from its inputs
        self.layers = [[_shape(m) for m in (b.qkv, b.o, b.gate_up, b.down)] for b in fast.blocks]
        head = _head(fast)
        self.head = dataclasses.replace(head, matmul=_shape(head.matmul))

    def forward(self, token: torch.Tensor, position: torch.Tensor, keys: list[torch.Tensor],
                values: list[torch.Tensor], weights: list[torch.Tensor]) -> torch.Tensor:
        heads, kv, d = self.heads, self.kv, self.d
        taken = iter(weights)
        embed, cos_table, sin_table, final_norm = (next(taken) for _ in range(4))
        length = position.item() + 1
        torch._check(length >= 1)
        torch._check(length <= keys[0].shape[2])
        x = embed.index_select(0, token).float()
        cos, sin = cos_table.index_select(0, position), sin_table.index_select(0, position)
        half = d // 2
        width = x.shape[-1]
        for i, layout in enumerate(self.layers):
            input_norm, post_norm = next(taken), next(taken)
            qkv_m, o_m, gate_up_m, down_m = ((m, _take(taken, m)) for m in layout)
            h = torch.rms_norm(x, (width,), input_norm, self.eps[i])
            qkv = _apply(qkv_m, h).view(heads + 2 * kv, d)
            qk = qkv[:heads + kv]
            qk = qk * cos + qk.roll(half, -1) * sin
            k_buf, v_buf = keys[i], values[i]
            k_buf.index_copy_(2, position, qk[heads:].view(1, kv, 1, d).to(k_buf.dtype))
            v_buf.index_copy_(2, position, qkv[heads + kv:].view(1, kv, 1, d).to(v_buf.dtype))
            q = qk[:heads].view(1, heads, 1, d).to(k_buf.dtype)
            out = torch.nn.functional.scaled_dot_product_attention(
                q, k_buf.narrow(2, 0, length), v_buf.narrow(2, 0, length), scale=self.scaling, enable_gqa=True)
            x = x + _apply(o_m, out.reshape(1, -1))
            h = torch.rms_norm(x, (width,), post_norm, self.eps[i])
            gate, up = _apply(gate_up_m, h).float().chunk(2, dim=-1)
            x = x + _apply(down_m, self.act(gate) * up)
        h = torch.rms_norm(x, (width,), final_norm, self.final_eps)
        head_tensors = _take(taken, self.head.matmul)
        logits = self.head.matmul.run(h.to(self.head.matmul.dtype), head_tensors[:-1], None).float()
        if self.head.rescore_top:  # the bias comes after, as in KernelLinear.forward
            index = logits.topk(self.head.rescore_top, dim=-1).indices
            exact = torch.einsum("rkd,rd->rk", _float_head(next(taken), embed)[index], h)
            logits = logits.scatter(1, index, exact)
        if head_tensors[-1] is not None:
            logits = logits + head_tensors[-1]
        return logits[0]


def _float_head(tensor: torch.Tensor, embed: torch.Tensor) -> torch.Tensor:
    """The head's float weights: a tensor of their own, or (an empty marker) the embeddings they are tied to."""
    return embed if tensor.numel() == 0 else tensor


def _shape(matmul: DecodeMatmul) -> DecodeMatmul:
    """`matmul` without its tensors, remembering how many there are and whether it has a bias."""
    return dataclasses.replace(matmul, tensors=(None,) * len(matmul.tensors),  # type: ignore[arg-type]
                               bias=None if matmul.bias is None else torch.empty(0))


def _take(taken: Any, shape: DecodeMatmul) -> tuple[Any, ...]:
    """The next tensors of `shape`'s matmul from the inputs: its tensors, then its bias or None."""
    tensors = tuple(next(taken) for _ in shape.tensors)
    return tensors + ((next(taken) if shape.bias is not None else None),)


def _apply(matmul_and_tensors: tuple[DecodeMatmul, tuple[Any, ...]], rows: torch.Tensor) -> torch.Tensor:
    matmul, tensors = matmul_and_tensors
    return matmul.run(rows.to(matmul.dtype), tensors[:-1], tensors[-1])


def _head(fast: FastDecoder) -> _Head:
    head = fast.head
    if isinstance(head, KernelLinear):
        rescore = head.top if head.rescore and head.decode_path != DENSE_FP32 else 0
        return _Head(head.decode_matmul(), rescore)
    return _Head(DecodeMatmul("dense", head.weight.dtype, (head.weight,), head.bias), 0)


def supported(fast: FastDecoder | None) -> bool:
    """True when every matmul of the step is one `DecodeMatmul` (the graph can take it)."""
    if fast is None or not isinstance(fast.head, (KernelLinear, torch.nn.Linear)):
        return False
    if "dynamic" in str(getattr(fast.rotary, "rope_type", "default")):
        return False  # its angles depend on the length seen, not on the position alone
    return all(isinstance(m, DecodeMatmul) for b in fast.blocks for m in (b.qkv, b.o, b.gate_up, b.down))


def inputs(fast: FastDecoder) -> list[torch.Tensor]:
    """The graph's weights, in the order `StepGraph.forward` takes them."""
    count = min(TABLE_POSITIONS, int(getattr(fast.model.config, "max_position_embeddings", 0) or TABLE_POSITIONS))
    positions = torch.arange(count, device=fast.embed.weight.device)
    probe = torch.zeros(1, device=positions.device)
    with torch.no_grad():
        cos, sin = fast.rotary(probe, positions[None])
    cos, sin = cos[0].float().contiguous(), sin[0].float()
    half = sin.shape[-1] // 2
    sin = torch.cat((-sin[:, :half], sin[:, half:]), dim=-1).contiguous()  # as FastDecoder.step signs it
    out = [fast.embed.weight, cos, sin, fast.norm.weight]
    for block in fast.blocks:
        out += [block.input_norm, block.post_norm]
        for matmul in (block.qkv, block.o, block.gate_up, block.down):
            out += [*matmul.tensors, *([matmul.bias] if matmul.bias is not None else [])]
    head = _head(fast)
    out += [*head.matmul.tensors, *([head.matmul.bias] if head.matmul.bias is not None else [])]
    if head.rescore_top:
        tied = fast.head.weight is fast.embed.weight
        out.append(torch.empty(0) if tied else fast.head.weight)
    return out


def package_key(fast: FastDecoder, cpu: str, model: str) -> str:
    """The package's name: everything the compiled code depends on (not the weights' values)."""
    weights = [(tuple(t.shape), str(t.dtype)) for t in inputs(fast)]
    described = json.dumps([FORMAT, torch.__version__, cpu, model, weights], default=str)
    return hashlib.sha256(described.encode()).hexdigest()[:24]


def build(fast: FastDecoder, out: Path) -> None:
    """Trace the step and compile it into the package `out` (minutes; needs a C++ compiler)."""
    cache = _scratch_cache(fast)
    layers = cache.layers
    capacity = torch.export.Dim("capacity", min=2, max=2 ** 20)
    weights = inputs(fast)
    args = (torch.tensor([0]), torch.tensor([layers[0].get_seq_length()]),
            [layer.buffers()[0] for layer in layers], [layer.buffers()[1] for layer in layers], weights)
    dynamic = {"token": None, "position": None, "keys": [{2: capacity}] * len(layers),
               "values": [{2: capacity}] * len(layers), "weights": [None] * len(weights)}
    with torch.inference_mode():
        program = torch.export.export(StepGraph(fast), args, dynamic_shapes=dynamic, strict=False)
        out.parent.mkdir(parents=True, exist_ok=True)
        torch._inductor.aoti_compile_and_package(program, package_path=str(out))


def _scratch_cache(fast: FastDecoder, tokens: int = 8) -> Any:
    """A cache holding a few positions, its buffers with room: the example inputs."""
    cache = new_cache(fast.model)
    with torch.inference_mode():
        fast.model(input_ids=torch.arange(1, tokens + 1)[None], cache=cache, use_cache=True, logits_to_keep=1)
    return cache


class CompiledStep:
    """``step(token, cache) -> logits | None``: the compiled step, or None where it cannot
    run this step (a buffer full or of another dtype: the eager step then runs it)."""

    def __init__(self, fast: FastDecoder, package: Path) -> None:
        self.fast, self.package = fast, package
        self.runner = torch._inductor.aoti_load_package(str(package))
        self.weights = inputs(fast)
        self.steps = 0
        """Steps run compiled (the rest ran eagerly)."""

    def step(self, token: int, cache: Any) -> torch.Tensor | None:
        layers = cache.layers
        at = layers[0].get_seq_length()
        buffers = [layer.buffers() for layer in layers]
        if at < 1 or at >= self.weights[1].shape[0] or any(
                k is None or k.dtype != BUFFER_DTYPE or v.dtype != BUFFER_DTYPE or at >= k.shape[2]
                for k, v in buffers):
            return None
        logits = self.runner(torch.tensor([token]), torch.tensor([at]), [k for k, _ in buffers],
                             [v for _, v in buffers], self.weights)
        for layer in layers:
            layer.appended_in_place()
        self.steps += 1
        return logits

    def agrees(self, tokens: int = CHECK_STEPS) -> bool:
        """The compiled step picks the eager step's tokens, with logits within bf16 rounding."""
        eager, compiled = _scratch_cache(self.fast), _scratch_cache(self.fast)
        if not all(isinstance(layer, GrowingLayer) for layer in compiled.layers):
            return False
        token = 1
        with torch.inference_mode():
            for _ in range(tokens):
                want, got = self.fast.step(token, eager), self.step(token, compiled)
                if got is None or int(got.argmax()) != int(want.argmax()) or \
                        not torch.allclose(got, want, atol=1e-2 * float(want.abs().max()) + 1e-4, rtol=0):
                    return False
                token = int(want.argmax())
        return True
