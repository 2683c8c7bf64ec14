"""Devices: the GPUs worker processes are given (`Processes(gpus=...)`, through the
`CUDA_VISIBLE_DEVICES` each starts with), and where a `TorchTrainable` trains
(`resolve_device`, with torch's view of CUDA patched so each case runs on any machine).
Checkpoints written on a GPU: tests/test_checkpoints_gpu.py."""

from __future__ import annotations

import io
import os
import subprocess
import sys
from collections import namedtuple
from pathlib import Path
from typing import Any

import pytest
import torch

import popbt
from device_trainables import EnvRecorder, Regression
from popbt._devices import check_gpus, parse_gpus, slot_devices
from popbt._execution import Work, executor_for
from popbt.errors import ConfigError, TrainingError
from popbt.executors import InProcess, Processes
from popbt.executors.processes import _ProcessPool
from popbt.torch import resolve_device, to_device

LR_SPACE = popbt.Space({"lr": popbt.LogUniform(1e-3, 1e-1)})


# -- GPUs for worker processes ------------------------------------------------------------------

@pytest.mark.parametrize(("gpus", "checked"), [
    ([0, 1], (0, 1)), ((2,), (2,)), (range(2), (0, 1)), (["GPU-8f2c", 1], ("GPU-8f2c", 1)),
    (0.5, 0.5), (1, 1.0)])
def test_gpus_are_ids_or_the_share_of_a_gpu_per_worker(gpus: Any, checked: Any):
    assert check_gpus(gpus) == checked
    assert Processes(workers=2, gpus=gpus).gpus == checked


@pytest.mark.parametrize(("gpus", "message"), [
    ([], r"gpus=\[\]: give at least one GPU id"),
    ([0, -1], r"gpus=\[0, -1\]: -1 is not a GPU id; an id is an integer >= 0"),
    ([True], "True is not a GPU id"),
    (["cuda:0"], "'cuda:0' is not a GPU id"),
    (0, "gpus=0: a number is the share of one GPU each worker uses, in \\(0, 1\\]"),
    (1.5, "gpus=1.5: a number is the share"),
    (float("nan"), "gpus=nan: a number is the share"),
    ("0,1", r"gpus='0,1': expected a list of GPU ids such as \[0, 1\]"),
    (True, "gpus=True: expected"),
])
def test_bad_gpus_are_refused_when_the_executor_is_made(gpus: Any, message: str):
    with pytest.raises(ConfigError, match=message):
        Processes(workers=2, gpus=gpus)


@pytest.mark.parametrize(("gpus", "workers", "visible", "devices"), [
    ((0, 1), 4, None, ["0", "1", "0", "1"]),
    (0.5, 4, None, ["0", "0", "1", "1"]),
    (0.3, 4, None, ["0", "0", "0", "1"]),
    (1.0, 3, None, ["0", "1", "2"]),
    ((1, 0), 2, "7,9", ["9", "7"]),  # ids index this process's own list
    (0.5, 3, "4, 5", ["4", "4", "5"]),
    (("GPU-a",), 2, "7", ["GPU-a", "GPU-a"]),
    ((0,), 1, "3,-1,4", ["3"]),  # CUDA stops reading at a negative id
])
def test_each_worker_slot_gets_its_devices(gpus: Any, workers: int, visible: str | None,
                                           devices: list[str]):
    assert slot_devices(gpus, workers, visible) == devices


@pytest.mark.parametrize(("gpus", "workers", "visible", "message"), [
    ((0, 2), 2, "4,5", r"gpus=\[0, 2\], but this process sees 2 GPUs "
                       r"\(CUDA_VISIBLE_DEVICES='4,5'\), so ids run 0..1"),
    (0.5, 6, "4,5", "gpus=0.5 with 6 workers needs 3 GPUs, but this process sees 2"),
    ((0,), 1, "", "sees 0 GPUs .* so no worker can be given one"),
])
def test_gpus_beyond_this_process_s_own_are_refused(gpus: Any, workers: int, visible: str,
                                                    message: str):
    with pytest.raises(ConfigError, match=message):
        slot_devices(gpus, workers, visible)


