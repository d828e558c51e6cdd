"""Choosing the kernels on the machine the engine runs on.

The same model can be several times faster or slower depending on the CPU: bf16 matmuls
are fast only where bf16 is native, and the packed int4/int8 kernels win for decoding on
some machines and lose on others. So at load the engine measures: for prompt rows and for
decoding rows separately, each candidate path of `quant.KernelLinear` runs over the
model's own layers, and the fastest whose teacher-forced next-token agreement with the
float32 model is at least `MIN_AGREEMENT` wins. The result is kept in ``cacheDir`` per CPU
model, CPU class, torch version, model and thread count, so the measurement runs once.

The CPU class comes from torch (`ATEN_CPU_CAPABILITY` limits it) and oneDNN
(`ONEDNN_MAX_CPU_ISA` limits what it reports as native bf16); a class limited to AVX2 or
below is never offered dense bf16 even where the probe would say otherwise. Anything a
CPU lacks (an unknown architecture, a kernel that raises) falls back to dense float32.
"""

from __future__ import annotations

import json
import logging
import os
import platform
import time
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch

from .memory import release_freed_memory
from .quant import DENSE_FP32, PATHS, KernelLinear, QuantizationError, kernel_layers

logger = logging.getLogger(__name__)

MIN_AGREEMENT = 0.98
"""Teacher-forced next-token agreement with float32 a path must keep."""
PROMPT_ROWS = 64
"""Rows of the prompt measurement (a prompt chunk's matmuls have this many rows or more)."""
PRUNE = 4.0
"""A path this many times slower than the best on one block's layers is not measured further."""
PRUNE_ROWS = 16
"""Most rows of that first look (float32 activations on the packed kernels are very slow)."""
NOISY = 1.5
"""A measurement whose rounds of one path differ by more than this factor was disturbed by
other work on the machine: its choice is used but not cached (the next start measures again)."""
CACHE_FILE = "kernels.json"
CACHE_VERSION = 3
AGREEMENT_TEXT = '''import os
from pathlib import Path


def read_config(path, defaults=None):
    """Read KEY=VALUE lines from `path` into a dict, over `defaults`."""
    config = dict(defaults or {})
    for number, line in enumerate(Path(path).read_text().splitlines(), start=1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        key, sep, value = line.partition("=")
        if not sep:
            raise ValueError(f"{path}:{number}: expected KEY=VALUE, got {line!r}")
        config[key.strip()] = value.strip()
    return config


class Cache:
    def __init__(self, root):
        self.root = Path(root)
        self.hits = 0

    def get(self, name):
        file = self.root / name
        if file.exists():
            self.hits += 1
            return file.read_bytes()
        return None
'''


@dataclass(frozen=True)
class CpuClass:
    """What decides which kernels can be fast: torch's dispatch class and native bf16."""

    capability: str
    """torch's vector class: DEFAULT, AVX2, AVX512 (x86); others elsewhere."""
    bf16_native: bool
    machine: str
    model_name: str

    def describe(self) -> str:
        return f"{self.model_name} ({self.machine}), {self.capability}, bf16 {'native' if self.bf16_native else 'emulated'}"


def cpu_class(env: Mapping[str, str] = os.environ) -> CpuClass:
    """This process's CPU class, as limited by ATEN_CPU_CAPABILITY / ONEDNN_MAX_CPU_ISA."""
    capability = str(torch.backends.cpu.get_cpu_capability())
    try:
        bf16 = bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):
        bf16 = False
    return CpuClass(capability, bf16 and not limited_below_bf16(capability, env), platform.machine(),
                    _cpu_model_name())


def limited_below_bf16(capability: str, env: Mapping[str, str]) -> bool:
    """True when the class is held to one without native bf16 (x86 AVX2 or below)."""
    isa = env.get("ONEDNN_MAX_CPU_ISA", "").upper()
    aten = env.get("ATEN_CPU_CAPABILITY", "").lower()
    return (capability.upper() in ("DEFAULT", "AVX2") or aten in ("default", "avx2")
            or (isa != "" and not isa.startswith(("AVX512_CORE_BF16", "AVX512_CORE_AMX", "AVX10", "ALL"))))


