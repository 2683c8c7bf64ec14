"""`popbt report` and `popbt dashboard`: the command functions (`popbt.cli` wires them).

Both take the parsed arguments and return an exit status; bad input raises `PopbtError`
(printed by `popbt.cli.main` as one `popbt: error: ...` line, without the storage's
password). Importing this module imports nothing heavy.
"""

from __future__ import annotations

import argparse
import sys


def cmd_report(args: argparse.Namespace) -> int:
    """Write a population's HTML report: `--storage`, `--name` (may be left out when the
    storage holds one population), `-o/--output`, `--member`.

    Raises:
        ConfigError: no such population (the message lists those there are), no `--name`
            for a storage of several, or no such member.
    """
    from popbt._text import printable
    from popbt.errors import ConfigError
    from popbt.report.data import stored_data
    from popbt.report.html import write_report
    from popbt.storage import get_storage

    storage = get_storage(args.storage, create=False)  # a reader creates nothing
    try:
        row = storage.find_population(args.name)
        data = stored_data(storage, row)
    finally:
        storage.close()
    try:
        path = write_report(data, args.output, member=args.member)
    except OSError as exc:
        raise ConfigError(f"cannot write the report to {args.output!r}: {exc}") from None
    print(printable(f"report of {row.name}: {path} ({len(data['members'])} members, "
                    f"{len(data['exploits']['event'])} exploits)"), file=sys.stderr)
    return 0


def cmd_dashboard(args: argparse.Namespace) -> int:
    """Serve the live dashboard of `--storage` on `--host`/`--port` until interrupted
    (Ctrl-C ends it with status 0); a non-loopback `--host` needs `--allow-remote`.

    Raises:
        ConfigError: a non-loopback host without `--allow-remote`, or the address cannot be
            bound (the port is in use, say).
    """
    from popbt._text import printable
    from popbt.errors import ConfigError
    from popbt.report.dashboard import Dashboard

    try:
        board = Dashboard(args.storage, host=args.host, port=args.port,
                          allow_remote=args.allow_remote)
    except OSError as exc:
        raise ConfigError(f"cannot listen on {args.host}:{args.port} ({exc}); choose another "
                          f"--port, or --port 0 for a free one") from None
    shown = printable(f"popbt dashboard of {board.storage.safe_url} at {board.url}")
    print(f"{shown} (Ctrl-C to stop)", file=sys.stderr, flush=True)
    try:
        board.serve_forever()
    except KeyboardInterrupt:
        print("popbt dashboard stopped", file=sys.stderr)
    finally:
        board.server_close()
    return 0