@pytest.mark.parametrize(("text", "gpus"), [
    ("0,1", (0, 1)), ("3", (3,)), ("0.5", 0.5), ("1.0", 1.0), ("GPU-a,GPU-b", ("GPU-a", "GPU-b"))])
def test_the_command_line_form_of_gpus(text: str, gpus: Any):
    assert parse_gpus(text) == gpus


@pytest.mark.parametrize("text", ["", "0,,1", "1.5", "x", "-1"])
def test_a_bad_command_line_gpus_is_refused(text: str):
    with pytest.raises(ConfigError, match=f"--gpus '{text}': expected GPU ids separated by"):
        parse_gpus(text)


@pytest.mark.parametrize(("executor", "workers", "expected"), [
    (None, None, Processes(workers=1, gpus=[0])),  # gpus start worker processes
    ("processes", 2, Processes(workers=2, gpus=[0])),
])
def test_gpus_go_to_worker_processes(executor: str | None, workers: int | None,
                                     expected: Processes):
    assert executor_for(executor, workers=workers, gpus=[0]) == expected


@pytest.mark.parametrize(("executor", "message"), [
    ("inprocess", "applies to executor='processes', not 'inprocess'"),
    ("ray", r"not 'ray': ask Ray for them with resources_per_worker=\{'GPU': 0.5\}"),
    (Processes(workers=1), r"give it to the executor, such as popbt.Processes\(workers=2, gpus"),
])
def test_gpus_with_another_executor_are_refused(executor: Any, message: str):
    with pytest.raises(ConfigError, match=message):
        executor_for(executor, workers=None, gpus=[0])


def test_gpus_this_process_cannot_give_are_refused_before_anything_starts(
        make_pop: Any, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "4")
    pop = make_pop(size=2)
    with pytest.raises(ConfigError, match=r"gpus=\[0, 1\], but this process sees 1 GPUs"):
        pop.train(EnvRecorder, steps=5, executor=Processes(workers=2, gpus=[0, 1]))
    assert all(m.checkpoint_id is None for m in pop.members)


def _seen(log: Path) -> dict[str, set[tuple[str, str]]]:
    """pid → the (CUDA_VISIBLE_DEVICES, POPBT_ASSIGNED_GPUS) pairs its setups saw."""
    seen: dict[str, set[tuple[str, str]]] = {}
    for line in log.read_text().splitlines():
        pid, visible, assigned = line.split()
        seen.setdefault(pid, set()).add((visible, assigned))
    return seen


@pytest.mark.parametrize(("visible", "gpus", "expected"), [
    (None, [3, 5], {"3", "5"}), ("7,9", [1, 0], {"9", "7"})])
def test_each_worker_process_starts_with_its_gpus(make_pop: Any, tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch,
                                                  visible: str | None, gpus: list[int],
                                                  expected: set[str]):
    log = tmp_path / "devices.log"
    monkeypatch.setenv("POPBT_TEST_DEVICES", str(log))
    if visible is None:
        monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    else:
        monkeypatch.setenv("CUDA_VISIBLE_DEVICES", visible)
    monkeypatch.setenv("POPBT_TEST_DEVICES_PROCESSES", "2")
    before = dict(os.environ)
    pop = make_pop(size=4, ready=popbt.Every(steps=10))
    pop.train(EnvRecorder, steps=40, executor=Processes(workers=2, gpus=gpus), progress=False)
    seen = _seen(log)
    assert str(os.getpid()) not in seen and len(seen) == 2, seen  # both processes trained
    assert sorted(pairs for pids in seen.values() for pairs in pids) == \
        sorted((d, d) for d in expected)  # one pair per process, each its own
    assert dict(os.environ) == before  # this process's environment is untouched


def test_the_in_process_executor_leaves_the_environment_alone(
        make_pop: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    log = tmp_path / "devices.log"
    monkeypatch.setenv("POPBT_TEST_DEVICES", str(log))
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "5")
    make_pop(size=2).train(EnvRecorder, steps=5, executor=InProcess(), progress=False)
    assert _seen(log) == {str(os.getpid()): {("5", "-")}}


