"""Under `mpiexec -n 2`: checkpoints written on 2 ranks restore exactly on 1 rank."""

import csv
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
from compare import assert_rows_match
from helpers import case_dict
from mpi4py import MPI

from solver import checkpoint as ck
from solver.config import validate
from solver.output import create_output_dir
from solver.simulation import build_mesh, run_simulation

needs2 = pytest.mark.skipif(MPI.COMM_WORLD.size < 2, reason="needs mpiexec -n 2")


def _shared_tmp(tmp_path) -> Path:
    return Path(MPI.COMM_WORLD.bcast(str(tmp_path) if MPI.COMM_WORLD.rank == 0 else None))


def _functions(comm):
    """P2 scalar, P1 vector and DG0 tensor functions set from their dof coordinates."""
    import basix.ufl
    from dolfinx import fem

    case = validate(case_dict(geometry={"mesh_size": "0.3 um", "surface_mesh_size": "0.3 um"}))
    mesh = build_mesh(case, comm).mesh
    funcs = {
        "w": fem.Function(fem.functionspace(mesh, ("Lagrange", 2))),
        "s": fem.Function(fem.functionspace(mesh, ("Lagrange", 2))),
        "u": fem.Function(fem.functionspace(mesh, ("Lagrange", 1, (3,)))),
        "eps_res": fem.Function(fem.functionspace(mesh, basix.ufl.element(
            "DG", mesh.basix_cell(), 0, shape=(3, 3), symmetry=True))),
    }
    tr = SimpleNamespace(comm=comm, w=funcs["w"], s=funcs["s"])
    mech = SimpleNamespace(u=funcs["u"], eps_res=funcs["eps_res"])
    return tr, mech, funcs


def _exact(f) -> np.ndarray:
    """A smooth, non-symmetric value per dof (and component) of f's coordinates."""
    V = f.function_space
    bs = V.dofmap.index_map_bs
    x = V.tabulate_dof_coordinates()
    base = np.sin(3 * x[:, 0]) + x[:, 1] ** 2 - 0.7 * x[:, 2]
    return (base[:, None] * (1.0 + np.arange(bs))[None, :]).ravel()


@needs2
def test_state_gathered_on_two_ranks_restores_exactly_on_one(tmp_path):
    comm = MPI.COMM_WORLD
    tr, mech, funcs = _functions(comm)
    for f in funcs.values():
        f.x.array[:] = _exact(f)
    arrays = ck.gather_state(tr, mech)
    path = _shared_tmp(tmp_path) / "state.npz"
    if comm.rank == 0:
        np.savez(path, **arrays)
    comm.barrier()
    problems = []  # checked on rank 0, asserted on every rank (no rank left waiting)
    if comm.rank == 0:  # the same mesh, on one rank: another dof numbering
        tr1, mech1, funcs1 = _functions(MPI.COMM_SELF)
        with np.load(path) as z:
            ck.restore_state(dict(z), tr1, mech1, path)
        for name, f in funcs1.items():
            # P2 edge-midpoint coordinates are summed in a partition-dependent order, so
            # the reference values agree to round-off, not bit for bit
            err = float(np.abs(f.x.array - _exact(f)).max())
            if not err < 1e-12:
                problems.append(f"{name}: max error {err:.3g}")
        # a foreign mesh is refused, not silently interpolated
        from dolfinx import fem

        mesh2 = build_mesh(validate(case_dict(geometry={"mesh_size": "0.35 um"})),
                           MPI.COMM_SELF).mesh
        other = SimpleNamespace(comm=MPI.COMM_SELF,
                                w=fem.Function(fem.functionspace(mesh2, ("Lagrange", 2))),
                                s=fem.Function(fem.functionspace(mesh2, ("Lagrange", 2))))
        try:
            with np.load(path) as z:
                ck.restore_state(dict(z), other, None, path)
            problems.append("a checkpoint of another mesh was accepted")
        except ck.CheckpointError as exc:
            if "does not match" not in str(exc):
                problems.append(str(exc))
        # mechanics without the residual-eigenstrain field (the default: the exact zero)
        # neither stores it nor drops a nonzero stored one silently; a zero one restores
        bare = SimpleNamespace(u=funcs1["u"], eps_res=None)
        if "eps_res__values" in ck.gather_state(tr1, bare):
            problems.append("eps_res stored without the field")
        with np.load(path) as z:
            arrays1 = dict(z)
        try:
            ck.restore_state(arrays1, tr1, bare, path)
            problems.append("a nonzero eps_res was dropped silently")
        except ck.CheckpointError as exc:
            if "residual eigenstrain" not in str(exc):
                problems.append(str(exc))
        arrays1["eps_res__values"] = np.zeros_like(arrays1["eps_res__values"])
        ck.restore_state(arrays1, tr1, bare, path)
    assert comm.bcast(problems, root=0) == []


@needs2
def test_two_way_run_restarted_on_one_rank_matches(tmp_path):
    """Two-way coupling: the stress potential s is part of the restored state."""
    comm = MPI.COMM_WORLD
    case = validate(case_dict(
        geometry={"shape": "ellipsoid", "semi_axes": ["1 um", "0.8 um", "0.7 um"],
                  "mesh_size": "0.3 um", "surface_mesh_size": "0.2 um"},
        orientation={"euler_deg": [20, 50, 10]}, material={"name": "NM91"},
        conditions={"initial_x": 0.6}, mechanics={"coupling": "two-way"},
        protocol=[{"type": "charge", "current": "400 mA/g", "until_time": "40 s"}],
        output={"checkpoint_every": 2}))
    full = run_simulation(case, None, comm).rows
    out = _shared_tmp(tmp_path) / "run"
    if comm.rank == 0:
        create_output_dir(out, False)
    comm.barrier()
    first = run_simulation(case, out, comm, max_steps=3)
    assert first.status == "max_steps"
    rows, info = None, None
    if comm.rank == 0:
        ckpt = ck.find_checkpoint(out)
        written_on = ck.load_checkpoint(ckpt, with_arrays=False)[0]["ranks"]
        second = run_simulation(case, out, MPI.COMM_SELF, restart=ckpt)
        info = (written_on, second.status, second.steps)
        with open(out / "timeseries.csv", newline="") as fh:
            rows = list(csv.DictReader(fh))
    rows, info = comm.bcast((rows, info), root=0)
    assert info == (2, "completed", len(full) - 1)
    assert len(full) > 4
    # the same states to the Newton tolerance and the same Newton iterations: the
    # checkpoint carries the monolithic predictor's history (solver/monolithic.py,
    # predictor_state), so the first step after the restart starts from the same guess
    assert_rows_match(full, rows)
