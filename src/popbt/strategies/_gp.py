"""A Gaussian process with PB2's time-varying kernel, in numpy alone.

Contract:
- The kernel (Parker-Holder et al., 2020, after Bogunovic et al.'s TV-GP-UCB) between inputs
  (t, z) and (t', z') is s² · exp(-|z - z'|² / (2ℓ²)) · (1 - ε)^(|t - t'| / 2), with Gaussian
  noise of variance s²·λ on observations: t is time (in ready intervals), z a point of the
  unit cube (ℓ is shared by every coordinate, as in PB2's implementations).
- `GP.fit` chooses ℓ, ε and λ by maximum marginal likelihood of the most recent
  `SEARCH_POINTS` observations (each likelihood then costs one Cholesky factorisation of a
  small matrix), with a deterministic compass search (at most `MAX_EVALS` likelihoods, from
  a fixed start) within ℓ ∈ [0.05, 1/√2] (Ray Tune's bound on its lengthscale, 2ℓ² ≤ 1),
  ε ∈ [0, 0.5] (its bound on ε) and λ ∈ [1e-4, 10]; s² is the closed-form maximum given the
  others. Deterministic: no draws.
- `GP.predict` gives the posterior mean and variance of the latent function; `pending`
  points (inputs still being evaluated) lower the variance as observations with
  hallucinated targets equal to the posterior mean would (Desautels et al.'s GP-BUCB),
  which leaves the mean unchanged.

Examples:
    >>> t = np.zeros(20); z = np.linspace(0, 1, 20)[:, None]
    >>> gp = GP.fit(t, z, np.sin(6 * z[:, 0]))
    >>> mean, var = gp.predict(np.zeros(1), np.array([[0.25]]))
    >>> bool(abs(mean[0] - np.sin(1.5)) < 0.05 and var[0] < 0.01)
    True
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import numpy as np

LENGTHSCALE = (0.05, math.sqrt(0.5))
EPSILON = (0.0, 0.5)
NOISE = (1e-4, 10.0)
MAX_EVALS = 24
SEARCH_POINTS = 100


_CONTROLLER: list[Any] = []  # threadpoolctl's controller, made on first use


@contextmanager
def one_thread() -> Iterator[None]:
    """The BLAS limited to one thread inside: the GP's matrices are small (a few hundred
    rows), and a multi-threaded BLAS on busy cores waits for them (a decision's p99 went from
    about 25 ms to 170-440 ms with two threads on two busy cores). Worker processes started
    by popbt already run one compute thread; this covers in-process and vectorized runs."""
    if not _CONTROLLER:
        from threadpoolctl import ThreadpoolController

        _CONTROLLER.append(ThreadpoolController())
    with _CONTROLLER[0].limit(limits=1, user_api="blas"):
        yield


@dataclass(frozen=True)
class Hyper:
    """The kernel's hyperparameters: lengthscale ℓ, time decay ε, noise ratio λ = noise / s²."""

    lengthscale: float
    epsilon: float
    noise: float


