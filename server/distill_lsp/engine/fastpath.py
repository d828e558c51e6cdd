"""A lean decode step for the Llama family (Llama, Qwen2, Mistral): one token through
the model's own weights without transformers' per-call plumbing (mask building,
attention dispatch, keyword threading), which costs as much as the arithmetic for a
small model on a CPU.

The step is written once, as `StepGraph.forward`: a function of the token, its position,
the key/value buffers and the weights, all tensors. The eager decoder calls it directly;
`engine.compiled` traces the same function into a compiled graph. It uses the model's own
weights (plain or quantized linears, joined where they read the same input), writes the
same key/value cache the prompt was run into, and attends with one query. Prompts still
run through the model's own forward. ``supports`` says when this applies; otherwise the
backend decodes through the model's forward too, as it does for caches with sliding-window layers.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable
from typing import Any

import torch
from transformers.activations import ACT2FN

from .kvcache import GrowingLayer
from .quant import DENSE_FP32, DecodeMatmul, KernelLinear, side_by_side

logger = logging.getLogger(__name__)

FAMILY = ("llama", "qwen2", "mistral")
TABLE_POSITIONS = 16384
"""Positions the rotary tables cover; a longer context decodes through the model's forward."""
COMPILED_BUFFERS = torch.float32
"""The key/value buffers' dtype a compiled step is built for (the prompt path writes float32)."""


def supports(model: Any) -> bool:
    """True when `model` is a plain decoder of the Llama family this step reproduces."""
    config = model.config
    if getattr(config, "model_type", "") not in FAMILY:
        return False
    inner = getattr(model, "model", None)
    layers = getattr(inner, "layers", None)
    if layers is None or not hasattr(inner, "rotary_emb") or not hasattr(model, "lm_head"):
        return False
    if "dynamic" in str(getattr(inner.rotary_emb, "rope_type", "default")):
        return False  # its angles depend on the length seen, not on the position alone
    attn = layers[0].self_attn
    norms = (layers[0].input_layernorm, layers[0].post_attention_layernorm, inner.norm)
    if not all(hasattr(norm, "variance_epsilon") and hasattr(norm, "weight") for norm in norms):
        return False
    return all(hasattr(attn, name) for name in ("q_proj", "k_proj", "v_proj", "o_proj", "scaling")) \
        and not hasattr(attn, "q_norm") and getattr(config, "pretraining_tp", 1) == 1


Matmul = DecodeMatmul | Callable[[torch.Tensor], torch.Tensor]
"""A decoding matmul: as data where the layers allow (what a compiled step needs), else
the layers' own call."""


@dataclasses.dataclass
class _Block:
    """One decoder layer as the step runs it: q/k/v joined into one matmul, gate/up into another."""

    input_norm: torch.Tensor
    post_norm: torch.Tensor
    eps: float
    qkv: Matmul
    o: Matmul
    gate_up: Matmul
    down: Matmul

    def matmuls(self) -> tuple[Matmul, ...]:
        return self.qkv, self.o, self.gate_up, self.down


@dataclasses.dataclass(frozen=True)
class _Head:
    matmul: Matmul
    rescore_top: int
    """Top logits recomputed from the float weights (0: none), as `KernelLinear.forward` does."""
    float_weight: torch.Tensor | None = None


