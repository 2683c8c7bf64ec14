"""A genetic population (the Deep GA of Such et al. 2017): members that are evaluated, never
trained, stored as seed-chain genomes in their rows.

Contract:
- A generation is one ready round: every member's genome is evaluated at once (one batched
  network, see `popbt.ga.evaluation`); the `elite_candidates` best are evaluated
  `elite_episodes` times more (the paper's choice of the elite: 10 candidates, 30 episodes;
  their mean is recorded as `elite_<metric>`); then, unless the generation target is reached, the
  decisions are made together (synchronous: each against the records as they were before
  any of them) by `popbt.strategies.GeneticSelection` through the same decision seam as
  PBT: the elites keep their genome, every other member copies a parent (an EXPLOIT event
  when it is another member), its `sigma` is explored when `sigma` is a search domain (an
  EXPLORE event), and its genome gains one mutation (seed drawn from the population seed,
  the member and its generation; strength its `sigma`). With `crossover`, a child is first,
  with that probability, the uniform crossover of its parent and a second parent drawn
  from the other `parents` (see `popbt.ga._crossover`; the EXPLOIT event names it as
  `crossover_with`): having two parents, it cannot be a seed chain, so its crossed weights
  are saved as a checkpoint and its genome starts from it, its one mutation after.
- Each generation (scores, READY / EXPLOIT / EXPLORE events, every member's record and new
  genome) is one storage transaction; no weight file is written, except for a crossover
  child, and when a chain grows beyond `max_chain` mutations: the weights are then saved as
  a checkpoint and the genome re-based on it (each written before the row that points at
  it; deleted once no genome does).
- With `workers`, a generation's evaluation is spread over that many processes, each with
  its own cache of parents (see `popbt.ga._workers`: a worker that dies loses nothing);
  with an evaluation of each member's weights, the seed and its place (`Episodes`,
  `MinAtarEpisodes`; see `popbt.ga.evaluation`), the scores are those of one process on
  the CPU, whatever the number of workers.
- A run killed at any moment resumes from the last committed generation by decoding the
  genomes in the rows, and goes on exactly as if it had never stopped: every random draw
  (mutation seeds, parents, evaluation seeds) depends only on the population seed, the
  member and the generation.
- The best member (`best`, `Population.best`, `popbt best`) is the elite: the candidate with
  the best `elite_<metric>` (without candidates, the best score), whose genome is the one it
  was measured on (there is at least one elite).
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from popbt._evaluation import evaluation_of
from popbt._serialize import serialize
from popbt._watch import Watch, run_watched
from popbt.callbacks import Callback
from popbt.checkpoints import CheckpointStore
from popbt.decider import Decider
from popbt.errors import ConfigError
from popbt.export import export_decoded
from popbt.ga import _crossover
from popbt.ga._elite import elite_samples, evaluate_candidates
from popbt.ga._options import SIGMA, cache_capacity, check_options
from popbt.ga._workers import Workers
from popbt.ga.evaluation import EvaluateFn, Policy, per_member
from popbt.ga.genome import SEED_LIMIT, Base, Decoder, Genome, mutate, noise
from popbt.population import DEFAULT_STORAGE, Population, open_population
from popbt.records import EventKind, Member, MemberState, Peer
from popbt.settings import Settings
from popbt.space import Domain
from popbt.stopping import StopRule
from popbt.storage import Storage
from popbt.strategies import Every, Explore, GeneticSelection, Perturb
from popbt.vectorized._decide import decide_round
from popbt.vectorized._rounds import as_device

Events = list[tuple[int, int, EventKind, dict]]


class GeneticPopulation:
    """A population evolved by a genetic algorithm (see the module contract).

    Args:
        model_fn: builds one member's network; an initial seed means `model_fn()` built
            under `torch.manual_seed(seed)`.
        evaluate: `(policy, seed) -> {name: tensor}` (see `popbt.ga.evaluation`), e.g.
            `popbt.ga.Episodes("Acrobot")`.
        size: members (the paper: 1,000).
        name: the population's name in the storage.
        metric: the value of `evaluate` the population selects by.
        mode: "max" to maximise it, "min" to minimise it.
        parents: how many of the best members breed (`GeneticSelection`; the paper: 20).
        elites: how many of the best are kept unchanged (>= 1; the paper: 1).
        elite_candidates: how many of the best scores are evaluated again to choose the
            elites (the paper: 10).
        elite_episodes: how many more times each candidate is evaluated (the paper: 30; 0:
            the elites are the best scores).
        sigma: the mutation strength (the paper: 0.002), or a search domain for it: each
            member then has its own, which a child inherits and `explore` perturbs.
        explore: how an explored `sigma` changes (default `popbt.Perturb()`).
        crossover: the probability that a child is the uniform crossover of its parent and
            a second parent (0: none, the paper's GA; each such child costs one weight
            file while a genome uses it).
        max_chain: the most mutations a genome holds before it is re-based on a checkpoint.
        seed: the seed every random draw derives from.
        storage: as for `popbt.create_population`.
        checkpoints: as for `popbt.create_population`; it holds only re-based genomes'
            weights.
        load_if_exists: as for `popbt.create_population`.
        keep_checkpoints: as for `popbt.create_population`.
        device: where the weights live and evaluation runs ("cpu" or "cuda"); genomes
            decode on the CPU, to the same bits on every machine.
        workers: evaluation processes (0: in this process, as one batched network); they
            start with the first generation and keep their caches from one `run` to the next
            until `close()` (or the program's end). `model_fn` and `evaluate` must then be
            importable (module-level), and the script guarded by `if __name__ ==
            "__main__":`.

    Examples:
        >>> from torch import nn
        >>> from popbt.ga import Episodes, GeneticPopulation
        >>> ga = GeneticPopulation(
        ...     model_fn=lambda: nn.Sequential(nn.Linear(4, 16), nn.Tanh(), nn.Linear(16, 2)),
        ...     evaluate=Episodes("CartPole"), size=32, parents=8, sigma=0.05,
        ...     name="cartpole-ga", storage="sqlite:///popbt.db")
        >>> best = ga.run(generations=5)
        >>> best.step, best.score > 20
        (5, True)

    Raises:
        ConfigError: on any invalid setting, naming it.
    """

    def __init__(self, *, model_fn: Callable[[], nn.Module], evaluate: EvaluateFn, size: int,
                 name: str, metric: str = "return", mode: str = "max", parents: int = 20,
                 elites: int = 1, elite_candidates: int = 10, elite_episodes: int = 30,
                 sigma: float | Domain = 0.002,
                 explore: Explore | None = None, crossover: float = 0.0,
                 max_chain: int = 500, seed: int = 0,
                 storage: str | Storage = DEFAULT_STORAGE,
                 checkpoints: str | Path | None = None, load_if_exists: bool = False,
                 keep_checkpoints: int = 3, device: str | torch.device = "cpu",
                 workers: int = 0) -> None:
        space = check_options(
            model_fn=model_fn, evaluate=evaluate, size=size, elites=elites,
            elite_candidates=elite_candidates, elite_episodes=elite_episodes, sigma=sigma,
            explore=explore, crossover=crossover, parents=parents, max_chain=max_chain,
            workers=workers)
        explored = isinstance(sigma, Domain)
        self.selection = GeneticSelection(parents=parents, elites=elites)
        settings = Settings(space=space, size=size, metric=metric, mode=mode, seed=seed,
                            ready=Every(steps=1), exploit=self.selection,
                            explore=(explore or Perturb()) if explored else None,
                            keep_checkpoints=keep_checkpoints, sync=True)
        self.model_fn, self.evaluate, self.max_chain = model_fn, evaluate, max_chain
        self.crossover = float(crossover)
        self.candidates = elite_candidates if elite_episodes else 0
        self.elite_episodes = elite_episodes
        self.device = as_device(device)
        self.population: Population = open_population(
            settings, name=name, storage=storage, initial=(), checkpoints=checkpoints,
            load_if_exists=load_if_exists, trainer="ga")
        self.settings = self.population.settings
        self._decider = Decider(self.settings)
        self._checkpoints = CheckpointStore(self.population.row.checkpoint_root)
        capacity = cache_capacity(size, model_fn)
        self._decoder = Decoder(model_fn, load_base=self._checkpoints.load, capacity=capacity)
        self._workers = None if workers == 0 else Workers(
            workers, model_fn=model_fn, evaluate=evaluate, capacity=capacity,
            root=self.population.row.checkpoint_root)
        self._parents: list[Genome] = []  # the genomes the last decisions copied
        self._resume()

    # -- state -------------------------------------------------------------------------------

    def _resume(self) -> None:
        """The members as stored: fresh genomes, or the committed generation's, decoded."""
        members = self.population.members
        stored = self.population.storage.genomes(self.population.row)
        if any(m.step > 0 for m in members) and len(stored) != len(members):
            raise ConfigError(f"population {self.population.name!r} has evaluated members "
                              f"without genomes in their rows")
        size = sum(p.numel() for p in self.model_fn().parameters())
        self.genomes = [Genome.from_bytes(stored[m.member_id]) if m.member_id in stored
                        else Genome(init=self.settings.member_seed(m.member_id), size=size)
                        for m in members]
        self.flat = torch.stack([self._decoder.decode(g) for g in self.genomes]).to(self.device)
        fitness = self.settings.fitness
        self._records: list[dict[str, Any]] = [
            {"member_id": m.member_id, "step": m.step, "score": m.score,
             "fitness": None if m.score is None else fitness.of(m.metrics),
             "metrics": dict(m.metrics), "hparams": dict(m.hparams),
             "last_ready_step": m.last_ready_step, "ready_count": m.ready_count,
             "state": m.state.value, "genome": g.to_bytes()}
            for m, g in zip(members, self.genomes, strict=True)]
        # decisions wait at the generation target, until the run is continued past it
        target = self.population.row.target_steps
        self._pending = self.generation > 0 and self.generation >= target
        self._bases = {g.base.path for g in self.genomes if g.base is not None}

    @property
    def generation(self) -> int:
        """Generations evaluated so far."""
        return int(self._records[0]["step"])

    def weights(self, member_id: int) -> torch.Tensor:
        """Member `member_id`'s current weights, a flat float32 CPU tensor."""
        self._check_member(member_id)
        return self.flat[member_id].detach().cpu().clone()

    def member_model(self, member_id: int) -> nn.Module:
        """Member `member_id` as an ordinary module holding its current weights."""
        flat = self.weights(member_id)
        model = self.model_fn()
        offset = 0
        with torch.no_grad():
            for p in model.parameters():
                p.copy_(flat[offset:offset + p.numel()].view_as(p))
                offset += p.numel()
        return model

    def export(self, path: str | os.PathLike[str], *, member: int | str = "best") -> Path:
        """Write member `member`'s network (`member_model`'s `state_dict`, with
        `torch.save`) to `path`, its schedule and record (with its genome) beside it; returns
        `path` (see `popbt.export`). Between generations a member that is not an elite holds
        a child that its score does not measure yet; the elite (`"best"`) is always the
        genome it scored.

        Raises:
            ConfigError: no such member, no member has a score yet ("best"), or `path`
                cannot be written.
        """
        return export_decoded(self.population, path, member=member,
                              state_dict_of=lambda i: self.member_model(i).state_dict(),
                              genome_of=lambda i: self.genomes[i].to_bytes()).state

    def _check_member(self, member_id: int) -> None:
        size = len(self._records)
        if isinstance(member_id, bool) or not isinstance(member_id, int) \
                or not 0 <= member_id < size:
            raise ConfigError(f"member {member_id!r} does not exist; members are 0..{size - 1}")

    def storage_per_member(self) -> dict[str, float]:
        """Bytes per member against one full checkpoint of the weights (`checkpoint`, as the
        worker loop would write it): the genomes in the rows (`genome_mean`, `genome_max`),
        the weight files genomes start from (`weight_files`: compacted chains and crossover
        children), and everything together (`total_mean`: rows and those files, per
        member)."""
        sizes = [len(g.to_bytes()) for g in self.genomes]
        checkpoint = len(serialize({"params": self.weights(0)})[0])
        files = len({g.base.path for g in self.genomes if g.base is not None})
        return {"genome_mean": float(np.mean(sizes)), "genome_max": float(max(sizes)),
                "weight_files": float(files),
                "total_mean": (sum(sizes) + files * checkpoint) / len(sizes),
                "checkpoint": float(checkpoint)}

    def close(self) -> None:
        """Stop the evaluation workers, if any (a later `run` starts new ones)."""
        if self._workers is not None:
            self._workers.close()

    @property
    def best(self) -> Member | None:
        """The member with the best score, as stored (an elite)."""
        return self.population.best

    # -- running -----------------------------------------------------------------------------

    def run(self, generations: int, *, stop: StopRule | Sequence[StopRule] | None = None,
            callbacks: Sequence[Callback] = ()) -> Member | None:
        """Evolve to `generations` generations (continuing from where it is), or until a rule
        of `stop` fires (weighed after every generation, as are the callbacks called, as for
        `Population.train`); return the best member.

        Raises:
            ConfigError: bad `generations`, stop rules or callbacks, or an evaluation that
                does not return the metric for every member.
            CallbackError: a callback raised (the run stopped first, losing nothing).
        """
        if isinstance(generations, bool) or not isinstance(generations, int) or generations < 1:
            raise ConfigError(f"generations={generations!r}: must be an integer >= 1")
        run_watched(self.population, target=generations, stop=stop, callbacks=callbacks,
                    body=lambda watch: self._evolve(generations, watch),
                    reached=lambda: self.generation, on_stop=self._idle)
        return self.best

    def _idle(self) -> None:
        """Record every member idle (a run stopped short of its target)."""
        for rec in self._records:
            rec["state"] = MemberState.IDLE.value
        self._write([], [])

    def _evolve(self, generations: int, watch: Watch) -> None:
        """Breed what waits, then run generations to `generations` or a stop."""
        if self._pending and self.generation < generations:
            events: Events = []
            self._breed(events)
            self._write(events, [])
        self._pending = False
        while self.generation < generations and watch.stopped is None:
            self._generation(generations)
            watch.poll()

    def _evaluation_seed(self, generation: int) -> int:
        return int(np.random.SeedSequence([self.settings.seed, generation, 5])
                   .generate_state(1)[0])

    def _results(self) -> list[dict[str, Any]]:
        """Every member's evaluation of this generation, as `evaluate` would return it."""
        seed = self._evaluation_seed(self.generation)
        out = (self.evaluate(Policy.of(self.model_fn, self.flat), seed)
               if self._workers is None
               else self._workers.evaluate(self.genomes, self._parents, seed))
        results = per_member(out, self.settings.metric, len(self._records))
        if self.candidates:
            evaluate_candidates(results, flat=self.flat, model_fn=self.model_fn,
                                evaluate=self.evaluate, settings=self.settings,
                                candidates=self.candidates, episodes=self.elite_episodes,
                                seed=seed + 1)
        return results

    def _generation(self, target: int) -> None:
        """Evaluate every genome, record the generation and (short of `target`) breed."""
        settings, step = self.settings, self.generation + 1
        scores, events = [], []
        for rec, result in zip(self._records, self._results(), strict=True):
            score, metrics, samples = evaluation_of(result, settings.metric)
            fitness = settings.fitness.of(metrics)
            rec.update(step=step, score=score, fitness=fitness, metrics=metrics,
                       last_ready_step=step, ready_count=rec["ready_count"] + 1)
            scores.append((rec["member_id"], step, fitness, metrics))
            data: dict[str, Any] = {"score": score, "metrics": dict(metrics)}
            if samples:
                data["samples"] = list(samples)
            events.append((rec["member_id"], step, EventKind.READY, data))
        done = step >= target
        if done:
            self._pending = True
        else:
            self._breed(events)
        for rec in self._records:
            rec["state"] = (MemberState.DONE if done else MemberState.RUNNING).value
        self._write(events, scores)

    def _breed(self, events: Events) -> None:
        """The generation's decisions, then every member but the elites mutated."""
        step = self.generation
        samples = elite_samples(self._records, self.settings)
        source = decide_round(self._decider, self._records, {}, step=step, events=events,
                              stored=self.population.events, together=True, samples=samples)
        peers = [Peer(r["member_id"], step, -np.inf if r["fitness"] is None else r["fitness"],
                      samples=tuple(samples.get(r["member_id"], ())))
                 for r in self._records]
        elites = set(self.selection.elite_ids(peers))
        children = [i for i in range(len(self._records)) if i not in elites]
        if not children:
            return
        old, size = self.genomes, self.flat.shape[1]
        genomes = list(old)
        mates = GeneticSelection.ranking(peers)[:self.selection.parents]
        parents = torch.as_tensor(source[children], device=self.device)
        starts = self.flat.index_select(0, parents)
        eps, sigmas = [], []
        for row, i in enumerate(children):
            rec, parent = self._records[i], int(source[i])
            rng = np.random.default_rng([self.settings.seed, i, rec["ready_count"], 7])
            sigma = float(rec["hparams"][SIGMA])
            seed = int(rng.integers(SEED_LIMIT))
            genomes[i] = old[parent].child(seed=seed, sigma=sigma)
            if self.crossover and rng.random() < self.crossover:
                other = _crossover.mate(rng, parent, mates)
                if other is not None:
                    starts[row] = _crossover.uniform(self.flat[parent], self.flat[other],
                                                     int(rng.integers(SEED_LIMIT)))
                    base = self._saved(i, "x", starts[row])
                    genomes[i] = old[parent].rebased(base).child(seed=seed, sigma=sigma)
                    _crossover.note(events, child=i, parent=parent, mate=other, step=step,
                                   hparams=rec["hparams"])
            eps.append(noise(seed, size))
            sigmas.append(sigma)
        index = torch.as_tensor(children, device=self.device)
        rows = mutate(starts, torch.stack(eps).to(self.device),
                      torch.tensor(sigmas).to(self.device)[:, None])
        flat = self.flat.clone()
        flat[index] = rows
        self.flat = flat
        self.genomes = [self._compacted(i, g) for i, g in enumerate(genomes)]
        # what workers decode first: the parents of the children that are one mutation of
        # them (not of a new base: a crossover or a compacted chain), and the elites
        chained = [old[int(source[i])] for i in children
                   if self.genomes[i].base == old[int(source[i])].base]
        self._parents = list({g.to_bytes(): g for g in
                              chained + [self.genomes[i] for i in elites]}.values())
        for rec, genome in zip(self._records, self.genomes, strict=True):
            rec["genome"] = genome.to_bytes()

    def _compacted(self, member_id: int, genome: Genome) -> Genome:
        """`genome`, or when its chain is longer than `max_chain`, its weights saved as a
        checkpoint and the genome re-based on it."""
        if len(genome) <= self.max_chain:
            return genome
        return genome.rebased(self._saved(member_id, "m", self.weights(member_id)))

    def _saved(self, member_id: int, kind: str, weights: torch.Tensor) -> Base:
        """`weights` saved as a checkpoint a genome can start from (`kind`: "m" for a
        compacted chain, "x" for a crossover)."""
        path, checksum, _ = self._checkpoints.save(
            f"{self.population.name}/genomes/{kind}{member_id}", self.generation,
            {"params": weights.detach().to("cpu", torch.float32).clone()})
        self._bases.add(path)
        return Base(path, checksum)

    def _write(self, events: Events, scores: list[tuple[int, int, float, dict]]) -> None:
        """Record the generation (with every member's genome) in one transaction, then delete
        the re-based weights no genome points at any more."""
        self.population.storage.write_round(
            self.population.row, scores=scores, events=events, members=self._records,
            snapshot=None, keep=self.settings.keep_checkpoints, now=time.time())
        used = {g.base.path for g in self.genomes if g.base is not None}
        self._checkpoints.delete(sorted(self._bases - used))
        self._bases = used
