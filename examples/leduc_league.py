"""Leduc poker by self-play in a league, with OpenSpiel (`pip install 'popbt[openspiel]'`):

    popbt run examples/leduc_league.py --population 4 --steps 400

Each member is a small neural policy (the information-state tensor in, a distribution over
the legal actions out) trained by REINFORCE with a baseline on batches of games against the
opponents its league draws: other members and frozen snapshots of them, chosen by
prioritised fictitious self-play (AlphaStar's "hard" weighting). Its Elo rating from those
games is the fitness: a member expected to beat a random peer less than 30 % of the time
copies it (Capture the Flag's rule), then perturbs its learning rate and entropy bonus.

`evaluate` reports the policy's NashConv (OpenSpiel's `exploitability.nash_conv`: how much
two best responses gain against it; 0 at a Nash equilibrium) beside the rating, so the
league's quality is a number anyone can check with OpenSpiel itself.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

import popbt
from popbt.league import PFSP
from popbt.torch import TorchTrainable

GAME = "leduc_poker"
GAMES_PER_STEP = 32

space = popbt.Space({"lr": popbt.LogUniform(3e-4, 3e-2),
                     "entropy": popbt.LogUniform(1e-3, 1e-1)})
metric = "rating"
ready = popbt.Every(steps=20)
exploit = popbt.EloTournament(threshold=0.3)
explore = popbt.Perturb()
league = popbt.League(opponents=PFSP(), snapshot_every=40)


@dataclass(frozen=True)
class Infosets:
    """Every information state of the game, in OpenSpiel's `TabularPolicy` order: its index
    by string, its tensor (rows), which actions are legal (rows), and the policy object that
    `nash_conv` reads a table of probabilities from."""

    game: Any
    index: dict[str, int]
    tensors: torch.Tensor
    legal: torch.Tensor
    tabular: Any


@functools.cache
def infosets(name: str = GAME) -> Infosets:
    """The game's information states, built once per process."""
    import pyspiel
    from open_spiel.python import policy as policy_lib

    game = pyspiel.load_game(name)
    tabular = policy_lib.TabularPolicy(game)
    tensors = [s.information_state_tensor(s.current_player()) for s in tabular.states]
    return Infosets(game, dict(tabular.state_lookup),
                    torch.tensor(np.array(tensors), dtype=torch.float32),
                    torch.tensor(tabular.legal_actions_mask, dtype=torch.bool), tabular)


def nash_conv(table: np.ndarray) -> float:
    """NashConv of the policy that plays `table` (infosets × actions) in every seat."""
    from open_spiel.python.algorithms import exploitability

    info = infosets()
    info.tabular.action_probability_array = table
    return float(exploitability.nash_conv(info.game, info.tabular))


def play(mine: np.ndarray, theirs: np.ndarray, seat: int,
         rng: np.random.Generator) -> tuple[list[tuple[int, int]], float]:
    """One game of `mine` in `seat` against `theirs`: the learner's (infoset, action) pairs
    and its return."""
    info = infosets()
    state = info.game.new_initial_state()
    decisions = []
    while not state.is_terminal():
        if state.is_chance_node():
            actions, probs = zip(*state.chance_outcomes(), strict=True)
            state.apply_action(actions[int(np.searchsorted(np.cumsum(probs), rng.random()))])
            continue
        player = state.current_player()
        i = info.index[state.information_state_string(player)]
        probs = (mine if player == seat else theirs)[i]
        action = min(int(np.searchsorted(np.cumsum(probs), rng.random())), len(probs) - 1)
        while probs[action] == 0.0:  # rounding at the end of the cumulative sum
            action -= 1
        if player == seat:
            decisions.append((i, action))
        state.apply_action(action)
    return decisions, float(state.returns()[seat])


class LeducPolicy(TorchTrainable):
    """A policy network for Leduc poker, trained by REINFORCE in a league."""

    def build(self, hparams: dict[str, Any], seed: int) -> tuple[torch.nn.Module,
                                                                   torch.optim.Optimizer]:
        info = infosets()
        model = torch.nn.Sequential(torch.nn.Linear(info.tensors.shape[1], 64), torch.nn.ReLU(),
                                    torch.nn.Linear(64, info.legal.shape[1]))
        return model, torch.optim.Adam(model.parameters(), lr=hparams["lr"])

    def log_probs(self) -> torch.Tensor:
        """Log-probabilities of every action at every information state (illegal: -inf)."""
        info = infosets()
        logits = self.model(info.tensors).masked_fill(~info.legal, float("-inf"))
        return torch.log_softmax(logits, dim=1)

    def table(self) -> np.ndarray:
        """The policy as a table of probabilities (infosets × actions)."""
        with torch.no_grad():
            return self.log_probs().exp().numpy().astype(np.float64)

    def train_step(self, hparams: dict[str, Any]) -> None:
        opponent = self.league.sample()
        assert isinstance(opponent.trainable, LeducPolicy)
        theirs = opponent.trainable.table()
        logp = self.log_probs()
        mine = logp.detach().exp().numpy().astype(np.float64)
        games = [play(mine, theirs, seat=g % 2, rng=self.rng) for g in range(GAMES_PER_STEP)]
        returns = np.array([r for _, r in games])
        advantage = returns - returns.mean()
        rows, cols, weights = [], [], []
        for (decisions, _), a in zip(games, advantage, strict=True):
            for i, action in decisions:
                rows.append(i)
                cols.append(action)
                weights.append(a)
        chosen = logp[torch.tensor(rows), torch.tensor(cols)]
        pg = -(torch.tensor(weights, dtype=torch.float32) * chosen).sum() / GAMES_PER_STEP
        visited = torch.tensor(sorted(set(rows)))
        p = logp[visited].exp()
        entropy = -(p * logp[visited].clamp_min(-1e9)).sum(dim=1).mean()
        loss = pg - hparams["entropy"] * entropy
        self.optimizer.zero_grad()
        loss.backward()
        self.optimizer.step()
        wins = np.where(returns > 0, 1.0, np.where(returns < 0, 0.0, 0.5))
        self.league.report(opponent, float(wins.mean()), payoff=float(returns.mean()))

    def evaluate(self) -> dict[str, float]:
        return {"nash_conv": nash_conv(self.table())}
