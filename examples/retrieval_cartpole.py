"""An agent whose only weights are a database of its own successful moves, on CartPole-v1.

    popbt run examples/retrieval_cartpole.py --population 4 --workers 2 --steps 100  # CLI
    python examples/retrieval_cartpole.py                                            # API
    popbt check examples/retrieval_cartpole.py --steps 10   # its hyperparameters act later

After the self-generated in-context examples of LLM agents (Sarukkai, Xie and Fatahalian,
2025: an agent adds its own successful trajectories to the database its prompts retrieve
examples from, and a population-based selection copies good databases): here the policy is
retrieval, k nearest neighbours over stored (observation, action) examples, with a vote of
their actions; an empty or small database (fewer than k examples) acts at random.

One training step is one episode, acting with exploration (a random action with probability
`explore_rate`). An episode whose return reaches the `success_quantile` of the member's last
`RECENT` returns is a success: each of its moves becomes an example (a dict of strings and
numbers: the episode's name and return, the four observations, the action). When the
database holds more than `max_examples`, the examples of the lowest-return episodes are
dropped, whole episodes at a time. The score is the mean return of `EVAL_EPISODES` episodes
acting greedily (no exploration). PBT copies a better member's database with its
hyperparameters, and the copy goes on adding its own successes and pruning.

`state_dict` is data only: the list of examples, the recent returns and counters as plain
numbers, and the random generator's state (a dict of integers). popbt stores it as JSON
without pickle, and the HTML report (`popbt report`) shows what each member's database
gained and lost since it copied a donor's. `benchmarks/retrieval.py` compares the population
with one agent growing one database over the same number of episodes. Needs
`pip install 'popbt[examples]'` (gymnasium).
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np

import popbt

OBSERVATIONS = ("x", "x_dot", "theta", "theta_dot")
SCALE = np.array([2.4, 3.0, 0.21, 3.0])  # a typical size of each observation, for distances
RECENT = 20  # returns the success quantile is taken over
EVAL_EPISODES = 5
EVAL_SEED = 1_000_000  # evaluation episodes' seeds start here (training draws its own)


class RetrievalAgent(popbt.Trainable):
    """A k-nearest-neighbour policy over a database of examples from its own successes."""

    def setup(self, hparams: dict[str, Any], seed: int) -> None:
        self.env = gym.make("CartPole-v1")
        self.rng = np.random.default_rng(seed)
        self.examples: list[dict[str, Any]] = []
        self.returns: list[float] = []
        self.episodes = 0
        self.k = int(hparams["k"])
        self._index()

    def _index(self) -> None:
        """The examples as arrays, for the neighbour search (rebuilt when they change)."""
        points = np.array([[e[n] for n in OBSERVATIONS] for e in self.examples],
                          dtype=np.float64).reshape(-1, len(OBSERVATIONS)) / SCALE
        # |p - q|² = |p|² - 2 p·q + |q|²: the last term is the same for every example
        self.norms, self.points = (points ** 2).sum(axis=1), -2.0 * points
        self.actions = np.array([e["action"] for e in self.examples], dtype=np.int64)

    def act(self, obs: np.ndarray, k: int, explore_rate: float,
            rng: np.random.Generator) -> int:
        """The majority action of the `k` examples nearest `obs` (a tie: random); random
        with probability `explore_rate`, or while the database holds fewer than `k`."""
        if len(self.actions) < k or rng.random() < explore_rate:
            return int(rng.integers(2))
        distances = self.norms + self.points @ (obs / SCALE)
        votes = self.actions[np.argpartition(distances, k - 1)[:k]].sum() * 2
        return int(rng.integers(2)) if votes == k else int(votes > k)

    def play(self, seed: int, k: int, explore_rate: float,
             rng: np.random.Generator) -> tuple[float, list[tuple[np.ndarray, int]]]:
        """One episode: its return and its moves [(observation, action)]."""
        obs, _ = self.env.reset(seed=seed)
        moves: list[tuple[np.ndarray, int]] = []
        total, done = 0.0, False
        while not done:
            action = self.act(obs, k, explore_rate, rng)
            moves.append((obs, action))
            obs, reward, terminated, truncated, _ = self.env.step(action)
            total += float(reward)
            done = terminated or truncated
        return total, moves

    def train(self, hparams: dict[str, Any], steps: int) -> None:
        self.k, cap = int(hparams["k"]), int(hparams["max_examples"])
        for _ in range(steps):
            total, moves = self.play(int(self.rng.integers(2**31)), self.k,
                                     hparams["explore_rate"], self.rng)
            bar = (float(np.quantile(self.returns, hparams["success_quantile"]))
                   if self.returns else 0.0)
            self.returns = [*self.returns, total][-RECENT:]
            self.episodes += 1
            if total >= bar:
                name = f"m{self.member_id}-e{self.episodes}"
                self.examples += [{"episode": name, "return": total,
                                   **{n: round(float(v), 5) for n, v in
                                      zip(OBSERVATIONS, obs, strict=True)},
                                   "action": action} for obs, action in moves]
            self.prune(cap)
            self._index()

    def prune(self, cap: int) -> None:
        """Drop the examples of the lowest-return episodes (the oldest first among equals)
        until at most `cap` remain, or one episode."""
        if len(self.examples) <= cap:
            return
        order: dict[str, tuple[float, int]] = {}
        for i, e in enumerate(self.examples):
            order.setdefault(e["episode"], (e["return"], i))
        size = {name: 0 for name in order}
        for e in self.examples:
            size[e["episode"]] += 1
        dropped, left = set(), len(self.examples)
        for name in sorted(order, key=order.__getitem__)[:-1]:
            if left <= cap:
                break
            dropped.add(name)
            left -= size[name]
        self.examples = [e for e in self.examples if e["episode"] not in dropped]

    def evaluate(self) -> dict[str, float]:
        rng = np.random.default_rng(EVAL_SEED + self.episodes)
        returns = [self.play(EVAL_SEED + self.episodes * EVAL_EPISODES + i, self.k, 0.0,
                             rng)[0]
                   for i in range(EVAL_EPISODES)]
        return {"mean_return": float(np.mean(returns)), "examples": float(len(self.examples))}

    def test_return(self, k: int, episodes: int = 20, seed: int = 10**8) -> float:
        """Mean greedy return of `episodes` fresh episodes (seeds `seed`, `seed + 1`, ...)."""
        rng = np.random.default_rng(seed)
        return float(np.mean([self.play(seed + i, k, 0.0, rng)[0] for i in range(episodes)]))

    def state_dict(self) -> dict[str, Any]:
        return {"examples": list(self.examples), "returns": list(self.returns),
                "episodes": self.episodes, "rng": self.rng.bit_generator.state}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.examples = [dict(e) for e in state["examples"]]
        self.returns = [float(r) for r in state["returns"]]
        self.episodes = int(state["episodes"])
        self.rng.bit_generator.state = state["rng"]
        self._index()


space = popbt.Space({
    "k": popbt.IntUniform(1, 15),
    "explore_rate": popbt.Uniform(0.0, 0.3),
    "success_quantile": popbt.Uniform(0.5, 0.95),
    "max_examples": popbt.IntUniform(500, 4000),
})
metric = "mean_return"
ready = popbt.Every(steps=10)
exploit = popbt.Truncation(fraction=0.25)
explore = popbt.Perturb(factors=(0.8, 1.2), resample_probability=0.25)

if __name__ == "__main__":
    pop = popbt.create_population(
        name="retrieval_cartpole", storage="sqlite:///popbt.db", space=space, size=8,
        metric=metric, seed=0, ready=ready, exploit=exploit, explore=explore,
        load_if_exists=True)
    best = pop.train(RetrievalAgent, steps=150, workers=2)
    agent = pop.load(best.member_id)
    print(f"best member {best.member_id}: mean return {best.score:.1f} on its last "
          f"{EVAL_EPISODES} evaluation episodes, {agent.test_return(agent.k):.1f} on 20 new "
          f"ones, with {len(agent.examples)} examples from "
          f"{len({e['episode'] for e in agent.examples})} episodes")
    for step, hparams in pop.schedule(best.member_id):
        print(f"  from step {step}: {hparams}")
