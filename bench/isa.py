"""Running a benchmark as if on another class of CPU, and naming the class in its output.

torch picks its vector kernels from ``ATEN_CPU_CAPABILITY`` (default / avx2 / avx512),
oneDNN (bf16 matmuls, and what torch reports as native bf16) from ``ONEDNN_MAX_CPU_ISA``,
and MKL (float32 matmuls) from ``MKL_ENABLE_INSTRUCTIONS``. All three are read when the
libraries load, so a benchmark re-runs itself in a subprocess with them set.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Sequence

CLASSES: dict[str, dict[str, str]] = {
    "native": {},
    # AVX2, FMA, no AVX-512 and no bf16: most laptops and many cloud machines
    "avx2": {"ATEN_CPU_CAPABILITY": "avx2", "ONEDNN_MAX_CPU_ISA": "AVX2", "MKL_ENABLE_INSTRUCTIONS": "AVX2"},
    # AVX-512 without bf16 (Skylake-SP / Cascade Lake servers)
    "avx512": {"ATEN_CPU_CAPABILITY": "avx512", "ONEDNN_MAX_CPU_ISA": "AVX512_CORE",
               "MKL_ENABLE_INSTRUCTIONS": "AVX512"},
}
MARKER = "DISTILL_BENCH_ISA"


def rerun_as(isa: str, module: str, argv: Sequence[str]) -> int | None:
    """Re-run `python -m module argv` under `isa`'s variables; None when already running so."""
    if isa == "native" or os.environ.get(MARKER) == isa:
        return None
    if isa not in CLASSES:
        raise SystemExit(f"--isa must be one of {', '.join(CLASSES)}")
    env = {**os.environ, **CLASSES[isa], MARKER: isa}
    return subprocess.run([sys.executable, "-m", module, *argv], env=env, check=False).returncode


def describe() -> str:
    """This process's CPU class, for the head of every table."""
    import platform

    import torch

    from distill_lsp.engine.kernels import cpu_class

    cpu = cpu_class()
    limits = ", ".join(f"{k}={os.environ[k]}" for k in sorted(CLASSES["avx2"]) if k in os.environ)
    return (f"CPU: {cpu.model_name}, {os.cpu_count()} logical cores ({platform.machine()}); torch "
            f"{torch.__version__} kernels {cpu.capability}, bf16 {'native' if cpu.bf16_native else 'not native'}"
            f"{'; limited by ' + limits if limits else ''}")
