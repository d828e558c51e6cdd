"""The reference architecture at full size on a GPU, in one go (made for a lent device).

    python bench/gpu.py                 # on a CUDA machine: DeepSeek-R1-Distill-Qwen-1.5B's config, bf16
    python bench/gpu.py --small --device cpu   # the same script on a tiny config (CI checks it runs)

No weights can be downloaded on the device machine, so the model is Qwen2ForCausalLM with
the reference model's configuration and random weights: speed does not depend on the
weights' values. Prompts are random token ids, so no tokenizer is needed either.

Prints, side by side in one run:
- time to first token for a 1,000-token prompt (the server's backend: our decode loop);
- decode tokens/s: a plain ``model.generate`` (eager, dynamic cache), our decode loop
  (eager), and ``generate`` with a static cache and ``torch.compile`` (CUDA graphs);
- a typing simulation in process: 40 requests, each prompt one token longer than the
  last (prefix reuse), 24 new tokens each: p50/p95 latency;
- GPU memory: weights, and peak during the run.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "server"))

REFERENCE_CONFIG = dict(  # deepseek-ai/DeepSeek-R1-Distill-Qwen-1.5B config.json
    vocab_size=151936, hidden_size=1536, intermediate_size=8960, num_hidden_layers=28,
    num_attention_heads=12, num_key_value_heads=2, max_position_embeddings=131072, rope_theta=10000.0,
    rms_norm_eps=1e-6, tie_word_embeddings=False, hidden_act="silu", use_sliding_window=False,
    bos_token_id=151646, eos_token_id=151643,
)
SMALL_CONFIG = dict(REFERENCE_CONFIG, vocab_size=4096, hidden_size=128, intermediate_size=256,
                    num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2)


class IdsTokenizer:
    """Token ids in, ids as text out: the backend's tokenizer role without a vocabulary."""

    eos_token_id = REFERENCE_CONFIG["eos_token_id"]
    chat_template = None

    def __init__(self, vocab: int) -> None:
        self.vocab = vocab

    def get_vocab(self) -> dict[str, int]:
        return {}

    def decode(self, ids: Any, skip_special_tokens: bool = True) -> str:
        return " ".join(str(int(i)) for i in ids)

    def __call__(self, text: str, add_special_tokens: bool = True) -> Any:
        class Encoded:
            input_ids = [int(t) % self.vocab for t in text.split() if t.isdigit()] or [1, 2, 3]
        return Encoded()


def build(small: bool, device: str) -> tuple[Any, Any]:
    import torch
    from transformers import Qwen2Config, Qwen2ForCausalLM

    from distill_lsp.engine.loader import LoadedModel
    from distill_lsp.engine.local import LocalBackend
    from distill_lsp.engine.types import ModelInfo

    config = Qwen2Config(**(SMALL_CONFIG if small else REFERENCE_CONFIG))
    dtype = torch.bfloat16 if device.startswith("cuda") and torch.cuda.is_bf16_supported() else (
        torch.float16 if device.startswith("cuda") else torch.float32)
    torch.manual_seed(0)
    with torch.device(device):
        model = Qwen2ForCausalLM(config).to(dtype).eval()
    info = ModelInfo(name="qwen2-reference-random", source="directory", path="", device=device,
                     dtype=str(dtype).removeprefix("torch."), context_length=config.max_position_embeddings,
                     model_type="qwen2", has_chat_template=False)
    backend = LocalBackend(LoadedModel(model=model, tokenizer=IdsTokenizer(config.vocab_size), info=info),
                           quantize="none")
    backend.eos_ids = []  # random weights: run every step
    return model, backend


def sync(device: str) -> None:
    import torch

    if device.startswith("cuda"):
        torch.cuda.synchronize()


def plain_generate(model: Any, ids: list[int], tokens: int, device: str, **kwargs: Any) -> tuple[float, float]:
    """(time to first token, decode tokens/s) of ``model.generate``."""
    import torch

    x = torch.tensor([ids], device=device)
    mask = torch.ones_like(x)
    with torch.inference_mode():
        sync(device)
        t0 = time.perf_counter()
        model.generate(input_ids=x, attention_mask=mask, max_new_tokens=1, do_sample=False, **kwargs)
        sync(device)
        t1 = time.perf_counter()
        model.generate(input_ids=x, attention_mask=mask, max_new_tokens=tokens, min_new_tokens=tokens,
                       do_sample=False, **kwargs)
        sync(device)
        t2 = time.perf_counter()
    return t1 - t0, (tokens - 1) / max(1e-9, (t2 - t1) - (t1 - t0))


