"""An MLP on Fashion-MNIST, as a `popbt run` file.

    popbt run examples/fashion_mnist.py --population 8 --workers 2 --steps 2000

PBT over learning rate, momentum, weight decay and batch size; the score is validation
accuracy on 5,000 held-out training images. Needs `pip install 'popbt[torch]'` and the data
(`apt-get install dataset-fashion-mnist`, or set POPBT_FASHION_MNIST to a folder holding the
four IDX files).
"""

from popbt.demos.fashion_mnist import EXPLOIT, EXPLORE, METRIC, READY, SPACE, FashionMLP

__all__ = ["FashionMLP"]

space = SPACE
metric = METRIC
ready = READY
exploit = EXPLOIT
explore = EXPLORE
