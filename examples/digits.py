"""An MLP on scikit-learn's bundled digits, as a `popbt run` file.

    popbt run examples/digits.py --population 16 --workers 2 --steps 2000

PBT over learning rate, momentum, weight decay and batch size; the score is validation
accuracy. Needs `pip install 'popbt[torch,examples]'`.
"""

import popbt
from popbt.demos.digits import METRIC, READY, SPACE, DigitsMLP

__all__ = ["DigitsMLP"]

space = SPACE
metric = METRIC
ready = READY
exploit = popbt.Truncation(fraction=0.25)
explore = popbt.Perturb(factors=(0.8, 1.2), resample_probability=0.25)
