"""The README's settings table is made from the option table, so it cannot drift."""

from pathlib import Path

from distill_lsp.settings import settings_table


def test_readme_settings_table_is_current() -> None:
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    assert settings_table() in readme, "regenerate the README table: python -c 'from distill_lsp.settings import settings_table; print(settings_table())'"