def ours(backend: Any, ids: list[int], tokens: int, key: str = "") -> Any:
    from distill_lsp.engine.types import GenerationRequest
    from distill_lsp.profiles import SamplingProfile

    greedy = SamplingProfile("greedy", do_sample=False, repetition_penalty=1.0)
    return backend.generate(GenerationRequest(list(ids), greedy, tokens, cache_key=key))


def main() -> None:
    import torch

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--small", action="store_true", help="a tiny config (to check the script on a CPU)")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--prompt", type=int, default=1000)
    parser.add_argument("--tokens", type=int, default=128)
    parser.add_argument("--typing", type=int, default=40)
    parser.add_argument("--skip-compile", action="store_true")
    args = parser.parse_args()
    device = args.device
    model, backend = build(args.small, device)
    gen = torch.Generator().manual_seed(1)
    vocab = model.config.vocab_size
    prompt = torch.randint(0, vocab, (args.prompt,), generator=gen).tolist()
    weights_gb = sum(p.numel() * p.element_size() for p in model.parameters()) / 1e9
    print(f"device {device} ({torch.cuda.get_device_name() if device.startswith('cuda') else 'cpu'}), "
          f"{model.config.num_hidden_layers} layers, weights {weights_gb:.2f} GB {backend.info.dtype}")

    ours(backend, prompt[:64], 4)  # warm-up of the kernels at this size
    ttfts = [ours(backend, prompt, 1).time_to_first_token_s for _ in range(3)]
    result = ours(backend, prompt, args.tokens)
    ours_tps = (result.new_tokens - 1) / max(1e-9, result.total_s - result.time_to_first_token_s)
    plain_ttft, plain_tps = plain_generate(model, prompt, args.tokens, device)
    rows = [("plain generate (eager, dynamic cache)", plain_ttft, plain_tps),
            ("ours (eager decode loop, lean step)", statistics.median(ttfts), ours_tps)]
    if not args.skip_compile:
        try:
            plain_generate(model, prompt, 8, device, cache_implementation="static")  # compile + capture
            c_ttft, c_tps = plain_generate(model, prompt, args.tokens, device, cache_implementation="static")
            rows.append(("generate, static cache + torch.compile", c_ttft, c_tps))
        except Exception as exc:  # report, don't hide: the eager figures still stand
            print(f"static cache + compile failed: {type(exc).__name__}: {exc}")

    print(f"\n| path | time to first token ({args.prompt} tokens) ms | decode tok/s |")
    print("| --- | --- | --- |")
    for name, ttft, tps in rows:
        print(f"| {name} | {ttft * 1000:.1f} | {tps:.1f} |")
    print(f"\nours / plain decode: {ours_tps / plain_tps:.2f}x")

    latencies, reused = [], []
    for i in range(args.typing):
        t0 = time.perf_counter()
        r = ours(backend, prompt[: args.prompt - args.typing + i], 24, key="typing")
        sync(device)
        latencies.append((time.perf_counter() - t0) * 1000)
        reused.append(r.reused_tokens)
    latencies.sort()
    p95 = latencies[min(len(latencies) - 1, round(0.95 * (len(latencies) - 1)))]
    print(f"\ntyping simulation ({args.typing} requests, +1 token each, 24 new tokens): "
          f"p50 {statistics.median(latencies):.1f} ms, p95 {p95:.1f} ms, "
          f"reused {statistics.median(reused[1:]) if len(reused) > 1 else 0:.0f} of ~{args.prompt} prompt tokens")
    if device.startswith("cuda"):
        print(f"GPU memory: allocated {torch.cuda.memory_allocated() / 2**30:.2f} GiB, "
              f"peak {torch.cuda.max_memory_allocated() / 2**30:.2f} GiB")


if __name__ == "__main__":
    main()
