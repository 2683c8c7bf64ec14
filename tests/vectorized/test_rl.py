"""Actor-critic populations as one batched model: each member's update is its own, GAE as
defined, exploits copy the environments too, a resumed run goes on as an uninterrupted one,
CartPole is learnt, and settings that cannot work are refused."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

import popbt
from popbt.errors import ConfigError
from popbt.vectorized.envs import Acrobot, CartPole
from popbt.vectorized.rl import DEFAULTS, ActorCriticMLP, VectorizedActorCritic, gae

SPACE = popbt.Space({"lr": popbt.LogUniform(3e-4, 3e-3),
                     "entropy_coef": popbt.LogUniform(1e-4, 3e-2),
                     "gamma": popbt.Uniform(0.95, 0.995)})


def agent() -> ActorCriticMLP:
    return ActorCriticMLP(CartPole.observations, CartPole.actions, hidden=16)


def shared_agent() -> ActorCriticMLP:
    return ActorCriticMLP(CartPole.observations, CartPole.actions, hidden=16, shared=True)


class SeparateHeads(torch.nn.Module):
    """An agent of another shape: run by `vmap` rather than batched matrix products."""

    def __init__(self) -> None:
        super().__init__()
        self.actor = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.ReLU(),
                                         torch.nn.Linear(8, 2))
        self.critic = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.ReLU(),
                                          torch.nn.Linear(8, 1))

    def forward(self, obs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self.actor(obs), self.critic(obs).squeeze(-1)


def population(tmp_path: Path, **overrides) -> VectorizedActorCritic:
    options = {"model_fn": agent, "env": CartPole, "size": 3, "space": SPACE,
               "ready": popbt.Every(steps=10), "name": "rl", "envs": 4, "rollout": 8,
               "storage": f"sqlite:///{tmp_path / 'rl.db'}", "seed": 1, **overrides}
    return VectorizedActorCritic(**options)


def test_gae_is_the_discounted_sum_of_td_errors_cut_at_episode_ends():
    rewards = torch.tensor([1.0, 1.0, 1.0, 1.0])[:, None, None]
    values = torch.tensor([0.5, 0.4, 0.3, 0.2])[:, None, None]
    next_values = torch.tensor([0.4, 9.0, 0.7, 0.6])[:, None, None]
    terminated = torch.tensor([False, True, False, False])[:, None, None]
    ended = torch.tensor([False, True, True, False])[:, None, None]  # step 2: truncated
    gamma, lam = torch.tensor([0.9]), torch.tensor([0.5])
    advantages = gae(rewards, values, next_values, terminated, ended, gamma, lam)[:, 0, 0]
    d3 = 1 + 0.9 * 0.6 - 0.2
    d2 = 1 + 0.9 * 0.7 - 0.3  # truncated: bootstrapped from its last observation's value
    d1 = 1 - 0.4  # terminated: no value after it
    d0 = 1 + 0.9 * 0.4 - 0.5
    expected = [d0 + 0.45 * d1, d1, d2, d3]
    assert advantages.tolist() == pytest.approx(expected)


def alone(model: torch.nn.Module, batch: dict[str, torch.Tensor], member: int,
          settings: dict[str, torch.Tensor], algorithm: str, clip: float) -> torch.Tensor:
    """The member's loss computed with its own module, as training it alone would."""
    logits, values = model(batch["obs"][member])
    logp_all = torch.log_softmax(logits, -1)
    logp = logp_all.gather(-1, batch["actions"][member][:, None])[:, 0]
    advantages = batch["advantages"][member]
    advantages = (advantages - advantages.mean()) / (advantages.std() + 1e-8)
    if algorithm == "ppo":
        ratio = torch.exp(logp - batch["logp"][member])
        policy = -torch.min(ratio * advantages, ratio.clamp(1 - clip, 1 + clip) * advantages)
        policy = policy.mean()
    else:
        policy = -(logp * advantages).mean()
    entropy = -(logp_all.exp() * logp_all).sum(-1).mean()
    value = (batch["returns"][member] - values).square().mean()
    return (policy + settings["value_coef"][member] * value
            - settings["entropy_coef"][member] * entropy)


