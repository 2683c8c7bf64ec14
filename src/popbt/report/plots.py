"""The report's figures drawn with matplotlib (extra `plot`), for papers and notebooks.

Each function takes a `Population` (read once) or the data `population_data` returned, and
returns a `matplotlib.figure.Figure`; with `path` it is also saved there, in the format its
suffix names (.png, .svg, .pdf, ...). No pyplot state is touched: the figures work in any
backend, headless included.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from popbt.errors import ConfigError
from popbt.report.data import population_data, schedule, score_path

if TYPE_CHECKING:
    from matplotlib.figure import Figure

    from popbt.population import Population

def _matplotlib() -> Any:
    try:
        import matplotlib.collections
        import matplotlib.figure
    except ImportError as exc:
        raise ImportError(f"popbt's plots need matplotlib ({exc}); "
                          f"pip install 'popbt[plot]'") from None
    return matplotlib


def _data(source: Population | Mapping[str, Any]) -> Mapping[str, Any]:
    return source if isinstance(source, Mapping) else population_data(source)


def _finish(fig: Figure, path: str | Path | None) -> Figure:
    if path is not None:
        fig.savefig(Path(path), bbox_inches="tight", dpi=150)
    return fig


def _runs(points: list[tuple[int, float | None]]) -> list[list[tuple[int, float]]]:
    """The unbroken runs of a line whose None values break it."""
    runs: list[list[tuple[int, float]]] = [[]]
    for step, score in points:
        if score is None:
            runs.append([])
        else:
            runs[-1].append((step, score))
    return [r for r in runs if len(r) > 1]


def plot_scores(pop: Population | Mapping[str, Any], path: str | Path | None = None) -> Figure:
    """Every member's score over steps (one line each, jumping to the donor's score at each
    exploit, ▲ where it happened); the best member's line is drawn thick."""
    mpl = _matplotlib()
    d = _data(pop)
    fig = mpl.figure.Figure(figsize=(9, 4.5))
    ax = fig.add_subplot()
    cmap = mpl.colormaps["tab20"]
    lines, colors = [], []
    for m in d["members"]:
        for run in _runs(score_path(d, m["id"])):
            lines.append(run)
            colors.append(cmap(m["id"] % 20))
    ax.add_collection(mpl.collections.LineCollection(lines, colors=colors, linewidths=0.8,
                                                     alpha=0.6))
    if d["best"] is not None:
        for i, run in enumerate(_runs(score_path(d, d["best"]))):
            ax.plot(*zip(*run, strict=True), color="black", linewidth=2,
                    label=f"best member ({d['best']})" if i == 0 else None)
    x = d["exploits"]
    marks = [(st, sc) for st, sc in zip(x["step"], x["score"], strict=True) if sc is not None]
    if marks:
        ax.scatter(*zip(*marks, strict=True), marker="^", s=14, color="#d9480f", zorder=3,
                   label=f"exploit ({len(x['event'])})")
    ax.autoscale()
    ax.set_xlim(0, max(1, d["max_step"]))
    ax.set_xlabel("step")
    ax.set_ylabel(d["metric"])
    ax.set_title(f"{d['name']}: {d['metric']} of {len(d['members'])} members")
    if d["best"] is not None or marks:
        ax.legend(loc="best", fontsize=8)
    return _finish(fig, path)


def plot_schedule(pop: Population | Mapping[str, Any], member: int,
                  path: str | Path | None = None) -> Figure:
    """One panel per hyperparameter: the values in force along `member`'s lineage, each
    change labelled with its explore operation (×1.2, resample) or "← donor" for a value
    copied by an exploit (dashed lines); a `Simplex`'s weights as stacked areas.

    Raises:
        ConfigError: `member` is not a member of the population.
    """
    mpl = _matplotlib()
    d = _data(pop)
    if isinstance(member, bool) or not isinstance(member, int) \
            or not 0 <= member < len(d["members"]):
        raise ConfigError(f"member {member!r} does not exist; members are "
                          f"0..{len(d['members']) - 1}")
    entries = schedule(d, member)
    end = max([d["members"][member]["step"]] + [e["step"] for e in entries])
    axes_spec = d["hparams"]
    fig = mpl.figure.Figure(figsize=(9, 1.9 * len(axes_spec) + 0.6))
    axes = fig.subplots(len(axes_spec), 1, sharex=True, squeeze=False)[:, 0]
    for ax, spec in zip(axes, axes_spec, strict=True):
        name = spec["name"]
        if spec["scale"] == "simplex":
            _stacked(ax, spec, entries, end)
            continue
        choice = spec["scale"] == "choice"
        keys = [repr(v) for v in spec.get("values", ())]

        def pos(v: Any, choice: bool = choice, keys: list[str] = keys) -> float:
            return float(keys.index(repr(v))) if choice else float(v)

        xs = [e["step"] for e in entries] + [end]
        ys = [pos(e["hparams"][name]) for e in entries]
        if ys:
            ax.step(xs, ys + ys[-1:], where="post", color="#1c7ed6", linewidth=2)
        for prev, e in zip(entries, entries[1:], strict=False):
            if e["donor"] is not None:
                ax.axvline(e["step"], color="#d9480f", linestyle="--", linewidth=0.8)
            changed = prev["hparams"][name] != e["hparams"][name]
            label = e["ops"].get(name) or (f"← {e['donor']}" if e["donor"] is not None
                                           and changed else None)
            if label:
                y = pos(e["hparams"][name])
                ax.plot([e["step"]], [y], "o", color="#1c7ed6", markersize=3)
                ax.annotate(label, (e["step"], y), textcoords="offset points", xytext=(3, 4),
                            fontsize=7)
        if choice:
            ax.set_yticks(range(len(keys)), [str(v) for v in spec["values"]])
            ax.set_ylim(-0.5, len(keys) - 0.5)
        else:
            if spec["scale"] == "log" and spec["lo"] > 0:
                ax.set_yscale("log")
            ax.set_ylim(spec["lo"], spec["hi"])
        ax.set_ylabel(name)
    axes[-1].set_xlabel("step")
    axes[-1].set_xlim(0, max(1, d["max_step"], end))
    axes[0].set_title(f"{d['name']}: schedule of member {member}"
                      + (" (best)" if member == d["best"] else ""))
    return _finish(fig, path)


