"""A GAN on a 2-D mixture of eight Gaussians, as a `popbt run` file.

    popbt run examples/gan.py --population 8 --workers 2 --steps 2000

PBT over the generator's and the discriminator's learning rates and Adam's β1, with binary
tournament selection and ×0.5 / ×2 perturbations as in the paper's GAN experiment. The score
is `mode_score`: the fraction of generated samples on a mode times the effective number of
modes covered (8 at best). Needs `pip install 'popbt[torch]'`.
"""

from popbt.demos.gan import EXPLOIT, EXPLORE, METRIC, READY, SPACE, MixtureGAN

__all__ = ["MixtureGAN"]

space = SPACE
metric = METRIC
ready = READY
exploit = EXPLOIT
explore = EXPLORE
