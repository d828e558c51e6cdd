"""The models of each job, for `distill.status`: completions and actions (Explain / Fix /
Document), each with its engine, device, dtype, kernels and memory. Both roles show the same
engine id when one model serves both."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..completion.prompt import template_for

if TYPE_CHECKING:
    from ..server import DistillLanguageServer


def models_status(ls: DistillLanguageServer) -> dict[str, Any]:
    out = {role: _model(view.engine) for role, view in ls.engines().items()}
    info = ls.engine.info
    out["completion"]["template"] = template_for(info).name if info is not None else ""
    return out


def _model(engine: Any) -> dict[str, Any]:
    from .status import parameter_bytes  # (status imports this module)

    info = engine.info
    kernels = info.kernels if info is not None else {}
    return {
        "engineId": f"{id(engine):x}",
        "state": engine.state.value,
        "error": engine.error,
        "model": info.name if info else "",
        "source": info.source if info else "",
        "device": info.device if info else "",
        "dtype": info.dtype if info else "",
        "quantization": info.quantization if info else "",
        "kernels": {k: kernels[k] for k in ("prompt", "decode") if k in kernels},
        "parameterMiB": round(parameter_bytes(engine.backend) / 2**20, 1),
        "keptWeightsMiB": kernels.get("weight_mib"),
        "prefixEntries": len(prefix) if (prefix := getattr(engine.backend, "prefix", None)) is not None else 0,
        "loads": engine.loads,
        "pending": engine.pending(),
    }
