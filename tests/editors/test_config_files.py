"""Static checks of the shipped editor configs: they parse, and every setting key they send is known.

The known keys come from `distill_lsp.settings.option_keys()` (the server's own table).
"""

from __future__ import annotations

import json
import re
import tomllib
from typing import Any

import pytest

from editor_harness import EDITORS, SHIPPED_SETTINGS

SERVER_KEYS_USED = {"model", "profile", "maxNewTokens"}


def known_keys() -> set[str]:
    from distill_lsp.settings import option_keys

    return option_keys()


def json_file(rel: str) -> Any:
    return json.loads((EDITORS / rel).read_text())


def toml_file(rel: str) -> dict[str, Any]:
    return tomllib.loads((EDITORS / rel).read_text())


def _lua_table_keys(text: str, table: str) -> set[str]:
    """Keys of `table = { ... }` (one level, as written in our snippets)."""
    m = re.search(table + r"\s*=\s*\{(.*?)\n\s*\}", text, re.S)
    assert m, f"no {table} table"
    return set(re.findall(r"^\s*(\w+)\s*=", m.group(1), re.M))


def _plist_keys(text: str) -> set[str]:
    return set(re.findall(r":(\w+) ", text)) - {"initializationOptions", "distill"}


def settings_snippets() -> dict[str, set[str]]:
    """Every place a config sends server settings -> the keys it sends."""
    helix = toml_file("helix/languages.toml")["language-server"]["distill-lsp"]
    sublime = json_file("sublime/LSP.sublime-settings")["clients"]["distill-lsp"]
    zed = json_file("zed/settings.json")["lsp"]["distill-lsp"]
    jetbrains = EDITORS / "jetbrains" / "distill-lsp"
    vscode = json_file("vscode/package.json")
    vscode_keys = {k.removeprefix("distill.") for block in vscode["contributes"]["configuration"]
                   for k in block["properties"] if k.startswith("distill.")}
    nvim = (EDITORS / "neovim" / "lsp" / "distill.lua").read_text()
    eglot = (EDITORS / "emacs" / "distill-eglot.el").read_text()
    eglot_settings = re.search(r"defvar distill-lsp-settings '\((.*?)\)", eglot).group(1)
    lsp_mode = (EDITORS / "emacs" / "distill-lsp-mode.el").read_text()
    vim = (EDITORS / "vim" / "distill.vim").read_text()
    return {
        "helix config": set(helix["config"]),
        "sublime initializationOptions": set(sublime["initializationOptions"]),
        "sublime settings.distill": set(sublime["settings"]["distill"]),
        "zed initialization_options": set(zed["initialization_options"]),
        "zed settings.distill": set(zed["settings"]["distill"]),
        "jetbrains initializationOptions": set(json.loads((jetbrains / "initializationOptions.json").read_text())),
        "jetbrains settings.distill": set(json.loads((jetbrains / "settings.json").read_text())["distill"]),
        "vscode distill.*": vscode_keys,
        "neovim init_options": _lua_table_keys(nvim, "init_options"),
        "neovim settings.distill": _lua_table_keys(nvim, "distill"),
        "eglot settings": _plist_keys(eglot_settings + " "),
        "lsp-mode custom settings": set(re.findall(r'"distill\.(\w+)"', lsp_mode)),
        "lsp-mode initialization-options": set(re.findall(r":(\w+) distill-lsp-", lsp_mode)),
        "vim settings": set(re.findall(r"'(\w+)': ", re.search(r"distill_lsp_settings',\s*\\ (\{.*?\})", vim).group(1))),
    }


@pytest.mark.parametrize("where", sorted(settings_snippets()))
def test_snippet_keys_are_known_settings(where: str) -> None:
    keys = settings_snippets()[where]
    assert keys == SERVER_KEYS_USED, f"{where}: {keys}"
    unknown = keys - known_keys()
    assert not unknown, f"{where} sends unknown settings {unknown}"


def test_helix_languages_toml() -> None:
    data = toml_file("helix/languages.toml")
    server = data["language-server"]["distill-lsp"]
    assert server["command"] == "distill-lsp" and server["args"] == ["serve"]
    langs = {lang["name"]: lang["language-servers"] for lang in data["language"]}
    assert "python" in langs and all("distill-lsp" in servers for servers in langs.values())


