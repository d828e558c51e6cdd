"""User settings: one table of options (camelCase, as clients send them) and the typed
`Settings` they resolve into.

Sources, later ones win: built-in defaults, environment (`DISTILL_LSP_*`), command line,
`initializationOptions`, `workspace/didChangeConfiguration` (section ``distill``).
A bad field is reported (one message for the whole update) and the previous value stays.
A server shared over TCP takes the server-owned options (`Option.server_owned`) only from
the first three sources.

Why a table rather than structuring with cattrs: every row holds what a key needs besides
its type (its check and the words for a bad value, its documentation, which is also the
README's table, its environment variable, whether it is server-owned), and the command
line's flags are made from the same rows (`cli.py`). A bad field must leave the previous
value in force while the rest of the layer applies; cattrs structures an object whole, so
it would need a hook per field for the same result, and the values are JSON scalars.
"""

from __future__ import annotations

import dataclasses
import logging
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .job_options import ACTION_SEARCH_OPTIONS, JOB_MODEL_OPTIONS
from .workspace_options import WORKSPACE_OPTIONS
from .profiles import (AUTO, AUTO_PLACEHOLDER, BUILTIN_PROFILES, COMPLETION_MAX_LINES, COMPLETION_MAX_NEW_TOKENS,
                       DEFAULT_COMPLETION_PROFILE, DEFAULT_PROFILE, SamplingProfile, validate_profile)

logger = logging.getLogger(__name__)

SECTION = "distill"
DEFAULT_DEBOUNCE_MS = 0
"""Chosen by bench/latency.py (see the README): newest-wins already stops superseded work."""


@dataclass(frozen=True)
class Settings:
    """Validated settings in force for one session."""

    model: str = "auto"
    completion_model: str = ""
    action_model: str = ""
    completion_backend: str = ""
    action_backend: str = ""
    profile: str = DEFAULT_COMPLETION_PROFILE
    profiles: Mapping[str, SamplingProfile] = field(default_factory=dict)
    max_new_tokens: int = COMPLETION_MAX_NEW_TOKENS
    max_lines: int = COMPLETION_MAX_LINES
    retries: int = 1
    min_token_probability: float = 0.0
    min_confidence: float = 0.0
    context_tokens: int = 0
    device: str = "auto"
    dtype: str = "auto"
    device_map: str = ""
    threads: int = 0
    cache_dir: str = ""
    quantize: str = "auto"
    kernels: str = "auto"
    compile_step: str = "auto"
    prefix_cache_mb: int = 256
    debounce_ms: int = DEFAULT_DEBOUNCE_MS
    speculate: str = "auto"
    load_wait_seconds: float = 120.0
    reasoning_tokens: int = 512
    include_reasoning: str = "collapsed"
    action_max_new_tokens: int = 512
    explain_profile: str = DEFAULT_PROFILE
    fix_profile: str = "precise"
    document_profile: str = "precise"
    action_tries: int = 4
    action_budget_seconds: float = 30.0
    parser_repair: bool = True
    backend: str = "local"
    endpoint: str = ""
    remote_model: str = ""
    api_key_env: str = ""
    tokenizer: str = ""
    connect_timeout: float = 3.0
    first_token_timeout: float = 30.0
    total_timeout: float = 120.0
    workspace_context: bool = True
    workspace_max_files: int = 20_000
    workspace_max_file_kb: int = 200
    workspace_index_mb: int = 64

    def sampling_profile(self, name: str | None = None) -> SamplingProfile:
        """The profile called `name` (default: the active one), user-defined first."""
        name = name or self.profile
        if name == AUTO:
            return AUTO_PLACEHOLDER
        return self.profiles.get(name) or BUILTIN_PROFILES[name]

    def speculates(self) -> bool:
        """`speculate` resolved: `auto` is on where the model is in this process."""
        return self.speculate == "on" or (self.speculate == "auto" and self.backend == "local")

    def profile_names(self) -> list[str]:
        return sorted({*BUILTIN_PROFILES, *self.profiles, AUTO})

    def resolved_cache_dir(self) -> Path:
        return Path(self.cache_dir).expanduser() if self.cache_dir else default_cache_dir()


