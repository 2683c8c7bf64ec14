"""Stable-Baselines3's PPO on gymnasium's CartPole-v1, as a `popbt run` file.

    popbt run examples/sb3_cartpole.py --population 8 --workers 2 --steps 60

One step is one PPO iteration: 128 steps in each of 4 environments, then 4 epochs of
minibatch updates. PBT tunes the learning rate, the clip range, the entropy coefficient and
GAE's λ with truncation selection every 5 iterations; the score is the mean return of the
last 10 training episodes. Needs `pip install 'popbt[sb3]'`.
"""

from stable_baselines3 import PPO

import popbt
from popbt.sb3 import SB3Trainable


class CartPolePPO(SB3Trainable):
    algorithm = PPO
    env_id = "CartPole-v1"
    n_envs = 4
    algorithm_kwargs = {"n_steps": 128, "batch_size": 128, "n_epochs": 4}


space = popbt.Space({
    "learning_rate": popbt.LogUniform(1e-4, 1e-2),
    "clip_range": popbt.Uniform(0.1, 0.4),
    "ent_coef": popbt.LogUniform(1e-5, 1e-1),
    "gae_lambda": popbt.Uniform(0.8, 1.0),
})
metric = "mean_return"
ready = popbt.Every(steps=5)
exploit = popbt.Truncation(fraction=0.25)
explore = popbt.Perturb(factors=(0.8, 1.2), resample_probability=0.25)

if __name__ == "__main__":
    pop = popbt.create_population(
        name="sb3-cartpole", storage="sqlite:///popbt.db", space=space, size=8, metric=metric,
        seed=0, ready=ready, exploit=exploit, explore=explore, load_if_exists=True)
    best = pop.train(CartPolePPO, steps=60, workers=2)
    print(best)
    print(pop.schedule(best.member_id))