def test_sublime_settings_and_keymap() -> None:
    client = json_file("sublime/LSP.sublime-settings")["clients"]["distill-lsp"]
    assert client["command"] == ["distill-lsp", "serve"] and client["enabled"] is True
    assert "source.python" in client["selector"]
    keymap = json_file("sublime/Default.sublime-keymap")
    assert all(b["command"] == "lsp_code_actions" for b in keymap)


def test_zed_extension_and_settings() -> None:
    manifest = toml_file("zed/extension.toml")
    assert manifest["id"] == "distill-lsp" and manifest["schema_version"] == 1
    assert "Python" in manifest["language_servers"]["distill-lsp"]["languages"]
    cargo = toml_file("zed/Cargo.toml")
    assert cargo["lib"]["crate-type"] == ["cdylib"] and "zed_extension_api" in cargo["dependencies"]
    lib = (EDITORS / "zed" / "src" / "lib.rs").read_text()
    assert "register_extension!(DistillLsp)" in lib and '"serve"' in lib
    settings = json_file("zed/settings.json")
    assert settings["lsp"]["distill-lsp"]["binary"]["arguments"] == ["serve"]
    assert settings["languages"]["Python"]["language_servers"][0] == "distill-lsp"


def test_jetbrains_lsp4ij_template() -> None:
    folder = EDITORS / "jetbrains" / "distill-lsp"
    template = json.loads((folder / "template.json").read_text())
    assert template["id"] == "distill-lsp" and template["programArgs"]["default"] == "distill-lsp serve"
    ids = {m["languageId"] for m in template["fileTypeMappings"]}
    assert {"python", "javascript", "typescript"} <= ids
    schema = json.loads((folder / "settings.schema.json").read_text())
    assert set(schema["properties"]["distill"]["properties"]) == SERVER_KEYS_USED


def test_every_editor_has_a_readme() -> None:
    for folder in sorted(p for p in EDITORS.iterdir() if p.is_dir()):
        readme = folder / "README.md"
        assert readme.is_file() and "distill-lsp" in readme.read_text(), folder


def _literal(raw: str) -> Any:
    return int(raw) if raw.isdigit() else raw.strip("'\"")


def shipped_defaults() -> dict[str, dict[str, Any]]:
    """The settings values the configs the editor tests load send before the tests' override."""
    nvim = (EDITORS / "neovim" / "lsp" / "distill.lua").read_text()
    nvim_init = re.search(r"init_options\s*=\s*\{(.*?)\n\s*\}", nvim, re.S).group(1)
    eglot = (EDITORS / "emacs" / "distill-eglot.el").read_text()
    eglot_settings = re.search(r"defvar distill-lsp-settings '\((.*?)\)", eglot).group(1)
    vim = (EDITORS / "vim" / "distill.vim").read_text()
    vim_settings = re.search(r"distill_lsp_settings',\s*\\ (\{.*?\})", vim).group(1)
    vscode = json_file("vscode/package.json")
    return {
        "neovim": {k: _literal(v) for k, v in re.findall(r"^\s*(\w+)\s*=\s*('[^']*'|\d+)", nvim_init, re.M)},
        "emacs": {k: _literal(v) for k, v in re.findall(r':(\w+) ("[^"]*"|\d+)', eglot_settings)},
        "vim": {k: _literal(v) for k, v in re.findall(r"'(\w+)': ('[^']*'|\d+)", vim_settings)},
        "vscode": {k.removeprefix("distill."): v["default"] for block in vscode["contributes"]["configuration"]
                   for k, v in block["properties"].items() if k.startswith("distill.")},
    }


@pytest.mark.parametrize("editor", sorted(shipped_defaults()))
def test_editor_tests_start_from_the_shipped_settings(editor: str) -> None:
    """The editor tests expect SHIPPED_SETTINGS | FAST_SETTINGS: the shipped values must be these."""
    assert shipped_defaults()[editor] == SHIPPED_SETTINGS
