"""Checkpoints: rank-count independent, atomically written, refused for a different case.

A checkpoint is one ``checkpoints/ckpt_<step>.npz`` in the run folder holding

* every state function gathered on rank 0 as (dof coordinates, values) pairs, sorted by
  coordinate: Li ``w`` (the logit of x), the stress potential ``s`` (two-way coupling),
  the displacement ``u`` (with mechanics) and the residual eigenstrain ``eps_res`` (when
  the run carries it as a field: solver/mechanics.py);
* with the monolithic two-way Newton, its predictor's history: the increment of the last
  accepted step (``predictor_w``, ``predictor_s``, ``predictor_u``, keyed the same way)
  and, in the metadata, its voltage increment, dt, current, temperature and segment time
  (solver/monolithic.py, ``predictor_state``);
* a JSON metadata record (key ``__meta__``): time, accepted steps, protocol step index,
  time and charge passed within the protocol step, the next trial dt, total charge,
  Li that left, the last voltage slope, the voltage, the protocol-step ends so far, the
  field outputs so far and the physics hash of the case.  Together with the functions
  this is the whole state of the time loop, so a restarted run takes the same decisions
  (Newton iterations included: the time-step control reads them) as an uninterrupted one.

Keying by dof coordinates makes the file independent of the rank count: the mesh is
regenerated deterministically (Gmsh on rank 0 with the same parameters), so the vertex,
edge-midpoint (P2) and cell-midpoint (DG0) coordinates are the same on any number of
ranks while the dof numbering is not.  On reading, every rank matches its own dofs
(ghosts included) to the stored coordinates with a k-d tree; a dof without a stored
partner within 1e-9 of the particle size means the mesh changed (Gmsh version, mesh
parameters) and the restart is refused.  Gathering on rank 0 costs O(global dofs)
memory there, fine for particle meshes of up to a few million dofs.

Atomic writing: rank 0 writes ``ckpt_<step>.npz.tmp``, fsyncs it and renames it to its
final name; only then is the ``latest`` pointer file replaced (again tmp + rename) and
older checkpoints beyond the newest ``KEEP`` are deleted.  A process killed at any point
leaves ``latest`` naming a complete checkpoint; a ``.tmp`` left behind is ignored.

Physics hash: SHA-256 of the case in SI units (``Case.values`` and the protocol), without
the keys that cannot change the trajectory beyond solver tolerance: ``[run]`` (name,
output, description), ``[output]`` (what is written, how often, checkpoint frequency),
``numerics.linear_solver``/``numerics.petsc`` and ``mechanics.linear_solver``/
``mechanics.petsc`` (so a restart on more ranks may switch MUMPS for GAMG).  Units do not
matter ("2 um" and "2000 nm" hash alike: numbers enter with 12 significant digits).
Everything else (geometry, material, protocol, time-step controls, tolerances) is part
of the hash.

Only :func:`gather_state`/:func:`restore_state` touch DOLFINx; reading metadata and the
hash check import neither DOLFINx nor MPI, so the command line refuses a foreign
checkpoint before any mesh is built.
"""

from __future__ import annotations

import dataclasses
import hashlib
import io
import json
import os
import time
import zipfile
from pathlib import Path
from typing import Any

import numpy as np

from solver.config import Case

FORMAT = 1
KEEP = 2  # complete checkpoints kept on disk (the newest and one before it)
CHECKPOINT_DIR = "checkpoints"
LATEST = "latest"
# Test hook: stall (after writing half of the temporary file) when writing the checkpoint
# of this accepted step, so a test can SIGKILL the process in the middle of a write.
STALL_ENV = "CHEMOMECH_TEST_CHECKPOINT_STALL"

HASH_EXCLUDED = {"run": None, "output": None,
                 "numerics": ("linear_solver", "petsc"),
                 # linear solvers and their options change results only to solver tolerance
                 "mechanics": ("linear_solver", "petsc", "monolithic_linear_solver",
                               "monolithic_petsc")}


class CheckpointError(RuntimeError):
    """No usable checkpoint, or one made for a different case or mesh."""


def physics_hash(case: Case) -> str:
    """SHA-256 (hex) of everything in the case that changes the computed trajectory."""
    values: dict[str, Any] = {}
    for section, content in case.values.items():
        excluded = HASH_EXCLUDED.get(section, ())
        if excluded is None:
            continue
        values[section] = {k: v for k, v in content.items() if k not in excluded}
    data = {"values": values, "protocol": [dataclasses.asdict(p) for p in case.protocol]}
    text = json.dumps(_canonical(data), sort_keys=True, default=repr)
    return hashlib.sha256(text.encode()).hexdigest()


