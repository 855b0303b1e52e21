"""Run under `mpiexec -n 2 python -m mpi4py -m pytest tests/mpi`: the monolithic two-way
step gives the same time series on 1 and 2 ranks."""

import pytest
from compare import assert_rows_match
from helpers import case_dict
from mpi4py import MPI

from solver.config import validate
from solver.simulation import run_simulation


@pytest.mark.skipif(MPI.COMM_WORLD.size < 2, reason="needs mpiexec -n 2")
@pytest.mark.parametrize("linear_solver", ["direct", "iterative"])
def test_monolithic_two_way_same_on_1_and_2_ranks(linear_solver):
    case = validate(case_dict(
        geometry={"shape": "ellipsoid", "semi_axes": ["1 um", "0.8 um", "0.7 um"],
                  "mesh_size": "0.3 um", "surface_mesh_size": "0.2 um"},
        orientation={"euler_deg": [20, 50, 10]},
        material={"name": "NM91"},
        conditions={"initial_x": 0.87},
        mechanics={"coupling": "two-way", "scheme": "monolithic",
                   "monolithic_linear_solver": linear_solver},
        protocol=[{"type": "charge", "current": "400 mA/g", "until_time": "60 s"}],
        numerics={"dt_initial": "10 s", "dt_max": "30 s"},
    ))
    parallel = run_simulation(case, None, MPI.COMM_WORLD).rows
    serial = run_simulation(case, None, MPI.COMM_SELF).rows if MPI.COMM_WORLD.rank == 0 else None
    serial = MPI.COMM_WORLD.bcast(serial, root=0)
    assert len(parallel) >= 2
    steps = [r for r in parallel if r["step"] > 0]
    assert steps and all(r["coupling_its"] == 1 for r in steps), parallel  # one Newton solve
    assert parallel[-1]["vm_stress_max_Pa"] > 1e6  # a real stress state
    assert_rows_match(serial, parallel)
