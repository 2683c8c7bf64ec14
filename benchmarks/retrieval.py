"""Does PBT over example databases beat one agent growing one database?
`examples/retrieval_cartpole.py` at an equal number of training episodes.

    python benchmarks/retrieval.py                 # 10 seeds, about 4 minutes on 2 cores
    python benchmarks/retrieval.py --quick         # a smoke run (short, not a result)

For each seed:
- **PBT**: the example's population (`--population` members, the example's settings: ready
  every 10 episodes, truncation 25 %, perturb), `--episodes` training episodes each; the
  member with the best score (the mean return of its last 5 evaluation episodes) is tested;
- **single, middle**: one agent at the middle of the search space (k 7, odd so that votes
  never tie; exploration 0.15, success quantile 0.725, at most 2,250 examples), trained
  `--population × --episodes` episodes: as many training episodes as the whole population;
- **single, hand-set**: one agent at settings that did well in a few trial runs (k 15,
  exploration 0.2, success quantile 0.8, at most 3,000 examples), trained as long;
- **single, drawn**: one agent at hyperparameters drawn from the space as a PBT member's
  are (the seed's member 0's), trained as long.
Each is reported by its mean greedy return on `TEST_EPISODES` held-out episodes (fresh
environment seeds, never used to train or select): the median over seeds, and per seed
whether PBT's was higher. PBT also spends evaluation episodes to select (5 per member
every 10 training episodes); the singles are evaluated once per tenth of their training,
which nothing reads.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import popbt
from popbt._refs import load_file

HERE = Path(__file__).resolve().parent
example = load_file(HERE.parent / "examples" / "retrieval_cartpole.py")
MIDDLE = {"k": 7, "explore_rate": 0.15, "success_quantile": 0.725, "max_examples": 2250}
HAND_SET = {"k": 15, "explore_rate": 0.2, "success_quantile": 0.8, "max_examples": 3000}
TEST_EPISODES = 20
TEST_SEED = 10**8  # held-out episodes: seeds TEST_SEED + 1000 * seed + i


def held_out(pop: popbt.Population, member: int, seed: int) -> float:
    """The member's mean greedy return on the held-out episodes of `seed`."""
    agent = pop.load(member)
    return agent.test_return(agent.k, episodes=TEST_EPISODES, seed=TEST_SEED + 1000 * seed)


def pbt(size: int, episodes: int, seed: int, folder: Path) -> tuple[float, float, int]:
    """(best member's held-out return, its score, its database size) of the example's
    population."""
    pop = popbt.create_population(
        name=f"pbt-{seed}", storage=f"sqlite:///{folder / 'r.db'}", space=example.space,
        size=size, metric=example.metric, seed=seed, ready=example.ready,
        exploit=example.exploit, explore=example.explore)
    best = pop.train(example.RetrievalAgent, steps=episodes, workers=2, progress=False)
    assert best is not None and best.score is not None
    return held_out(pop, best.member_id, seed), best.score, len(pop.load(best.member_id).examples)


def singles(size: int, episodes: int, seed: int, folder: Path) -> list[float]:
    """Held-out returns of the three single agents (middle, hand-set, drawn), each trained
    `size * episodes` episodes, side by side (a population that never exploits); the PBT
    population of `seed` must be in `folder` (its member 0's hyperparameters are drawn)."""
    drawn = _member_zero(seed, folder)
    total = size * episodes
    pop = popbt.create_population(
        name=f"single-{seed}", storage=f"sqlite:///{folder / 'r.db'}", space=example.space,
        size=3, metric=example.metric, seed=seed, ready=popbt.Every(steps=total // 10),
        exploit=popbt.NoExploit(explore=False), explore=None,
        initial=[MIDDLE, HAND_SET, drawn])
    pop.train(example.RetrievalAgent, steps=total, workers=2, progress=False)
    return [held_out(pop, m, seed) for m in range(3)]


def _member_zero(seed: int, folder: Path) -> dict[str, Any]:
    """The hyperparameters member 0 of the seed's PBT population started with."""
    pop = popbt.load_population(name=f"pbt-{seed}", storage=f"sqlite:///{folder / 'r.db'}")
    created = pop.events(member_id=0, kinds=[popbt.EventKind.CREATED])
    return dict(created[0].data["hparams"])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seeds", type=int, default=10)
    parser.add_argument("--population", type=int, default=8)
    parser.add_argument("--episodes", type=int, default=150,
                        help="training episodes per PBT member (default 150)")
    parser.add_argument("--quick", action="store_true", help="2 seeds, 4 members, 30 episodes")
    args = parser.parse_args(argv)
    if args.quick:
        args.seeds, args.population, args.episodes = 2, 4, 30
    rows = []
    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        for seed in range(args.seeds):
            t0 = time.perf_counter()
            test, score, size = pbt(args.population, args.episodes, seed, Path(tmp))
            middle, hand_set, drawn = singles(args.population, args.episodes, seed, Path(tmp))
            rows.append((test, middle, hand_set, drawn))
            print(f"seed {seed}: PBT best {test:6.1f} (score {score:.1f}, {size} examples) | "
                  f"single: middle {middle:6.1f}, hand-set {hand_set:6.1f}, drawn "
                  f"{drawn:6.1f} ({time.perf_counter() - t0:.0f} s)", file=sys.stderr,
                  flush=True)
    episodes = args.population * args.episodes
    names = ["PBT (best member)", "single agent, middle of the space",
             "single agent, hand-set", "single agent, drawn hyperparameters"]
    print(f"\nheld-out mean return over {TEST_EPISODES} episodes ({args.seeds} seeds, "
          f"{episodes} training episodes each; {time.perf_counter() - started:.0f} s)\n")
    print("| method | median | min | max | PBT higher |")
    print("|---|---|---|---|---|")
    for i, name in enumerate(names):
        values = [r[i] for r in rows]
        wins = "–" if i == 0 else f"{sum(r[0] > r[i] for r in rows)}/{len(rows)}"
        print(f"| {name} | {statistics.median(values):.1f} | {min(values):.1f} | "
              f"{max(values):.1f} | {wins} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