def _canonical(obj: Any) -> Any:
    """Floats to 12 significant digits: unit conversions ("1000 nm") differ in the last bit."""
    if isinstance(obj, float):
        return f"{obj:.12g}"
    if isinstance(obj, dict):
        return {k: _canonical(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_canonical(v) for v in obj]
    return obj


def checkpoint_dir(outdir: Path) -> Path:
    return Path(outdir) / CHECKPOINT_DIR


def _fsync_replace(tmp: Path, final: Path) -> None:
    os.replace(tmp, final)
    try:  # make the rename itself durable
        fd = os.open(final.parent, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
    except OSError:
        pass


def _write_bytes_atomic(path: Path, data: bytes, stall: bool = False) -> None:
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "wb") as fh:
        half = len(data) // 2
        fh.write(data[:half])
        fh.flush()
        if stall:  # test hook: the process is killed while the file is half written
            (path.parent / "STALLED").write_text(path.name + "\n")
            time.sleep(600)
        fh.write(data[half:])
        fh.flush()
        os.fsync(fh.fileno())
    _fsync_replace(tmp, path)


def write_checkpoint(outdir: Path, arrays: dict[str, np.ndarray], meta: dict[str, Any]) -> Path:
    """Write one checkpoint atomically and point ``latest`` at it (rank 0 only)."""
    d = checkpoint_dir(outdir)
    d.mkdir(parents=True, exist_ok=True)
    name = f"ckpt_{meta['step']:06d}.npz"
    meta = {"format": FORMAT, "written": time.strftime("%Y-%m-%dT%H:%M:%S"), **meta}
    buf = io.BytesIO()
    np.savez(buf, __meta__=np.array(json.dumps(meta)), **arrays)
    stall = os.environ.get(STALL_ENV, "") == str(meta["step"])
    _write_bytes_atomic(d / name, buf.getvalue(), stall=stall)
    # human-readable copy of the metadata (the .npz holds the authoritative one)
    _write_bytes_atomic(d / (name[:-4] + ".json"), (json.dumps(meta, indent=1) + "\n").encode())
    _write_bytes_atomic(d / LATEST, (name + "\n").encode())
    for old in sorted(d.glob("ckpt_*.npz"))[:-KEEP]:
        old.unlink(missing_ok=True)
        old.with_suffix(".json").unlink(missing_ok=True)
    return d / name


def _read(path: Path, with_arrays: bool = True) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    with np.load(path, allow_pickle=False) as z:  # members are read lazily
        names = z.files if with_arrays else ["__meta__"]
        arrays = {k: z[k] for k in names}
    meta = json.loads(str(arrays.pop("__meta__")))
    if meta.get("format") != FORMAT:
        raise CheckpointError(f"{path}: checkpoint format {meta.get('format')} is not "
                              f"{FORMAT}")
    return meta, arrays


def find_checkpoint(outdir: Path) -> Path | None:
    """The newest complete checkpoint: the one ``latest`` names, else the newest readable."""
    d = checkpoint_dir(outdir)
    if not d.is_dir():
        return None
    candidates = []
    try:
        candidates.append(d / (d / LATEST).read_text().strip())
    except OSError:
        pass
    candidates += sorted(d.glob("ckpt_*.npz"), reverse=True)
    for path in candidates:
        try:
            _read(path, with_arrays=False)  # complete by construction (rename); readable?
        except (OSError, ValueError, KeyError, CheckpointError, EOFError, zipfile.BadZipFile):
            continue  # damaged (a rename makes a half-written file impossible)
        return path
    return None


def load_checkpoint(path: Path, with_arrays: bool = True
                    ) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """Metadata and (unless ``with_arrays`` is false) arrays of one checkpoint."""
    try:
        return _read(Path(path), with_arrays)
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile) as exc:
        raise CheckpointError(f"{path}: unreadable checkpoint ({exc})") from None


def check_compatible(meta: dict[str, Any], case: Case, path: Path) -> None:
    """Refuse a checkpoint written for a different case (physics hash)."""
    mine = physics_hash(case)
    if meta.get("physics_hash") != mine:
        raise CheckpointError(
            f"{path}: this checkpoint was written by a different case (physics hash "
            f"{str(meta.get('physics_hash'))[:12]}, written from {meta.get('case_source')}) "
            f"than {case.source} (physics hash {mine[:12]}); only [run], [output] and the "
            "linear-solver choices may change on a restart. Start a new run (another "
            "--output, or --force) instead.")


