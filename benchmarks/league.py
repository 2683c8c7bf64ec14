"""Does a league beat naive self-play? Leduc poker (examples/leduc_league.py): exploitability
against games played.

    python benchmarks/league.py                                  # 5 seeds, every method (~7 min)
    python benchmarks/league.py --seeds 5 --json league.json --figure league.png
    python benchmarks/league.py --quick                          # a smoke run, not a result

Methods, at equal games (`--members` × `--steps` batches of 256 games each):
- **naive self-play**: one learner, every batch against a frozen copy of itself as it is now,
  trained `members × steps` steps with member 0's initial hyperparameters;
- **uniform league**: `members` learners, each batch against an opponent drawn uniformly
  from the league (the other members and frozen snapshots of every member every
  `--snapshot` steps); hyperparameters fixed, no exploit;
- **PFSP league**: the same with the example's opponents, AlphaStar's main agents' rule: 35 %
  of the batches against the learner's own latest checkpoint, the rest by prioritised
  fictitious self-play ("hard");
- **PBT league**: the PFSP league's opponents, Elo ratings as the fitness, `EloTournament(0.3)` and
  `Perturb()` (the example's settings).
Per seed, every method starts from the same initial hyperparameters (drawn from the
example's space with the seed). The learner a method hands over is its highest rated member
at each ready round (leagues: the one PBT would pick, without looking at exploitability)
or the learner (self-play); its exploitability is its NashConv, computed by OpenSpiel. A
league also hands over its mixture, as PSRO does: at the end, every player (members and
frozen entries) weighted by the Nash equilibrium of the payoff matrix its matches estimate
(`popbt.league.Nash`'s), played as one policy (OpenSpiel's `policy_aggregator`).
Printed: per method the median over seeds of the final NashConv, its range, the per-seed wins
against naive self-play, the median NashConv after each quarter of the games, and the
leagues' mixtures; `--figure` draws the median curves.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

import popbt
from popbt._refs import load_file
from popbt.league import Uniform
from popbt.league.member import MemberLeague, Opponent

HERE = Path(__file__).resolve().parent
leduc = load_file(HERE.parent / "examples" / "leduc_league.py")
METHODS = ("naive self-play", "uniform league", "PFSP league", "PBT league")


class LatestSelf(MemberLeague):
    """Naive self-play: every opponent is a frozen copy of the learner as it is now."""

    def __init__(self, learner: Any, hparams: dict[str, Any], seed: int) -> None:
        self.learner = learner
        self.frozen = leduc.LeducPolicy()
        self.frozen.setup(dict(hparams), seed)

    def sample(self) -> Opponent:
        self.frozen.model.load_state_dict(self.learner.model.state_dict())
        return Opponent(key="self", member_id=0, step=self.learner.step, checkpoint_id=None,
                        hparams={}, rating=0.0, trainable=self.frozen)

    def report(self, opponent: Opponent | str, result: float, *, payoff: float | None = None,
               seed: int | None = None) -> Any:
        return None  # one learner: nobody to rate


def naive(hparams: dict[str, Any], seed: int, steps: int, every: int) -> list[float]:
    """NashConv of one self-play learner after every `every` of its `steps` steps."""
    learner = leduc.LeducPolicy()
    learner.setup(dict(hparams), seed)
    learner.league = LatestSelf(learner, hparams, seed)
    curve = []
    for _ in range(steps // every):
        learner.train(dict(hparams), every)
        curve.append(leduc.nash_conv(learner.table()))
    return curve


def league_run(method: str, initial: list[dict[str, Any]], seed: int, steps: int,
               ready: int, snapshot: int, workers: int,
               folder: Path) -> tuple[list[float], float]:
    """NashConv of the highest rated member at every ready round of a league run, and of
    the league's mixture at the end."""
    pbt = method == "PBT league"
    opponents = Uniform() if method == "uniform league" else leduc.league.opponents
    pop = popbt.create_population(
        name=method.replace(" ", "-") + f"-{seed}", storage=f"sqlite:///{folder / 'l.db'}",
        space=leduc.space, size=len(initial), metric="rating", seed=seed,
        ready=popbt.Every(steps=ready), initial=initial,
        exploit=popbt.EloTournament(threshold=0.3) if pbt else popbt.NoExploit(),
        explore=popbt.Perturb() if pbt else None,
        league=popbt.League(opponents=opponents, snapshot_every=snapshot))
    pop.train(leduc.LeducPolicy, steps=steps, workers=workers, progress=False)
    rounds: dict[int, list[tuple[float, float]]] = {}
    for s in pop.scores():
        rounds.setdefault(s.step, []).append((s.score, s.metrics["nash_conv"]))
    return [max(rounds[step])[1] for step in sorted(rounds)], mixture_nash_conv(pop)


