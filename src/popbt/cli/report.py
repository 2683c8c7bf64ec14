"""`popbt report` (one self-contained HTML file) and `popbt dashboard` (a live, read-only web
view): their arguments. The command functions live in `popbt.report.cli`, beside the report
they drive.

Contract: both only read (nothing is created in a storage, the user's code is never
imported); the dashboard listens on a loopback address unless `--allow-remote` is given.
"""

from __future__ import annotations

import argparse

from popbt._cli_args import integer, utf8_text
from popbt.cli._common import DEFAULT_STORAGE, Command, default_storage, storage_args
from popbt.report.cli import cmd_dashboard, cmd_report


def _report_args(report: argparse.ArgumentParser) -> None:
    storage_args(report)
    report.add_argument("-o", "--output", default="report.html",
                        help="the HTML file to write (default report.html)")
    report.add_argument("--member", type=int,
                        help="the member whose schedule is shown first (default: the best)")


def _dashboard_args(dashboard: argparse.ArgumentParser) -> None:
    dashboard.add_argument("--storage", type=utf8_text, default=default_storage(),
                           help=f"storage URL (default: $POPBT_STORAGE, else {DEFAULT_STORAGE})")
    dashboard.add_argument("--host", default="127.0.0.1",
                           help="interface to listen on (default 127.0.0.1; any other needs "
                                "--allow-remote)")
    dashboard.add_argument("--port", type=integer(0, 65535), default=8765,
                           help="port (default 8765; 0 picks a free one)")
    dashboard.add_argument("--allow-remote", action="store_true",
                           help="allow a non-loopback --host: whoever reaches it sees every "
                                "population in the storage (no authentication)")


COMMANDS = (
    Command("report", "write a population's report: one self-contained HTML file",
            _report_args, cmd_report),
    Command("dashboard", "serve a live, read-only dashboard of every population in a storage",
            _dashboard_args, cmd_dashboard),
)