# --------------------------------------------------------------------------- DOLFINx part
def state_functions(tr, mech) -> dict[str, Any]:
    """The functions that make the solver state (read from outside the solver classes)."""
    funcs = {"w": tr.w, "s": tr.s}
    if mech is not None:
        funcs["u"] = mech.u
        if mech.eps_res is not None:  # None: the exact zero (solver/mechanics.py)
            funcs["eps_res"] = mech.eps_res
    return funcs


def _owned(f) -> tuple[np.ndarray, np.ndarray]:
    V = f.function_space
    n = V.dofmap.index_map.size_local
    bs = V.dofmap.index_map_bs
    coords = V.tabulate_dof_coordinates()[:n]
    return coords, f.x.array[: n * bs].reshape(n, bs)


def gather_state(tr, mech, extra: dict[str, Any] | None = None
                 ) -> dict[str, np.ndarray] | None:
    """Every state function (and those in ``extra``, e.g. the monolithic predictor's
    increment) gathered on rank 0, sorted by dof coordinates (collective)."""
    return gather_functions(tr.comm, {**state_functions(tr, mech), **(extra or {})})


def gather_functions(comm, funcs: dict[str, Any]) -> dict[str, np.ndarray] | None:
    """The functions ``funcs`` (name -> function) gathered on rank 0 as (dof coordinates,
    values) pairs sorted by coordinates; None on the other ranks (collective).  Any
    physics problem's checkpoint (solver/synthesis/ too) is made of these."""
    out: dict[str, np.ndarray] = {}
    for name, f in funcs.items():
        coords, vals = _owned(f)
        cs, vs = comm.gather(coords, root=0), comm.gather(vals, root=0)
        if comm.rank == 0:
            c, v = np.concatenate(cs), np.concatenate(vs)
            order = np.lexsort(c.T[::-1])
            out[f"{name}__coords"], out[f"{name}__values"] = c[order], v[order]
    return out if comm.rank == 0 else None


def restore_state(arrays: dict[str, np.ndarray], tr, mech, path: Path,
                  funcs: dict[str, Any] | None = None) -> None:
    """Set every state function from a checkpoint, on any number of ranks (collective).

    ``funcs``: set these (name -> function) instead of the state functions."""
    if (funcs is None and mech is not None and mech.eps_res is None
            and np.any(arrays.get("eps_res__values", 0.0) != 0.0)):
        raise CheckpointError(f"{path}: the checkpoint holds a nonzero residual eigenstrain "
                              "(eps_res), which this run does not carry")
    restore_functions(arrays, tr.comm, state_functions(tr, mech) if funcs is None else funcs,
                      path)


def restore_functions(arrays: dict[str, np.ndarray], comm, funcs: dict[str, Any],
                      path: Path) -> None:
    """Set the functions ``funcs`` (name -> function) from a checkpoint's (coordinates,
    values) pairs, on any number of ranks (collective); see the module docstring."""
    from mpi4py import MPI
    from scipy.spatial import cKDTree

    for name, f in funcs.items():
        if f"{name}__values" not in arrays:
            raise CheckpointError(f"{path}: no field {name!r} (mechanics switched on?)")
        stored_c, stored_v = arrays[f"{name}__coords"], arrays[f"{name}__values"]
        if len(stored_c) > 1 and not np.any(np.abs(np.diff(stored_c, axis=0)) > 0, axis=1).all():
            # coordinates are the key: spaces with coincident dofs (DG1, ...) cannot be keyed
            raise CheckpointError(f"{path}: field {name!r} has coincident dof coordinates")
        V = f.function_space
        bs = V.dofmap.index_map_bs
        n_global = V.dofmap.index_map.size_global
        coords = V.tabulate_dof_coordinates()
        scale = float(np.abs(stored_c).max()) if stored_c.size else 1.0
        dist, idx = cKDTree(stored_c).query(coords)
        bad = int(np.count_nonzero(dist > 1e-9 * scale)) if coords.size else 0
        bad = comm.allreduce(bad + (stored_v.shape[0] != n_global or stored_v.shape[1] != bs),
                             op=MPI.SUM)
        if bad:
            raise CheckpointError(
                f"{path}: field {name!r} does not match this mesh and space "
                f"({stored_v.shape[0]} stored dofs of {stored_v.shape[1]} values, {n_global} "
                f"of {bs} now); was the mesh or the Gmsh version changed, or was the "
                "checkpoint written by an older chemomech (eps_res had 9 values per cell "
                "before it became a symmetric tensor of 6)?")
        f.x.array[:] = stored_v[idx].ravel()
        f.x.scatter_forward()