def mixture_nash_conv(pop: popbt.Population) -> float:
    """NashConv of the league's players mixed by the Nash equilibrium of the payoff matrix
    their matches estimate (see the module docstring)."""
    from open_spiel.python import policy as policy_lib
    from open_spiel.python.algorithms import exploitability, policy_aggregator

    from popbt.checkpoints import CheckpointStore
    from popbt.league._nash import nash_mixture
    from popbt.league.standings import payoff

    store, league = CheckpointStore(pop.row.checkpoint_root), pop.settings.league
    assert league is not None
    players = [(f"member:{m.member_id}", m.checkpoint_id, m.hparams, m.member_id)
               for m in pop.members]
    players += [(e.key, e.checkpoint_id, e.hparams, e.member_id)
                for e in pop.storage.entries(pop.row)]
    ratings = pop.storage.ratings(pop.row)
    rated = np.array([ratings.get(k, (league.rating.initial, 0))[0] for k, *_ in players])
    expected = league.rating.expected_matrix(rated)
    mean, games = payoff(pop.storage.matches(pop.row), [k for k, *_ in players])
    won = np.where(games > 0, mean * games, 0.0)  # as the samplers estimate it
    estimate = (won + league.prior_games * expected) / (games + league.prior_games)
    np.fill_diagonal(estimate, 0.5)
    sigma = nash_mixture(estimate - 0.5)
    info, policies = leduc.infosets(), []
    for _, checkpoint_id, hparams, member in players:
        row = pop.storage.checkpoint(pop.row, checkpoint_id)
        learner = leduc.LeducPolicy()
        learner.setup(dict(hparams), pop.settings.member_seed(member))
        learner.load_state_dict(store.load(row.path, row.checksum))
        tabular = policy_lib.TabularPolicy(info.game)
        tabular.action_probability_array = learner.table()
        policies.append(tabular)
    mixed = policy_aggregator.PolicyAggregator(info.game).aggregate(
        [0, 1], [policies, policies], [list(sigma), list(sigma)])
    return float(exploitability.nash_conv(info.game, mixed))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--members", type=int, default=4)
    parser.add_argument("--steps", type=int, default=600, help="steps per league member")
    parser.add_argument("--ready", type=int, default=20)
    parser.add_argument("--snapshot", type=int, default=40)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--methods", default=",".join(METHODS))
    parser.add_argument("--json", help="write every curve to this file")
    parser.add_argument("--figure", help="draw the median curves to this PNG (matplotlib)")
    parser.add_argument("--quick", action="store_true", help="a smoke run: 2 seeds, 40 steps")
    args = parser.parse_args()
    if args.quick:
        args.seeds, args.steps, args.ready, args.snapshot = 2, 40, 10, 20
    methods = [m.strip() for m in args.methods.split(",")]
    unknown = sorted(set(methods) - set(METHODS))
    if unknown:
        parser.error(f"unknown methods {unknown}; choose from {', '.join(METHODS)}")
    games_per_round = args.members * args.ready * leduc.GAMES_PER_STEP
    curves: dict[str, list[list[float]]] = {m: [] for m in methods}
    mixtures: dict[str, list[float]] = {}
    started = time.time()
    with tempfile.TemporaryDirectory() as tmp:
        for seed in range(args.seeds):
            rng = np.random.default_rng([seed, 7])
            initial = [leduc.space.sample(rng) for _ in range(args.members)]
            for method in methods:
                if method == "naive self-play":
                    curve = naive(initial[0], seed, args.members * args.steps,
                                  args.members * args.ready)
                else:
                    curve, mixture = league_run(method, initial, seed, args.steps, args.ready,
                                                args.snapshot, args.workers, Path(tmp))
                    mixtures.setdefault(method, []).append(mixture)
                curves[method].append(curve)
                print(f"seed {seed} {method}: final NashConv {curve[-1]:.3f}"
                      + (f", mixture {mixtures[method][-1]:.3f}" if method in mixtures else "")
                      + f" ({time.time() - started:.0f} s)", file=sys.stderr)
    report(curves, methods, games_per_round, args, mixtures)
    if args.json:
        Path(args.json).write_text(json.dumps({"games_per_round": games_per_round,
                                               "args": vars(args), "curves": curves,
                                               "mixtures": mixtures}))
    if args.figure:
        figure(curves, methods, games_per_round, args.figure)


