"""The retrieval agent of examples/retrieval_cartpole.py: its state is data only, a copy goes
on exactly as the original, its database grows from its own successes and is pruned by
episode return."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

import popbt
from popbt._refs import load_file
from popbt.checkpoints import deserialize, serialize
from popbt.datastate import is_data, record_lists

example = load_file(Path(__file__).resolve().parent.parent / "examples" / "retrieval_cartpole.py")
HPARAMS = {"k": 3, "explore_rate": 0.1, "success_quantile": 0.5, "max_examples": 500}


def _agent(hparams: dict[str, Any] = HPARAMS, seed: int = 0) -> Any:
    agent = example.RetrievalAgent()
    agent.member_id = 2
    agent.setup(dict(hparams), seed)
    return agent


def test_the_state_is_data_and_a_copy_goes_on_exactly_as_the_original():
    agent = _agent()
    agent.train(dict(HPARAMS), 12)
    state = agent.state_dict()
    assert is_data(state) and list(record_lists(state)) == ["examples"]
    data, fmt = serialize(state)
    assert fmt == "npz"
    copy = _agent(seed=99)
    copy.load_state_dict(deserialize(data, fmt))
    agent.train(dict(HPARAMS), 5)
    copy.train(dict(HPARAMS), 5)
    assert json.dumps(copy.state_dict()) == json.dumps(agent.state_dict())
    assert copy.evaluate() == agent.evaluate()


def test_popbt_check_finds_nothing():
    result = popbt.check_trainable(example.RetrievalAgent, example.space, steps=10)
    assert result.ok, str(result)


def test_examples_come_from_its_own_successful_episodes():
    agent = _agent({**HPARAMS, "success_quantile": 0.95, "max_examples": 4000})
    agent.train({**HPARAMS, "success_quantile": 0.95, "max_examples": 4000}, 30)
    names = {e["episode"] for e in agent.examples}
    assert names and all(n.startswith("m2-e") for n in names)
    assert len(names) < 30  # not every episode reached the 95th percentile of its last ones
    for name in names:  # every move of an episode, each with the episode's return
        moves = [e for e in agent.examples if e["episode"] == name]
        assert {e["return"] for e in moves} == {float(len(moves))}
        assert set(moves[0]) == {"episode", "return", *example.OBSERVATIONS, "action"}


def test_pruning_drops_the_lowest_return_episodes_whole():
    agent = _agent()
    returns = {"a": 30.0, "b": 10.0, "c": 50.0, "d": 10.0}
    agent.examples = [{"episode": n, "return": r, "x": 0.0, "x_dot": 0.0, "theta": 0.0,
                       "theta_dot": 0.0, "action": 0} for n, r in returns.items()
                      for _ in range(int(r))]
    agent.prune(100)
    assert len(agent.examples) == 100
    agent.prune(90)  # b and d are the worst; b the oldest
    assert {e["episode"] for e in agent.examples} == {"a", "c", "d"}
    agent.prune(60)
    assert {e["episode"] for e in agent.examples} == {"c"}
    agent.prune(1)  # never below one episode
    assert len(agent.examples) == 50


def test_the_policy_votes_its_k_nearest_examples():
    agent = _agent()
    rng = np.random.default_rng(0)
    assert {agent.act(np.zeros(4), 3, 0.0, rng) for _ in range(50)} == {0, 1}  # empty: random
    agent.examples = [{"episode": "e", "return": 1.0, "x": 0.0, "x_dot": 0.0,
                       "theta": theta, "theta_dot": 0.0, "action": int(theta > 0)}
                      for theta in (-0.2, -0.1, -0.05, 0.05, 0.1, 0.2)]
    agent._index()
    assert agent.act(np.array([0.0, 0.0, 0.15, 0.0]), 3, 0.0, rng) == 1
    assert agent.act(np.array([0.0, 0.0, -0.15, 0.0]), 3, 0.0, rng) == 0
    explored = [agent.act(np.array([0.0, 0.0, 0.15, 0.0]), 3, 1.0, rng) for _ in range(50)]
    assert set(explored) == {0, 1}
