"""CONTRIBUTING.md holds: a strategy added the documented way (one file, one `register` line)
is stored, trained with in this process and in worker processes, and offered by the command
line; and every code block in CONTRIBUTING.md runs."""

from __future__ import annotations

import json
import re
import shlex
import shutil
import sys
import tempfile
import types
from collections.abc import Iterator
from pathlib import Path

import pytest

import popbt
from checks import check_consistent
from popbt.cli import main
from popbt.records import EventKind
from popbt.strategies import DeferredExploit, from_config, registry
from trainables import Quadratic

ROOT = Path(__file__).resolve().parent.parent
GUIDE = ROOT / "CONTRIBUTING.md"
TARGET = str(Path(__file__).parent / "trainables.py")
PACKAGE = "contrib_strategies"
REF = f"{PACKAGE}.copy_best:CopyBest"

STRATEGY_FILE = '''"""Copy the best member: a strategy added as CONTRIBUTING.md says."""

import math
from dataclasses import dataclass

from popbt.strategies import Exploit, register
from popbt.strategies.exploit import rank


@dataclass(frozen=True)
class CopyBest(Exploit):
    """A member copies the best other member if it scores more than `margin` higher."""

    margin: float = 0.0

    def select(self, member, peers, rng):
        others = [p for p in rank(peers, rng) if p.member_id != member.member_id]
        best = others[0] if others else None
        if best and math.isfinite(best.fitness) and best.fitness > member.fitness + self.margin:
            return best.member_id
        return None


register(CopyBest, name="copy-best", help="copy the best other member if it scores higher")
'''


@pytest.fixture
def table(monkeypatch: pytest.MonkeyPatch) -> None:
    """The strategy registry as it is, restored after the test."""
    monkeypatch.setattr(registry, "_ENTRIES", dict(registry._ENTRIES))


def _forget(package: str) -> None:
    for name in [m for m in sys.modules if m == package or m.startswith(package + ".")]:
        del sys.modules[name]


@pytest.fixture
def strategy_module(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                    table: None) -> Iterator[types.ModuleType]:
    """The strategy's file in a package on `sys.path` (worker processes inherit it), imported:
    its `register` line has run."""
    package = tmp_path / "site" / PACKAGE
    package.mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "copy_best.py").write_text(STRATEGY_FILE)
    monkeypatch.syspath_prepend(str(package.parent))
    module = __import__(f"{PACKAGE}.copy_best", fromlist=["CopyBest"])
    yield module
    _forget(PACKAGE)


def test_the_new_strategy_round_trips_through_a_stored_config(strategy_module):
    exploit = registry.make("exploit", "copy-best", {})
    assert exploit == strategy_module.CopyBest()
    config = json.loads(json.dumps(strategy_module.CopyBest(margin=0.5).to_config()))
    assert config == {"type": "class", "kind": "exploit", "ref": REF, "args": {"margin": 0.5}}
    rebuilt = from_config(config)
    assert isinstance(rebuilt, DeferredExploit)
    assert rebuilt.resolve() == strategy_module.CopyBest(margin=0.5)


def test_a_population_trains_with_it_here_and_resumes(strategy_module, make_pop, db_url):
    pop = make_pop(size=4, exploit=registry.make("exploit", "copy-best", {}))
    pop.train(Quadratic, steps=20, progress=False)
    check_consistent(pop, 20)
    assert pop.events(kinds=[EventKind.EXPLOIT])
    again = popbt.load_population(name="test", storage=db_url)
    assert isinstance(again.settings.exploit, DeferredExploit)
    resumed = make_pop(size=4, exploit=strategy_module.CopyBest(), load_if_exists=True)
    resumed.train(Quadratic, steps=30, progress=False)
    check_consistent(resumed, 30)


def test_worker_processes_import_it_themselves(strategy_module, make_pop):
    pop = make_pop(size=4, exploit=strategy_module.CopyBest())
    pop.train(Quadratic, steps=20, workers=2, progress=False)
    check_consistent(pop, 20)
    assert pop.events(kinds=[EventKind.EXPLOIT])


def test_the_command_line_offers_and_accepts_it(strategy_module, tmp_path, monkeypatch,
                                                capsys):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SystemExit) as done:
        main(["run", "--help"])
    assert done.value.code == 0
    assert "copy-best: copy the best other member if it scores higher" in \
        " ".join(capsys.readouterr().out.split())
    assert main(["run", TARGET, "--trainable", "Quadratic", "--metric", "score",
                 "--population", "4", "--ready-every", "5", "--steps", "10", "--quiet",
                 "--name", "cli", "--exploit", "copy-best"]) == 0
    stored = popbt.load_population(name="cli", storage="sqlite:///popbt.db")
    assert stored.settings.to_config()["exploit"]["ref"] == REF
    stored.storage.close()


def test_an_unknown_name_lists_the_known_ones(strategy_module, capsys):
    with pytest.raises(popbt.ConfigError, match=r"exploit 'copy-worst' is unknown; choose one "
                                                r"of truncation, tournament, ttest, backtrack, "
                                                r"copy-best"):
        registry.make("exploit", "copy-worst", {})
    with pytest.raises(popbt.ConfigError, match=r"unknown strategy type 'CopyBest'; known: "
                                                r"\[.*'Truncation'"):
        from_config({"type": "CopyBest"})
    with pytest.raises(SystemExit) as done:
        main(["run", TARGET, "--steps", "1", "--exploit", "copy-worst"])
    assert done.value.code == 2
    assert ("'truncation', 'tournament', 'ttest', 'backtrack', 'copy-best'"
            in capsys.readouterr().err)


def test_a_stored_class_that_cannot_be_imported_stops_training_not_reading(
        strategy_module, make_pop, db_url, tmp_path):
    make_pop(size=4, exploit=strategy_module.CopyBest()).storage.close()
    shutil.rmtree(tmp_path / "site")
    _forget(PACKAGE)
    pop = popbt.load_population(name="test", storage=db_url)
    assert pop.status()["settings"]["exploit"]["ref"] == REF  # read without importing it
    with pytest.raises(popbt.ConfigError, match=rf"exploit strategy class '{REF}' cannot be "
                                                rf"imported"):
        pop.train(Quadratic, steps=10, progress=False)


def _blocks(language: str) -> list[str]:
    return re.findall(rf"```{language}\n(.*?)```", GUIDE.read_text(encoding="utf-8"), re.S)


def test_the_guide_holds_only_python_and_bash_blocks():
    fences = re.findall(r"^```(\w*)$", GUIDE.read_text(encoding="utf-8"), re.M)
    assert set(fences[::2]) == {"python", "bash"} and not any(fences[1::2])


def test_the_python_blocks_run_in_order(table: None, tmp_path: Path,
                                        monkeypatch: pytest.MonkeyPatch):
    """As one module of the reader's (its classes are stored by reference to it)."""
    module = types.ModuleType("contributing_guide")
    monkeypatch.setitem(sys.modules, module.__name__, module)
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    monkeypatch.chdir(tmp_path)
    blocks = _blocks("python")
    assert len(blocks) >= 5
    for block in blocks:
        exec(compile(block, str(GUIDE), "exec"), module.__dict__)
    module.pop.storage.close()


@pytest.mark.parametrize("line", [line for block in _blocks("bash")
                                  for line in block.splitlines()])
def test_the_shell_lines_name_commands_and_paths_that_exist(line: str):
    words = shlex.split(line)
    assert shutil.which(words[0]) or Path(sys.executable).with_name(words[0]).exists(), words[0]
    for word in words[1:]:
        if "/" in word and not word.startswith("."):
            assert (ROOT / word).exists(), word
