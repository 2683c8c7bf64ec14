"""When a member is ready: every K of its own training steps since its last ready point."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from popbt.errors import ConfigError
from popbt.strategies._config import config_of


@dataclass(frozen=True)
class Every:
    """Ready every `steps` training steps of the member, counted from its last ready point.

    A member is compared with the population at every ready point; before `burn_in` steps it
    reports its score but never exploits.

    Examples:
        >>> Every(steps=4).steps_to_ready(step=6, last_ready_step=4)
        2
    """

    steps: int
    burn_in: int = 0

    def __post_init__(self) -> None:
        if isinstance(self.steps, bool) or not isinstance(self.steps, int) or self.steps < 1:
            raise ConfigError(f"Every(steps={self.steps!r}): steps must be an integer >= 1")
        if (isinstance(self.burn_in, bool) or not isinstance(self.burn_in, int)
                or self.burn_in < 0):
            raise ConfigError(f"Every(burn_in={self.burn_in!r}): burn_in must be an integer >= 0")

    def steps_to_ready(self, *, step: int, last_ready_step: int) -> int:
        """Training steps left before the next ready point (at least 1)."""
        return max(1, self.steps - (step - last_ready_step))

    def is_ready(self, *, step: int, last_ready_step: int) -> bool:
        """Whether a member at `step` has reached a ready point."""
        return step - last_ready_step >= self.steps

    def may_exploit(self, step: int) -> bool:
        """Whether a ready member at `step` is past the burn-in."""
        return step >= self.burn_in

    def to_config(self) -> dict[str, Any]:
        """JSON-ready: its type and constructor arguments (see `popbt.strategies._config`)."""
        return config_of(self, "ready")