def default_cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "distill-lsp"


@dataclass(frozen=True)
class Option:
    """One user-facing option: its JSON key, the Settings attribute, and its check."""

    key: str
    attr: str
    doc: str
    check: Callable[[Any], bool]
    allowed: str
    env: str | None = None
    parse_env: Callable[[str], Any] = str
    server_owned: bool = False
    """Acts on the process or the machine (the model, devices, the endpoint and its key, files written):
    a server shared over TCP takes it only from its command line, environment or config file."""

    @property
    def flag(self) -> str:
        """Its command-line flag (`maxNewTokens`: ``--max-new-tokens``); argparse's dest is `attr`."""
        return "--" + self.attr.replace("_", "-")

    @property
    def value_type(self) -> type:
        """The type of its value on the command line: its default's."""
        return type(getattr(Settings(), self.attr))


def _is_int(lo: int, hi: int) -> Callable[[Any], bool]:
    return lambda v: isinstance(v, int) and not isinstance(v, bool) and lo <= v <= hi


def _is_str(v: Any) -> bool:
    return isinstance(v, str)


def _is_number(lo: float, hi: float) -> Callable[[Any], bool]:
    return lambda v: isinstance(v, (int, float)) and not isinstance(v, bool) and lo <= v <= hi


def _is_env_name(v: Any) -> bool:
    return isinstance(v, str) and (v == "" or v.replace("_", "a").isalnum() and not v[0].isdigit())


KERNEL_PATHS = ("dense-fp32", "dense-bf16", "int8-bf16", "int8-fp32", "int4-bf16", "int4-fp32")
"""`engine.quant.PATHS`, named here so that settings load without torch."""


def _is_kernels(v: Any) -> bool:
    parts = [p.strip() for p in v.split(",")] if isinstance(v, str) else []
    return v == "auto" or (1 <= len(parts) <= 2 and all(p in KERNEL_PATHS for p in parts))


def _is_url(v: Any) -> bool:
    return isinstance(v, str) and (v.strip() == "" or v.strip().startswith(("http://", "https://")))


def _one_of(*choices: str) -> Callable[[Any], bool]:
    return lambda v: isinstance(v, str) and (v in choices or v.startswith("cuda:") and "cuda" in choices)


