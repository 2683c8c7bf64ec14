"""Leduc poker by self-play in a league, with OpenSpiel (`pip install 'popbt[openspiel]'`):

    popbt run examples/leduc_league.py --population 4 --steps 400

Each member is a small neural policy (the information-state tensor in, a distribution over
the legal actions out) trained by REINFORCE on batches of 256 games (the baseline at each
information state: the mean return of the batch's games through it) against the opponents
its league draws, as AlphaStar's main agents draw them: 35 % of the batches against its own
latest checkpoint, the rest against other members and frozen snapshots of them chosen by
prioritised fictitious self-play ("hard" weighting). Its Elo rating from those
games is the fitness: a member expected to beat a random peer less than 30 % of the time
copies it (Capture the Flag's rule), then perturbs its learning rate and entropy bonus.

`evaluate` reports the policy's NashConv (OpenSpiel's `exploitability.nash_conv`: how much
two best responses gain against it; 0 at a Nash equilibrium) beside the rating, so the
league's quality is a number anyone can check with OpenSpiel itself. The games are played
on the game tree as arrays (`tree()`, built once from OpenSpiel's states), a whole batch at
a time.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

import popbt
from popbt.league import PFSP, Mixture, SelfPlay
from popbt.torch import TorchTrainable

GAME = "leduc_poker"
GAMES_PER_STEP = 256

space = popbt.Space({"lr": popbt.LogUniform(2e-4, 1e-2),
                     "entropy": popbt.LogUniform(1e-3, 1e-1)})
metric = "rating"
ready = popbt.Every(steps=20)
exploit = popbt.EloTournament(threshold=0.3)
explore = popbt.Perturb()
# AlphaStar's main agents: 35 % of games against their own latest self, the rest by PFSP
league = popbt.League(opponents=Mixture([(0.35, SelfPlay()), (0.65, PFSP())]),
                      snapshot_every=40)


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


@dataclass(frozen=True)
class Tree:
    """The whole game tree as arrays, built once per process from OpenSpiel's states (9,457
    nodes in Leduc), so that a batch of games is played by a few vectorised steps. Per node:
    `kind` (0 or 1: that player acts; 2: chance; 3: terminal), `infoset` (the acting
    player's information state, -1 elsewhere), `child` (the node each action leads to),
    `chance` (the cumulative probabilities of a chance node's outcomes) and `value` (player
    0's return at a terminal)."""

    kind: np.ndarray
    infoset: np.ndarray
    child: np.ndarray
    chance: np.ndarray
    value: np.ndarray


@functools.cache
def tree(name: str = GAME) -> Tree:
    """The game's tree (see `Tree`), in the order a depth-first walk meets the nodes."""
    info = infosets(name)
    width = max(info.game.num_distinct_actions(), info.game.max_chance_outcomes())
    kind: list[int] = []
    infoset: list[int] = []
    child: list[list[int]] = []
    chance: list[list[float]] = []
    value: list[float] = []

    def add(state: Any) -> int:
        node = len(kind)
        kind.append(3)
        infoset.append(-1)
        child.append([0] * width)
        chance.append([0.0] * width)
        value.append(float(state.returns()[0]) if state.is_terminal() else 0.0)
        if state.is_chance_node():
            kind[node] = 2
            for action, p in state.chance_outcomes():
                chance[node][action] = p
                child[node][action] = add(state.child(action))
        elif not state.is_terminal():
            player = state.current_player()
            kind[node] = player
            infoset[node] = info.index[state.information_state_string(player)]
            for action in state.legal_actions():
                child[node][action] = add(state.child(action))
        return node

    add(info.game.new_initial_state())
    return Tree(np.array(kind), np.array(infoset), np.array(child),
                np.cumsum(np.array(chance), axis=1), np.array(value))


@dataclass(frozen=True)
class Games:
    """A batch of games played: every decision the learner made (`game`, `infoset`,
    `action`, one row each) and each game's return to the learner (`returns`)."""

    game: np.ndarray
    infoset: np.ndarray
    action: np.ndarray
    returns: np.ndarray


def draw(cumulative: np.ndarray, u: np.ndarray) -> np.ndarray:
    """Per row, the first index whose cumulative probability exceeds `u` (never one of
    probability 0, never past the last positive one)."""
    index = (u[:, None] >= cumulative).sum(axis=1)
    last = (np.diff(cumulative, axis=1, prepend=0.0) > 0) * np.arange(cumulative.shape[1])
    return np.minimum(index, last.max(axis=1))


def play(mine: np.ndarray, theirs: np.ndarray, seats: np.ndarray,
         rng: np.random.Generator) -> Games:
    """One game per entry of `seats` (the learner's seat in it), `mine` against `theirs`
    (tables of probabilities, infosets × actions), all played at once."""
    t = tree()
    node = np.zeros(len(seats), dtype=np.int64)
    game, infoset, action = [], [], []
    while True:
        kind = t.kind[node]
        live = np.flatnonzero(kind != 3)
        if len(live) == 0:
            break
        u = rng.random(len(live))
        chosen = np.zeros(len(live), dtype=np.int64)
        at_chance = kind[live] == 2
        chosen[at_chance] = draw(t.chance[node[live[at_chance]]], u[at_chance])
        acting = np.flatnonzero(~at_chance)
        rows = t.infoset[node[live[acting]]]
        learner = kind[live[acting]] == seats[live[acting]]
        probs = np.where(learner[:, None], mine[rows], theirs[rows])
        chosen[acting] = draw(np.cumsum(probs, axis=1), u[acting])
        game.append(live[acting[learner]])
        infoset.append(rows[learner])
        action.append(chosen[acting[learner]])
        node[live] = t.child[node[live], chosen]
    sign = np.where(seats == 0, 1.0, -1.0)
    return Games(np.concatenate(game), np.concatenate(infoset), np.concatenate(action),
                 t.value[node] * sign)


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
        logp = self.log_probs()
        mine = logp.detach().exp().numpy().astype(np.float64)
        games = play(mine, opponent.trainable.table(), np.arange(GAMES_PER_STEP) % 2, self.rng)
        returns = games.returns[games.game]
        # the baseline at an information state: the mean return of this batch's games there
        rows = len(mine)
        seen = np.bincount(games.infoset, minlength=rows)
        baseline = np.bincount(games.infoset, weights=returns, minlength=rows) / np.maximum(
            seen, 1)
        advantage = torch.tensor(returns - baseline[games.infoset], dtype=torch.float32)
        chosen = logp[torch.from_numpy(games.infoset), torch.from_numpy(games.action)]
        pg = -(advantage * chosen).sum() / GAMES_PER_STEP
        visited = torch.from_numpy(np.flatnonzero(seen))
        p = logp[visited].exp()
        entropy = -(p * logp[visited].clamp_min(-1e9)).sum(dim=1).mean()
        loss = pg - hparams["entropy"] * entropy
        self.optimizer.zero_grad()
        loss.backward()
        self.optimizer.step()
        wins = np.where(games.returns > 0, 1.0, np.where(games.returns < 0, 0.0, 0.5))
        self.league.report(opponent, float(wins.mean()), payoff=float(games.returns.mean()))

    def evaluate(self) -> dict[str, float]:
        return {"nash_conv": nash_conv(self.table())}