def test_a_torch_trainable_given_a_gpu_torch_cannot_see_stops_the_run(
        make_pop: Any, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    pop = make_pop(size=2, space=LR_SPACE)
    with pytest.raises(TrainingError, match=r"was given GPU 99 \(popbt.Processes\(gpus=\.\.\.\)\)"
                                            r", but .*; install a CUDA build of torch"):
        pop.train(Regression, steps=5, executor=Processes(workers=1, gpus=[99]),
                  progress=False)


class _FakeProcess:
    """Records the `CUDA_VISIBLE_DEVICES` it is started with."""

    def __init__(self, **_: Any) -> None:
        self.visible: str | None = None
        self.alive = True

    def start(self) -> None:
        self.visible = os.environ.get("CUDA_VISIBLE_DEVICES")

    def terminate(self) -> None:
        self.alive = False

    def join(self, timeout: float | None = None) -> None:
        pass

    def is_alive(self) -> bool:
        return self.alive


class _FakeContext:
    Process = _FakeProcess

    def Pipe(self, duplex: bool) -> tuple[Any, Any]:  # noqa: N802 - multiprocessing's name
        return io.BytesIO(), io.BytesIO()


def test_a_replacement_process_takes_the_gpus_of_the_one_it_replaces():
    work = Work(storage_url="sqlite:///x.db", population="p", trainable="m:C",
                checkpoint_root="/tmp")
    slots = Processes(workers=3, gpus=[4, 5, 6]).slot_environments()
    pool = _ProcessPool(_FakeContext(), work, lambda finding: None, slots)
    first = [pool.start() for _ in range(3)]
    assert [p.visible for p in first] == ["4", "5", "6"]
    pool.stop([first[1]])
    assert pool.start().visible == "5"


# -- where a TorchTrainable trains ----------------------------------------------------------------

@pytest.fixture
def no_cuda(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.delenv("POPBT_ASSIGNED_GPUS", raising=False)


@pytest.fixture
def two_gpus(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    monkeypatch.delenv("POPBT_ASSIGNED_GPUS", raising=False)


@pytest.mark.parametrize(("device", "resolved"), [
    (None, "cpu"), ("auto", "cpu"), ("cpu", "cpu"), (torch.device("cpu"), "cpu"),
    ("meta", "meta")])
def test_without_cuda_members_train_on_the_cpu(no_cuda: None, device: Any, resolved: str):
    assert resolve_device(device) == torch.device(resolved)


@pytest.mark.parametrize(("device", "message"), [
    ("cuda", "device='cuda': .*; use 'cpu', or 'auto' for CUDA where there is a device"),
    ("cuda:1", "device='cuda:1': "),
    (torch.device("cuda", 0), r"device=device\(type='cuda', index=0\): "),
    ("gpu", "device='gpu': expected one of 'auto', 'cpu', 'cuda', 'cuda:N', 'mps'"),
])
def test_a_cuda_device_that_is_not_there_is_refused(no_cuda: None, device: Any, message: str):
    with pytest.raises(ConfigError, match=message):
        resolve_device(device)


@pytest.mark.parametrize("device", [None, "auto"])
def test_a_worker_given_a_gpu_never_falls_back_to_the_cpu(no_cuda: None, device: str | None,
                                                         monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("POPBT_ASSIGNED_GPUS", "3")
    with pytest.raises(ConfigError, match="this worker process was given GPU 3"):
        resolve_device(device)


@pytest.mark.parametrize(("device", "assigned", "resolved"), [
    (None, None, "cpu"), (None, "1", "cuda"), ("auto", None, "cuda"), ("cuda", None, "cuda"),
    ("cuda:1", None, "cuda:1")])
def test_with_cuda_members_train_where_asked(two_gpus: None, monkeypatch: pytest.MonkeyPatch,
                                             device: str | None, assigned: str | None,
                                             resolved: str):
    if assigned is not None:
        monkeypatch.setenv("POPBT_ASSIGNED_GPUS", assigned)
    assert resolve_device(device) == torch.device(resolved)


def test_a_cuda_index_beyond_the_devices_is_refused(two_gpus: None):
    with pytest.raises(ConfigError, match=r"device='cuda:2': torch sees 2 CUDA devices here "
                                          r"\(cuda:0..cuda:1\)"):
        resolve_device("cuda:2")


def test_mps_that_is_not_there_is_refused(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: False)
    with pytest.raises(ConfigError, match="device='mps': MPS is not available here"):
        resolve_device("mps")


class MetaRegression(Regression):
    device = "meta"  # tensors without storage: seen to move, on any machine


def test_the_model_and_batches_go_to_the_trainable_s_device():
    t = MetaRegression()
    t.setup({"lr": 0.01}, seed=0)
    assert t.device == torch.device("meta")
    params = list(t.model.parameters())
    assert all(p.is_meta for p in params)
    held = t.optimizer.param_groups[0]["params"]
    assert [id(p) for p in held] == [id(p) for p in params]  # the same, moved
    Pair = namedtuple("Pair", "x y")
    batch = {"a": torch.ones(2), "b": [torch.ones(1), (torch.zeros(1), 3)],
             "c": Pair(torch.ones(1), "label")}
    moved = t.to_device(batch)
    assert moved["a"].is_meta and moved["b"][0].is_meta and moved["b"][1][0].is_meta
    assert moved["b"][1][1] == 3 and isinstance(moved["c"], Pair) and moved["c"].y == "label"
    assert moved["c"].x.is_meta and not batch["a"].is_meta  # a copy
    assert to_device(torch.ones(1), "meta").is_meta


def test_the_default_device_is_the_cpu_where_no_gpu_was_given(no_cuda: None):
    t = Regression()
    t.setup({"lr": 0.01}, seed=0)
    assert t.device == torch.device("cpu")
    assert all(p.device.type == "cpu" for p in t.model.parameters())


def test_to_device_before_setup_says_so():
    with pytest.raises(RuntimeError, match=r"Regression.to_device is available once setup"):
        Regression().to_device(torch.ones(1))


class CudaRegression(Regression):
    device = "cuda"


def test_a_trainable_asking_for_cuda_where_there_is_none_stops_the_run(no_cuda: None,
                                                                       make_pop: Any):
    pop = make_pop(size=2, space=LR_SPACE)
    with pytest.raises(TrainingError, match="device='cuda': "):
        pop.train(CudaRegression, steps=5, progress=False)


def test_the_api_and_the_cli_give_worker_processes_gpus(make_pop: Any, tmp_path: Path,
                                                         monkeypatch: pytest.MonkeyPatch):
    log = tmp_path / "devices.log"
    monkeypatch.setenv("POPBT_TEST_DEVICES", str(log))
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    make_pop(size=2).train(EnvRecorder, steps=10, workers=2, gpus=0.5, progress=False)
    assert {pair for pairs in _seen(log).values() for pair in pairs} == {("0", "0")}
    log.unlink()
    tests = Path(__file__).parent
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(tests), str(tests.parent / "src")])}
    run_file = tmp_path / "gpu_run.py"
    run_file.write_text("import popbt\nfrom device_trainables import EnvRecorder\n"
                        "space = popbt.Space({'lr': popbt.Uniform(0.01, 0.5),\n"
                        "                     'noise': popbt.Uniform(0.0, 0.1)})\n")
    run = [sys.executable, "-m", "popbt", "run", str(run_file),
           "--trainable", "EnvRecorder", "--metric", "score", "--population", "2",
           "--ready-every", "5", "--workers", "2", "--steps", "10",
           "--storage", f"sqlite:///{tmp_path / 'c.db'}", "--quiet"]
    env["POPBT_TEST_DEVICES_PROCESSES"] = "2"  # both workers train
    done = subprocess.run([*run, "--gpus", "3,4"], env=env, capture_output=True, text=True,
                          timeout=300, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert {pair for pairs in _seen(log).values() for pair in pairs} == {("3", "3"), ("4", "4")}
    bad = subprocess.run([*run, "--gpus", "1.5"], env=env, capture_output=True, text=True,
                         timeout=300, cwd=tmp_path)
    assert bad.returncode == 2 and bad.stderr.count("\n") == 1 and "1.5" in bad.stderr, bad.stderr
