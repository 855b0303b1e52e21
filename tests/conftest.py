"""Test set-up: the DOLFINx wheel's loader (when installed) before anything imports MPI."""

import sys
from pathlib import Path

try:
    import dolfinx_solver  # noqa: F401
except ImportError:
    pass

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))


def pytest_runtest_makereport(item, call):
    """Under mpiexec: a test that fails (or errors) on one rank aborts every rank.

    Otherwise the failing rank reports and goes on to the next test while the others wait
    in a collective call of the failed one, and the suite hangs instead of failing (seen:
    a dS integral refused on one rank of tests/mpi, 2026-12-04).  The traceback is printed
    first, since the abort ends the run before pytest's summary."""
    import pytest

    if call.excinfo is None or call.excinfo.errisinstance(
            (pytest.skip.Exception, pytest.xfail.Exception)) or item.get_closest_marker("xfail"):
        return None
    from mpi4py import MPI

    comm = MPI.COMM_WORLD
    if comm.size == 1:
        return None
    import traceback

    sys.stderr.write(f"\n[rank {comm.rank}] {item.nodeid} failed in {call.when}; aborting all "
                     f"{comm.size} ranks (tests/conftest.py):\n")
    traceback.print_exception(call.excinfo.type, call.excinfo.value, call.excinfo.tb)
    sys.stderr.flush()
    comm.Abort(1)
    return None
