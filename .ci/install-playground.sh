#!/bin/sh
# Install what the playground and its browser test need (idempotent): Debian's chromium and
# its driver, and the `web` + `sweep` extras' packages into the given Python (default: .venv).
set -eu
PYTHON="${1:-.venv/bin/python}"
if ! command -v chromium >/dev/null 2>&1 || ! command -v chromedriver >/dev/null 2>&1; then
    SUDO=""
    [ "$(id -u)" = 0 ] || SUDO="sudo"
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq chromium chromium-driver
fi
"$PYTHON" -m pip install -q "starlette>=0.40" "uvicorn>=0.30" "matplotlib>=3.8" "selenium>=4.20"