OPTIONS: tuple[Option, ...] = (
    Option("model", "model",
           "Model to load: `auto`, a Hugging Face id (resolved from the local cache only), "
           "a model directory, or a `.gguf` file.",
           lambda v: isinstance(v, str) and v.strip() != "", "a non-empty string",
           env="DISTILL_LSP_MODEL", server_owned=True),
    *(Option(**fields) for fields in JOB_MODEL_OPTIONS),
    Option("profile", "profile",
           "Sampling profile for completions: auto (greedy on code, coding within comments: measured, see "
           "Measured), greedy, precise, coding, creative or a name from `profiles`.",
           _is_str, "a profile name", env="DISTILL_LSP_PROFILE"),
    Option("profiles", "profiles",
           "User-defined sampling profiles: {name: {temperature, topP, topK, repetitionPenalty, "
           "maxNewTokens, doSample}}.",
           lambda v: isinstance(v, Mapping), "an object of profiles"),
    Option("maxNewTokens", "max_new_tokens",
           "Most tokens generated for one completion.", _is_int(1, 1024), "an integer in [1, 1024]",
           env="DISTILL_LSP_MAX_NEW_TOKENS", parse_env=int),
    Option("maxLines", "max_lines",
           "Most lines in one multi-line suggestion.", _is_int(1, 500), "an integer in [1, 500]"),
    Option("retries", "retries",
           "Further tries when post-processing leaves nothing of an answer (it did not parse where it would "
           "go, or only repeated the text around it); each starts with a token no earlier try started with. "
           "0: off.", _is_int(0, 3), "an integer in [0, 3]"),
    Option("minTokenProbability", "min_token_probability",
           "A suggestion ends before the first token the model gives less than this probability (its own "
           "distribution, before temperature); 0: off.", _is_number(0.0, 1.0), "a number in [0, 1]"),
    Option("minConfidence", "min_confidence",
           "Nothing is suggested when the model's confidence in the first line (the geometric mean of its "
           "tokens' probabilities) is lower; 0: always suggest.", _is_number(0.0, 1.0), "a number in [0, 1]"),
    Option("contextTokens", "context_tokens",
           "Prompt budget in tokens (0: 512 for a model on a CPU, chosen by measurement; else the model's "
           "context length, at most 2048).",
           _is_int(0, 131072), "an integer in [0, 131072]"),
    Option("device", "device", "Where the model runs: auto, cpu, cuda or cuda:N.",
           _one_of("auto", "cpu", "cuda"), "auto, cpu, cuda or cuda:N", env="DISTILL_LSP_DEVICE", server_owned=True),
    Option("dtype", "dtype", "Weights' dtype: auto (bf16/fp16 on GPU, fp32 on CPU), float32, bfloat16, float16.",
           _one_of("auto", "float32", "bfloat16", "float16"), "auto, float32, bfloat16 or float16",
           env="DISTILL_LSP_DTYPE", server_owned=True),
    Option("deviceMap", "device_map", "Passed to transformers as device_map when set (e.g. `auto`).",
           _is_str, "a string", server_owned=True),
    Option("threads", "threads", "CPU threads for the model (0: physical cores).",
           _is_int(0, 1024), "an integer in [0, 1024]", env="DISTILL_LSP_THREADS", parse_env=int, server_owned=True),
    Option("quantize", "quantize",
           "Weight-only quantization on the CPU: auto (int4 where lossless, e.g. from a 4-bit GGUF, else int8; "
           "none on a GPU), int8, int4 or none.",
           _one_of("auto", "none", "int8", "int4"), "auto, none, int8 or int4", env="DISTILL_LSP_QUANTIZE",
           server_owned=True),
    Option("kernels", "kernels",
           "CPU kernels: auto (the fastest that keeps the float model's next-token choices, measured once per "
           "CPU, torch version, model and threads) or `PROMPT,DECODE` paths: dense-fp32, dense-bf16, "
           "int8-bf16, int8-fp32, int4-bf16, int4-fp32 (the int paths need `quantize` other than none).",
           _is_kernels, "auto or PROMPT,DECODE kernel paths", env="DISTILL_LSP_KERNELS", server_owned=True),
    Option("compileStep", "compile_step", "CPU decoding as one compiled graph: auto (built once per machine in the "
           "background where a C++ compiler is found, kept in cacheDir; eager until then) or off.",
           _one_of("auto", "off"), "auto or off", env="DISTILL_LSP_COMPILE_STEP", server_owned=True),
    Option("prefixCacheMB", "prefix_cache_mb",
           "Memory for the key/value caches kept between requests (prefix reuse), in MiB (0: off).",
           _is_int(0, 65536), "an integer in [0, 65536]", server_owned=True),
    Option("loadWaitSeconds", "load_wait_seconds",
           "Explain/Fix/Document asked for while the model is still loading wait this long for it (with "
           "progress), then fail with a message; completions never wait (they answer empty until it is ready).",
           _is_number(0, 3600), "seconds in [0, 3600]"),
    Option("debounceMs", "debounce_ms",
           "Automatic inline completions wait this long for the next keystroke before generating.",
           _is_int(0, 5000), "an integer in [0, 5000]"),
    Option("speculate", "speculate",
           "Compute the next inline suggestion while the engine is idle, as if the shown one were accepted, "
           "so the request after an accept is answered at once: auto (on for the local backend, off for "
           "`openai`), on, off.", _one_of("auto", "on", "off"), "auto, on or off", env="DISTILL_LSP_SPECULATE"),
    Option("cacheDir", "cache_dir", "Where converted models and explanations are kept (default ~/.cache/distill-lsp).",
           _is_str, "a path", env="DISTILL_LSP_CACHE_DIR", server_owned=True),
    Option("reasoningTokens", "reasoning_tokens",
           "Explain/Fix/Document: most tokens a reasoning model may think (`<think>`) before `</think>` "
           "is forced and it answers (0: answer at once).", _is_int(0, 32768), "an integer in [0, 32768]"),
    Option("includeReasoning", "include_reasoning",
           "Explain: show the model's reasoning as a collapsed section at the end, in full, or not at all.",
           _one_of("collapsed", "full", "none"), "collapsed, full or none"),
    Option("actionMaxNewTokens", "action_max_new_tokens",
           "Explain/Fix/Document: most tokens of the answer (after any reasoning).",
           _is_int(1, 8192), "an integer in [1, 8192]"),
    Option("explainProfile", "explain_profile", "Sampling profile for Explain.", _is_str, "a profile name"),
    Option("fixProfile", "fix_profile", "Sampling profile for Fix.", _is_str, "a profile name"),
    Option("documentProfile", "document_profile", "Sampling profile for Document.", _is_str, "a profile name"),
    *(Option(**fields) for fields in ACTION_SEARCH_OPTIONS),
    Option("backend", "backend",
           "Where generation runs: `local` (the model in this process) or `openai` (an OpenAI-compatible "
           "server: vLLM, SGLang, TGI, llama.cpp, Ollama; see `endpoint`).",
           _one_of("local", "openai"), "local or openai", env="DISTILL_LSP_BACKEND", server_owned=True),
    Option("endpoint", "endpoint",
           "backend `openai`: the server's base URL, e.g. `http://gpu-box:8000/v1` (`/v1` is added when missing).",
           _is_url, "an http:// or https:// URL", env="DISTILL_LSP_ENDPOINT", server_owned=True),
    Option("remoteModel", "remote_model",
           "backend `openai`: the model name to request (empty: the first one the server lists).",
           _is_str, "a string", env="DISTILL_LSP_REMOTE_MODEL", server_owned=True),
    Option("apiKeyEnv", "api_key_env",
           "backend `openai`: the name of the environment variable holding the API key (the key itself "
           "never goes in settings or logs).", _is_env_name, "an environment variable name",
           env="DISTILL_LSP_API_KEY_ENV", server_owned=True),
    Option("tokenizer", "tokenizer",
           "backend `openai`: a local tokenizer for the prompt budget and templates (`bundled`, a Hugging Face "
           "id in the local cache, a directory or a `.gguf`); empty: `remoteModel` from the local cache, else "
           "an estimate of one token per 3 characters.", _is_str, "a string", env="DISTILL_LSP_TOKENIZER", server_owned=True),
    Option("connectTimeout", "connect_timeout", "backend `openai`: seconds to connect to the endpoint.",
           _is_number(0.1, 600), "seconds in [0.1, 600]", server_owned=True),
    Option("firstTokenTimeout", "first_token_timeout",
           "backend `openai`: seconds from sending a request to its first generated text.",
           _is_number(0.1, 3600), "seconds in [0.1, 3600]", server_owned=True),
    Option("totalTimeout", "total_timeout", "backend `openai`: most seconds one generation may take.",
           _is_number(0.1, 3600), "seconds in [0.1, 3600]", server_owned=True),
    *(Option(**fields) for fields in WORKSPACE_OPTIONS),
)

