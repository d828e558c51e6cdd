"""A lean decode step for the Llama family (Llama, Qwen2, Mistral): one token through
the model's own modules without transformers' per-call plumbing (mask building,
attention dispatch, keyword threading), which costs as much as the arithmetic for a
small model on a CPU.

It uses the model's modules as they are (plain or quantized linears, its RMSNorms, its
rotary embedding), writes the same key/value cache the prompt was run into, and attends
with one query in float32 softmax like transformers' eager attention. Prompts still run
through the model's own forward. ``supports`` says when this applies; otherwise the
backend decodes through the model's forward too, as it does for caches with sliding-window layers.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
from transformers.activations import ACT2FN

from .kvcache import GrowingLayer
from .quant import DecodeMatmul, KernelLinear, side_by_side

logger = logging.getLogger(__name__)

FAMILY = ("llama", "qwen2", "mistral")


def supports(model: Any) -> bool:
    """True when `model` is a plain decoder of the Llama family this step reproduces."""
    config = model.config
    if getattr(config, "model_type", "") not in FAMILY:
        return False
    inner = getattr(model, "model", None)
    layers = getattr(inner, "layers", None)
    if layers is None or not hasattr(inner, "rotary_emb") or not hasattr(model, "lm_head"):
        return False
    attn = layers[0].self_attn
    norms = (layers[0].input_layernorm, layers[0].post_attention_layernorm)
    if not all(hasattr(norm, "variance_epsilon") and hasattr(norm, "weight") for norm in norms):
        return False
    return all(hasattr(attn, name) for name in ("q_proj", "k_proj", "v_proj", "o_proj", "scaling")) \
        and not hasattr(attn, "q_norm") and getattr(config, "pretraining_tp", 1) == 1


Matmul = DecodeMatmul | Callable[[torch.Tensor], torch.Tensor]
"""A decoding matmul: as data where the layers allow (what a compiled step needs), else
the layers' own call."""


@dataclass
class _Block:
    """One decoder layer as the step runs it: q/k/v joined into one matmul, gate/up into another."""

    input_norm: torch.Tensor
    post_norm: torch.Tensor
    eps: float
    qkv: Matmul
    o: Matmul
    gate_up: Matmul
    down: Matmul


class FastDecoder:
    """``step(token, cache) -> logits`` for one new token at the end of `cache`."""

    def __init__(self, model: Any) -> None:
        config = model.config
        self.model = model
        self.embed = model.model.embed_tokens
        self.norm = model.model.norm
        self.head = model.lm_head
        self.rotary = model.model.rotary_emb
        self.heads = config.num_attention_heads
        self.kv_heads = config.num_key_value_heads
        self.head_dim = getattr(config, "head_dim", None) or config.hidden_size // config.num_attention_heads
        self.scaling = model.model.layers[0].self_attn.scaling
        self.act = ACT2FN[config.hidden_act]
        self.blocks = [self._block(layer) for layer in model.model.layers[:config.num_hidden_layers]]

    @staticmethod
    def _block(layer: Any) -> _Block:
        attn, mlp = layer.self_attn, layer.mlp
        return _Block(layer.input_layernorm.weight, layer.post_attention_layernorm.weight,
                      layer.input_layernorm.variance_epsilon, _matmul([attn.q_proj, attn.k_proj, attn.v_proj]),
                      _matmul([attn.o_proj]), _matmul([mlp.gate_proj, mlp.up_proj]), _matmul([mlp.down_proj]))

    @staticmethod
    def can_use(cache: Any) -> bool:
        return all(isinstance(layer, GrowingLayer) for layer in cache.layers)

    def step(self, token: int, cache: Any) -> torch.Tensor:
        device = self.embed.weight.device
        position = cache.get_seq_length()
        x = self.embed(torch.tensor([token], device=device))  # [1, hidden]
        cos, sin = self.rotary(x, torch.tensor([[position]], device=device))
        cos, sin = cos.reshape(1, -1), sin.reshape(1, -1)
        half = sin.shape[-1] // 2
        sin = torch.cat((-sin[:, :half], sin[:, half:]), dim=-1)  # rotate_half(q) * sin == roll(q) * this
        d, kv, heads = self.head_dim, self.kv_heads, self.heads
        width = x.shape[-1]
        for block, layer in zip(self.blocks, cache.layers):
            h = torch.rms_norm(x, (width,), block.input_norm, block.eps)
            qkv = _run(block.qkv, h).view(heads + 2 * kv, d)
            qk = qkv[:heads + kv]
            qk = qk * cos + qk.roll(half, -1) * sin
            keys, values = layer.append(qk[heads:].view(1, kv, 1, d), qkv[heads + kv:].view(1, kv, 1, d))
            q = qk[:heads].view(1, heads, 1, d).to(keys.dtype)
            out = torch.nn.functional.scaled_dot_product_attention(q, keys, values, scale=self.scaling,
                                                                   enable_gqa=True)
            x = x + _run(block.o, out.reshape(1, -1))
            h = torch.rms_norm(x, (width,), block.post_norm, block.eps)
            gate, up = _run(block.gate_up, h).float().chunk(2, dim=-1)  # the activation in float32
            x = x + _run(block.down, self.act(gate) * up)
        return self.head(self.norm(x))[-1]


def _run(matmul: Matmul, rows: torch.Tensor) -> torch.Tensor:
    """`rows` through `matmul`: in its dtype (q/k/v are then rotated against float32 cos/sin,
    o and down added to the float32 residual, so their results are promoted anyway)."""
    if isinstance(matmul, DecodeMatmul):
        return matmul.run(rows.to(matmul.dtype))
    return matmul(rows)


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
