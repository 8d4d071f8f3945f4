"""The README's Layout section matches the folders: every path it names exists, and every package of the
harness is named, so that a newcomer can read the data path from it."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def layout_text() -> str:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    start = text.index("## Layout")
    end = text.find("\n## ", start + 1)
    return text[start:] if end == -1 else text[start:end]


def named_paths(text: str) -> set[str]:
    return {path.rstrip("/") for path in re.findall(r"`((?:harness|lambdas|scenarios|tests|scripts)/[^`]*)`", text)}


def test_every_path_the_layout_names_exists() -> None:
    missing = sorted(path for path in named_paths(layout_text()) if not (ROOT / path).exists())
    assert missing == []


def test_every_package_of_the_harness_is_in_the_layout() -> None:
    named = named_paths(layout_text())
    packages = sorted(f"harness/{p.name}" for p in (ROOT / "harness").iterdir()
                      if p.is_dir() and (p / "__init__.py").exists())
    assert packages, "no package found under harness/"
    assert [package for package in packages if package not in named] == []
