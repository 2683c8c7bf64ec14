"""Grid-world soccer by self-play in a league, with OpenSpiel's `markov_soccer`
(`pip install 'popbt[openspiel]'`):

    popbt run examples/soccer_league.py --population 4 --workers 2 --steps 200

Two players on a 4 × 5 grid move at the same time (up, down, left, right, stand) and score by
carrying the ball into the other side's goal; a game ends at a goal or after 60 moves (a
draw). Each member is a small policy network (the grid's six planes and which side it plays
in, a distribution over the five moves out), trained by REINFORCE with a baseline on batches
of games against the opponents its league draws (other members and frozen snapshots of
them, by prioritised fictitious self-play). Its Elo rating is the fitness
(`popbt.EloTournament`, Capture the Flag's rule); `evaluate` also reports how often it beats
a player that moves at random, a number no league can inflate.
"""

from __future__ import annotations

import functools
from typing import Any

import numpy as np
import torch

import popbt
from popbt.league import PFSP
from popbt.torch import TorchTrainable

GAMES_PER_STEP = 16
HORIZON = 60
EVAL_GAMES = 100

space = popbt.Space({"lr": popbt.LogUniform(1e-4, 1e-2),
                     "entropy": popbt.LogUniform(1e-3, 1e-1)})
metric = "rating"
ready = popbt.Every(steps=20)
exploit = popbt.EloTournament(threshold=0.3)
explore = popbt.Perturb()
league = popbt.League(opponents=PFSP(), snapshot_every=40)


@functools.cache
def game() -> Any:
    """OpenSpiel's markov_soccer with a horizon of `HORIZON` moves, loaded once per process."""
    import pyspiel

    return pyspiel.load_game("markov_soccer", {"horizon": HORIZON})


def features(state: Any, seat: int) -> torch.Tensor:
    """What a player sees: the grid's planes and a one-hot of its seat."""
    seen = np.array(state.observation_tensor(0), dtype=np.float32)
    return torch.from_numpy(np.concatenate([seen, np.eye(2, dtype=np.float32)[seat]]))


class Mover:
    """Picks moves with a policy network (None: at random), using `rng`."""

    def __init__(self, model: torch.nn.Module | None, rng: np.random.Generator) -> None:
        self.model, self.rng = model, rng

    def __call__(self, state: Any, seat: int) -> tuple[int, torch.Tensor | None]:
        legal = state.legal_actions(seat)
        if self.model is None:
            return int(self.rng.choice(legal)), None
        with torch.no_grad():
            logits = self.model(features(state, seat))
        mask = torch.full_like(logits, float("-inf"))
        mask[legal] = 0.0
        probs = torch.softmax(logits + mask, dim=0).numpy().astype(np.float64)
        action = int(self.rng.choice(len(probs), p=probs / probs.sum()))
        return action, features(state, seat)


def play(mine: Mover, theirs: Mover, seat: int,
         rng: np.random.Generator) -> tuple[list[tuple[torch.Tensor, int]], float]:
    """One game of `mine` in `seat` against `theirs`: its (features, move) pairs and its
    return (1 a goal for it, -1 against it, 0 a draw)."""
    state = game().new_initial_state()
    decisions = []
    while not state.is_terminal():
        if state.is_chance_node():
            actions, probs = zip(*state.chance_outcomes(), strict=True)
            state.apply_action(actions[int(rng.choice(len(actions), p=probs))])
            continue
        moves = [0, 0]
        moves[seat], seen = mine(state, seat)
        moves[1 - seat], _ = theirs(state, 1 - seat)
        if seen is not None:
            decisions.append((seen, moves[seat]))
        state.apply_actions(moves)
    return decisions, float(state.returns()[seat])


class SoccerPolicy(TorchTrainable):
    """A policy network for markov_soccer, trained by REINFORCE in a league."""

    def build(self, hparams: dict[str, Any], seed: int) -> tuple[torch.nn.Module,
                                                                   torch.optim.Optimizer]:
        inputs = int(np.prod(game().observation_tensor_shape())) + 2
        model = torch.nn.Sequential(torch.nn.Linear(inputs, 64), torch.nn.ReLU(),
                                    torch.nn.Linear(64, game().num_distinct_actions()))
        return model, torch.optim.Adam(model.parameters(), lr=hparams["lr"])

    def train_step(self, hparams: dict[str, Any]) -> None:
        opponent = self.league.sample()
        assert isinstance(opponent.trainable, SoccerPolicy)
        mine, theirs = Mover(self.model, self.rng), Mover(opponent.trainable.model, self.rng)
        games = [play(mine, theirs, g % 2, self.rng) for g in range(GAMES_PER_STEP)]
        returns = np.array([r for _, r in games])
        seen = [(x, a, r - returns.mean()) for decisions, r in games for x, a in decisions]
        if seen:
            logp = torch.log_softmax(self.model(torch.stack([x for x, _, _ in seen])), dim=1)
            chosen = logp[torch.arange(len(seen)), torch.tensor([a for _, a, _ in seen])]
            advantage = torch.tensor([w for _, _, w in seen], dtype=torch.float32)
            entropy = -(logp.exp() * logp).sum(dim=1).mean()
            loss = -(advantage * chosen).sum() / GAMES_PER_STEP - hparams["entropy"] * entropy
            self.optimizer.zero_grad()
            loss.backward()
            self.optimizer.step()
        results = np.where(returns > 0, 1.0, np.where(returns < 0, 0.0, 0.5))
        self.league.report(opponent, float(results.mean()), payoff=float(returns.mean()))

    def evaluate(self) -> dict[str, float]:
        rng = np.random.default_rng(12345)  # the same random opponent's games every time
        mine, random_mover = Mover(self.model, rng), Mover(None, rng)
        results = [play(mine, random_mover, g % 2, rng)[1] for g in range(EVAL_GAMES)]
        return {"wins_vs_random": float(np.mean(np.array(results) > 0))}
