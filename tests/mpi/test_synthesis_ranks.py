"""Run under `mpiexec -n 2 python -m mpi4py -m pytest tests/mpi`: the synthesis run and
its follow-up electrochemical run are the same on 1 and 2 ranks."""

from pathlib import Path

import numpy as np
import pytest
from compare import assert_rows_match
from helpers import case_dict
from mpi4py import MPI
from synthesis_helpers import synthesis_dict, synthesis_run_folder

from solver.config import validate
from solver.simulation import run_simulation

GEOMETRY = {"surface_mesh_size": "0.5 um", "refinement_depth": "0.5 um"}


def _follow_up(run_dir: Path):
    return validate(case_dict(
        geometry={"shape": "sphere", "radius": "2 um", "mesh_size": "0.5 um", **GEOMETRY},
        material={"name": "NMC622"},
        conditions={"initial_x": 0.98, "from_synthesis": str(run_dir)},
        mechanics={"coupling": "one-way"},
        protocol=[{"type": "charge", "current": "200 mA/g", "until_capacity": "15 mAh/g"}],
        numerics={"dt_max": "60 s"}), "follow_up.toml", "follow_up")


@pytest.mark.skipif(MPI.COMM_WORLD.size < 2, reason="needs mpiexec -n 2")
def test_synthesis_and_follow_up_same_on_1_and_2_ranks(tmp_path):
    world = MPI.COMM_WORLD
    base = Path(world.bcast(str(tmp_path) if world.rank == 0 else None))
    raw = synthesis_dict(geometry=GEOMETRY)
    par = synthesis_run_folder(raw, base / "syn2", world)
    ser = None
    if world.rank == 0:
        ser = synthesis_run_folder(raw, base / "syn1", MPI.COMM_SELF)
    ser = world.bcast(ser, root=0)
    skip = {"wall_s", "step_type", "ksp_its"}
    assert len(ser) == len(par) > 10
    for a, b in zip(ser, par, strict=True):
        for k, v in a.items():
            if k in skip:
                continue
            assert abs(float(v) - float(b[k])) <= 1e-8 * max(1.0, abs(float(v))) + 1e-20, k
    if world.rank == 0:  # the end state files (sorted by coordinates) agree
        with np.load(base / "syn1" / "synthesis_end.npz") as z1, \
                np.load(base / "syn2" / "synthesis_end.npz") as z2:
            for k in z1.files:
                assert np.allclose(z1[k], z2[k], rtol=1e-8, atol=1e-12), k
    world.barrier()
    # the follow-up electrochemical run from the 2-rank folder, on 2 ranks and on 1
    rows2 = run_simulation(_follow_up(base / "syn2"), None, world).rows
    rows1 = None
    if world.rank == 0:
        rows1 = run_simulation(_follow_up(base / "syn2"), None, MPI.COMM_SELF).rows
    rows1 = world.bcast(rows1, root=0)
    assert rows2[-1]["inactive_fraction"] > 0.2
    assert rows2[-1]["residual_strain_mean"] > 1e-3
    assert_rows_match(rows1, rows2)
