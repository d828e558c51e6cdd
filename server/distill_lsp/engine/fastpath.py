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
from typing import Any

import torch
from transformers.activations import ACT2FN

from .kvcache import GrowingLayer

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
    return all(hasattr(attn, name) for name in ("q_proj", "k_proj", "v_proj", "o_proj", "scaling")) \
        and not hasattr(attn, "q_norm") and getattr(config, "pretraining_tp", 1) == 1


def _rotate_half(x: torch.Tensor) -> torch.Tensor:
    half = x.shape[-1] // 2
    return torch.cat((-x[..., half:], x[..., :half]), dim=-1)


class FastDecoder:
    """``step(token, cache) -> logits`` for one new token at the end of `cache`."""

    def __init__(self, model: Any) -> None:
        config = model.config
        self.model = model
        self.layers = list(model.model.layers[:config.num_hidden_layers])
        self.embed = model.model.embed_tokens
        self.norm = model.model.norm
        self.head = model.lm_head
        self.rotary = model.model.rotary_emb
        self.heads = config.num_attention_heads
        self.kv_heads = config.num_key_value_heads
        self.head_dim = getattr(config, "head_dim", None) or config.hidden_size // config.num_attention_heads
        self.groups = self.heads // self.kv_heads
        self.act = ACT2FN[config.hidden_act]

    @staticmethod
    def can_use(cache: Any) -> bool:
        return all(isinstance(layer, GrowingLayer) for layer in cache.layers)

    def step(self, token: int, cache: Any) -> torch.Tensor:
        device = self.embed.weight.device
        position = cache.get_seq_length()
        x = self.embed(torch.tensor([[token]], device=device))
        cos, sin = self.rotary(x, torch.tensor([[position]], device=device))
        cos, sin = cos.reshape(1, 1, -1), sin.reshape(1, 1, -1)
        d, kv = self.head_dim, self.kv_heads
        for i, layer in enumerate(self.layers):
            attn = layer.self_attn
            h = layer.input_layernorm(x)
            q = attn.q_proj(h).view(kv, self.groups, d)
            k = attn.k_proj(h).view(kv, 1, d)
            v = attn.v_proj(h).view(kv, 1, d)
            q = q * cos + _rotate_half(q) * sin
            k = k * cos + _rotate_half(k) * sin
            keys, values = cache.layers[i].update(k.unsqueeze(0), v.unsqueeze(0))
            scores = torch.matmul(q, keys[0].transpose(-1, -2)) * attn.scaling
            probs = torch.softmax(scores, dim=-1, dtype=torch.float32).to(q.dtype)
            out = torch.matmul(probs, values[0]).reshape(1, 1, -1)
            x = x + attn.o_proj(out)
            h = layer.post_attention_layernorm(x)
            mlp = layer.mlp
            x = x + mlp.down_proj(self.act(mlp.gate_proj(h)) * mlp.up_proj(h))
        return self.head(self.norm(x))[0, -1]
