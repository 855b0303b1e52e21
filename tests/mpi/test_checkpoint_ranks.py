"""Under `mpiexec -n 2`: distributed checkpoints written on 2 ranks restore exactly on 1 and
2 ranks; format-1 (gathered) checkpoints still load."""

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


def _legacy_file(funcs: dict, path: Path, comm) -> None:
    """A format-1 checkpoint (gathered on rank 0, keyed by dof coordinates), as the
    chemomech before the distributed checkpoints wrote it."""
    import json

    out = {}
    for name, f in funcs.items():
        V = f.function_space
        n, bs = V.dofmap.index_map.size_local, V.dofmap.index_map_bs
        cs = comm.gather(V.tabulate_dof_coordinates()[:n], root=0)
        vs = comm.gather(f.x.array[: n * bs].reshape(n, bs), root=0)
        if comm.rank == 0:
            c, v = np.concatenate(cs), np.concatenate(vs)
            order = np.lexsort(c.T[::-1])
            out[f"{name}__coords"], out[f"{name}__values"] = c[order], v[order]
    if comm.rank == 0:
        meta = {"format": 1, "step": 3, "V": 3.9}
        np.savez(path, __meta__=np.array(json.dumps(meta)), **out)
    comm.barrier()


def _errors(funcs: dict, tol: float = 1e-12) -> list[str]:
    errs = []
    for name, f in funcs.items():
        err = float(np.abs(f.x.array - _exact(f)).max())  # ghosts included
        if not err < tol:
            errs.append(f"{name}: max error {err:.3g}")
    return errs


@needs2
def test_distributed_checkpoint_restores_exactly_on_one_and_two_ranks(tmp_path):
    comm = MPI.COMM_WORLD
    tr, mech, funcs = _functions(comm)
    for f in funcs.values():
        f.x.array[:] = _exact(f)
    out = _shared_tmp(tmp_path)
    meta = {"step": 7, "ranks": comm.size, "mesh": ck.mesh_fingerprint(tr.w.function_space.mesh)}
    path = ck.write_checkpoint(out, comm, ck.field_parts(funcs), meta)
    # every rank wrote its own part; rank 0 only its share (no gather)
    sizes = [(path / f"part_{r:05d}.npz").stat().st_size for r in range(comm.size)]
    assert min(sizes) > 0.25 * max(sizes)
    with np.load(path / f"part_{comm.rank:05d}.npz") as z:  # w and s (P2) share their keys
        assert "s__keys_of" in z.files and "s__keys" not in z.files and "u__keys" in z.files
    assert ck.find_checkpoint(out) == path
    assert ck.load_checkpoint(path)[0]["parts"] == comm.size
    # the same rank count, and another partition of the same mesh on one rank
    for f in funcs.values():
        f.x.array[:] = 0.0
    reader = ck.CheckpointReader(path, comm)
    reader.check_mesh(tr.w.function_space.mesh)
    reader.restore(funcs)
    assert _errors(funcs) == []
    problems = []  # checked on rank 0, asserted on every rank (no rank left waiting)
    if comm.rank == 0:
        tr1, mech1, funcs1 = _functions(MPI.COMM_SELF)
        one = ck.CheckpointReader(path, MPI.COMM_SELF)
        one.check_mesh(tr1.w.function_space.mesh)
        one.restore(funcs1)
        problems += _errors(funcs1)
        # a foreign mesh is refused, not silently interpolated
        from dolfinx import fem

        mesh2 = build_mesh(validate(case_dict(geometry={"mesh_size": "0.35 um"})),
                           MPI.COMM_SELF).mesh
        try:
            one.check_mesh(mesh2)
            problems.append("the fingerprint of another mesh was accepted")
        except ck.CheckpointError as exc:
            if "another mesh" not in str(exc):
                problems.append(str(exc))
        try:
            one.restore({"w": fem.Function(fem.functionspace(mesh2, ("Lagrange", 2)))})
            problems.append("a checkpoint of another mesh was accepted")
        except ck.CheckpointError as exc:
            if "does not match" not in str(exc):
                problems.append(str(exc))
    assert comm.bcast(problems, root=0) == []


@needs2
def test_format_1_checkpoint_still_loads_on_two_ranks(tmp_path):
    comm = MPI.COMM_WORLD
    tr, mech, funcs = _functions(comm)
    for f in funcs.values():
        f.x.array[:] = _exact(f)
    path = _shared_tmp(tmp_path) / "ckpt_000003.npz"
    _legacy_file(funcs, path, comm)
    for f in funcs.values():
        f.x.array[:] = 0.0
    reader = ck.CheckpointReader(path, comm)
    assert reader.legacy and reader.meta["step"] == 3 and reader.has("eps_res")
    reader.restore(funcs)
    # P2 edge-midpoint coordinates are summed in a partition-dependent order, so the
    # coordinate-keyed values agree to round-off, not bit for bit
    assert _errors(funcs) == []
    # a newer format than this chemomech knows is refused with the file named
    if comm.rank == 0:
        (path.parent / "ckpt_000009").mkdir()
        (path.parent / "ckpt_000009" / "meta.json").write_text('{"format": 3, "parts": 1}')
        with pytest.raises(ck.CheckpointError, match="ckpt_000009: checkpoint format 3"):
            ck.load_checkpoint(path.parent / "ckpt_000009")


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