@pytest.mark.parametrize(("algorithm", "model_fn"), [
    ("a2c", agent), ("ppo", agent), ("a2c", shared_agent), ("ppo", shared_agent),
    ("a2c", SeparateHeads), ("ppo", SeparateHeads)])
def test_each_member_s_gradient_is_the_one_training_it_alone_gives(tmp_path: Path,
                                                                   algorithm: str, model_fn):
    vp = population(tmp_path, algorithm=algorithm, max_grad_norm=None, model_fn=model_fn)
    assert (vp._plans is None) == (model_fn is SeparateHeads)
    vp.train(steps=5)  # members apart, optimizer state under way
    data = vp._collect()
    size, n = 3, vp.rollout * vp.envs
    hp = vp._hparam_tensors()
    rl = vp._per_member(hp, DEFAULTS)
    advantages = gae(data["rewards"], data["values"], data["next_values"], data["terminated"],
                     data["ended"], rl["gamma"], rl["gae_lambda"])
    batch = {k: v.transpose(0, 1).reshape(size, n, *v.shape[3:]) for k, v in (
        ("obs", data["obs"]), ("actions", data["actions"]), ("logp", data["logp"]),
        ("advantages", advantages), ("returns", advantages + data["values"]))}
    # the batch's old log-probabilities are stale by one update, so PPO's ratio is not 1
    vp._train_steps(1, hp)
    grads = vp._gradients(batch, rl)
    for member in range(size):
        model = vp.member_model(member)
        loss = alone(model, batch, member, rl, algorithm, clip=0.2)
        mine = torch.cat([g.reshape(-1) for g in torch.autograd.grad(
            loss, list(model.parameters()))])
        assert torch.allclose(grads[member], mine, atol=1e-6, rtol=1e-4)


def test_an_exploit_copies_the_donor_s_environments_and_recent_returns(tmp_path: Path):
    vp = population(tmp_path)
    vp.train(steps=10)
    before = {"state": vp._env.state.clone(), "obs": vp._obs.clone(),
              "recent": vp._recent.clone(), "running": vp._env.running.clone()}
    vp._gather(torch.tensor([2, 1, 2]))
    for key, now in (("state", vp._env.state), ("obs", vp._obs), ("recent", vp._recent),
                     ("running", vp._env.running)):
        assert torch.equal(now[0], before[key][2]) and torch.equal(now[1], before[key][1])


def test_episode_returns_are_recorded_as_samples_and_ttest_reads_them(tmp_path: Path):
    vp = population(tmp_path, exploit=popbt.TTest(), episodes_scored=6)
    vp.train(steps=20)
    ready = [e for e in vp.population.events() if e.kind.value == "ready"]
    assert len(ready) == 2 * 3
    for event in ready:
        samples = event.data["samples"]
        assert 1 <= len(samples) <= 6 and event.data["sample_fitness"] == samples
        assert event.data["score"] == pytest.approx(sum(samples) / len(samples))
    assert vp._samples == {m: ready[-3 + m].data["sample_fitness"] for m in range(3)}
    means = population(tmp_path, name="means", exploit=popbt.TTest(), samples=False)
    means.train(steps=10)
    ready = [e for e in means.population.events() if e.kind.value == "ready"]
    assert ready and all("samples" not in e.data for e in ready)


def test_the_recent_returns_keep_the_newest_in_order(tmp_path: Path):
    vp = population(tmp_path, episodes_scored=3)
    nan = float("nan")
    vp._recent = torch.tensor([[nan, nan, 5.0], [nan, nan, nan], [7.0, 8.0, 9.0]])
    vp._finished = torch.tensor([1, 0, 3])
    vp._record_returns(torch.tensor([[1.0, nan, 2.0, 3.0], [nan, 4.0, nan, nan],
                                     [nan, nan, nan, nan]]))
    assert torch.equal(vp._recent[0], torch.tensor([1.0, 2.0, 3.0]))
    assert vp._recent[1, 2] == 4.0 and bool(vp._recent[1, :2].isnan().all())
    assert torch.equal(vp._recent[2], torch.tensor([7.0, 8.0, 9.0]))
    assert vp._finished.tolist() == [4, 1, 3]