class FastDecoder:
    """``step(token, cache) -> logits`` for one new token at the end of `cache`."""

    def __init__(self, model: Any) -> None:
        config = model.config
        self.model = model
        self.embed = model.model.embed_tokens.weight
        self.heads = config.num_attention_heads
        self.kv_heads = config.num_key_value_heads
        self.head_dim = getattr(config, "head_dim", None) or config.hidden_size // config.num_attention_heads
        self.scaling = model.model.layers[0].self_attn.scaling
        self.act = ACT2FN[config.hidden_act]
        self.final_norm, self.final_eps = model.model.norm.weight, model.model.norm.variance_epsilon
        self.blocks = [self._block(layer) for layer in model.model.layers[:config.num_hidden_layers]]
        self.head = _head(model.lm_head)
        self.cos, self.sin = _rotary_tables(model, self.embed.device)
        self.graph = StepGraph(self)
        self.weights = self.inputs()
        """The graph's tensor inputs besides the token, position and buffers (the same tensors as the model's)."""
        self.compilable = all(isinstance(m, DecodeMatmul) for b in self.blocks for m in b.matmuls()) \
            and isinstance(self.head.matmul, DecodeMatmul)
        """Every matmul is data: the step can be traced into a graph whose inputs are all tensors."""
        self.compiled: Callable[..., torch.Tensor] | None = None
        """`graph` compiled (`engine.compiled`), run in its place once a package is loaded and checked."""
        self.compiled_steps = 0

    @staticmethod
    def _block(layer: Any) -> _Block:
        attn, mlp = layer.self_attn, layer.mlp
        return _Block(layer.input_layernorm.weight, layer.post_attention_layernorm.weight,
                      layer.input_layernorm.variance_epsilon, _matmul([attn.q_proj, attn.k_proj, attn.v_proj]),
                      _matmul([attn.o_proj]), _matmul([mlp.gate_proj, mlp.up_proj]), _matmul([mlp.down_proj]))

    def inputs(self) -> list[torch.Tensor]:
        """The weights in the order `StepGraph.forward` takes them."""
        out = [self.embed, self.cos, self.sin, self.final_norm]
        for block in self.blocks:
            out += [block.input_norm, block.post_norm]
            for matmul in block.matmuls():
                out += _tensors(matmul)
        out += _tensors(self.head.matmul)
        if self.head.rescore_top:
            tied = self.head.float_weight is self.embed
            out.append(torch.empty(0) if tied else self.head.float_weight)  # type: ignore[arg-type]
        return out

    def can_use(self, cache: Any) -> bool:
        return all(isinstance(layer, GrowingLayer) for layer in cache.layers) \
            and cache.get_seq_length() < self.cos.shape[0]

    def step(self, token: int, cache: Any) -> torch.Tensor:
        """The step, compiled where a compiled graph is loaded and the buffers are the float32
        ones it was built for (a model loaded in another dtype decodes through `graph`)."""
        compiled = self.compiled
        if compiled is not None and cache.layers[0].buffers()[0].dtype == COMPILED_BUFFERS:
            self.compiled_steps += 1
            return self.run(compiled, token, cache)
        return self.run(self.graph, token, cache)

    def run(self, step: Callable[..., torch.Tensor], token: int, cache: Any) -> torch.Tensor:
        """`step` (`graph` or its compiled form) for `token` at the end of `cache`, into room made for it."""
        device = self.embed.device
        at = cache.get_seq_length()
        for layer in cache.layers:
            layer.make_room()
        logits = step(torch.tensor([token], device=device), torch.tensor([at], device=device),
                      [layer.buffers()[0] for layer in cache.layers],
                      [layer.buffers()[1] for layer in cache.layers], self.weights)
        for layer in cache.layers:
            layer.appended_in_place()
        return logits


class StepGraph(torch.nn.Module):
    """The step: ``forward(token, position, keys, values, weights) -> logits``.

    `token` and `position` are 1-element int64 tensors; `keys`/`values` one buffer per
    layer [1, kv_heads, capacity, head_dim] with room at `position`, written there;
    `weights` is `FastDecoder.inputs()`, in its order."""

    def __init__(self, fast: FastDecoder) -> None:
        super().__init__()
        self.heads, self.kv, self.d = fast.heads, fast.kv_heads, fast.head_dim
        self.scaling, self.act, self.final_eps = fast.scaling, fast.act, fast.final_eps
        self.eps = [block.eps for block in fast.blocks]
        # the layout without tensors: every tensor comes from the inputs
        self.layers = [[_shape(m) for m in b.matmuls()] for b in fast.blocks]
        self.head = dataclasses.replace(fast.head, matmul=_shape(fast.head.matmul), float_weight=None)

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
        half, width = d // 2, x.shape[-1]
        for i, layout in enumerate(self.layers):
            input_norm, post_norm = next(taken), next(taken)
            qkv_m, o_m, gate_up_m, down_m = ((m, _take(taken, m)) for m in layout)
            h = torch.rms_norm(x, (width,), input_norm, self.eps[i])
            qkv = _apply(qkv_m, h).view(heads + 2 * kv, d)
            qk = qkv[:heads + kv]
            qk = qk * cos + qk.roll(half, -1) * sin  # rotate_half(q) * sin == roll(q) * (sin, signed)
            k_buf, v_buf = keys[i], values[i]
            k_buf.index_copy_(2, position, qk[heads:].view(1, kv, 1, d).to(k_buf.dtype))
            v_buf.index_copy_(2, position, qkv[heads + kv:].view(1, kv, 1, d).to(v_buf.dtype))
            q = qk[:heads].view(1, heads, 1, d).to(k_buf.dtype)
            out = torch.nn.functional.scaled_dot_product_attention(
                q, k_buf.narrow(2, 0, length), v_buf.narrow(2, 0, length), scale=self.scaling, enable_gqa=True)
            x = x + _apply(o_m, out.reshape(1, -1))
            h = torch.rms_norm(x, (width,), post_norm, self.eps[i])
            gate, up = _apply(gate_up_m, h).float().chunk(2, dim=-1)  # the activation in float32
            x = x + _apply(down_m, self.act(gate) * up)
        h = torch.rms_norm(x, (width,), final_norm, self.final_eps)
        head, head_tensors = self.head.matmul, _take(taken, self.head.matmul)
        bias = head_tensors[-1] if head_tensors else None
        logits = (head.run(h.to(head.dtype), head_tensors[:-1], None) if isinstance(head, DecodeMatmul)
                  else head(h)).float()
        if self.head.rescore_top:  # the bias comes after, as in KernelLinear.forward
            index = logits.topk(self.head.rescore_top, dim=-1).indices
            exact = torch.einsum("rkd,rd->rk", _float_head(next(taken), embed)[index], h)
            logits = logits.scatter(1, index, exact)
        if bias is not None:
            logits = logits + bias
        return logits[0]


