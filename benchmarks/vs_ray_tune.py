"""popbt against Ray Tune's and Syne Tune's PBT, and against Ray Tune's PB2: same problems,
same machine, one run.

    python benchmarks/vs_ray_tune.py                        # both problems, 5 seeds (~20 min)
    python benchmarks/vs_ray_tune.py --quick                # a smoke run (1 seed, few steps)
    python benchmarks/vs_ray_tune.py --problems toy --seeds 3 --json out.json
    python benchmarks/vs_ray_tune.py --frameworks "popbt PB2,Ray Tune PB2" --problems digits

Frameworks: `popbt`, `Ray Tune` and `Syne Tune` run PBT; `popbt PB2` and `Ray Tune PB2` run
PB2 (popbt's `PB2()` explore; Ray's `ray.tune.schedulers.pb2.PB2`), with the same truncation.

Problems (the members' code is the same class for every framework: popbt's demo trainables):
- **toy**: the paper's Figure 2 (`popbt.demos.toy_trainable.ToyTrainable`), 2 members from
  θ = (0.9, 0.9) with h = (1, 0) and (0, 1), 200 steps each, ready every 4 steps. Score: the
  true Q of the best member at the end (at most 1.2).
- **digits**: `popbt.demos.digits.DigitsMLP`, 8 members, 2,000 steps each (the issue's
  budget; `benchmarks/quality.py` uses 1,000), ready every 100, the demo's search space.
  Score: held-out test accuracy of the best member (best by validation accuracy), restored
  from its final checkpoint.

Exploit and explore are the same algorithm on both sides: truncation (bottom quantile copies
one of the top quantile: 0.5 on the toy, 0.25 on digits), then each hyperparameter is
resampled from its prior with the resample probability (0.5 on the toy, as in Ray's
"Visualizing and Understanding PBT" guide; 0.25 on digits, both libraries' default) or else
multiplied by 0.8 or 1.2 (choices move to a neighbour). popbt clips a perturbed value to its
domain and Ray does not, so Ray gets a `custom_explore_fn` that clips to the same bounds
(momentum 0.9 × 1.2 would otherwise diverge). popbt's toy demo normally explores with
Gaussian noise, which Ray could only express through `custom_explore_fn`; both sides use the
guide's multiplicative settings here instead. Both
sides start from the same initial hyperparameters (popbt samples them from the seed; Ray gets
them through `tune.grid_search` over the member index, as the guide does, so `num_samples=1`
makes P trials).

Ray Tune is used as its documentation shows: a function trainable that restores from
`tune.get_checkpoint()` and calls `tune.report(metrics, checkpoint=Checkpoint.from_directory)`
after every ready interval (one report = one `training_iteration` = `interval` steps, so
`perturbation_interval=1`, and it checkpoints at every report as the guide recommends: one
report per interval is the cheapest idiomatic setup for Ray), 1 CPU per trial,
`reuse_actors=True` (Ray's PBT examples set it and Tune warns without it), default loggers.
Even so Ray ran the members' code in 4-24 processes per run (`processes` in the JSON; popbt:
2): its PBT stops and restarts trials around perturbations (ray-project/ray#20403), so new
actor processes import torch and repeat the member's first `setup` (scikit-learn, data).
PBT mode: `synch=True` on the toy (the guide uses it; asynchronous PBT never exploits there
because the two members' scores tie at every step, so it stays at Q = 0.39) and on digits
too: Ray's default asynchronous mode ran 5.4× the step budget there (725 exploits, 215 s for
one seed: with 8 trials time-multiplexed on 2 CPUs, trials at different iterations are
compared and exploiting trials go back to a donor's earlier iteration; ray-project/ray#9301
is why `synch` exists). `--ray-async` runs it anyway. The member-steps column shows the
budget each side really used: popbt is asynchronous, and a member that copies a donor ahead
of it takes the donor's step count too, so it may train fewer steps than the budget.

What is measured, per problem, framework and seed:
- **wall**: from start to result, start-up included. popbt: `create_population` (SQLite file)
  + `Population.train(workers=2)` (2 spawned worker processes) on digits; on the toy, whose
  steps take microseconds, popbt's default for such models, one worker in the driver
  (`workers=1`: the two members take turns, so they meet at equal steps at every ready
  point; with two processes, a member whose process starts late on a loaded machine can be
  left behind and copy a finished donor). Ray Tune gets its 2 concurrent trials on both:
  `ray.init(address="local", num_cpus=2)` + `Tuner.fit()` + `get_best_result()`; each run
  starts and stops its own Ray instance (even when another runs on the machine), as a user
  running one experiment does (`ray.shutdown()` is timed but
  left out of wall, in Ray's favour). Imports in the driver (popbt, ray, torch) happen
  before timing on both sides.
- **busy**: seconds spent inside the user's code, measured the same way on both sides: a
  wrapper around the member's class times `setup` (model and data: the first call in a
  process imports scikit-learn and loads digits, seconds), `train`, `evaluate`, `state_dict`
  and `load_state_dict` with `perf_counter`, and on Ray also the checkpoint file writes and
  reads the user's function does (popbt does that serialisation itself, so there it counts
  as popbt's overhead: this favours Ray). Every process appends one line per call to a file
  in a temporary folder; the driver sums them. The setup part is also shown apart, with the
  overhead ratio it would give if counted as overhead instead. Times are wall clock inside
  the calls, so a framework's own processes competing for the 2 cores make user code look
  slower and the framework's overhead smaller (again in Ray's favour, whose driver, GCS and
  raylet run beside the trials).
- **overhead** = wall − busy / workers (2 worker processes or 2 concurrent trials on the 2
  cores; 1 for popbt's in-process toy): the time the run took beyond perfectly packed user
  code, start-up and waiting included.
- **score**: see the problems above.

PB2: popbt's `PB2()` with its defaults, after `Truncation` with the problem's quantile; Ray's
`PB2` with the same `quantile_fraction`, `perturbation_interval=1` and the problem's `synch`.
Ray's PB2 takes only [low, high] bounds on raw values (no log scale, no choices), so it gets
every hyperparameter as popbt's unit coordinate in [0, 1] (`Domain.to_unit`: log scale for a
LogUniform, the index for a Choice) and the member function maps it back with
`Domain.from_unit`, rounding choices: the search geometry popbt's PB2 has, which a careful user
would set up by hand (in Ray's favour). Ray's PB2 needs scikit-learn (Ray releases before the
removal of GPy, ray-project/ray#59152, need GPy instead): when it cannot be built, its rows
say why instead of giving numbers.

Syne Tune (PyPI `syne-tune`) is used as its PBT example shows: `PopulationBasedTraining`
(`perturbation_interval=1` on `training_iteration`, the problem's quantile and resample
probability, its fixed ×0.8 / ×1.2 perturbations clipped to the bounds; a Choice is always
resampled there) with `LocalBackend`, whose trials are scripts (`benchmarks/_syne_member.py`:
the same timed member, checkpointing into the trial's checkpoint folder after every interval,
then reporting through `syne_tune.Reporter`), and `n_workers` = the population (Syne Tune's
PBT keeps no paused trials: every member is a running process). Its processes are pinned to
`workers` CPUs, with one compute thread each (`OMP_NUM_THREADS=1`, as Ray and popbt set).
Exploit stops the trial and starts a new one from the donor's checkpoint folder as it is then
(the donor trains on meanwhile). The run stops once `population` trials have reached the last
interval; a trial that ends frees its slot for a fresh random configuration, as Syne Tune's
PBT does, until then. The tuner polls its trials every `--syne-tune-sleep` seconds (Syne
Tune's default, 5), so a member whose intervals take less time trains on past them before a
decision reaches it (on the toy, whose 200 steps take milliseconds, before any). Its members
share the CPUs as processes, so the wall time inside their calls counts the time they wait for
a core: for Syne Tune the comparison uses busy CPU seconds (`time.process_time` inside the
same calls) on both sides: overhead (CPU basis) = wall − busy CPU / workers.

The JSON (`--json`) also holds, per run: seconds and calls per method, processes that ran
user code, exploits (popbt's events; Ray's `pbt_global.txt`), Ray's init and shutdown times.
Medians over seeds are printed as a markdown table, then per problem the ratios popbt
overhead ÷ Ray Tune overhead, popbt PB2 ÷ Ray Tune PB2 (target: at most 1/5) and popbt ÷ Syne
Tune (CPU basis), each with the scores (target: popbt's median at least the other's).
`--quick` runs 1 seed with a tenth of the steps (a smoke test, not a result).
The machine's 1-minute load average is recorded before and after every run: other work on
the machine inflates every time.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import json
import logging
import os
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

import popbt
from popbt.trainable import Trainable

FRAMEWORKS = ("popbt", "Ray Tune", "Syne Tune", "popbt PB2", "Ray Tune PB2")
PROBLEMS = ("toy", "digits")
OVERHEAD_TARGET = 1 / 5  # popbt overhead ÷ the other's, at most
# (popbt's, the other's, the overhead compared): wall basis, or CPU basis beside Syne Tune
PAIRS = (("popbt", "Ray Tune", "overhead_s"), ("popbt PB2", "Ray Tune PB2", "overhead_s"),
         ("popbt", "Syne Tune", "overhead_cpu_s"))
SYNE_TUNE_SLEEP = 5.0  # seconds: Syne Tune's default `Tuner(sleep_time=...)`
THREAD_VARS = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")
BUSY_ENV = "POPBT_VS_RAY_BUSY_DIR"  # popbt's worker processes read their log folder here


def _log(busy_dir: str, line: str) -> None:
    """Append `line` to this process's busy log in `busy_dir` (opened and closed each time:
    an open file would travel with the functions Ray pickles from this script)."""
    with open(Path(busy_dir) / f"busy-{os.getpid()}.log", "a") as log:
        log.write(line)


class Timed(Trainable):
    """Wraps the member class named by `INNER` and logs the seconds spent in each of its calls.

    Each call appends `method seconds steps cpu_seconds` (wall clock and this process's CPU
    time inside the call) to `busy-<pid>.log` in `busy_dir` (default: the
    folder named by the environment variable `POPBT_VS_RAY_BUSY_DIR`, which popbt's spawned
    workers inherit; no logging when neither is set). The inner class is imported in
    `__init__`, outside the timed calls, so importing the user's module is counted as the
    framework's cost on both sides.
    """

    INNER: ClassVar[str]  # "module:ClassName"

    def __init__(self, busy_dir: str | None = None) -> None:
        module, _, name = self.INNER.partition(":")
        self.inner: Trainable = getattr(importlib.import_module(module), name)()
        self.busy_dir = busy_dir or os.environ.get(BUSY_ENV)

    def timed(self, method: str, fn: Callable[..., Any], *args: Any, steps: int = 0) -> Any:
        """`fn(*args)`, its duration logged under `method`."""
        start, cpu = time.perf_counter(), time.process_time()
        try:
            return fn(*args)
        finally:
            seconds = time.perf_counter() - start
            cpu = time.process_time() - cpu
            if self.busy_dir:
                _log(self.busy_dir, f"{method} {seconds:.9f} {steps} {cpu:.9f}\n")

    def setup(self, hparams: dict[str, Any], seed: int) -> None:
        self.timed("setup", self.inner.setup, hparams, seed)

    def train(self, hparams: dict[str, Any], steps: int) -> None:
        self.timed("train", self.inner.train, hparams, steps, steps=steps)

    def evaluate(self) -> float | dict[str, float]:
        return self.timed("evaluate", self.inner.evaluate)

    def state_dict(self) -> dict[str, Any]:
        return self.timed("state_dict", self.inner.state_dict)

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.timed("load_state_dict", self.inner.load_state_dict, state)


class TimedToy(Timed):
    INNER = "popbt.demos.toy_trainable:ToyTrainable"


class TimedDigits(Timed):
    INNER = "popbt.demos.digits:DigitsMLP"


def read_busy(busy_dir: Path) -> dict[str, Any]:
    """Sum every process's busy log: `busy_s` (every logged call), `setup_s` (its `setup`
    part), `busy_cpu_s` and `setup_cpu_s` (the same in CPU seconds), seconds and calls per
    method, member-steps trained and the number of processes that ran user code."""
    by_method: dict[str, float] = {}
    cpu: dict[str, float] = {}
    calls: dict[str, int] = {}
    steps = 0
    files = sorted(busy_dir.glob("busy-*.log"))
    for f in files:
        for line in f.read_text().splitlines():
            method, seconds, n, cpu_seconds = line.split()
            by_method[method] = by_method.get(method, 0.0) + float(seconds)
            cpu[method] = cpu.get(method, 0.0) + float(cpu_seconds)
            calls[method] = calls.get(method, 0) + 1
            steps += int(n)
    return {"busy_s": sum(by_method.values()), "setup_s": by_method.get("setup", 0.0),
            "busy_cpu_s": sum(cpu.values()), "setup_cpu_s": cpu.get("setup", 0.0),
            "busy_by_method": by_method, "calls_by_method": calls, "member_steps": steps,
            "processes": len(files)}


@dataclass(frozen=True)
class Problem:
    """One problem as both frameworks run it."""

    name: str
    trainable: type[Timed]
    space: popbt.Space
    metric: str
    population: int
    steps: int
    interval: int
    initial: tuple[Mapping[str, Any], ...]
    quantile: float
    resample_probability: float
    factors: tuple[float, float]
    final: Callable[[Any], float]  # the inner trainable, restored → the reported score
    final_name: str
    state_file: str  # the file Ray's function trainable writes its state to
    synch: bool = True  # Ray's PBT mode (see the module's help)
    popbt_in_process: bool = False  # popbt trains it with one worker in the driver


def problem(name: str) -> Problem:
    """The problem `name` (imported lazily: the toy needs no torch)."""
    if name == "toy":
        from popbt.demos import toy_trainable

        return Problem("toy", TimedToy, toy_trainable.SPACE, "Q", population=2, steps=200,
                       interval=4, initial=tuple(toy_trainable.INITIAL), quantile=0.5,
                       resample_probability=0.5, factors=(0.8, 1.2),
                       final=lambda m: m.evaluate()["Q"], final_name="true Q of the best",
                       state_file="state.json", popbt_in_process=True)
    if name == "digits":
        from popbt.demos import digits

        assert digits.EXPLORE.factors == (0.8, 1.2)
        return Problem("digits", TimedDigits, digits.SPACE, digits.METRIC, population=8,
                       steps=2000, interval=digits.READY.steps, initial=(),
                       quantile=digits.EXPLOIT.fraction,
                       resample_probability=digits.EXPLORE.resample_probability,
                       factors=(0.8, 1.2), final=lambda m: m.test_accuracy(),
                       final_name="test accuracy of the best", state_file="state.pt")
    raise ValueError(f"unknown problem {name!r}; choose from {', '.join(PROBLEMS)}")


def _save(state: dict[str, Any], path: Path) -> None:
    if path.suffix == ".pt":
        import torch

        torch.save(state, path)
    else:
        path.write_text(json.dumps(state))


def _load(path: Path) -> dict[str, Any]:
    if path.suffix == ".pt":
        import torch

        return torch.load(path, weights_only=False)
    return json.loads(path.read_text())


def _initial(prob: Problem, seed: int, folder: Path) -> tuple[list[dict[str, Any]], list[int]]:
    """The initial hyperparameters and member seeds popbt uses for `seed` (read from a
    population created only for this, untimed), so that Ray starts from the same ones."""
    pop = popbt.create_population(
        name="initial", storage=f"sqlite:///{folder / 'initial.db'}", space=prob.space,
        size=prob.population, metric=prob.metric, seed=seed,
        ready=popbt.Every(steps=prob.interval), initial=list(prob.initial))
    return ([dict(m.hparams) for m in pop.members],
            [pop.settings.member_seed(i) for i in range(prob.population)])


def run_popbt(prob: Problem, seed: int, steps: int, workers: int, folder: Path, *,
              pb2: bool = False) -> dict[str, Any]:
    """Train the problem's population with popbt (PBT, or PB2 when `pb2`); time it and score
    its best member."""
    busy_dir = folder / "busy"
    busy_dir.mkdir()
    os.environ[BUSY_ENV] = str(busy_dir)
    try:
        start = time.perf_counter()
        pop = popbt.create_population(
            name=f"{prob.name}-{seed}", storage=f"sqlite:///{folder / 'popbt.db'}",
            space=prob.space, size=prob.population, metric=prob.metric, seed=seed,
            ready=popbt.Every(steps=prob.interval),
            exploit=popbt.Truncation(fraction=prob.quantile),
            explore=popbt.PB2() if pb2 else popbt.Perturb(
                factors=prob.factors, resample_probability=prob.resample_probability),
            initial=list(prob.initial))
        best = pop.train(prob.trainable, steps=steps, workers=workers, progress=False)
        wall = time.perf_counter() - start
    finally:
        os.environ.pop(BUSY_ENV, None)
    assert best is not None and best.score is not None
    inner = type(prob.trainable().inner)
    return {"wall_s": wall, **read_busy(busy_dir), "selection_score": best.score,
            "score": prob.final(pop.load(best.member_id, trainable=inner)),
            "exploits": len(pop.events(kinds=[popbt.EventKind.EXPLOIT]))}


def ray_member(config: dict[str, Any]) -> None:
    """Ray Tune's function trainable: one member, restored from `tune.get_checkpoint()`,
    reporting (with a checkpoint) after every `interval` training steps until Tune stops it."""
    from ray import tune

    prob = problem(config["problem"])
    member = prob.trainable(busy_dir=config["busy_dir"])
    hparams = config_hparams(prob.space, config)
    member.setup(hparams, config["member_seed"])
    step = 0
    checkpoint = tune.get_checkpoint()
    if checkpoint is not None:
        with checkpoint.as_directory() as folder:
            saved = member.timed("checkpoint_io", _load, Path(folder) / prob.state_file)
        member.load_state_dict(saved["state"])
        step = saved["step"]
    while True:
        member.train(hparams, config["interval"])
        step += config["interval"]
        metrics = member.evaluate()
        assert isinstance(metrics, dict)
        with tempfile.TemporaryDirectory() as folder:
            state = {"state": member.state_dict(), "step": step}
            member.timed("checkpoint_io", _save, state, Path(folder) / prob.state_file)
            tune.report({**metrics, "step": step},
                        checkpoint=tune.Checkpoint.from_directory(folder))


def config_hparams(space: popbt.Space, config: Mapping[str, Any]) -> dict[str, Any]:
    """The member's hyperparameters in a Ray Tune config: as they are, or mapped back from unit
    coordinates when `config["unit"]` (Ray's PB2: see the module's help)."""
    if config.get("unit"):
        return {name: domain.from_unit(config[name]) for name, domain in space.items()}
    return {name: config[name] for name in space}


def ray_domain(domain: Any) -> Any:
    """The Ray Tune search-space object of a popbt domain (what PBT resamples from)."""
    from ray import tune

    if isinstance(domain, popbt.LogUniform):
        return tune.loguniform(domain.lo, domain.hi)
    if isinstance(domain, popbt.Uniform):
        return tune.uniform(domain.lo, domain.hi)
    if isinstance(domain, popbt.IntUniform):
        return tune.randint(domain.lo, domain.hi + 1)
    if isinstance(domain, popbt.Choice):
        return list(domain.values)  # PBT shifts to a neighbour or resamples
    raise TypeError(f"no Ray Tune equivalent of {domain!r}")


@dataclass(frozen=True)
class ClipToSpace:
    """Ray's `custom_explore_fn`: clip perturbed numbers into the popbt domain's bounds, as
    popbt's `Perturb` does (Ray multiplies without clipping, so momentum 0.9 × 1.2 > 1 would
    diverge). Ray's own PBT PPO example repairs explored configs the same way."""

    bounds: tuple[tuple[str, float, float], ...]

    @classmethod
    def of(cls, space: popbt.Space) -> ClipToSpace:
        return cls(tuple((name, d.lo, d.hi) for name, d in space.items()
                         if not isinstance(d, popbt.Choice)))

    def __call__(self, config: dict[str, Any]) -> dict[str, Any]:
        for name, lo, hi in self.bounds:
            config[name] = type(config[name])(min(max(config[name], lo), hi))
        return config


