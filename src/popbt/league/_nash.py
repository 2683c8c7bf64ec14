"""The Nash equilibrium of a two-player zero-sum matrix game, by linear programming.

Contract:
- `nash_mixture(game)`: for `game[i, j]` the row player's payoff when it plays i and the
  column player j, a mixture σ over rows (non-negative, summing to 1) that maximises
  min_j Σ_i σ_i·game[i, j] (the game's value), found by SciPy's HiGHS linear programming
  solver; deterministic. With several equilibria it returns one of them.
- SciPy is imported here only, with an error naming the extra to install.

Examples:
    >>> rps = np.array([[0.0, -1, 1], [1, 0, -1], [-1, 1, 0]])
    >>> nash_mixture(rps).round(3).tolist()
    [0.333, 0.333, 0.333]
"""

from __future__ import annotations

import numpy as np

from popbt.errors import ConfigError


def nash_mixture(game: np.ndarray) -> np.ndarray:
    """The row player's equilibrium mixture (see the module contract).

    Raises:
        ConfigError: SciPy is not installed, or the game has no rows or is not finite.
    """
    try:
        from scipy.optimize import linprog
    except ImportError as exc:
        raise ConfigError("the Nash opponent sampler needs SciPy: pip install "
                          "'popbt[league]'") from exc
    game = np.asarray(game, float)
    if game.ndim != 2 or not game.size or not np.all(np.isfinite(game)):
        raise ConfigError(f"a Nash mixture needs a finite, non-empty payoff matrix, got "
                          f"shape {game.shape}")
    rows, cols = game.shape
    cost = np.zeros(rows + 1)
    cost[-1] = -1.0  # maximise the value v
    bound = np.hstack([-game.T, np.ones((cols, 1))])  # v - Σ σ_i·game[i, j] <= 0
    total = np.hstack([np.ones((1, rows)), np.zeros((1, 1))])
    solved = linprog(cost, A_ub=bound, b_ub=np.zeros(cols), A_eq=total, b_eq=[1.0],
                     bounds=[(0, None)] * rows + [(None, None)], method="highs")
    sigma = np.maximum(solved.x[:rows], 0.0) if solved.success else np.ones(rows)
    return sigma / sigma.sum()