def _cpu_model_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.lower().startswith(("model name", "cpu model", "hardware")):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


@dataclass
class KernelChoice:
    """The paths in use, and what was measured to choose them."""

    prompt: str
    decode: str
    cpu: CpuClass
    source: str
    """probed | probed, noisy (not cached) | cached | forced | quantize none"""
    prompt_ms: dict[str, float] = field(default_factory=dict)
    """Milliseconds of one prompt measurement (`PROMPT_ROWS` rows) per path measured."""
    decode_ms: dict[str, float] = field(default_factory=dict)
    """Milliseconds of one decoding row through every layer, per path measured."""
    agreement: dict[str, float] = field(default_factory=dict)
    probe_s: float = 0.0
    weight_mib: float = 0.0
    """Memory of the linear weights kept for the two paths."""

    def describe(self) -> str:
        return f"prompt {self.prompt}, decode {self.decode} ({self.source}; {self.weight_mib:.0f} MiB of weights)"

    def as_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["cpu"] = asdict(self.cpu)
        return out


def parse_forced(setting: str) -> tuple[str, str] | None:
    """The `kernels` setting: ``auto`` (None) or ``PROMPT,DECODE`` paths (one path: both)."""
    setting = setting.strip()
    if setting in ("", "auto"):
        return None
    parts = [p.strip() for p in setting.split(",")]
    if len(parts) == 1:
        parts *= 2
    if len(parts) != 2 or any(p not in PATHS for p in parts):
        raise QuantizationError(f"kernels must be auto or PROMPT,DECODE with paths from {', '.join(PATHS)}; "
                                f"not {setting!r}")
    return parts[0], parts[1]


def candidates(layers: Sequence[KernelLinear], cpu: CpuClass) -> list[str]:
    """Paths every layer can run on this CPU class (int4 ones only where some layer has int4)."""
    if not layers:
        return [DENSE_FP32]
    common = set(layers[0].available(cpu.bf16_native))
    for layer in layers[1:]:
        common &= set(layer.available(cpu.bf16_native))
    if not any("int4" in layer.codes for layer in layers):
        common -= {p for p in PATHS if p.startswith("int4")}
    return [p for p in PATHS if p in common]


def choose_kernels(model: torch.nn.Module, agreement_ids: Sequence[int], *, forced: str = "auto",
                   cache_dir: Path | None = None, cache_key: str = "", cpu: CpuClass | None = None) -> KernelChoice:
    """Pick, apply and keep the prompt and decoding paths of every `KernelLinear` in `model`."""
    cpu = cpu or cpu_class()
    layers = kernel_layers(model)
    if not layers:  # quantize none: the model as loaded
        if parse_forced(forced) not in (None, (DENSE_FP32, DENSE_FP32)):
            raise QuantizationError(f"kernels {forced!r} needs quantize other than none")
        return KernelChoice(DENSE_FP32, DENSE_FP32, cpu, "quantize none")
    offered = candidates(layers, cpu)
    wanted = parse_forced(forced)
    if wanted is not None:
        missing = [p for p in wanted if p not in offered]
        if missing:
            raise QuantizationError(f"kernels {forced!r}: {', '.join(missing)} not available here "
                                    f"(available: {', '.join(offered)})")
        choice = KernelChoice(wanted[0], wanted[1], cpu, "forced")
    else:
        key = f"v{CACHE_VERSION}|{cpu.model_name}|{cpu.machine}|{cpu.capability}|bf16={cpu.bf16_native}|" \
              f"torch={torch.__version__}|threads={torch.get_num_threads()}|{cache_key}"
        choice = _cached(cache_dir, key, cpu, offered) or _probe(model, layers, offered, agreement_ids, cpu)
        if choice.source == "probed":
            _store(cache_dir, key, choice)
        elif choice.source != "cached":
            logger.warning("kernel measurement disturbed by other work (rounds differ by more than %gx): "
                           "choice not cached", NOISY)
    for layer in layers:  # the head sees one row per forward: a prompt path would be a copy never used
        layer.use(choice.decode if layer.rescore else choice.prompt, choice.decode)
        layer.keep()
    release_freed_memory()  # the copies the other paths needed
    choice.weight_mib = sum(layer.nbytes() for layer in layers) / 2**20
    logger.info("kernels on %s: %s", cpu.describe(), choice.describe())
    return choice


