"""The README runs as written: every code block, top to bottom, in one folder, as a user who
follows it does (Python blocks as scripts, named by their first-line comment, shell blocks
through bash).

Three blocks cannot run literally on one machine without a network, and are run with the
smallest change that lets them, stated here:
- the install-and-test lines (quick start, development): the install is what built this
  environment and the test command is this suite, so of the quick start only `popbt demo toy`
  runs; the development block's commands run in the repository, its benchmarks (minutes to
  45 minutes each) with `--help`, and the documentation site builds there into `site/`;
- `popbt dashboard` serves until interrupted: it runs until its page answers, then gets
  Ctrl-C (SIGINT) and must end cleanly;
- "Beyond one machine": this machine's PostgreSQL server, a local S3 server and a Ray
  cluster started with `ray start --head` stand in for `db-host`, `s3://bucket` and the
  cluster, `/shared/ckpt` is a local folder, and the sizes are scaled to two cores (4 members,
  300 steps, 2 workers, no GPU); the `pip install` of the extras is checked as their imports.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
BIN = Path(sys.executable).parent
TIMEOUT_S = 600


@dataclass(frozen=True)
class Block:
    """A fenced code block of the README: its language, first line number and text."""

    lang: str
    line: int
    text: str

    @property
    def script_name(self) -> str | None:
        """The file a Python block names in its first line (`# quickstart.py: ...`), if any."""
        match = re.match(r"# (\w+\.py)\b", self.text)
        return match.group(1) if match else None


def readme_blocks() -> list[Block]:
    """Every fenced block of the README, in order."""
    text = README.read_text()
    return [Block(m.group(1), text.count("\n", 0, m.start()) + 1, m.group(2))
            for m in re.finditer(r"^```(\w+)\n(.*?)^```$", text, re.S | re.M)]


def run(command: list[str], folder: Path, block: Block) -> subprocess.CompletedProcess[str]:
    """Run one command of `block` in `folder` with this environment's `popbt` first on PATH;
    fail naming the block's README line unless it exits 0."""
    env = {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}"}
    env.pop("PYTHONPATH", None)
    done = subprocess.run(command, cwd=folder, env=env, capture_output=True, text=True,
                          timeout=TIMEOUT_S)
    assert done.returncode == 0, (f"README.md:{block.line}: {command} exited "
                                  f"{done.returncode}\n{done.stdout[-3000:]}\n"
                                  f"{done.stderr[-3000:]}")
    return done


def run_python(block: Block, folder: Path, *, replace: dict[str, str] | None = None) -> str:
    """Save the block as the file it names (or one named by its line) and run it."""
    name = block.script_name or f"readme_{block.line}.py"
    text = block.text
    for old, new in (replace or {}).items():
        assert old in text, f"README.md:{block.line}: {old!r} is gone"
        text = text.replace(old, new)
    (folder / name).write_text(text)
    return run([sys.executable, name], folder, block).stdout


