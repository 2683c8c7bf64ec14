"""Read-only views of a population: its data as JSON, figures, an HTML report, a dashboard.

- `population_data(pop)`: everything the views show, as plain JSON-ready data
  (`schedule(data, member)` and `score_path(data, member)` read it back).
- `write_report(pop, path)`: one self-contained HTML file (it fetches nothing to open).
- `plot_scores`, `plot_schedule`, `plot_lineage`: matplotlib figures (extra `plot`).
- `serve(storage_url)` / `Dashboard`: a live, read-only dashboard of a storage's populations.

Submodules are imported on first use, so `import popbt.report` stays light.

Examples:
    >>> import popbt
    >>> from popbt.report import write_report
    >>> pop = popbt.load_population(name="toy", storage="sqlite:///popbt.db")
    >>> write_report(pop, "report.html").name
    'report.html'
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from popbt.report.dashboard import Dashboard, serve
    from popbt.report.data import (
        population_data,
        records_data,
        schedule,
        score_path,
        stored_data,
    )
    from popbt.report.html import render_html, write_report
    from popbt.report.plots import plot_lineage, plot_schedule, plot_scores

_WHERE = {
    "Dashboard": "dashboard", "serve": "dashboard", "population_data": "data",
    "records_data": "data", "schedule": "data", "score_path": "data", "stored_data": "data",
    "render_html": "html", "write_report": "html", "plot_lineage": "plots",
    "plot_schedule": "plots", "plot_scores": "plots",
}

__all__ = [
    "Dashboard", "plot_lineage", "plot_schedule", "plot_scores", "population_data",
    "records_data", "render_html", "schedule", "score_path", "serve", "stored_data",
    "write_report",
]


def __getattr__(name: str) -> Any:
    if name in _WHERE:
        return getattr(importlib.import_module(f"popbt.report.{_WHERE[name]}"), name)
    raise AttributeError(f"module 'popbt.report' has no attribute {name!r}")