def test_a_resumed_run_goes_on_as_an_uninterrupted_one(tmp_path: Path):
    whole = population(tmp_path, name="whole")
    whole.train(steps=30)
    first = population(tmp_path, name="halves")
    first.train(steps=20)
    resumed = population(tmp_path, name="halves", load_if_exists=True)
    resumed.train(steps=30)
    assert torch.equal(whole.flat, resumed.flat)
    assert [r["score"] for r in whole._records] == [r["score"] for r in resumed._records]
    assert [r["hparams"] for r in whole._records] == [r["hparams"] for r in resumed._records]


def test_a_population_learns_cartpole(tmp_path: Path):
    vp = population(tmp_path, size=4, envs=8, rollout=16, model_fn=lambda: ActorCriticMLP(4, 2),
                    space=popbt.Space({"lr": popbt.LogUniform(1e-3, 3e-3)}),
                    ready=popbt.Every(steps=25), exploit=popbt.Truncation(fraction=0.25),
                    seed=0)
    best = vp.train(steps=300)
    assert best is not None and best.step == 300
    assert best.metrics["return"] > 60  # random play: about 22; seeds 0-2 gave 93-126
    events = vp.population.events()
    assert any(e.kind.value == "exploit" for e in events)


@pytest.mark.slow
def test_ppo_learns_acrobot_where_random_play_never_ends_an_episode(tmp_path: Path):
    vp = population(tmp_path, size=2, envs=8, rollout=128, algorithm="ppo", env=Acrobot,
                    model_fn=lambda: ActorCriticMLP(Acrobot.observations, Acrobot.actions),
                    space=popbt.Space({"lr": popbt.LogUniform(2e-4, 3e-4)}),
                    ready=popbt.Every(steps=20), seed=0)
    best = vp.train(steps=60)
    assert best is not None and best.step == 60
    # random play: -499.5 (1% of episodes end before the 500-step limit); solved: -100
    assert best.metrics["return"] > -200


@pytest.mark.parametrize(("overrides", "message"), [
    ({"algorithm": "dqn"}, r"algorithm='dqn': choose one of \('a2c', 'ppo'\)"),
    ({"space": popbt.Space({"lr": popbt.LogUniform(1e-3, 0.1),
                            "clip_range": popbt.Uniform(0.1, 0.3)})},
     r"\['clip_range'\] change nothing: a2c"),
    ({"space": popbt.Space({"momentum": popbt.Uniform(0.1, 0.9)})},
     r"\['momentum'\] change nothing"),
    ({"envs": 0}, r"envs=0: must be an integer >= 1"),
    ({"max_grad_norm": -1.0}, r"max_grad_norm=-1.0"),
    ({"env": lambda members, envs, **kw: CartPole(members, envs + 1)},
     r"expected a popbt.vectorized.envs.Batched of shape \(3, 4\)"),
])
def test_settings_that_cannot_work_are_refused(tmp_path: Path, overrides, message):
    with pytest.raises(ConfigError, match=message):
        population(tmp_path, **overrides)


NO_CUDA = "no CUDA device on this machine: the GPU path of VectorizedActorCritic was not run"


@pytest.mark.skipif(not torch.cuda.is_available(), reason=NO_CUDA)
def test_an_rl_population_trains_and_resumes_on_cuda(tmp_path: Path):
    whole = population(tmp_path, name="whole", device="cuda")
    whole.train(steps=30)
    assert whole.flat.is_cuda and whole._obs.is_cuda and whole._recent.is_cuda
    env = whole._env.state_dict()
    assert all(env[k].is_cuda for k in ("state", "elapsed", "running"))
    first = population(tmp_path, name="halves", device="cuda")
    first.train(steps=20)
    resumed = population(tmp_path, name="halves", device="cuda", load_if_exists=True)
    resumed.train(steps=30)
    assert torch.equal(whole.flat, resumed.flat)


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has CUDA")
def test_cuda_is_refused_clearly_without_a_device(tmp_path: Path):
    with pytest.raises(ConfigError, match="CUDA is not available on this machine"):
        population(tmp_path, device="cuda")
