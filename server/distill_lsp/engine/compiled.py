"""The decoding step compiled ahead of time for this machine (torch.export + AOTInductor).

Eager PyTorch pays a fixed cost per operator; a decoding step of a small model runs about
forty of them per layer, and on a CPU that cost is as large as the arithmetic. This module
traces `fastpath.StepGraph` (the step the eager decoder runs: embedding, every layer, the
final norm and the head) into one graph, which AOTInductor compiles into a shared library: the small
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

import hashlib
import json
import logging
from pathlib import Path
from typing import Any

import torch

from .fastpath import FastDecoder
from .kvcache import GrowingLayer, new_cache

logger = logging.getLogger(__name__)

FORMAT = 1
"""Bumped whenever the graph's inputs or its computation change (old packages are not loaded)."""
BUFFER_DTYPE = torch.float32
"""The key/value buffers' dtype the graph is built for (the prompt path writes float32)."""
CHECK_STEPS = 3
"""Decoding steps a loaded package must match the eager step on before it is used."""


def package_key(fast: FastDecoder, cpu: str, model: str) -> str:
    """The package's name: everything the compiled code depends on (not the weights' values)."""
    weights = [(tuple(t.shape), str(t.dtype)) for t in fast.weights]
    described = json.dumps([FORMAT, torch.__version__, cpu, model, weights], default=str)
    return hashlib.sha256(described.encode()).hexdigest()[:24]


def build(fast: FastDecoder, out: Path) -> None:
    """Trace the step and compile it into the package `out` (minutes; needs a C++ compiler)."""
    cache = _scratch_cache(fast)
    layers = cache.layers
    capacity = torch.export.Dim("capacity", min=2, max=2 ** 20)
    weights = fast.weights
    args = (torch.tensor([0]), torch.tensor([layers[0].get_seq_length()]),
            [layer.buffers()[0] for layer in layers], [layer.buffers()[1] for layer in layers], weights)
    dynamic = {"token": None, "position": None, "keys": [{2: capacity}] * len(layers),
               "values": [{2: capacity}] * len(layers), "weights": [None] * len(weights)}
    with torch.inference_mode():
        program = torch.export.export(fast.graph, args, dynamic_shapes=dynamic, strict=False)
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
        self.steps = 0
        """Steps run compiled (the rest ran eagerly)."""

    def step(self, token: int, cache: Any) -> torch.Tensor | None:
        layers = cache.layers
        at = layers[0].get_seq_length()
        buffers = [layer.buffers() for layer in layers]
        if at < 1 or at >= self.fast.cos.shape[0] or any(
                k is None or k.dtype != BUFFER_DTYPE or v.dtype != BUFFER_DTYPE or at >= k.shape[2]
                for k, v in buffers):
            return None
        logits = self.runner(torch.tensor([token]), torch.tensor([at]), [k for k, _ in buffers],
                             [v for _, v in buffers], self.fast.weights)
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