def distances(t1: np.ndarray, z1: np.ndarray, t2: np.ndarray,
              z2: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Squared distances between the points and absolute differences between the times."""
    d2 = (np.sum(z1 * z1, axis=1)[:, None] + np.sum(z2 * z2, axis=1)[None, :]
          - 2.0 * (z1 @ z2.T))
    return np.maximum(d2, 0.0), np.abs(t1[:, None] - t2[None, :])


def kernel(d2: np.ndarray, dt: np.ndarray, hyper: Hyper) -> np.ndarray:
    """The kernel without its scale s², from `distances`: values in [0, 1]."""
    log_k = d2 * (-0.5 / hyper.lengthscale ** 2)
    if hyper.epsilon > 0.0:
        log_k += dt * (0.5 * math.log1p(-hyper.epsilon))
    return np.exp(log_k)


def correlation(t1: np.ndarray, z1: np.ndarray, t2: np.ndarray, z2: np.ndarray,
                hyper: Hyper) -> np.ndarray:
    """The kernel without its scale s²: a matrix of len(t1) × len(t2) values in [0, 1]."""
    return kernel(*distances(t1, z1, t2, z2), hyper)


def _cholesky(t: np.ndarray, z: np.ndarray, hyper: Hyper) -> np.ndarray:
    m = correlation(t, z, t, z, hyper)
    m[np.diag_indices_from(m)] += hyper.noise
    return np.linalg.cholesky(m)


class Likelihood:
    """The log marginal likelihood of targets `y` at (t, z), at its maximum over the scale s²,
    as a function of the other hyperparameters; -inf where the kernel matrix is not positive
    definite. One Cholesky factorisation per value: the targets border the kernel matrix, so
    the factor's last diagonal entry gives yᵀ(K + λI)⁻¹y."""

    def __init__(self, t: np.ndarray, z: np.ndarray, y: np.ndarray) -> None:
        self.d2, self.dt = distances(t, z, t, z)
        n = len(y)
        self.n, self.yy = n, float(y @ y)
        self.bordered = np.zeros((n + 1, n + 1))
        self.bordered[:n, n] = self.bordered[n, :n] = y

    def __call__(self, hyper: Hyper) -> float:
        n, m = self.n, self.bordered
        m[:n, :n] = kernel(self.d2, self.dt, hyper)
        m[np.arange(n), np.arange(n)] += hyper.noise
        cap = self.yy / hyper.noise + 1.0  # above yᵀ(K + λI)⁻¹y, which is at most yᵀy / λ
        m[n, n] = cap
        try:
            chol = np.linalg.cholesky(m)
        except np.linalg.LinAlgError:
            return -math.inf
        scale = max((cap - chol[n, n] ** 2) / n, 1e-300)
        return (-0.5 * n * (math.log(2 * math.pi * scale) + 1.0)
                - float(np.sum(np.log(np.diagonal(chol)[:n]))))


def log_likelihood(t: np.ndarray, z: np.ndarray, y: np.ndarray, hyper: Hyper) -> float:
    """The log marginal likelihood of `y` at its maximum over the scale s² (see
    `Likelihood`)."""
    return Likelihood(t, z, y)(hyper)


def _hyper(u: np.ndarray) -> Hyper:
    """The hyperparameters at search coordinates (log ℓ, ε, log λ), clipped to their bounds."""
    return Hyper(float(np.clip(math.exp(u[0]), *LENGTHSCALE)), float(np.clip(u[1], *EPSILON)),
                 float(np.clip(math.exp(u[2]), *NOISE)))


def maximise_likelihood(t: np.ndarray, z: np.ndarray, y: np.ndarray) -> Hyper:
    """ℓ, ε, λ of the highest marginal likelihood found by a compass search: from
    (ℓ=0.3, ε=0.1, λ=0.1), try a step up and down each coordinate, move to the best that
    improves, else halve the steps; stop after `MAX_EVALS` likelihoods."""
    likelihood = Likelihood(t, z, y)
    lo = np.array([math.log(LENGTHSCALE[0]), EPSILON[0], math.log(NOISE[0])])
    hi = np.array([math.log(LENGTHSCALE[1]), EPSILON[1], math.log(NOISE[1])])
    u = np.array([math.log(0.3), 0.1, math.log(0.1)])
    steps = np.array([math.log(2.0), 0.1, math.log(4.0)])
    best = likelihood(_hyper(u))
    evals = 1
    while evals < MAX_EVALS and steps[1] > 0.005:
        trials = []
        for i in range(3):
            for sign in (1.0, -1.0):
                v = u.copy()
                v[i] = min(max(v[i] + sign * steps[i], lo[i]), hi[i])
                if v[i] != u[i]:
                    trials.append(v)
        moved = False
        for v in trials[:MAX_EVALS - evals]:
            value = likelihood(_hyper(v))
            evals += 1
            if value > best + 1e-9:
                best, u, moved = value, v, True
        if not moved:
            steps = steps / 2.0
    return _hyper(u)


class GP:
    """A fitted GP on observations `y` at times `t` and unit points `z` (rows); see the module
    contract. Build it with `GP.fit` (hyperparameters by maximum likelihood) or directly."""

    def __init__(self, t: np.ndarray, z: np.ndarray, y: np.ndarray, hyper: Hyper) -> None:
        self.t, self.z, self.hyper = np.asarray(t, float), np.asarray(z, float), hyper
        self._inv_chol = np.linalg.inv(_cholesky(self.t, self.z, hyper))
        w = self._inv_chol @ np.asarray(y, float)
        self._alpha = self._inv_chol.T @ w
        self.scale = max(float(w @ w) / len(w), 1e-12)

    @classmethod
    def fit(cls, t: np.ndarray, z: np.ndarray, y: np.ndarray) -> GP:
        """The GP whose hyperparameters maximise the marginal likelihood of the last
        `SEARCH_POINTS` observations (the rows are oldest first)."""
        t, z, y = np.asarray(t, float), np.asarray(z, float), np.asarray(y, float)
        recent = slice(max(0, len(y) - SEARCH_POINTS), None)
        return cls(t, z, y, maximise_likelihood(t[recent], z[recent], y[recent]))

    def predictor(self, pending: tuple[np.ndarray, np.ndarray] | None = None
                  ) -> Callable[[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]:
        """`predict` with the `pending` (times, points) prepared once, for many calls."""
        if pending is None or not len(pending[0]):
            return self.predict
        tp, zp = np.asarray(pending[0], float), np.asarray(pending[1], float)
        b = self._inv_chol @ correlation(self.t, self.z, tp, zp, self.hyper)
        s = correlation(tp, zp, tp, zp, self.hyper) - b.T @ b
        s[np.diag_indices_from(s)] += self.hyper.noise
        inv_s = np.linalg.inv(np.linalg.cholesky(s))
        n, p = len(self.t), len(tp)
        inv_chol = np.zeros((n + p, n + p))  # of the kernel matrix bordered by the pending
        inv_chol[:n, :n] = self._inv_chol
        inv_chol[n:, :n] = -inv_s @ b.T @ self._inv_chol
        inv_chol[n:, n:] = inv_s
        t_all, z_all = np.concatenate([self.t, tp]), np.vstack([self.z, zp])

        def predict(t: np.ndarray, z: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
            k = correlation(t, z, t_all, z_all, self.hyper)
            return k[:, :n] @ self._alpha, self.scale * _unexplained(k, inv_chol)

        return predict

    def predict(self, t: np.ndarray, z: np.ndarray,
                pending: tuple[np.ndarray, np.ndarray] | None = None
                ) -> tuple[np.ndarray, np.ndarray]:
        """Posterior mean and variance (of the latent function) at each row of (t, z); with
        `pending` (times, points) the variance is as if they had been observed."""
        if pending is not None:
            return self.predictor(pending)(t, z)
        k = correlation(t, z, self.t, self.z, self.hyper)
        return k @ self._alpha, self.scale * _unexplained(k, self._inv_chol)


def _unexplained(k: np.ndarray, inv_chol: np.ndarray) -> np.ndarray:
    """1 - kᵀK⁻¹k for each row k, with K⁻¹ = inv_cholᵀ·inv_chol."""
    a = k @ inv_chol.T
    return np.maximum(1.0 - np.sum(a * a, axis=1), 0.0)