_BY_KEY = {o.key: o for o in OPTIONS}
_PROFILE_ATTRS = ("profile", "explain_profile", "fix_profile", "document_profile")


def options_named(keys: Sequence[str]) -> list[Option]:
    """The options with these keys, in the order given."""
    return [_BY_KEY[key] for key in keys]


def option_keys() -> set[str]:
    return set(_BY_KEY)  # the camelCase keys a client may send


def server_owned_keys() -> set[str]:
    """The keys a server shared over TCP never takes from a client (see `Option.server_owned`)."""
    return {o.key for o in OPTIONS if o.server_owned}


def without_server_owned(raw: Any) -> tuple[Any, list[str]]:
    """`raw` less the server-owned keys, and the keys taken out (sorted)."""
    if not isinstance(raw, Mapping):
        return raw, []
    owned = server_owned_keys()
    return {k: v for k, v in raw.items() if k not in owned}, sorted(set(raw) & owned)


def env_layer(environ: Mapping[str, str] | None = None) -> dict[str, Any]:
    """Options given through `DISTILL_LSP_*` environment variables."""
    environ = os.environ if environ is None else environ
    layer: dict[str, Any] = {}
    for opt in OPTIONS:
        if opt.env and environ.get(opt.env):
            try:
                layer[opt.key] = opt.parse_env(environ[opt.env])
            except ValueError:
                layer[opt.key] = environ[opt.env]
    return layer