def _stacked(ax: Any, spec: Mapping[str, Any], entries: list[dict[str, Any]],
             end: int) -> None:
    """A Simplex's weights along the schedule as stacked areas, one per component."""
    name, components = spec["name"], spec["components"]
    if entries:
        xs = [e["step"] for e in entries] + [end]
        ys = [[e["hparams"][name][c] for e in entries] + [entries[-1]["hparams"][name][c]]
              for c in components]
        ax.stackplot(xs, ys, step="post", labels=components, alpha=0.85)
        for e in entries[1:]:
            if e["donor"] is not None:
                ax.axvline(e["step"], color="#d9480f", linestyle="--", linewidth=0.8)
        ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=7)
    ax.set_ylim(0, 1)
    ax.set_ylabel(name)


def plot_lineage(pop: Population | Mapping[str, Any], path: str | Path | None = None) -> Figure:
    """The lineage tree: a lane per member (member 0 on top), an edge for every exploit from
    the donor to the receiver, the best member's ancestry in orange, ○ initial members (●
    those whose weights survive), ◆ final members, ★ the best."""
    mpl = _matplotlib()
    d = _data(pop)
    n = len(d["members"])
    fig = mpl.figure.Figure(figsize=(9, min(12.0, 1.5 + 0.3 * n)))
    ax = fig.add_subplot()
    lanes = [[(s[0], m), (s[1], m)] for m in range(n) for s in d["lanes"][m]]
    x = d["exploits"]
    edges = [[(x["donor_step"][i], x["donor"][i]), (x["step"][i], x["member"][i])]
             for i in range(len(x["event"]))]
    width = max(0.2, min(1.2, 60 / max(1, n)))
    ax.add_collection(mpl.collections.LineCollection(lanes, colors="#9aa3b2", linewidths=width))
    ax.add_collection(mpl.collections.LineCollection(edges, colors="#5c7cfa", alpha=0.6,
                                                     linewidths=width * 0.8,
                                                     label=f"exploit ({len(edges)})"))
    path_xy: list[tuple[int, int]] = []
    for seg in d["ancestry"]:
        path_xy += [(seg["start"], seg["member"]), (seg["end"], seg["member"])]
    if path_xy:
        ax.plot(*zip(*path_xy, strict=True), color="#f08c00", linewidth=2.5,
                label=f"ancestry of the best member ({d['best']})")
    size = max(4.0, min(30.0, 3000 / max(1, n)))
    roots = {m["root"] for m in d["members"]}
    ax.scatter([0] * n, range(n), s=size, facecolors="white", edgecolors="#495057",
               label="initial members", zorder=3)
    ax.scatter([0] * len(roots), sorted(roots), s=size * 0.4, color="#2b8a3e", zorder=4,
               label="initial members whose weights survive")
    ax.scatter([m["step"] for m in d["members"]], range(n), s=size, marker="D",
               color="#495057", label="final members", zorder=3)
    if d["best"] is not None:
        ax.scatter([d["members"][d["best"]]["step"]], [d["best"]], s=size * 4, marker="*",
                   color="#f08c00", edgecolors="black", zorder=5)
    ax.set_xlim(-0.01 * max(1, d["max_step"]), max(1, d["max_step"]) * 1.01)
    ax.set_ylim(n - 0.5, -0.5)
    if n <= 30:
        ax.set_yticks(range(n))
    ax.set_xlabel("step")
    ax.set_ylabel("member")
    ax.set_title(f"{d['name']}: lineage of {n} members")
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=7)
    return _finish(fig, path)