def _rotary_tables(model: Any, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    """cos and (signed for `roll`) sin of every position the step serves, from the model's own rotary embedding."""
    config = model.config
    count = min(TABLE_POSITIONS, int(getattr(config, "max_position_embeddings", 0) or TABLE_POSITIONS))
    positions = torch.arange(count, device=device)
    with torch.no_grad():
        cos, sin = model.model.rotary_emb(torch.zeros(1, device=device), positions[None])
    cos, sin = cos[0].float().contiguous(), sin[0].float()
    half = sin.shape[-1] // 2
    return cos, torch.cat((-sin[:, :half], sin[:, half:]), dim=-1).contiguous()


def _head(head: Any) -> _Head:
    if isinstance(head, KernelLinear):
        rescore = head.top if head.rescore and head.decode_path != DENSE_FP32 else 0
        return _Head(head.decode_matmul(), rescore, head.weight)
    if type(head) is torch.nn.Linear:
        return _Head(DecodeMatmul("dense", head.weight.dtype, (head.weight,), head.bias), 0)
    return _Head(head, 0)


def _float_head(tensor: torch.Tensor, embed: torch.Tensor) -> torch.Tensor:
    """The head's float weights: a tensor of their own, or (an empty marker) the embeddings they are tied to."""
    return embed if tensor.numel() == 0 else tensor


def _tensors(matmul: Matmul) -> list[torch.Tensor]:
    """What `matmul` takes from the inputs: its tensors and bias (a module call takes none)."""
    if not isinstance(matmul, DecodeMatmul):
        return []
    return [*matmul.tensors, *([matmul.bias] if matmul.bias is not None else [])]


def _shape(matmul: Matmul) -> Matmul:
    """`matmul` without its tensors, remembering how many there are and whether it has a bias."""
    if not isinstance(matmul, DecodeMatmul):
        return matmul
    return dataclasses.replace(matmul, tensors=(None,) * len(matmul.tensors),  # type: ignore[arg-type]
                               bias=None if matmul.bias is None else torch.empty(0))


def _take(taken: Any, shape: Matmul) -> tuple[Any, ...]:
    """The next tensors of `shape`'s matmul from the inputs: its tensors, then its bias or None."""
    if not isinstance(shape, DecodeMatmul):
        return ()
    tensors = tuple(next(taken) for _ in shape.tensors)
    return tensors + ((next(taken) if shape.bias is not None else None),)


def _apply(matmul_and_tensors: tuple[Matmul, tuple[Any, ...]], rows: torch.Tensor) -> torch.Tensor:
    """`rows` through the matmul, converted to its activation dtype first (q/k/v are then
    rotated against float32 cos/sin, o and down added to the float32 residual, so their
    results are promoted anyway)."""
    matmul, tensors = matmul_and_tensors
    if not isinstance(matmul, DecodeMatmul):
        return matmul(rows)
    return matmul.run(rows.to(matmul.dtype), tensors[:-1], tensors[-1])


def _matmul(layers: list[Any]) -> Matmul:
    """`layers` (reading the same input) as one decoding matmul where they can be joined."""
    layer = layers[0] if len(layers) == 1 else side_by_side(layers)
    if isinstance(layer, KernelLinear):
        return layer.decode_matmul()
    if type(layer) is torch.nn.Linear:
        return DecodeMatmul("dense", layer.weight.dtype, (layer.weight,), layer.bias)
    if layer is not None:
        return layer
    return lambda rows: torch.cat([part(rows) for part in layers], dim=-1)
