"""One Syne Tune trial of `benchmarks/vs_ray_tune.py`: a member, trained interval by interval.

Contract:
- Syne Tune's `LocalBackend` (with `pass_args_as_json=True`) runs this file as a script with
  `--st_config_json_filename FILE` (the trial's config: the member's hyperparameters,
  `member_seed`, `problem`, `interval`, `max_t`, `busy_dir`) and `--st_checkpoint_dir DIR`.
- The member is the problem's timed trainable (`vs_ray_tune.problem(name).trainable`), set up
  with the config's hyperparameters and seed, then restored from `DIR` when a checkpoint is
  there (a trial started from a donor's checkpoint, or resumed): it goes on from the saved
  iteration.
- After every interval of `interval` steps it writes its state and iteration to `DIR`
  (through a temporary file and a rename, so a copy never sees half a file; timed as
  `checkpoint_io`, like Ray's), then reports the metrics with `training_iteration` and
  `step` through `syne_tune.Reporter`, until iteration `max_t`.
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path
from typing import Any

import vs_ray_tune as vs
from syne_tune import Reporter
from syne_tune.constants import ST_CHECKPOINT_DIR, ST_CONFIG_JSON_FNAME_ARG


def save(state: dict[str, Any], path: Path) -> None:
    """`vs._save` into `path` through a temporary file in the same folder."""
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f"partial-{path.name}")
    vs._save(state, partial)
    os.replace(partial, path)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(f"--{ST_CONFIG_JSON_FNAME_ARG}", required=True)
    parser.add_argument(f"--{ST_CHECKPOINT_DIR}", required=True)
    args, _ = parser.parse_known_args()
    config = json.loads(Path(getattr(args, ST_CONFIG_JSON_FNAME_ARG)).read_text())
    prob = vs.problem(config["problem"])
    state_path = Path(getattr(args, ST_CHECKPOINT_DIR)) / prob.state_file
    member = prob.trainable(busy_dir=config["busy_dir"])
    hparams = {name: config[name] for name in prob.space}
    member.setup(hparams, config["member_seed"])
    iteration = 0
    if state_path.exists():
        saved = member.timed("checkpoint_io", vs._load, state_path)
        member.load_state_dict(saved["state"])
        iteration = saved["iteration"]
    report = Reporter()
    while iteration < config["max_t"]:
        member.train(hparams, config["interval"])
        iteration += 1
        metrics = member.evaluate()
        assert isinstance(metrics, dict)
        member.timed("checkpoint_io", save,
                     {"state": member.state_dict(), "iteration": iteration}, state_path)
        report(training_iteration=iteration, step=iteration * config["interval"], **metrics)


if __name__ == "__main__":
    main()
