"""Rewrite the README's settings table from the option table (settings.settings_table)."""

from __future__ import annotations

import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "server"))

from distill_lsp.settings import settings_table  # noqa: E402

readme = ROOT / "README.md"
text = readme.read_text()
table = re.compile(r"^\| key \| default \| env \| meaning \|\n(?:\|.*\|\n)+", re.M)
if not table.search(text):
    sys.exit("README.md has no settings table to replace")
readme.write_text(table.sub(lambda _: settings_table().rstrip("\n") + "\n", text, count=1))
print("README.md settings table updated")
