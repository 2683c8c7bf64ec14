"""A2C on gymnasium's CartPole-v1, as a `popbt run` file.

    popbt run examples/cartpole.py --population 8 --workers 2 --steps 500

PBT over learning rate, entropy coefficient, discount and GAE λ with the paper's t-test
selection; the score is the mean return of the last 10 episodes. Needs
`pip install 'popbt[torch,examples]'`.
"""

from popbt.demos.cartpole import EXPLOIT, EXPLORE, METRIC, READY, SPACE, CartPoleA2C

__all__ = ["CartPoleA2C"]

space = SPACE
metric = METRIC
ready = READY
exploit = EXPLOIT
explore = EXPLORE
