"""Run under `mpiexec -n 2 python -m mpi4py -m pytest tests/mpi`: results agree across ranks."""

import numpy as np
import pytest
from compare import assert_rows_match
from helpers import case_dict
from mpi4py import MPI

from solver.config import validate
from solver.simulation import run_simulation


def _serial_and_parallel(case):
    """Rows of the case on all ranks and on rank 0 alone (broadcast to every rank)."""
    parallel = run_simulation(case, None, MPI.COMM_WORLD).rows
    serial = run_simulation(case, None, MPI.COMM_SELF).rows if MPI.COMM_WORLD.rank == 0 else None
    return MPI.COMM_WORLD.bcast(serial, root=0), parallel


@pytest.mark.skipif(MPI.COMM_WORLD.size < 2, reason="needs mpiexec -n 2")
def test_same_timeseries_on_1_and_2_ranks():
    case = validate(case_dict(
        geometry={"shape": "ellipsoid", "semi_axes": ["1 um", "0.8 um", "0.7 um"],
                  "mesh_size": "0.25 um", "surface_mesh_size": "0.15 um"},
        orientation={"euler_deg": [20, 50, 10]},
        material={"name": "NM91"},
        conditions={"initial_x": 0.5},
        protocol=[{"type": "charge", "current": "400 mA/g", "until_time": "100 s"},
                  {"type": "rest", "until_time": "30 s"}],
    ))
    serial, parallel = _serial_and_parallel(case)
    assert len(serial) == len(parallel) > 5
    assert_rows_match(serial, parallel)
    assert np.isfinite(parallel[-1]["voltage_V"])


@pytest.mark.skipif(MPI.COMM_WORLD.size < 2, reason="needs mpiexec -n 2")
@pytest.mark.parametrize("coupling", ["one-way", "two-way"])
def test_coupled_chemo_mechanics_same_on_1_and_2_ranks(coupling):
    case = validate(case_dict(
        geometry={"shape": "ellipsoid", "semi_axes": ["1 um", "0.8 um", "0.7 um"],
                  "mesh_size": "0.3 um", "surface_mesh_size": "0.2 um"},
        orientation={"euler_deg": [20, 50, 10]},
        material={"name": "NM91"},
        conditions={"initial_x": 0.6},
        mechanics={"coupling": coupling},
        protocol=[{"type": "charge", "current": "400 mA/g", "until_time": "40 s"}],
    ))
    serial, parallel = _serial_and_parallel(case)
    assert len(parallel) > 3
    assert parallel[-1]["vm_stress_max_Pa"] > 1e6  # a real stress state
    assert_rows_match(serial, parallel)
