"""Prompt and decoding speed in one process, side by side: plain PyTorch (the float32 model
as transformers loads it: what a user runs without us), our engine with its default
settings (the kernels it chooses on this CPU), and llama.cpp on the same GGUF file.

- Cold prompts of 300 and 1,500 tokens of real code (the standard library): seconds to
  the first token's logits, with nothing cached.
- Greedy decoding after a 300-token prompt: tokens per second, the first token excluded.
  Ours runs its compiled step (`compileStep`; built first if this machine has no package
  yet, and the build time printed); the eager step is measured beside it.
- Agreement with float32: teacher-forced next-token agreement over the prompts, and how
  many of the first greedy tokens equal float32's.
"""

from __future__ import annotations

import os
import statistics
import time
from pathlib import Path
from typing import Any

from . import llama_cpp

PROMPT_FILES = ("json/decoder.py", "textwrap.py", "argparse.py", "csv.py", "heapq.py", "shlex.py")
LENGTHS = (300, 1500)


def stdlib_prompts(n: int, tokenizer: Any, length: int) -> list[list[int]]:
    """`n` prompts of `length` tokens cut from standard-library sources (real code)."""
    lib = Path(os.__file__).parent
    prompts = []
    for name in PROMPT_FILES[:n]:
        ids = tokenizer((lib / name).read_text()).input_ids
        start = max(0, min(len(ids) - length, 2000 if length <= 300 else 200))
        prompts.append(ids[start:start + length])
    return prompts


def measure(n_prompts: int, tokens: int, threads: int) -> dict[str, Any]:
    import torch

    from distill_lsp.engine.factory import make_backend_factory
    from distill_lsp.engine.loader import load_model
    from distill_lsp.engine.resolve import resolve_model
    from distill_lsp.settings import Settings

    torch.set_num_threads(threads)
    settings = Settings(threads=threads)
    loaded = load_model(resolve_model("auto", "cpu"), device="cpu", cache_dir=settings.resolved_cache_dir())
    reference = loaded.model
    started = time.perf_counter()
    ours = make_backend_factory(settings)()  # the defaults, as a server loads them
    ours_setup_s = time.perf_counter() - started
    build_s = _wait_for_compiled_step(ours)
    ours.eos_ids = []  # the same length on every side
    llm = llama_cpp.load(threads)
    out: dict[str, Any] = {"kernels": ours.kernels.as_dict() if ours.kernels else {},
                           "quantization": ours.info.quantization, "ours_setup_s": ours_setup_s, "threads": threads,
                           "compiled": ours.step_build.state if ours.step_build else "off", "build_s": build_s}
    for length in LENGTHS:
        out[f"prompt{length}"] = [_prompt_row(reference, ours, llm, ids, i)
                                  for i, ids in enumerate(stdlib_prompts(n_prompts, loaded.tokenizer, length))]
    out["decode"] = [_decode_row(reference, ours, llm, ids, tokens)
                     for ids in stdlib_prompts(n_prompts, loaded.tokenizer, 300)]
    return out


def _wait_for_compiled_step(ours: Any) -> float:
    """Seconds spent building the compiled step (0: it came from the cache), after waiting
    for it to be loaded."""
    if ours.step_build is None:
        return 0.0
    started, built = time.perf_counter(), ours.step_build.state == "pending"
    if built:
        print("building the compiled decoding step for this machine (once) ...", flush=True)
        ours.step_build.build_now()
    ours.step_build.wait()
    return time.perf_counter() - started if built else 0.0


def _greedy(tokens: int) -> Any:
    from distill_lsp.engine.types import GenerationRequest
    from distill_lsp.profiles import SamplingProfile

    profile = SamplingProfile("greedy", do_sample=False, repetition_penalty=1.0)
    return lambda ids, key: GenerationRequest(list(ids), profile, tokens, cache_key=key)


def _prompt_row(reference: Any, ours: Any, llm: Any, ids: list[int], index: int) -> dict[str, float]:
    import torch

    x = torch.tensor([ids])
    with torch.inference_mode():
        t0 = time.perf_counter()
        reference(input_ids=x, logits_to_keep=1)
        plain = time.perf_counter() - t0
    result = ours.generate(_greedy(1)(ids, f"bench-prompt-{len(ids)}-{index}"))
    ours.prefix.drop(f"bench-prompt-{len(ids)}-{index}")
    return {"plain_s": plain, "ours_s": result.time_to_first_token_s, "llama_s": llama_cpp.prompt_seconds(llm, ids)}


