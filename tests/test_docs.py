"""The documentation site builds in strict mode (any warning fails: a broken link, a missing
page, a docstring mkdocstrings cannot read, an example file a tutorial includes that is gone),
every example has a tutorial that includes the whole file, and every `popbt` command the
tutorials show is one the command line accepts."""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from popbt.cli import build_parser

ROOT = Path(__file__).resolve().parent.parent
TUTORIALS = ROOT / "docs" / "tutorials"


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("site")
    done = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "-d", str(out)],
                          cwd=ROOT, capture_output=True, text=True, timeout=300,
                          env={**os.environ, "NO_MKDOCS_2_WARNING": "1"})
    assert done.returncode == 0, done.stderr[-4000:]
    return out


def test_the_site_builds_strict_with_the_api_reference(site: Path):
    population = (site / "api" / "population" / "index.html").read_text()
    assert "create_population" in population and "load_if_exists" in population
    assert "TorchTrainable" in (site / "api" / "trainable" / "index.html").read_text()
    assert "Plateau" in (site / "api" / "stopping" / "index.html").read_text()


def test_every_example_has_a_tutorial_holding_the_whole_file(site: Path):
    for example in sorted((ROOT / "examples").glob("*.py")):
        page = TUTORIALS / f"{example.stem}.md"
        assert page.is_file(), f"no tutorial for {example.name}"
        assert f'--8<-- "examples/{example.name}"' in page.read_text()
        html = (site / "tutorials" / example.stem / "index.html").read_text()
        first_def = re.search(r"^(?:class|def) (\w+)", example.read_text(), re.M)
        assert first_def is not None and first_def.group(1) in html


def test_the_commands_tutorials_show_parse():
    parser = build_parser()
    commands = [line.split("#")[0].strip() for page in sorted(TUTORIALS.glob("*.md"))
                for line in page.read_text().splitlines() if line.startswith("popbt ")]
    assert len(commands) >= 5
    for command in commands:
        parser.parse_args(shlex.split(command)[1:])  # exits (fails the test) when it cannot