def unwrap_section(payload: Any) -> Mapping[str, Any]:
    """Accept `{distill: {...}}` as well as the flat object."""
    if isinstance(payload, Mapping) and isinstance(payload.get(SECTION), Mapping):
        return payload[SECTION]
    return payload if isinstance(payload, Mapping) else {}


def apply_options(current: Settings, raw: Any) -> tuple[Settings, list[str]]:
    """Apply one layer of options over `current`; return the new settings and problems."""
    if raw is None:
        return current, []
    if not isinstance(raw, Mapping):
        return current, [f"settings must be an object, got {type(raw).__name__}"]
    changes: dict[str, Any] = {}
    problems: list[str] = []
    for key, value in raw.items():
        opt = _BY_KEY.get(key)
        if opt is None:
            problems.append(f"unknown setting {key!r}")
        elif not opt.check(value):
            problems.append(f"{key} must be {opt.allowed}, got {value!r}")
        elif opt.key == "profiles":
            profiles, bad = _user_profiles(value, current.profiles)
            changes["profiles"] = profiles
            problems += bad
        else:
            changes[opt.attr] = value.strip() if isinstance(value, str) else value
    new = dataclasses.replace(current, **changes)
    for attr in _PROFILE_ATTRS:
        if getattr(new, attr) not in new.profile_names():
            problems.append(f"profile {getattr(new, attr)!r} is unknown; known: {', '.join(new.profile_names())}")
            new = dataclasses.replace(new, **{attr: getattr(current, attr)})
    return new, problems


def _user_profiles(
    raw: Mapping[str, Any], previous: Mapping[str, SamplingProfile]
) -> tuple[dict[str, SamplingProfile], list[str]]:
    profiles = dict(previous)
    problems: list[str] = []
    for name, fields in raw.items():
        if not isinstance(fields, Mapping):
            problems.append(f"profile {name!r} must be an object")
            continue
        if name == AUTO:
            problems.append(f"profile {AUTO!r} is built in (it follows the kind of request); choose another name")
            continue
        base = previous.get(name) or BUILTIN_PROFILES.get(name)
        if base is None and isinstance(fields.get("base"), str):
            base = BUILTIN_PROFILES.get(fields["base"])
        profile, bad = validate_profile(name, {k: v for k, v in fields.items() if k != "base"}, base)
        profiles[name] = profile
        problems += bad
    return profiles, problems


def resolve(*layers: Any) -> tuple[Settings, list[str]]:
    """Fold layers of options over the defaults."""
    settings, problems = Settings(), []
    for layer in layers:
        settings, bad = apply_options(settings, layer)
        problems += bad
    return settings, problems


def settings_table() -> str:
    """The README's settings table, made from `OPTIONS`."""
    rows = ["| key | default | env | set by (TCP) | meaning |", "| --- | --- | --- | --- | --- |"]
    defaults = Settings()
    for opt in OPTIONS:
        default = getattr(defaults, opt.attr)
        shown = "{}" if isinstance(default, Mapping) else f"`{default!r}`" if default != "" else "(unset)"
        owner = "server" if opt.server_owned else "client"
        rows.append(f"| `{opt.key}` | {shown} | {opt.env or ''} | {owner} | {opt.doc} |")
    return "\n".join(rows)
