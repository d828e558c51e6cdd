"""The Dockerfile (Docker cannot run here): hadolint passes it, and the README's documented
`docker run` line agrees with it (port, model volume, token file, restart policy, GPU)."""

from __future__ import annotations

import json
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DOCKERFILE = (ROOT / "Dockerfile").read_text()
README = (ROOT / "README.md").read_text()


def hadolint() -> str:
    """The hadolint binary of the `lint` extra (next to this interpreter, or on PATH)."""
    found = Path(sys.executable).with_name("hadolint")
    path = str(found) if found.exists() else shutil.which("hadolint")
    assert path, "hadolint is missing: pip install -e '.[lint]'"
    return path


def instruction(name: str) -> str:
    lines = [line for line in DOCKERFILE.splitlines() if line.startswith(f"{name} ")]
    assert len(lines) == 1, (name, lines)
    return lines[0][len(name) + 1:]


def documented_run() -> list[str]:
    runs = [line for line in README.splitlines() if line.startswith("docker run -d ")]
    assert len(runs) == 1, runs
    return shlex.split(runs[0])


def option_values(argv: list[str], flag: str) -> list[str]:
    return [argv[i + 1] for i, arg in enumerate(argv) if arg == flag]


def test_hadolint_passes() -> None:
    proc = subprocess.run([hadolint(), "--no-color", "--failure-threshold", "info", "-"], input=DOCKERFILE,
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_hadolint_would_catch_a_problem() -> None:
    bad = DOCKERFILE.replace("USER 10001", "USER distill").replace("--no-install-recommends ", "")
    proc = subprocess.run([hadolint(), "--no-color", "-"], input=bad, capture_output=True, text=True, timeout=60)
    assert proc.returncode != 0 and "DL3015" in proc.stdout


def test_image_runs_the_tcp_server_on_a_cuda_runtime() -> None:
    assert re.fullmatch(r"nvidia/cuda:[\d.]+-runtime-ubuntu[\d.]+", instruction("FROM"))
    cmd = json.loads(instruction("CMD"))
    assert json.loads(instruction("ENTRYPOINT")) == ["distill-lsp"]
    assert cmd[:2] == ["serve", "--tcp"] and cmd[cmd.index("--host") + 1] == "0.0.0.0"
    assert "--token-file" in cmd  # another address than loopback needs the token


def test_readme_docker_run_agrees_with_the_dockerfile() -> None:
    argv = documented_run()
    cmd = json.loads(instruction("CMD"))
    port = cmd[cmd.index("--port") + 1]
    assert instruction("EXPOSE") == port
    assert option_values(argv, "-p") == [f"{port}:{port}"]
    volumes = option_values(argv, "-v")
    (volume,) = json.loads(instruction("VOLUME"))
    assert any(v.split(":")[1] == volume for v in volumes), (volumes, volume)
    token_file = cmd[cmd.index("--token-file") + 1]
    assert any(v.split(":")[1] == token_file and v.endswith(":ro") for v in volumes), (volumes, token_file)
    assert option_values(argv, "--restart") == ["unless-stopped"]
    assert option_values(argv, "--gpus") == ["all"]
    image = argv[-1]
    assert f"docker build -t {image} ." in README
    assert "HF_HOME=/models/" in DOCKERFILE and volume == "/models"  # the model cache lives on the volume
