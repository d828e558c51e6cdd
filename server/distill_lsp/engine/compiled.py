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
once per machine in a low-priority process and keeps the package in `cacheDir`, and loads
it off the engine's thread. A loaded step is checked against the eager one before it is
used; `FastDecoder.step` then runs it.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

from .fastpath import COMPILED_BUFFERS, FastDecoder
from .kvcache import new_cache

logger = logging.getLogger(__name__)

FORMAT = 1
"""Bumped whenever the graph's inputs or its computation change (old packages are not loaded)."""
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


def load(package: Path) -> Callable[..., torch.Tensor]:
    """The compiled step in `package`, called as `StepGraph` is (about 2 s in a fresh process:
    importing inductor, which also probes the CPU's vector ISA with the compiler)."""
    return torch._inductor.aoti_load_package(str(package))


def agrees(fast: FastDecoder, compiled: Callable[..., torch.Tensor], tokens: int = CHECK_STEPS) -> bool:
    """`compiled` picks the eager step's tokens, with logits within bf16 rounding."""
    eager, ours = _scratch_cache(fast), _scratch_cache(fast)
    if not fast.can_use(ours) or ours.layers[0].buffers()[0].dtype != COMPILED_BUFFERS:
        return False
    token = 1
    with torch.inference_mode():
        for _ in range(tokens):
            want, got = fast.run(fast.graph, token, eager), fast.run(compiled, token, ours)
            if int(got.argmax()) != int(want.argmax()) or \
                    not torch.allclose(got, want, atol=1e-2 * float(want.abs().max()) + 1e-4, rtol=0):
                return False
            token = int(want.argmax())
    return True
