"""The ``chemomech report`` sub-command's parser (imports nothing heavy: the command
itself, postprocess/report/build.py, is imported when it runs)."""

from __future__ import annotations

import argparse


def _build(args: argparse.Namespace) -> int:
    from postprocess.report.build import build

    return build(args)


def add_parser(sub) -> None:
    """Register ``chemomech report`` on the main parser's subparsers."""
    r = sub.add_parser("report", help="run the validation set (what is missing) and write "
                       "validation.md / validation.html; docs/validation.md")
    r.add_argument("set_dir", help="validation set folder (holds validation.toml) or file")
    r.add_argument("--output", default="report", help="report folder (default: report)")
    r.add_argument("--observations", help="observation file (default: observations.toml "
                   "next to the set file)")
    r.add_argument("--quick", action="store_true", help="reduced cases (coarse meshes, "
                   "short protocols): the whole report in minutes")
    r.add_argument("--jobs", type=int, default=1, help="cores to use: runs at a time, a "
                   "run of R ranks taking R of them, and analyses at a time (default 1)")
    r.add_argument("--ranks", type=int, help="MPI ranks per run (default: each case's ranks "
                   "in the set file)")
    r.add_argument("--cycles", type=int, help="cycles at 100 mA/g of the cycled SC cases "
                   "(default: the set's cycles; the paper: 100)")
    r.add_argument("--force", action="store_true", help="re-run runs made from a different "
                   "case than the report now gives")
    r.add_argument("--rerun-failed", action="store_true", help="start failed runs again")
    r.add_argument("--only", help="comma-separated case ids: run only these (the others "
                   "are reused when present, else not computed)")
    r.add_argument("--no-run", action="store_true", help="run nothing: report from the "
                   "runs that exist")
    r.set_defaults(func=_build)
