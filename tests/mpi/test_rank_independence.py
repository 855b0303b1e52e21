"""Run under `mpiexec -n 2 python -m mpi4py -m pytest tests/mpi`: results agree across ranks."""

import numpy as np
import pytest
from helpers import case_dict
from mpi4py import MPI

from solver.config import validate
from solver.simulation import run_simulation

SKIP = ("wall_s", "ksp_its", "step_type")


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
    parallel = run_simulation(case, None, MPI.COMM_WORLD).rows
    serial = run_simulation(case, None, MPI.COMM_SELF).rows if MPI.COMM_WORLD.rank == 0 else None
    serial = MPI.COMM_WORLD.bcast(serial, root=0)
    assert len(serial) == len(parallel) > 5
    for rs, rp in zip(serial, parallel, strict=False):
        for key, vs in rs.items():
            if key in SKIP:
                continue
            vp = rp[key]
            tol_abs = 0.0 if key.startswith("li_") else 1e-10  # li_* are ~1e-13 mol
            assert vp == pytest.approx(vs, rel=1e-6, abs=tol_abs), (key, rs["step"])
    assert np.isfinite(parallel[-1]["voltage_V"])
