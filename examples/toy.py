"""The paper's toy problem (Jaderberg et al. 2017, Figure 2) as a `popbt run` file.

    popbt run examples/toy.py --population 2 --steps 400

Two members start at θ = (0.9, 0.9) with h = (1, 0) and (0, 1); each sees only a surrogate
of the true objective Q = 1.2 − (θ0² + θ1²), and PBT discovers how to reach Q ≈ 1.2.
"""

import popbt
from popbt.demos.toy_trainable import INITIAL, SPACE, ToyTrainable

__all__ = ["ToyTrainable"]

space = SPACE
metric = "Q"
mode = "max"
initial = INITIAL
ready = popbt.Every(steps=4)
exploit = popbt.Truncation(fraction=0.5)
explore = popbt.GaussianNoise(sigma=0.1)