def _probe(model: torch.nn.Module, layers: list[KernelLinear], offered: list[str], ids: Sequence[int],
           cpu: CpuClass) -> KernelChoice:
    """Time the candidates, then take the fastest that keeps float32's next-token choices
    (agreement is measured only for paths that would win, fastest first)."""
    started = time.perf_counter()
    block = _one_block(layers)
    spread: list[float] = []
    prompt = _prune(block, offered, min(PROMPT_ROWS, PRUNE_ROWS), spread)
    decode = _prune(block, offered, 1, spread)
    sampled = layers[::max(1, len(layers) // (4 * max(1, len(block))))]
    prompt_ms = _time(sampled, prompt, PROMPT_ROWS, rounds=3, spread=spread)
    decode_ms = _time(layers, decode, 1, rounds=3, spread=spread)
    agreement = _Agreement(model, layers, ids)
    decode_path = next((p for p in sorted(decode_ms, key=decode_ms.__getitem__) if agreement.good(p)), DENSE_FP32)
    prompt_path = _prompt_choice({p: t for p, t in prompt_ms.items()}, decode_path, agreement)
    source = "probed" if max(spread, default=1.0) <= NOISY else "probed, noisy (not cached)"
    return KernelChoice(prompt_path, decode_path, cpu, source, _rounded(prompt_ms), _rounded(decode_ms),
                        _rounded(agreement.measured, 4), round(time.perf_counter() - started, 3))


def _prompt_choice(times: dict[str, float], decode_path: str, agreement: _Agreement) -> str:
    """The fastest good prompt path; the decoding path instead when within 5% (no second copy).
    Agreement is asked fastest first and only until a path passes: each check is a forward."""
    best = next((p for p in sorted(times, key=times.__getitem__) if agreement.good(p)), None)
    if best is None:
        return DENSE_FP32
    if decode_path in times and times[decode_path] <= 1.05 * times[best] and agreement.good(decode_path):
        return decode_path
    return best


def _one_block(layers: list[KernelLinear]) -> list[KernelLinear]:
    """The layers of one decoder block in the middle of the model (all its shapes)."""
    shapes: list[KernelLinear] = []
    middle = layers[len(layers) // 2:]
    for layer in middle:
        if any(s.in_features == layer.in_features and s.out_features == layer.out_features for s in shapes):
            if len(shapes) >= 3:
                break
            continue
        shapes.append(layer)
    return shapes or layers[:1]


def _prune(block: list[KernelLinear], paths: list[str], rows: int, spread: list[float]) -> list[str]:
    """Paths within `PRUNE` times the best on one block (a path that raises is dropped)."""
    usable = []
    for path in paths:
        try:
            _time(block, [path], rows, rounds=1)
            usable.append(path)
        except (RuntimeError, QuantizationError, NotImplementedError) as exc:
            logger.info("kernel path %s unavailable: %s", path, exc)
    if not usable:
        return [DENSE_FP32]
    times = _time(block, usable, rows, rounds=3, spread=spread)
    best = min(times.values())
    return [p for p, t in times.items() if t <= PRUNE * best]


def _time(layers: Sequence[KernelLinear], paths: Sequence[str], rows: int, rounds: int,
          spread: list[float] | None = None) -> dict[str, float]:
    """Milliseconds of `rows` rows through `layers` on each path: the best of `rounds`
    rounds after a warm-up, the paths taking turns within a round, so that other work on
    the machine slows them alike. Each path's slowest round over its best goes to `spread`."""
    inputs = {}
    for layer in layers:
        for path in paths:
            layer.prepare(path)
        inputs.setdefault(layer.in_features, torch.randn(rows, layer.in_features))
    seen: dict[str, list[float]] = {path: [] for path in paths}
    with torch.inference_mode():
        for attempt in range(rounds + 1):
            for path in paths:
                t0 = time.perf_counter()
                for layer in layers:
                    layer.run(inputs[layer.in_features], path)
                if attempt:
                    seen[path].append((time.perf_counter() - t0) * 1000)
    if spread is not None and rounds > 1:
        spread += [max(times) / max(min(times), 1e-9) for times in seen.values()]
    return {path: min(times) for path, times in seen.items()}


class _Agreement:
    """Teacher-forced next-token agreement of a path (every row forced onto it) with
    float32, over `ids`; measured once per path, when first asked."""

    def __init__(self, model: torch.nn.Module, layers: list[KernelLinear], ids: Sequence[int]) -> None:
        self.model, self.layers, self.tokens = model, layers, torch.tensor([list(ids)])
        self.reference: torch.Tensor | None = None
        """float32's picks, computed only when another path has to be checked."""
        self.measured: dict[str, float] = {DENSE_FP32: 1.0}

    def good(self, path: str) -> bool:
        if path not in self.measured:
            if self.reference is None:
                self.reference = self._picks(DENSE_FP32)
            self.measured[path] = float((self._picks(path) == self.reference).float().mean())
        return self.measured[path] >= MIN_AGREEMENT

    def _picks(self, path: str) -> torch.Tensor:
        try:
            with torch.inference_mode():
                for layer in self.layers:
                    layer.prepare(path)
                    layer.force = path
                return self.model(input_ids=self.tokens, use_cache=False).logits[0].argmax(-1)
        finally:
            for layer in self.layers:
                layer.force = None


def _rounded(values: dict[str, float], digits: int = 2) -> dict[str, float]:
    return {k: round(v, digits) for k, v in values.items()}


def _cached(cache_dir: Path | None, key: str, cpu: CpuClass, offered: list[str]) -> KernelChoice | None:
    entry = _read(cache_dir).get(key)
    if not isinstance(entry, dict) or entry.get("prompt") not in offered or entry.get("decode") not in offered:
        return None
    return KernelChoice(entry["prompt"], entry["decode"], cpu, "cached", entry.get("prompt_ms", {}),
                        entry.get("decode_ms", {}), entry.get("agreement", {}), entry.get("probe_s", 0.0))


def cached_choices(cache_dir: Path, cpu: CpuClass | None = None) -> dict[str, dict[str, Any]]:
    """The choices measured on this CPU class (for `doctor`), by their cache keys."""
    cpu = cpu or cpu_class()
    mark = f"|{cpu.model_name}|{cpu.machine}|{cpu.capability}|bf16={cpu.bf16_native}|"
    return {key: entry for key, entry in _read(cache_dir).items() if mark in key and isinstance(entry, dict)}


def _read(cache_dir: Path | None) -> dict[str, Any]:
    if cache_dir is None:
        return {}
    try:
        data = json.loads((cache_dir / CACHE_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _store(cache_dir: Path | None, key: str, choice: KernelChoice) -> None:
    if cache_dir is None:
        return
    data = _read(cache_dir)
    data[key] = {k: v for k, v in choice.as_dict().items() if k not in ("cpu", "source", "weight_mib")}
    try:
        cache_dir.mkdir(parents=True, exist_ok=True)
        tmp = cache_dir / f".{CACHE_FILE}.{os.getpid()}"
        tmp.write_text(json.dumps(data, indent=1), encoding="utf-8")
        tmp.replace(cache_dir / CACHE_FILE)
    except OSError as exc:
        logger.warning("kernel choice not cached in %s: %s", cache_dir, exc)


def agreement_ids(tokenizer: Any) -> list[int]:
    """The tokens the agreement is measured on (real-looking code, about 300 tokens)."""
    return list(tokenizer(AGREEMENT_TEXT).input_ids)