def run_dashboard(line: str, folder: Path, block: Block) -> None:
    """Start the dashboard command, wait until its page answers, interrupt it (Ctrl-C)."""
    env = {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}"}
    server = subprocess.Popen(["bash", "-c", f"exec {line}"], cwd=folder, env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 60
        while True:
            assert server.poll() is None, f"README.md:{block.line}: {server.communicate()}"
            try:
                with urllib.request.urlopen("http://127.0.0.1:8765/", timeout=5) as page:
                    assert page.status == 200 and b"popbt" in page.read()
                break
            except OSError:
                assert time.monotonic() < deadline, f"README.md:{block.line}: no page"
                time.sleep(0.5)
        server.send_signal(signal.SIGINT)
        out, err = server.communicate(timeout=30)
        assert server.returncode in (0, 130) and "Traceback" not in err, (out, err)
    finally:
        if server.poll() is None:
            server.kill()


@pytest.fixture
def ray_head(tmp_path: Path) -> Iterator[None]:
    """A Ray cluster on this machine, started as a user starts one (`ray start --head`)."""
    ray = str(BIN / "ray")
    started = subprocess.run([ray, "start", "--head", "--num-cpus=2", "--disable-usage-stats"],
                             capture_output=True, text=True, timeout=180)
    assert started.returncode == 0, started.stderr
    try:
        yield
    finally:
        subprocess.run([ray, "stop", "--force"], capture_output=True, timeout=180)


SCALED = {"--population 32": "--population 4", "--steps 5000": "--steps 300",
          "--workers 16": "--workers 2", ",GPU=0.25": "", "size=32": "size=4",
          "steps=5_000": "steps=300", "workers=16": "workers=2"}


def run_cluster_blocks(shell: Block, python: Block, folder: Path, pg_url: str, bucket: str,
                       monkeypatch: pytest.MonkeyPatch) -> None:
    """The "Beyond one machine" pair, on this machine's servers (see the module docstring)."""
    lines = [ln for ln in shell.text.replace("\\\n", "").splitlines() if ln.strip()]
    install = lines.pop(0)
    assert install == "pip install -e '.[postgres,ray,remote]'"
    for module in ("psycopg", "ray", "s3fs"):
        __import__(module)
    export = lines.pop(0)
    assert export.startswith("export POPBT_STORAGE='postgresql+psycopg://user:password@db-host/")
    monkeypatch.setenv("POPBT_STORAGE", pg_url)
    shared = folder / "shared-ckpt"
    for line in lines:
        command = line.split("#")[0].replace("s3://bucket/", f"s3://{bucket}/")
        command = command.replace("/shared/ckpt", str(shared))
        for old, new in SCALED.items():
            command = command.replace(old, new)
        run(["bash", "-euo", "pipefail", "-c", command], folder, shell)
    assert any(p.is_file() for p in shared.rglob("*")), "the Ray run wrote no checkpoint there"
    run_python(python, folder, replace={"s3://bucket/": f"s3://{bucket}/", "size=32": "size=4",
                                        "steps=5_000": "steps=300", "workers=16": "workers=2"})
    import popbt

    for name in ("digits", "digits-ray", "quickstart-ray"):
        pop = popbt.load_population(name=name, storage=pg_url)
        assert {m.step for m in pop.members} == {300}, name
        pop.storage.close()


@pytest.mark.slow
@pytest.mark.timeout(1800)  # every block of the README in turn: minutes on a busy machine
def test_the_readme_runs_top_to_bottom(tmp_path: Path, pg_url: str, s3_bucket: str,
                                       ray_head: None, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("POPBT_STORAGE", raising=False)
    folder = tmp_path / "user"
    shutil.copytree(ROOT / "examples", folder / "examples")
    blocks = readme_blocks()
    assert len(blocks) >= 9
    ran: list[int] = []
    for i, block in enumerate(blocks):
        if block.line in ran:
            continue
        ran.append(block.line)
        if block.lang == "python" and block.script_name == "on_a_cluster.py":
            continue  # run with the shell block before it
        if block.lang == "python":
            run_python(block, folder)
        elif "db-host" in block.text:
            python = blocks[i + 1]
            assert python.script_name == "on_a_cluster.py"
            run_cluster_blocks(block, python, folder, pg_url, s3_bucket, monkeypatch)
            ran.append(python.line)
        elif block.lang == "bash":
            for line in block.text.splitlines():
                if "&& pytest" in line:
                    continue  # the test command: this suite
                command = line.replace("pip install -e . && ", "")
                if command.startswith("python benchmarks/"):
                    run([sys.executable, command.split()[1], "--help"], ROOT, block)
                elif command.startswith(("ruff ", "mkdocs ")):
                    run(["bash", "-euo", "pipefail", "-c", command], ROOT, block)
                elif command.startswith("popbt dashboard"):
                    run_dashboard(command.split("#")[0], folder, block)
                elif command.strip():
                    run(["bash", "-euo", "pipefail", "-c", command], folder, block)
        else:
            pytest.fail(f"README.md:{block.line}: a {block.lang!r} block this test cannot run")
    assert sorted(ran) == [b.line for b in blocks]
    # what the blocks say they make is there
    assert (folder / "toy.png").exists() and (folder / "toy.html").exists()
    assert (folder / "report.html").exists() and (folder / "schedule.csv").exists()