def ray_pb2(space: popbt.Space, quantile: float, synch: bool) -> Any:
    """Ray Tune's PB2 scheduler over the unit coordinates of `space` (see the module's help).

    Raises:
        ImportError, RuntimeError: Ray's PB2 cannot be built here (scikit-learn, or GPy for
            older Ray, missing).
    """
    from ray.tune.schedulers.pb2 import PB2

    return PB2(time_attr="training_iteration", perturbation_interval=1,
               hyperparam_bounds={name: [0.0, 1.0] for name in space},
               quantile_fraction=quantile, synch=synch)


def unavailable(framework: str) -> str | None:
    """Why `framework` cannot run here (its import or construction error), or None."""
    try:
        if framework == "Syne Tune":
            importlib.import_module("syne_tune.optimizer.schedulers")
        elif framework == "Ray Tune PB2":
            ray_pb2(popbt.Space({"x": popbt.Uniform(0.0, 1.0)}), 0.25, True)
        elif framework == "Ray Tune":
            importlib.import_module("ray.tune")
    except (ImportError, RuntimeError) as exc:
        return f"{type(exc).__name__}: {exc}"
    return None


def run_ray(prob: Problem, seed: int, steps: int, workers: int, folder: Path, *,
            synch: bool | None = None, pb2: bool = False) -> dict[str, Any]:
    """Train the same population with Ray Tune's PopulationBasedTraining (PB2 when `pb2`);
    time and score it.

    `synch` overrides the problem's PBT mode.

    Raises:
        RuntimeError: a trial failed.
    """
    import ray
    from ray import tune
    from ray.tune.schedulers import PopulationBasedTraining

    busy_dir = folder / "busy"
    busy_dir.mkdir()
    synch = prob.synch if synch is None else synch
    hparams, seeds = _initial(prob, seed, folder)
    if pb2:
        hparams = [{n: d.to_unit(h[n]) for n, d in prob.space.items()} for h in hparams]
    random.seed(seed)  # Ray's PBT decides with `random`, its search space samples with NumPy
    np.random.seed(seed)
    param_space: dict[str, Any] = {
        "member": tune.grid_search(list(range(prob.population))),
        "member_seed": tune.sample_from(lambda config: seeds[config["member"]]),
        "problem": prob.name, "interval": prob.interval, "busy_dir": str(busy_dir),
        "unit": pb2}
    for name in prob.space:
        param_space[name] = tune.sample_from(lambda config, n=name: hparams[config["member"]][n])
    scheduler = ray_pb2(prob.space, prob.quantile, synch) if pb2 else PopulationBasedTraining(
        time_attr="training_iteration", perturbation_interval=1,
        hyperparam_mutations={name: ray_domain(d) for name, d in prob.space.items()},
        quantile_fraction=prob.quantile, resample_probability=prob.resample_probability,
        perturbation_factors=(prob.factors[1], prob.factors[0]),
        custom_explore_fn=ClipToSpace.of(prob.space), synch=synch)
    start = time.perf_counter()
    ray.init(address="local", num_cpus=workers)
    try:
        init_s = time.perf_counter() - start
        tuner = tune.Tuner(
            tune.with_resources(ray_member, {"cpu": 1}), param_space=param_space,
            tune_config=tune.TuneConfig(scheduler=scheduler, num_samples=1, metric=prob.metric,
                                        mode="max", reuse_actors=True),
            run_config=tune.RunConfig(name=f"{prob.name}-{seed}", storage_path=str(folder),
                                      stop={"training_iteration": steps // prob.interval},
                                      verbose=0))
        results = tuner.fit()
        best = results.get_best_result(metric=prob.metric, mode="max", scope="last")
        wall = time.perf_counter() - start
    finally:
        stop = time.perf_counter()
        ray.shutdown()
        shutdown_s = time.perf_counter() - stop
    if results.errors:
        raise RuntimeError(f"Ray Tune trials failed: {results.errors[0]!r}")
    assert best.checkpoint is not None and best.metrics is not None
    inner = type(prob.trainable().inner)()
    inner.setup(config_hparams(prob.space, best.config), best.config["member_seed"])
    with best.checkpoint.as_directory() as ckpt:
        inner.load_state_dict(_load(Path(ckpt) / prob.state_file)["state"])
    log = folder / f"{prob.name}-{seed}" / "pbt_global.txt"
    exploits = len(log.read_text().splitlines()) if log.exists() else 0
    return {"wall_s": wall, **read_busy(busy_dir), "selection_score": best.metrics[prob.metric],
            "score": prob.final(inner), "exploits": exploits, "ray_init_s": init_s,
            "ray_shutdown_s": shutdown_s, "ray_synch": synch}


def syne_domain(domain: Any) -> Any:
    """The Syne Tune search-space object of a popbt domain (what its PBT resamples from)."""
    from syne_tune.config_space import choice, loguniform, randint, uniform

    if isinstance(domain, popbt.LogUniform):
        return loguniform(domain.lo, domain.hi)
    if isinstance(domain, popbt.Uniform):
        return uniform(domain.lo, domain.hi)
    if isinstance(domain, popbt.IntUniform):
        return randint(domain.lo, domain.hi)
    if isinstance(domain, popbt.Choice):
        return choice(list(domain.values))  # Syne Tune's PBT resamples it
    raise TypeError(f"no Syne Tune equivalent of {domain!r}")


@dataclass(frozen=True)
class MembersDone:
    """Syne Tune's stop criterion here: `population` trials have reported iteration `max_t`."""

    population: int
    max_t: int

    def __call__(self, status: Any) -> bool:
        done = sum(stats.max_metrics.get("training_iteration", 0) >= self.max_t
                   for stats in status.trial_metric_statistics.values())
        return done >= self.population


@contextlib.contextmanager
def _pinned(workers: int) -> Iterator[None]:
    """This process and those it starts on its first `workers` CPUs, with one compute thread
    each; restored afterwards."""
    cpus = sorted(os.sched_getaffinity(0))
    saved = {var: os.environ.get(var) for var in THREAD_VARS}
    os.sched_setaffinity(0, cpus[:workers])
    os.environ.update({var: "1" for var in THREAD_VARS})
    try:
        yield
    finally:
        os.sched_setaffinity(0, cpus)
        for var, value in saved.items():
            if value is None:
                os.environ.pop(var, None)
            else:
                os.environ[var] = value


def run_syne(prob: Problem, seed: int, steps: int, workers: int, folder: Path, *,
             sleep_s: float = SYNE_TUNE_SLEEP) -> dict[str, Any]:
    """Train the same population with Syne Tune's PopulationBasedTraining on its local
    backend (see the module's help); time and score it.

    Raises:
        RuntimeError: no trial reached the last interval.
    """
    from syne_tune import Tuner
    from syne_tune.backend import LocalBackend
    from syne_tune.config_space import choice
    from syne_tune.optimizer.schedulers import PopulationBasedTraining

    logging.getLogger("syne_tune").setLevel(logging.WARNING)
    busy_dir = folder / "busy"
    busy_dir.mkdir()
    hparams, seeds = _initial(prob, seed, folder)
    max_t = steps // prob.interval
    config_space = {**{n: syne_domain(d) for n, d in prob.space.items()},
                    "member_seed": choice(seeds), "problem": prob.name,
                    "interval": prob.interval, "max_t": max_t, "busy_dir": str(busy_dir)}
    scheduler = PopulationBasedTraining(
        config_space=config_space, metric=prob.metric, time_attr="training_iteration",
        max_t=max_t, do_minimize=False, random_seed=seed, population_size=prob.population,
        perturbation_interval=1, quantile_fraction=prob.quantile,
        resample_probability=prob.resample_probability,
        searcher_kwargs={"points_to_evaluate": [{**h, "member_seed": s}
                                                for h, s in zip(hparams, seeds, strict=True)]})
    os.environ["SYNETUNE_FOLDER"] = str(folder / "syne-tune")
    with _pinned(workers), contextlib.redirect_stdout(sys.stderr):  # its progress report
        start = time.perf_counter()
        backend = LocalBackend(  # no GPU rotation: CPU members (and no nvidia-smi probe)
            entry_point=str(Path(__file__).resolve().parent / "_syne_member.py"),
            pass_args_as_json=True, rotate_gpus=False)
        tuner = Tuner(trial_backend=backend, scheduler=scheduler,
                      stop_criterion=MembersDone(prob.population, max_t),
                      n_workers=prob.population, sleep_time=sleep_s,
                      tuner_name=f"{prob.name}-{seed}", suffix_tuner_name=False)
        tuner.run()
        wall = time.perf_counter() - start
    stats = tuner.tuning_status.trial_metric_statistics
    done = [t for t, st in stats.items() if st.max_metrics.get("training_iteration", 0) >= max_t]
    if not done:
        raise RuntimeError(f"Syne Tune: no trial reached iteration {max_t}; see {folder}")
    best = max(done, key=lambda t: stats[t].last_metrics[prob.metric])
    config = tuner.tuning_status.trial_rows[best]
    inner = type(prob.trainable().inner)()
    inner.setup({n: config[n] for n in prob.space}, config["member_seed"])
    inner.load_state_dict(_load(backend.checkpoint_trial_path(best) / prob.state_file)["state"])
    return {"wall_s": wall, **read_busy(busy_dir),
            "selection_score": stats[best].last_metrics[prob.metric],
            "score": prob.final(inner), "exploits": scheduler.num_perturbations,
            "trials": len(stats), "syne_tune_sleep_s": sleep_s}


def run(prob: Problem, framework: str, seed: int, steps: int, workers: int, folder: Path, *,
        ray_synch: bool | None = None, syne_tune_sleep: float = SYNE_TUNE_SLEEP
        ) -> dict[str, Any]:
    """One framework on one problem and seed, with the derived numbers and the machine's load
    averages (1 minute) before and after."""
    before = os.getloadavg()[0]
    if framework.startswith("popbt"):
        workers = 1 if prob.popbt_in_process else workers
        result = run_popbt(prob, seed, steps, workers, folder, pb2=framework == "popbt PB2")
    elif framework == "Syne Tune":
        result = run_syne(prob, seed, steps, workers, folder, sleep_s=syne_tune_sleep)
    else:
        result = run_ray(prob, seed, steps, workers, folder, synch=ray_synch,
                         pb2=framework == "Ray Tune PB2")
    wall, busy, cpu = result["wall_s"], result["busy_s"], result["busy_cpu_s"]
    result.update(
        problem=prob.name, framework=framework, seed=seed, steps=steps,
        population=prob.population, interval=prob.interval, workers=workers,
        final_name=prob.final_name, load_before=before, load_after=os.getloadavg()[0],
        overhead_s=wall - busy / workers,
        overhead_without_setup_s=wall - (busy - result["setup_s"]) / workers,
        overhead_cpu_s=wall - cpu / workers,
        overhead_cpu_without_setup_s=wall - (cpu - result["setup_cpu_s"]) / workers,
        budget_used=result["member_steps"] / (prob.population * steps))
    return result


def summarize(results: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per problem and framework: medians over seeds (and the score's range), or why the
    framework did not run."""
    rows = []
    keys = ("wall_s", "busy_s", "setup_s", "busy_cpu_s", "overhead_s",
            "overhead_without_setup_s", "overhead_cpu_s", "overhead_cpu_without_setup_s",
            "score", "budget_used", "exploits")
    for name in dict.fromkeys(r["problem"] for r in results):
        for fw in FRAMEWORKS:
            mine = [r for r in results if r["problem"] == name and r["framework"] == fw]
            if not mine:
                continue
            if "unavailable" in mine[0]:
                rows.append({"problem": name, "framework": fw,
                             "unavailable": mine[0]["unavailable"]})
                continue
            scores = [r["score"] for r in mine]
            rows.append({"problem": name, "framework": fw, "seeds": len(mine),
                         **{k: statistics.median(r[k] for r in mine) for k in keys},
                         "score_min": min(scores), "score_max": max(scores),
                         "workers": mine[0]["workers"],
                         "final_name": mine[0]["final_name"]})
    return rows


def table(rows: Sequence[dict[str, Any]]) -> str:
    """The markdown table of `summarize`'s rows."""
    lines = ["| problem | framework | workers | seeds | wall s | busy s | of which setup s | "
             "overhead s (wall − busy/workers) | overhead % of wall | busy CPU s | overhead s, "
             "CPU basis | score | score min – max | member-steps ÷ budget | exploits |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        if "unavailable" in r:
            lines.append(f"| {r['problem']} | {r['framework']} | not run: {r['unavailable']} |"
                         + " — |" * 12)
            continue
        lines.append(
            f"| {r['problem']} | {r['framework']} | {r['workers']} | {r['seeds']} | "
            f"{r['wall_s']:.1f} | "
            f"{r['busy_s']:.2f} | {r['setup_s']:.2f} | {r['overhead_s']:.1f} | "
            f"{100 * r['overhead_s'] / r['wall_s']:.0f} | {r['busy_cpu_s']:.2f} | "
            f"{r['overhead_cpu_s']:.1f} | {r['score']:.4f} | "
            f"{r['score_min']:.4f} – {r['score_max']:.4f} | {r['budget_used']:.2f} | "
            f"{r['exploits']:g} |")
    return "\n".join(lines)


def _ratio(a: float, b: float) -> float:
    return a / b if b > 0 else float("nan")


def verdicts(rows: Sequence[dict[str, Any]], results: Sequence[dict[str, Any]]) -> list[str]:
    """Per problem and pair of `PAIRS` that ran: the overhead ratio and the score comparison,
    each against its target; a pair where one side could not run says why."""
    out = []
    for name in dict.fromkeys(r["problem"] for r in rows):
        by = {r["framework"]: r for r in rows if r["problem"] == name}
        for mine, theirs, basis in PAIRS:
            if mine not in by or theirs not in by:
                continue
            p, t = by[mine], by[theirs]
            missing = [r for r in (p, t) if "unavailable" in r]
            if missing:
                out.append(f"- {name}: {mine} vs {theirs}: " + "; ".join(
                    f"{r['framework']} not run ({r['unavailable']})" for r in missing))
                continue
            ratio = _ratio(p[basis], t[basis])
            setup = basis.replace("_s", "_without_setup_s")
            without_setup = _ratio(p[setup], t[setup])
            seeds = {fw: {r["seed"]: r["score"] for r in results
                          if r["problem"] == name and r["framework"] == fw}
                     for fw in (mine, theirs)}
            common = sorted(set(seeds[mine]) & set(seeds[theirs]))
            wins = sum(seeds[mine][s] >= seeds[theirs][s] for s in common)
            label = " (CPU basis)" if basis == "overhead_cpu_s" else ""
            out.append(
                f"- {name}: overhead{label} {mine} ÷ {theirs} = {p[basis]:.2f} s ÷ "
                f"{t[basis]:.2f} s = {ratio:.3f} (target ≤ {OVERHEAD_TARGET:.2f}: "
                f"{'met' if ratio <= OVERHEAD_TARGET else 'NOT met'}; {without_setup:.3f} if "
                f"setup counted as overhead); {p['final_name']}: {mine} {p['score']:.4f} vs "
                f"{theirs} {t['score']:.4f} (median; target {mine} ≥ {theirs}: "
                f"{'met' if p['score'] >= t['score'] else 'NOT met'}; {mine} ≥ {theirs} in "
                f"{wins}/{len(common)} seeds); wall {mine} {p['wall_s']:.1f} s vs {theirs} "
                f"{t['wall_s']:.1f} s")
    return out


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--problems", default=",".join(PROBLEMS),
                        help="comma-separated, from: " + ", ".join(PROBLEMS))
    parser.add_argument("--frameworks", default=",".join(FRAMEWORKS),
                        help="comma-separated, from: " + ", ".join(FRAMEWORKS))
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--workers", type=int, default=2,
                        help="popbt worker processes = Ray Tune CPUs (1 per trial) = CPUs "
                             "Syne Tune's trials share")
    parser.add_argument("--ray-async", action="store_true",
                        help="Ray's default asynchronous PBT on every problem (not a fair "
                             "comparison: see the module's help)")
    parser.add_argument("--syne-tune-sleep", type=float, default=SYNE_TUNE_SLEEP,
                        help=f"seconds Syne Tune's tuner sleeps between polls of its trials "
                             f"(its default: {SYNE_TUNE_SLEEP:g})")
    parser.add_argument("--quick", action="store_true",
                        help="1 seed, steps ÷ 10: a smoke test")
    parser.add_argument("--json", type=Path, help="also write every run's result here")
    args = parser.parse_args(argv)
    names = [n.strip() for n in args.problems.split(",") if n.strip()]
    frameworks = [f.strip() for f in args.frameworks.split(",") if f.strip()]
    for bad, valid, what in ((set(names) - set(PROBLEMS), PROBLEMS, "problem"),
                             (set(frameworks) - set(FRAMEWORKS), FRAMEWORKS, "framework")):
        if bad:
            parser.error(f"unknown {what} {', '.join(sorted(bad))}; "
                         f"choose from {', '.join(valid)}")
    if args.seeds < 1 or args.workers < 1 or args.syne_tune_sleep <= 0:
        parser.error("--seeds and --workers must be at least 1, --syne-tune-sleep above 0")
    reasons = {fw: unavailable(fw) for fw in frameworks}
    for fw, reason in reasons.items():
        if reason is not None:
            print(f"{fw} cannot run here: {reason}", file=sys.stderr, flush=True)
    seeds = 1 if args.quick else args.seeds
    results: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="popbt-vs-ray-") as tmp:
        for name in names:
            prob = problem(name)
            steps = max(2 * prob.interval, prob.steps // 10) if args.quick else prob.steps
            steps -= steps % prob.interval  # whole intervals: Ray stops on iterations
            for seed in range(seeds):
                for fw in frameworks:
                    reason = reasons[fw]
                    if reason is not None:
                        results.append({"problem": name, "framework": fw, "seed": seed,
                                        "unavailable": reason})
                        continue
                    folder = Path(tmp) / f"{name}-{fw.replace(' ', '-')}-{seed}"
                    folder.mkdir()
                    r = run(prob, fw, seed, steps, args.workers, folder,
                            ray_synch=False if args.ray_async else None,
                            syne_tune_sleep=args.syne_tune_sleep)
                    results.append(r)
                    if args.json:
                        args.json.write_text(json.dumps(results, indent=1))
                    print(f"{name:7s} {fw:12s} seed {seed}: score {r['score']:.4f}, wall "
                          f"{r['wall_s']:.1f} s, busy {r['busy_s']:.2f} s (CPU "
                          f"{r['busy_cpu_s']:.2f} s), setup {r['setup_s']:.2f} s, overhead "
                          f"{r['overhead_s']:.1f} s, {r['exploits']} exploits, member-steps "
                          f"{r['member_steps']}, load {r['load_before']:.1f} → "
                          f"{r['load_after']:.1f}", file=sys.stderr, flush=True)
    if args.json:
        args.json.write_text(json.dumps(results, indent=1))
    loads = [x for r in results if "unavailable" not in r
             for x in (r["load_before"], r["load_after"])] or [float("nan")]
    print(f"Overhead = wall − busy / workers: wall includes start-up; busy is the "
          f"summed time inside the members' own code: setup (model and data; its part is "
          f"shown apart), train, evaluate, state_dict, load_state_dict, and on Ray and Syne "
          f"Tune the checkpoint files the user's code writes and reads; CPU basis: the CPU "
          f"seconds inside the same calls (used beside Syne Tune, whose trial processes "
          f"share the cores). Workers: worker processes (1: in the driver), concurrent "
          f"trials, or the CPUs Syne Tune's trials are pinned to, on {os.cpu_count()} cores; "
          f"1-minute load average during the runs {min(loads):.1f}–{max(loads):.1f}. Medians "
          f"over seeds.")
    print()
    rows = summarize(results)
    print(table(rows))
    print()
    print("\n".join(verdicts(rows, results)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
