"""Test set-up: the DOLFINx wheel's loader (when installed) before anything imports MPI."""

import sys
from pathlib import Path

try:
    import dolfinx_solver  # noqa: F401
except ImportError:
    pass

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
