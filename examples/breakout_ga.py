"""Deep neuroevolution on MinAtar's Breakout (Young & Tian 2019: Atari's Breakout in 10 × 10
pixels), the closest of the small games to the Deep GA paper's Atari.

    python examples/breakout_ga.py    # 256 members, 20 generations; run again to go on

A member is an MLP from the game's 400 observations (four 10 × 10 channels: paddle, ball,
trail, bricks) to its three actions (stay, left, right); it acts on the argmax. Every
generation each member plays one episode (all 256 at once: one batched network over the
256 games), the top 20 become parents, the 10 best play 30 more episodes each and the best
of them by that mean is kept unchanged (the elite), and every other member becomes a copy
of a parent plus 0.5 times Gaussian noise. Each member is stored in its row as a seed chain:
a few hundred bytes where a checkpoint of its 26,000 weights takes 105 KB. At the end the
best member plays 20 new episodes. Needs `pip install 'popbt[minatar]'`.
"""

from __future__ import annotations

from torch import nn

from popbt.ga import GeneticPopulation, Policy
from popbt.ga.minatar import MinAtarEpisodes, actions, observations

GAME = "breakout"


def policy_network() -> nn.Module:
    """The game's observations to its actions' scores."""
    return nn.Sequential(nn.Linear(observations(GAME), 64), nn.Tanh(),
                         nn.Linear(64, actions(GAME)))


if __name__ == "__main__":
    ga = GeneticPopulation(
        model_fn=policy_network, evaluate=MinAtarEpisodes(GAME), size=256, parents=20,
        elites=1, elite_candidates=10, elite_episodes=30, sigma=0.5, seed=0,
        name="breakout-ga", storage="sqlite:///popbt.db", load_if_exists=True)
    best = ga.run(generations=20)
    assert best is not None
    test = MinAtarEpisodes(GAME, episodes=20)(
        Policy.of(policy_network, ga.weights(best.member_id)[None]), 10 ** 6)
    sizes = ga.storage_per_member()
    print(f"generation {best.step}: elite {best.member_id} returned "
          f"{best.metrics['elite_return']:.2f} over 30 episodes, "
          f"{float(test['return'].mean()):.2f} over 20 new ones")
    print(f"storage per member: {sizes['genome_mean']:.0f} bytes of genome on average, a "
          f"checkpoint of its weights {sizes['checkpoint']:.0f} bytes")