def _decode_row(reference: Any, ours: Any, llm: Any, ids: list[int], tokens: int) -> dict[str, float]:
    import torch

    x = torch.tensor([ids])
    with torch.inference_mode():
        t0 = time.perf_counter()
        reference.generate(input_ids=x, attention_mask=torch.ones_like(x), max_new_tokens=1, do_sample=False)
        t1 = time.perf_counter()
        out = reference.generate(input_ids=x, attention_mask=torch.ones_like(x), max_new_tokens=tokens,
                                 min_new_tokens=tokens, do_sample=False)
        t2 = time.perf_counter()
    ref_ids = out[0, len(ids):].tolist()
    plain_tps = (tokens - 1) / max(1e-9, (t2 - t1) - (t1 - t0))
    result = ours.generate(_greedy(tokens)(ids, "bench-decode"))
    ours_tps = _tps(result)
    compiled, ours.fast.compiled = ours.fast.compiled, None  # the eager step, for comparison
    eager_tps = _tps(ours.generate(_greedy(tokens)(ids, "bench-decode-eager")))
    ours.fast.compiled = compiled
    llama_tps, llama_ids = llama_cpp.decode_tokens_per_second(llm, ids, tokens)
    with torch.inference_mode():
        full = torch.tensor([ids + ref_ids])
        want = reference(input_ids=full).logits[0, len(ids) - 1:-1].argmax(-1)
        got = ours.model(input_ids=full).logits[0, len(ids) - 1:-1].argmax(-1)
    steps = {name: _forced_steps(ours, fn, ids, ref_ids) for name, fn in _steps(ours).items()}
    return {**steps, "plain_tps": plain_tps, "ours_tps": ours_tps, "eager_tps": eager_tps, "llama_tps": llama_tps,
            "ours_agree": _agree(result.token_ids, ref_ids), "llama_agree": _agree(llama_ids, ref_ids),
            "forced": float((want == got).float().mean())}


def _steps(ours: Any) -> dict[str, Any]:
    """The decoding steps ours has: the eager one, and the compiled one when it is ready."""
    fast = ours.fast
    steps = {"eager_step_forced": fast.graph} if fast is not None else {}
    if fast is not None and fast.compiled is not None:
        steps["compiled_step_forced"] = fast.compiled
    return steps


def _forced_steps(ours: Any, step: Any, ids: list[int], ref_ids: list[int]) -> float:
    """Teacher-forced agreement of a decoding step with float32's greedy tokens: the prompt
    runs once, then each of float32's tokens is fed and the step's choice compared."""
    import torch

    from distill_lsp.engine.kvcache import new_cache

    cache, sequence = new_cache(ours.model), ids + ref_ids
    with torch.inference_mode():
        ours.model(input_ids=torch.tensor([ids[:-1]]), cache=cache, use_cache=True, logits_to_keep=1)
        picks = [int(ours.fast.run(step, sequence[i], cache).argmax()) for i in range(len(ids) - 1, len(sequence) - 1)]
    return _agree(picks, ref_ids)


def _tps(result: Any) -> float:
    return (result.new_tokens - 1) / max(1e-9, result.total_s - result.time_to_first_token_s)


def _agree(got: Any, want: list[int]) -> float:
    return sum(a == b for a, b in zip(got, want)) / max(1, len(want))


def print_table(d: dict[str, Any]) -> None:
    k = d["kernels"]
    print(f"\n## Engine speed (in process, {d['threads']} threads): plain PyTorch fp32, ours, llama.cpp\n")
    print(f"ours: {d['quantization']}; kernels prompt **{k.get('prompt')}**, decode **{k.get('decode')}** "
          f"({k.get('source')}; probe {k.get('probe_s', 0):.2f} s; {k.get('weight_mib', 0):.0f} MiB of weights); "
          f"set-up (load + quantize + choose + warm-up) {d['ours_setup_s']:.1f} s; compiled step "
          f"{d['compiled']}" + (f" (built now, {d['build_s']:.0f} s)" if d["build_s"] else " (from the cache)"))
    if k.get("decode_ms"):
        print(f"measured ms, prompt ({64} rows, sampled layers): {k.get('prompt_ms')}; "
              f"decode (1 row, all layers): {k.get('decode_ms')}; agreement: {k.get('agreement')}")
    print("\n| figure | plain fp32 | ours | llama.cpp | ours / plain | ours / llama.cpp |")
    print("| --- | --- | --- | --- | --- | --- |")
    for length in LENGTHS:
        rows = d[f"prompt{length}"]
        plain, ours, llama = (statistics.median(r[key] for r in rows) for key in ("plain_s", "ours_s", "llama_s"))
        print(f"| cold {length}-token prompt, s (median of {len(rows)}) | {plain:.3f} | {ours:.3f} | {llama:.3f} "
              f"| **{ours / plain:.2f}x** | **{ours / llama:.2f}x** |")
    rows = d["decode"]
    plain, ours, llama = (statistics.mean(r[key] for r in rows) for key in ("plain_tps", "ours_tps", "llama_tps"))
    print(f"| decode tok/s (mean of {len(rows)}) | {plain:.1f} | {ours:.1f} | {llama:.1f} "
          f"| **{ours / plain:.2f}x** | **{ours / llama:.2f}x** |")
    eager = statistics.mean(r["eager_tps"] for r in rows)
    print(f"| decode tok/s, ours with the eager step | | {eager:.1f} | | {eager / plain:.2f}x | {eager / llama:.2f}x |")
    forced = statistics.mean(r["forced"] for r in rows)
    print(f"| teacher-forced next-token agreement with fp32 | 100% | {forced:.1%} | | | |")
    for key, name in (("compiled_step_forced", "compiled"), ("eager_step_forced", "eager")):
        if all(key in r for r in rows):
            print(f"| the same, {name} decoding step, over fp32's greedy tokens | 100% | "
                  f"{statistics.mean(r[key] for r in rows):.1%} | | | |")
    print(f"| first greedy tokens equal to fp32's | 100% | {statistics.mean(r['ours_agree'] for r in rows):.0%} "
          f"| {statistics.mean(r['llama_agree'] for r in rows):.0%} | | |")