def report(curves: dict[str, list[list[float]]], methods: list[str], games_per_round: int,
           args: argparse.Namespace, mixtures: dict[str, list[float]]) -> None:
    """The tables: final NashConv per method, wins against naive self-play, the curve; then
    the leagues' mixtures."""
    rounds = min(len(c) for runs in curves.values() for c in runs)
    quarters = sorted({max(1, round(rounds * q / 4)) for q in (1, 2, 3, 4)})
    total = rounds * games_per_round
    print(f"\nLeduc poker, {args.members} learners × {args.steps} steps × "
          f"{leduc.GAMES_PER_STEP} games ({total:,} games per method and seed), "
          f"{args.seeds} seeds; NashConv (OpenSpiel; 0 is a Nash equilibrium, uniform random "
          f"play 4.747) of the learner each method hands over\n")
    print("| method | final NashConv (median) | min – max | wins vs naive self-play | "
          + " | ".join(f"after {q * games_per_round:,} games" for q in quarters) + " |")
    print("|---|---:|---:|---:|" + "---:|" * len(quarters))
    base = curves.get("naive self-play")
    for method in methods:
        finals = [c[rounds - 1] for c in curves[method]]
        wins = ("—" if method == "naive self-play" or base is None else
                f"{sum(f < b[rounds - 1] for f, b in zip(finals, base, strict=True))}/"
                f"{len(finals)}")
        mids = [statistics.median(c[q - 1] for c in curves[method]) for q in quarters]
        print(f"| {method} | {statistics.median(finals):.3f} | {min(finals):.3f} – "
              f"{max(finals):.3f} | {wins} | " + " | ".join(f"{m:.3f}" for m in mids) + " |")
    if not mixtures:
        return
    print("\nThe leagues' Nash mixtures at the end (every member and frozen entry)\n")
    print("| league | mixture's NashConv (median) | min – max | wins vs naive self-play |")
    print("|---|---:|---:|---:|")
    for method, values in mixtures.items():
        wins = ("—" if base is None else
                f"{sum(v < b[rounds - 1] for v, b in zip(values, base, strict=True))}/"
                f"{len(values)}")
        print(f"| {method} | {statistics.median(values):.3f} | {min(values):.3f} – "
              f"{max(values):.3f} | {wins} |")


def figure(curves: dict[str, list[list[float]]], methods: list[str], games_per_round: int,
           path: str) -> None:
    """Median NashConv against games, one line per method, the range shaded."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4))
    for method in methods:
        rounds = min(len(c) for c in curves[method])
        runs = np.array([c[:rounds] for c in curves[method]])
        games = np.arange(1, rounds + 1) * games_per_round
        ax.plot(games, np.median(runs, axis=0), label=method)
        ax.fill_between(games, runs.min(axis=0), runs.max(axis=0), alpha=0.15)
    ax.set_xlabel("games played")
    ax.set_ylabel("NashConv (lower is better)")
    ax.set_title("Leduc poker: exploitability of the learner handed over")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)


if __name__ == "__main__":
    main()
