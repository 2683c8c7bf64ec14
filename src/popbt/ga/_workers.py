"""A generation's evaluation spread over worker processes, each with a cache of parents.

Contract:
- `Workers(n, ...)` starts `n` processes (spawned: nothing of the parent's state is shared);
  each holds a `Decoder` whose cache lasts as long as the process. A generation's members
  are cut into `n` contiguous shards, and worker `k` always takes shard `k` (whatever the
  timing, so no worker misses a generation); it first decodes the generation's parents (the
  members the last decisions copied, which it keeps cached), then its shard: a child costs
  one mutation of a cached parent, not a rebuild. It evaluates its shard as one batched
  network with the generation's seed and `Policy.offset` its shard's first member, so an
  evaluation of the weights, the seed and each member's place (`popbt.ga.Episodes`, say)
  gives the scores one process would, whatever the number of workers.
- A worker that dies (killed, out of memory) loses nothing: that worker is started again
  (the others keep their caches) and its shard is evaluated again, to the same result (up
  to `retries` rounds of restarts a generation, then `TrainingError`).
- `model_fn` and `evaluate` must be importable by the workers (module-level functions or
  classes, not lambdas): `importable` says so at once otherwise.
"""

from __future__ import annotations

import pickle
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from multiprocessing import get_context
from typing import Any

import numpy as np
import torch
from torch import nn

from popbt.checkpoints import CheckpointStore
from popbt.errors import ConfigError, TrainingError
from popbt.ga.evaluation import EvaluateFn, Policy
from popbt.ga.genome import Decoder, Genome

_STATE: dict[str, Any] = {}  # in a worker: its decoder, network builder and evaluation


def _start(model_fn: Callable[[], nn.Module], evaluate: EvaluateFn, root: str,
           capacity: int) -> None:
    torch.set_num_threads(1)
    _STATE.update(model_fn=model_fn, evaluate=evaluate,
                  decoder=Decoder(model_fn, load_base=CheckpointStore(root).load,
                                  capacity=capacity))


def _shard(parents: Sequence[bytes], genomes: Sequence[bytes], seed: int,
           offset: int) -> tuple[dict[str, np.ndarray], int]:
    """In a worker: the shard's evaluation, and the mutations its decoding took."""
    decoder: Decoder = _STATE["decoder"]
    before = decoder.mutations_applied
    for data in parents:
        decoder.decode(Genome.from_bytes(data))
    weights = torch.stack([decoder.decode(Genome.from_bytes(g)) for g in genomes])
    out = _STATE["evaluate"](Policy.of(_STATE["model_fn"], weights, offset=offset), seed)
    if not isinstance(out, dict):
        raise ConfigError(f"evaluate returned {type(out).__name__}, not a dict of tensors")
    return ({k: torch.as_tensor(v).detach().cpu().double().numpy() for k, v in out.items()},
            decoder.mutations_applied - before)


def importable(what: str, value: Any) -> None:
    """Refuse a `value` that cannot be sent to a worker process (`ConfigError`)."""
    try:
        pickle.dumps(value)
    except Exception as exc:  # noqa: BLE001 - any pickling failure says the same
        raise ConfigError(f"{what}={value!r} cannot be sent to worker processes ({exc}); "
                          f"define it at module level (not a lambda or a local function), "
                          f"or run without workers") from None


class Workers:
    """`n` evaluation processes with caches of parents (see the module contract).

    Each worker is a pool of one process, so shard `k` always goes to worker `k`: every
    worker decodes every generation's parents and keeps them, whatever the timing."""

    def __init__(self, n: int, *, model_fn: Callable[[], nn.Module], evaluate: EvaluateFn,
                 root: str, capacity: int, retries: int = 3) -> None:
        self.n, self.retries = n, retries
        self._args = (model_fn, evaluate, root, capacity)
        self._pools: list[ProcessPoolExecutor | None] = [None] * n
        self.mutations = 0  # mutations the workers applied decoding, over the run
        self.restarts = 0

    def _executor(self, k: int) -> ProcessPoolExecutor:
        pool = self._pools[k]
        if pool is None:
            pool = self._pools[k] = ProcessPoolExecutor(
                1, mp_context=get_context("spawn"), initializer=_start, initargs=self._args)
        return pool

    def evaluate(self, genomes: Sequence[Genome], parents: Sequence[Genome],
                 seed: int) -> dict[str, np.ndarray]:
        """Every member's evaluation (by member order, as `evaluate` returns it for all)."""
        cuts = np.array_split(np.arange(len(genomes)), min(self.n, len(genomes)))
        shards = {k: ([genomes[i].to_bytes() for i in cut], int(cut[0]))
                  for k, cut in enumerate(cuts)}
        wanted = [p.to_bytes() for p in parents]
        done: dict[int, dict[str, np.ndarray]] = {}
        for _ in range(self.retries + 1):
            futures: dict[int, Future[tuple[dict[str, np.ndarray], int]]] = {
                k: self._executor(k).submit(_shard, wanted, data, seed, offset)
                for k, (data, offset) in shards.items() if k not in done}
            for k, future in futures.items():
                try:
                    done[k], applied = future.result()
                except BrokenProcessPool:
                    self._stop(k)
                    self.restarts += 1
                    continue
                self.mutations += applied
            if len(done) == len(shards):
                return {key: np.concatenate([done[k][key] for k in sorted(done)])
                        for key in done[0]}
        raise TrainingError(f"evaluation workers died {self.retries + 1} times in one "
                            f"generation; the generation was not recorded")

    def _stop(self, k: int) -> None:
        pool = self._pools[k]
        if pool is not None:
            pool.shutdown(wait=True, cancel_futures=True)
            self._pools[k] = None

    def close(self) -> None:
        """Stop the processes (a later evaluation starts new ones)."""
        for k in range(self.n):
            self._stop(k)
