"""Deep neuroevolution (Such et al. 2017) on MountainCar: a genetic algorithm over a
population of 256 policy networks, each stored as a seed chain.

    python examples/mountaincar_ga.py    # 256 members, 30 generations; run again to go on

The task is gymnasium's MountainCar-v0 (`popbt.vectorized.envs.MountainCar`, the same
dynamics step for step) with its two observations scaled to about [-1, 1]; a member is a
small MLP that pushes left, not at all or right (the argmax of its three outputs). Every
generation each member plays one episode (all 256 at once: one batched network, batched
environments); the top 20 become parents; the 10 best play 30 more episodes each, and the
best of them by that mean is kept unchanged (the elite, the population's `best`); every
other member becomes a mutated copy of a parent drawn at random: its weights plus 0.05
times Gaussian noise from a new seed. A member is stored in its row as its initial seed
and one (seed, strength) per mutation: a few hundred bytes where its weights take 5 KB.

At the end the best member plays 20 new episodes; `popbt status --name mountaincar-ga`
shows the generations, `popbt report --name mountaincar-ga` the scores and lineage.
Needs `pip install 'popbt[torch]'`.
"""

from __future__ import annotations

import torch
from torch import nn

from popbt.ga import Episodes, GeneticPopulation, Policy
from popbt.vectorized.envs import MountainCar


class ScaledMountainCar(MountainCar):
    """MountainCar-v0 whose observations (position, velocity) are scaled to about [-1, 1]."""

    def observe(self, state: torch.Tensor) -> torch.Tensor:
        center = torch.tensor([-0.3, 0.0], dtype=state.dtype, device=state.device)
        scale = torch.tensor([0.9, 0.07], dtype=state.dtype, device=state.device)
        return (state - center) / scale


def policy_network() -> nn.Module:
    """Two observations to three actions' scores."""
    return nn.Sequential(nn.Linear(2, 32), nn.Tanh(), nn.Linear(32, 32), nn.Tanh(),
                         nn.Linear(32, 3))


def test_return(ga: GeneticPopulation, member_id: int, episodes: int = 20) -> float:
    """The mean return of `episodes` new episodes played by the member."""
    weights = ga.weights(member_id)[None]
    played = Episodes(ScaledMountainCar, episodes=episodes)(Policy.of(policy_network, weights),
                                                           10 ** 6)
    return float(played["return"].mean())


if __name__ == "__main__":
    ga = GeneticPopulation(
        model_fn=policy_network, evaluate=Episodes(ScaledMountainCar), size=256, parents=20,
        elites=1, elite_candidates=10, elite_episodes=30, sigma=0.05, seed=0,
        name="mountaincar-ga", storage="sqlite:///popbt.db",
        load_if_exists=True)
    best = ga.run(generations=30)
    assert best is not None
    sizes = ga.storage_per_member()
    print(f"generation {best.step}: best member {best.member_id} scored {best.score:.0f}, "
          f"{test_return(ga, best.member_id):.1f} on 20 new episodes (-200: never at the flag)")
    print(f"storage per member: {sizes['genome_mean']:.0f} bytes of genome on average "
          f"(largest {sizes['genome_max']:.0f}), a checkpoint of its weights "
          f"{sizes['checkpoint']:.0f} bytes")
