"""An MLP on scikit-learn's bundled digits, as a `popbt run` file.

    popbt run examples/digits.py --population 16 --workers 2 --steps 2000

PBT over learning rate, momentum, weight decay and batch size; the score is validation
accuracy. Needs `pip install 'popbt[torch,examples]'`.
"""

from popbt.demos.digits import EXPLOIT, EXPLORE, METRIC, READY, SPACE, DigitsMLP

__all__ = ["DigitsMLP"]

space = SPACE
metric = METRIC
ready = READY
exploit = EXPLOIT
explore = EXPLORE
