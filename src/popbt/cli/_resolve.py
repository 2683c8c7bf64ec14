"""The settings `popbt run` creates or resumes a population with.

Contract:
- Each setting comes from its option when given, else from the run file, else from the
  stored population (when it exists), else from popbt's default: `--seed` (not in files)
  defaults to 0, `--mode` and the file's `mode` to "max", `--max-lead` and the file's
  `max_lead` to no bound, `--sync` and the file's `sync` to False, `--exploit`/`--explore` to the
  strategy registry's defaults, `--population` to `DEFAULT_SIZE`; a metric and a ready
  interval have no default. A league (`league = popbt.League(...)`) comes from the file,
  else the stored population; there is no option for it. `--fraction` (or a margin option)
  alone sets the default truncation's.
- Options default to None, so an option left out is told from one given. Resuming needs
  only the file, the name and the steps. On an existing population every option given is
  compared with what is stored, and one with another value is a `ConfigError` naming both;
  `--population` is not compared (a different value resizes the population), nor `--steps`
  (the step target, which may change). The file's settings are compared by
  `create_population`, as for any resume.
"""

from __future__ import annotations

import argparse
from types import ModuleType
from typing import Any

from popbt.cli._userfile import module_setting
from popbt.errors import ConfigError
from popbt.fitness import Objective
from popbt.league import League
from popbt.records import StoredSettings
from popbt.strategies import Every, from_config, registry

DEFAULT_SIZE = 8
EXPLOIT_OPTIONS = ("fraction", "margin", "margin_se", "window")  # of the exploit chosen
_MISSING = object()


def _shown(config: Any) -> str:
    """A stored strategy as people read it: its constructor call, else its config."""
    try:
        return repr(from_config(config, lazy=True))
    except ConfigError:
        return repr(config)


def _strategy_option(kind: registry.Kind, args: argparse.Namespace,
                     in_file: bool) -> Any | None:
    """The `kind` strategy the options give: `--exploit`/`--explore` by name, or (`--fraction`,
    `--margin`, `--margin-se` or `--window` alone, when the file sets no exploit) the default
    truncation; None when they give none."""
    name = getattr(args, kind)
    tuned = any(getattr(args, option) is not None for option in EXPLOIT_OPTIONS)
    if name is None and kind == "exploit" and tuned and not in_file:
        name = registry.DEFAULTS[kind]
    return None if name is None else registry.make(kind, name, vars(args))


def _pick(option: Any, module: ModuleType, key: str, stored: Any) -> Any:
    """The option when given, else the file's `key`, else `stored` (may be `_MISSING`)."""
    if option is not None:
        return option
    return module_setting(module, key, stored)


def resolve(args: argparse.Namespace, module: ModuleType, file: str,
            stored: StoredSettings | None) -> dict[str, Any]:
    """`create_population`'s settings (but name, storage and checkpoints) for `popbt run`;
    see the module contract.

    Raises:
        ConfigError: no metric or ready interval anywhere; an unknown strategy name.
    """
    ready = _pick(None if args.ready_every is None else Every(steps=args.ready_every), module,
                  "ready", None if stored is None else from_config(stored.ready))
    if ready is None:
        raise ConfigError(f"give --ready-every STEPS, or define `ready = popbt.Every(steps=...)` "
                          f"in {file!r}")
    objectives = tuple(module_setting(module, "objectives", None)
                       or (() if stored is None else stored.objectives))
    first = Objective.of(objectives[0]) if objectives else None
    metric = _pick(args.metric, module, "metric", None if stored is None else stored.metric)
    if metric is None and first is not None:
        metric = first.metric
    if metric is None:
        raise ConfigError(f"give --metric NAME, or define `metric = '...'` (or `objectives = "
                          f"[...]`) in {file!r}")
    strategies: dict[str, Any] = {}
    kinds: tuple[registry.Kind, ...] = ("exploit", "explore")
    for kind in kinds:
        in_file = module_setting(module, kind, _MISSING) is not _MISSING
        value = _pick(_strategy_option(kind, args, in_file), module, kind, _MISSING)
        if value is _MISSING:
            value = (registry.make(kind, registry.DEFAULTS[kind], {}) if stored is None
                     else from_config(getattr(stored, kind), lazy=True))
        strategies[kind] = value
    if stored is None:
        size = DEFAULT_SIZE if args.population is None else args.population
        mode, seed, max_lead, sync, league = "max", 0, None, False, None
        if first is not None:
            mode = first.mode
    else:
        size, mode, seed = stored.size, stored.mode, stored.seed
        max_lead, sync = stored.max_lead, stored.sync
        league = None if stored.league is None else League.from_config(stored.league)
    return {"space": module_setting(module, "space"), "metric": metric, "ready": ready,
            "size": size, "mode": _pick(args.mode, module, "mode", mode),
            "seed": seed if args.seed is None else args.seed,
            "max_lead": _pick(args.max_lead, module, "max_lead", max_lead),
            "sync": _pick(args.sync, module, "sync", sync),
            "league": module_setting(module, "league", league),
            "initial": module_setting(module, "initial", ()), "objectives": objectives,
            **strategies}


def conflicts(args: argparse.Namespace, module: ModuleType, stored: StoredSettings,
              root: str, given_root: str | None) -> list[str]:
    """The options given whose values differ from the stored population's (`root`: its
    checkpoint root; `given_root`: the one `--checkpoints` names), each as
    "--option value (stored: value)"."""
    found = []
    for option, given, kept in (("--seed", args.seed, stored.seed),
                                ("--metric", args.metric, stored.metric),
                                ("--mode", args.mode, stored.mode),
                                ("--max-lead", args.max_lead, stored.max_lead),
                                ("--sync", args.sync, stored.sync),
                                ("--checkpoints", given_root, root)):
        if given is not None and given != kept:
            found.append(f"{option} {given!r} (stored: {kept!r})")
    if args.ready_every is not None and Every(steps=args.ready_every).to_config() != stored.ready:
        found.append(f"--ready-every {args.ready_every} (stored: {_shown(stored.ready)})")
    kinds: tuple[registry.Kind, ...] = ("exploit", "explore")
    for kind in kinds:
        in_file = module_setting(module, kind, _MISSING) is not _MISSING
        strategy = _strategy_option(kind, args, in_file)
        if strategy is not None and strategy.to_config() != getattr(stored, kind):
            label = "--exploit (and its options)" if kind == "exploit" else "--explore"
            found.append(f"{label} {strategy!r} (stored: {_shown(getattr(stored, kind))})")
    return found
