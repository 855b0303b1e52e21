"""Checkpoints: written and read by every rank, rank-count independent, atomic.

Format 2 (this one): a checkpoint is a folder ``checkpoints/ckpt_<step>/`` of the run
holding

* ``part_<r>.npz``, one per writing rank ``r``: for every state function the values of
  the dofs that rank owns (``<name>__values``, (n, block size)) and their *keys*
  (``<name>__keys``, (n, 4), int32 where the numbers fit; a field on the same dofs as an
  earlier one stores only that field's name, ``<name>__keys_of``);
* ``meta.json``: the time-loop state (solver/protocol/state.py, RunState, whole), the
  problem's scalars (voltage, the monolithic predictor's history), the physics hash, the
  number of parts, every field's global size and block size, and a fingerprint of the
  mesh.

The state functions are Li ``w`` (the logit of x), the stress potential ``s``, the
displacement ``u``, the residual eigenstrain ``eps_res`` (when the run carries it), the
monolithic predictor's increment (``predictor_w/s/u``) and the defect fields
(``defect_eps_def``, ``defect_phi``); the two-phase (Cahn-Hilliard) transport keeps its
state in the same ``w`` and ``s`` (its chemical potential follows from ``w``).

Keys.  A dof is named by the mesh entity it sits on: the sorted *input* indices of that
entity's vertices (``mesh.geometry.input_global_indices``, the node numbers of the mesh
file Gmsh or the mesh cache gave), padded with -1: ``(v, -1, -1, -1)`` for a vertex dof
(P1, P2), ``(a, b, -1, -1)`` for an edge dof (P2), the four vertices for a cell dof
(DG0).  These do not depend on the partition or the rank count (DOLFINx renumbers dofs,
not input nodes).  Spaces with more than one dof per entity (P3, DG1) cannot be keyed
this way and are refused.  ``original_cell_index`` is not used: the cell-vertex sorting
of meshes/ordering.py rebuilds the mesh from distributed cells, which numbers them by
rank.

Writing (collective): every rank writes its part into ``ckpt_<step>.tmp/`` and fsyncs
it; after a barrier rank 0 writes ``meta.json`` there, renames the folder to its final
name (one atomic rename), then replaces the ``latest`` pointer (temp file + rename) and
deletes all but the newest ``KEEP`` checkpoints.  Nothing is gathered: rank 0 holds only
its own part and the metadata.  A process killed at any point leaves ``latest`` naming a
complete checkpoint; a ``.tmp`` folder left behind is ignored (and removed by the next
write of that step).

Reading (collective, any number of ranks ``P'``): rank ``q`` reads the parts
``q, q + P', ...``; the (key, values) pairs are sent to a *directory* rank chosen by a
hash of the key, every rank asks the directory ranks for the keys of the dofs it owns
(two all-to-all exchanges), sets them and updates its ghosts.  Memory per rank is
O(global size / P') (O(global size / P) while reading when ``P' > P``); no rank holds
the whole field.  A dof whose key is not stored, a different global size or a different
mesh fingerprint means the mesh changed (Gmsh version, mesh parameters) and the restart
is refused.

Format 1 (the checkpoints written before): one ``ckpt_<step>.npz`` gathered on rank 0,
keyed by dof coordinates.  Such files still load, on any number of ranks (every rank
reads the whole file and matches its dofs with a k-d tree, as before); an unreadable
one, or any other format, is refused with the file named.

Physics hash: SHA-256 of the case in SI units (``Case.values`` and the protocol), without
the keys that cannot change the trajectory beyond solver tolerance: ``[run]`` (name,
output, description), ``[output]`` (what is written, how often, checkpoint frequency),
``numerics.linear_solver``/``numerics.petsc`` and ``mechanics.linear_solver``/
``mechanics.petsc`` (so a restart on more ranks may switch MUMPS for GAMG).  Units do not
matter ("2 um" and "2000 nm" hash alike: numbers enter with 12 significant digits).
Everything else (geometry, material, protocol, time-step controls, tolerances) is part
of the hash.

Reading the metadata and the hash check import neither DOLFINx nor MPI, so the command
line refuses a foreign checkpoint before any mesh is built.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import shutil
import time
import zipfile
from pathlib import Path
from typing import Any

import numpy as np

from solver.config import Case

FORMAT = 2  # one folder of per-rank parts (this module's docstring)
LEGACY_FORMAT = 1  # one .npz gathered on rank 0, keyed by dof coordinates
KEEP = 2  # complete checkpoints kept on disk (the newest and one before it)
CHECKPOINT_DIR = "checkpoints"
LATEST = "latest"
META = "meta.json"
# Test hook: when writing the checkpoint of this accepted step, stall after every part is
# written and synced but before the folder is renamed into place (rank 0 writes STALLED
# into checkpoints/ first), so a test can SIGKILL the run between writing and switching.
STALL_ENV = "CHEMOMECH_TEST_CHECKPOINT_STALL"

HASH_EXCLUDED = {"run": None, "output": None,
                 "numerics": ("linear_solver", "petsc"),
                 # linear solvers and their options change results only to solver tolerance
                 "mechanics": ("linear_solver", "petsc", "monolithic_linear_solver",
                               "monolithic_petsc")}


class CheckpointError(RuntimeError):
    """No usable checkpoint, or one made for a different case or mesh."""


class CheckpointWriteError(CheckpointError):
    """A checkpoint could not be written (raised on every rank alike)."""


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


def _fsync_dir(path: Path) -> None:
    """Make a rename or a new entry in ``path`` durable (where the OS allows it)."""
    try:
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
    except OSError:
        pass


def _write_bytes_atomic(path: Path, data: bytes) -> None:
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())
    _fsync_replace(tmp, path)


def _write_npz(path: Path, arrays: dict[str, np.ndarray]) -> None:
    with open(path, "wb") as fh:
        np.savez(fh, **arrays)
        fh.flush()
        os.fsync(fh.fileno())


def _ckpt_step(path: Path) -> int:
    """Accepted step of a checkpoint from its name (ckpt_<step>[-k][.npz])."""
    return int(path.name[5:11])


def _checkpoints(d: Path) -> list[Path]:
    """Complete-looking checkpoints in ``d``, oldest first: format-2 folders and format-1
    files (``.tmp`` leftovers excluded)."""
    found = [p for p in d.glob("ckpt_*") if not p.name.endswith(".tmp")
             and (p.is_dir() or p.suffix == ".npz")]
    return sorted(found, key=lambda p: (_ckpt_step(p), p.stat().st_mtime_ns))


def _new_name(d: Path, step: int) -> str:
    """A name not used yet: a step can be checkpointed twice (max_steps, then a restart
    that stops at once), and a folder cannot be atomically replaced by a rename."""
    name, k = f"ckpt_{step:06d}", 0
    while (d / name).exists():
        k += 1
        name = f"ckpt_{step:06d}-{k}"
    return name


def _keys_and_values(fields: dict[str, tuple[np.ndarray, np.ndarray]]
                     ) -> dict[str, np.ndarray]:
    """The arrays of one part file."""
    arrays: dict[str, np.ndarray] = {}
    stored: list[tuple[str, np.ndarray]] = []
    for fname, (keys, vals) in fields.items():
        arrays[f"{fname}__values"] = np.ascontiguousarray(vals)
        # keys are most of the size (4 numbers per dof): fields on the same dofs (w, s
        # and u of P1, the predictor's increments) store them once, and as int32 where
        # the mesh-input numbers allow it
        same = next((n for n, k in stored if k is keys or (k.shape == keys.shape
                                                         and np.array_equal(k, keys))), None)
        if same is not None:
            arrays[f"{fname}__keys_of"] = np.array(same)
            continue
        stored.append((fname, keys))
        small = keys.size == 0 or int(keys.max()) < 2**31 - 1
        arrays[f"{fname}__keys"] = np.ascontiguousarray(keys, dtype=np.int32 if small
                                                        else np.int64)
    return arrays


def _raise_if_any(comm, error: str | None) -> None:
    """CheckpointWriteError on every rank if any rank failed (collective: a rank whose
    disk is full must not leave the others waiting in the next collective)."""
    errors = [e for e in comm.allgather(error) if e]
    if errors:
        raise CheckpointWriteError(f"writing a checkpoint failed: {errors[0]}"
                                   + (f" (and on {len(errors) - 1} more rank(s))"
                                      if len(errors) > 1 else ""))


def write_checkpoint(outdir: Path, comm, fields: dict[str, tuple[np.ndarray, np.ndarray]],
                     meta: dict[str, Any]) -> Path:
    """Write one checkpoint from every rank and point ``latest`` at it (collective).

    ``fields``: name -> (keys (n, 4) int64, values (n, bs)) of the dofs this rank owns
    (:func:`field_parts`); ``meta``: the JSON metadata (rank 0's copy is written).  Returns
    the checkpoint folder (on every rank); CheckpointWriteError on every rank if a rank
    could not write (the previous checkpoint stays the latest)."""
    from mpi4py import MPI

    d = checkpoint_dir(outdir)
    tmp, error = None, None
    if comm.rank == 0:
        try:
            d.mkdir(parents=True, exist_ok=True)
            name = _new_name(d, int(meta["step"]))
            tmp = d / (name + ".tmp")
            if tmp.exists():  # left by a killed write of the same step
                shutil.rmtree(tmp)
            tmp.mkdir()
        except OSError as exc:
            error = f"{d}: {exc}"
    _raise_if_any(comm, error)
    tmp = Path(comm.bcast(None if tmp is None else str(tmp), root=0))
    part = tmp / f"part_{comm.rank:05d}.npz"
    error = None
    try:
        _write_npz(part, _keys_and_values(fields))
    except OSError as exc:
        error = f"{part}: {exc}"
    # every part is on disk (fsynced) before the folder becomes visible: the exchange of
    # the outcomes is the barrier
    _raise_if_any(comm, error)
    counts = comm.allreduce(np.array([len(k) for k, _ in fields.values()], dtype=np.int64),
                            op=MPI.SUM)
    final, error = None, None
    if comm.rank == 0:
        try:
            final = _switch(d, tmp, meta, comm.size, fields, counts)
        except OSError as exc:
            error = f"{tmp}: {exc}"
    _raise_if_any(comm, error)
    return Path(comm.bcast(None if final is None else str(final), root=0))


def _switch(d: Path, tmp: Path, meta: dict[str, Any], parts: int,
            fields: dict[str, tuple[np.ndarray, np.ndarray]], counts: np.ndarray) -> Path:
    """Rank 0, every part written: the metadata, the rename, ``latest``, pruning."""
    info = {n: {"size": int(c), "bs": int(v.shape[1]) if v.ndim == 2 else 1}
            for (n, (_, v)), c in zip(fields.items(), counts, strict=True)}
    meta = {"format": FORMAT, "written": time.strftime("%Y-%m-%dT%H:%M:%S"),
            **meta, "parts": parts, "fields": info}
    _write_bytes_atomic(tmp / META, (json.dumps(meta, indent=1) + "\n").encode())
    _fsync_dir(tmp)
    if os.environ.get(STALL_ENV, "") == str(meta["step"]):
        # test hook: killed with the parts and meta written, before the switch
        (d / "STALLED").write_text(tmp.name + "\n")
        time.sleep(600)
    final = d / tmp.name[: -len(".tmp")]
    os.replace(tmp, final)
    _fsync_dir(d)
    _write_bytes_atomic(d / LATEST, (final.name + "\n").encode())
    for old in _checkpoints(d)[:-KEEP]:
        if old.is_dir():
            shutil.rmtree(old, ignore_errors=True)
        else:  # a format-1 file (and its JSON copy) of the run before an upgrade
            old.unlink(missing_ok=True)
            old.with_suffix(".json").unlink(missing_ok=True)
    for stale in d.glob("ckpt_*.tmp"):  # leftovers of killed writes of earlier steps
        if stale.is_dir() and _ckpt_step(stale) < int(meta["step"]):
            shutil.rmtree(stale, ignore_errors=True)
    return final


def _read_legacy(path: Path, with_arrays: bool) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    with np.load(path, allow_pickle=False) as z:  # members are read lazily
        names = z.files if with_arrays else ["__meta__"]
        arrays = {k: z[k] for k in names}
    meta = json.loads(str(arrays.pop("__meta__")))
    if meta.get("format") != LEGACY_FORMAT:
        raise CheckpointError(f"{path}: checkpoint format {meta.get('format')} is not one "
                              f"this chemomech reads ({LEGACY_FORMAT} or {FORMAT})")
    return meta, arrays


def _read_meta(path: Path) -> dict[str, Any]:
    """Metadata of a format-2 folder; every part present (else CheckpointError)."""
    meta = json.loads((path / META).read_text())
    if meta.get("format") != FORMAT:
        raise CheckpointError(f"{path}: checkpoint format {meta.get('format')} is not one "
                              f"this chemomech reads ({LEGACY_FORMAT} or {FORMAT})")
    missing = [j for j in range(int(meta["parts"]))
               if not (path / f"part_{j:05d}.npz").is_file()]
    if missing:
        raise CheckpointError(f"{path}: incomplete checkpoint, {len(missing)} of "
                              f"{meta['parts']} parts missing (e.g. part_{missing[0]:05d}.npz)")
    return meta


_READ_ERRORS = (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile)


def find_checkpoint(outdir: Path) -> Path | None:
    """The newest complete checkpoint: the one ``latest`` names, else the newest readable
    (format-2 folder or format-1 file)."""
    d = checkpoint_dir(outdir)
    if not d.is_dir():
        return None
    candidates = []
    try:
        candidates.append(d / (d / LATEST).read_text().strip())
    except OSError:
        pass
    candidates += _checkpoints(d)[::-1]
    for path in candidates:
        try:
            load_checkpoint(path)  # complete by construction (rename); readable?
        except CheckpointError:
            continue  # damaged (a rename makes a half-written checkpoint impossible)
        return path
    return None


def load_checkpoint(path: Path, with_arrays: bool = False
                    ) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """Metadata of one checkpoint (no MPI, no DOLFINx) and, for a format-1 file with
    ``with_arrays``, its arrays (a format-2 checkpoint's fields are read collectively by
    :class:`CheckpointReader`)."""
    path = Path(path)
    try:
        if path.is_dir():
            return _read_meta(path), {}
        return _read_legacy(path, with_arrays)
    except CheckpointError:
        raise
    except _READ_ERRORS as exc:
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


_TET_ENTITIES = None  # basix's reference tetrahedron: vertices of every sub-entity


def dof_keys(V) -> np.ndarray:
    """Keys (n_owned, 4) int64 of the dofs (blocks) this rank owns in ``V``: the sorted
    input indices of the vertices of the entity each sits on, -1 padded (docstring)."""
    import basix

    global _TET_ENTITIES
    if _TET_ENTITIES is None:
        _TET_ENTITIES = basix.topology(basix.CellType.tetrahedron)
    mesh = V.mesh
    if mesh.topology.dim != 3 or len(mesh.geometry.dofmaps[0][0]) < 4:
        raise CheckpointError("checkpoints need a tetrahedral mesh")
    dofs = V.dofmap.list
    ncells = dofs.shape[0]
    igi = np.asarray(mesh.geometry.input_global_indices, dtype=np.int64)
    # the first four geometry nodes of a cell are its vertices in reference order (the
    # order the dof layout's entities refer to)
    cv = igi[mesh.geometry.dofmaps[0][:ncells, :4]]
    n_owned = V.dofmap.index_map.size_local
    keys = np.full((n_owned, 4), -2, dtype=np.int64)
    layout = V.dofmap.dof_layout
    for dim, entities in enumerate(_TET_ENTITIES):
        for e, verts in enumerate(entities):
            local = layout.entity_dofs(dim, e)
            if not local:
                continue
            if len(local) > 1:
                raise CheckpointError(
                    f"cannot key the space of {V}: {len(local)} dofs on one entity of "
                    f"dimension {dim} (only P1, P2 and DG0 are supported)")
            k = np.full((ncells, 4), -1, dtype=np.int64)
            k[:, : len(verts)] = np.sort(cv[:, verts], axis=1)
            d = dofs[:, local[0]]
            own = d < n_owned
            keys[d[own]] = k[own]
    if np.any(keys[:, 0] == -2):
        raise CheckpointError("a dof of a checkpointed space lies in no local cell")
    return keys


def mesh_fingerprint(mesh) -> list[float]:
    """Global node and cell counts and a weighted coordinate sum: the same on any rank
    count for the same mesh file, different for another mesh (collective)."""
    from mpi4py import MPI

    comm = mesh.comm
    n_own = mesh.geometry.index_map().size_local
    igi = np.asarray(mesh.geometry.input_global_indices[:n_own], dtype=np.int64)
    x = mesh.geometry.x[:n_own]
    local = float(np.sum((x @ np.array([1.0, 2.0, 3.0])) * (igi % 97 + 1)))
    return [float(mesh.geometry.index_map().size_global),
            float(mesh.topology.index_map(3).size_global),
            comm.allreduce(local, op=MPI.SUM)]


def field_parts(funcs: dict[str, Any]) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """(keys, values) of the owned dofs of every function (for :func:`write_checkpoint`)."""
    out = {}
    # spaces shared by several functions are keyed once; the space objects are kept in
    # the cache so that their ids cannot be reused while it lives
    cache: dict[int, tuple[Any, np.ndarray]] = {}
    for name, f in funcs.items():
        V = f.function_space
        if id(V) not in cache:
            cache[id(V)] = (V, dof_keys(V))
        n, bs = V.dofmap.index_map.size_local, V.dofmap.index_map_bs
        out[name] = (cache[id(V)][1], f.x.array[: n * bs].reshape(n, bs).copy())
    return out


def _owner(keys: np.ndarray, size: int) -> np.ndarray:
    """Directory rank of every key: a 64-bit mix of its four numbers, modulo ``size``."""
    h = np.zeros(len(keys), dtype=np.uint64)
    with np.errstate(over="ignore"):
        for j in range(4):
            h = (h ^ keys[:, j].astype(np.uint64)) * np.uint64(0x9E3779B97F4A7C15)
            h ^= h >> np.uint64(29)
    return (h % np.uint64(size)).astype(np.int64)


def _exchange(comm, dest: np.ndarray, *arrays: np.ndarray) -> tuple[list[np.ndarray],
                                                                    np.ndarray]:
    """Send row i of every array to rank ``dest[i]`` (all-to-all, collective).

    Returns the received arrays (grouped by source rank) and the order that grouped
    the sent rows by destination (to put answers back)."""
    from mpi4py import MPI

    size = comm.size
    order = np.argsort(dest, kind="stable")
    scount = np.bincount(dest, minlength=size).astype(np.int64)
    rcount = np.empty(size, dtype=np.int64)
    comm.Alltoall(scount, rcount)
    out = []
    for a in arrays:
        a = np.ascontiguousarray(a[order])
        cols = int(np.prod(a.shape[1:])) if a.ndim > 1 else 1
        recv = np.empty((int(rcount.sum()), *a.shape[1:]), dtype=a.dtype)
        sc, rc = scount * cols, rcount * cols
        sd = np.concatenate([[0], np.cumsum(sc)[:-1]])
        rd = np.concatenate([[0], np.cumsum(rc)[:-1]])
        mpitype = MPI._typedict[a.dtype.char]
        comm.Alltoallv([a, (sc, sd), mpitype], [recv, (rc, rd), mpitype])
        out.append(recv)
    return out, order


def _void(keys: np.ndarray) -> np.ndarray:
    """Rows of an (n, 4) int64 array as one sortable, searchable value each."""
    return np.ascontiguousarray(keys).view(np.dtype((np.void, 32))).ravel()


class CheckpointReader:
    """The fields of one checkpoint, read collectively on any number of ranks.

    Format 2: each rank opens its share of the parts (docstring).  Format 1 (legacy):
    every rank reads the whole file and matches by dof coordinates (restore_state)."""

    def __init__(self, path: Path, comm):
        self.path, self.comm = Path(path), comm
        self.meta, self._legacy = load_checkpoint(self.path, with_arrays=not
                                                  self.path.is_dir())
        self.legacy = not self.path.is_dir()
        self._parts = []
        if not self.legacy:
            n = int(self.meta["parts"])
            self._parts = [np.load(self.path / f"part_{j:05d}.npz", allow_pickle=False)
                           for j in range(comm.rank, n, comm.size)]

    def close(self) -> None:
        """Close the part files (they are read lazily, field by field)."""
        for part in self._parts:
            part.close()
        self._parts = []

    def __enter__(self) -> CheckpointReader:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def has(self, name: str) -> bool:
        if self.legacy:
            return f"{name}__values" in self._legacy
        return name in self.meta["fields"]

    def abs_max(self, name: str) -> float:
        """Largest stored magnitude of a field (collective)."""
        from mpi4py import MPI

        if self.legacy:
            return float(np.abs(self._legacy[f"{name}__values"]).max(initial=0.0))
        local = max((float(np.abs(p[f"{name}__values"]).max(initial=0.0))
                     for p in self._parts), default=0.0)
        return self.comm.allreduce(local, op=MPI.MAX)

    def check_mesh(self, mesh) -> None:
        """Refuse a checkpoint of another mesh (fingerprint; collective)."""
        if self.legacy:
            return  # format 1: the coordinate match does it
        stored = self.meta.get("mesh")
        now = mesh_fingerprint(mesh)
        if stored is not None and not np.allclose(stored, now, rtol=1e-9, atol=0.0):
            raise CheckpointError(
                f"{self.path}: written for another mesh ({int(stored[0])} nodes, "
                f"{int(stored[1])} cells; {int(now[0])} and {int(now[1])} now, or moved "
                "nodes); was the mesh or the Gmsh version changed?")

    def restore(self, funcs: dict[str, Any]) -> None:
        """Set every function in ``funcs`` (name -> Function) from the checkpoint."""
        if self.legacy:
            restore_state(self._legacy, None, None, self.path, funcs=funcs,
                          comm=self.comm)
            return
        for name, f in funcs.items():
            self._restore_one(name, f)

    def _restore_one(self, name: str, f) -> None:
        from mpi4py import MPI

        comm, path = self.comm, self.path
        if name not in self.meta["fields"]:
            raise CheckpointError(f"{path}: no field {name!r} (mechanics switched on?)")
        info = self.meta["fields"][name]
        V = f.function_space
        n, bs = V.dofmap.index_map.size_local, V.dofmap.index_map_bs
        if info["size"] != V.dofmap.index_map.size_global or info["bs"] != bs:
            raise CheckpointError(
                f"{path}: field {name!r} does not match this mesh and space ({info['size']} "
                f"stored dofs of {info['bs']} values, {V.dofmap.index_map.size_global} of "
                f"{bs} now); was the mesh or the Gmsh version changed?")
        # 1. the stored pairs to their directory ranks
        keys = [_part_keys(p, name) for p in self._parts]
        vals = [p[f"{name}__values"].reshape(-1, bs) for p in self._parts]
        k_in = np.concatenate(keys) if keys else np.zeros((0, 4), dtype=np.int64)
        v_in = np.concatenate(vals) if vals else np.zeros((0, bs))
        (dk, dv), _ = _exchange(comm, _owner(k_in, comm.size), k_in, v_in)
        del k_in, v_in, keys, vals
        dvoid = _void(dk)
        order = np.argsort(dvoid)
        dvoid, dv = dvoid[order], dv[order]
        del dk
        # 2. ask the directory for the keys of the owned dofs, 3. answer, 4. set
        mine = dof_keys(V)
        (asked,), back = _exchange(comm, _owner(mine, comm.size), mine)
        av = _void(asked)
        pos = np.searchsorted(dvoid, av) if len(dvoid) else np.zeros(len(av), dtype=int)
        pos = np.minimum(pos, max(len(dvoid) - 1, 0))
        found = (dvoid[pos] == av) if len(dvoid) else np.zeros(len(av), dtype=bool)
        answer = np.where(found[:, None], dv[pos] if len(dv) else 0.0, np.nan)
        dest = np.repeat(np.arange(comm.size), _counts(comm, _owner(mine, comm.size)))
        (got,), _ = _exchange(comm, dest, answer)
        values = np.empty((n, bs))
        values[back] = got
        missing = comm.allreduce(int(np.count_nonzero(np.isnan(values[:, 0]))), op=MPI.SUM)
        if missing:
            raise CheckpointError(
                f"{path}: field {name!r} does not match this mesh ({missing} dofs without a "
                "stored value); was the mesh or the Gmsh version changed?")
        f.x.array[: n * bs] = values.ravel()
        f.x.scatter_forward()


def _part_keys(part, name: str) -> np.ndarray:
    """The keys of field ``name`` in one part (stored with it, or with the field that
    has the same dofs), as int64."""
    if f"{name}__keys" not in part.files:
        name = str(part[f"{name}__keys_of"])
    return part[f"{name}__keys"].astype(np.int64, copy=False)


def _counts(comm, dest: np.ndarray) -> np.ndarray:
    """How many rows each rank sent to this one in an exchange with ``dest`` (the
    answers go back in that order)."""
    scount = np.bincount(dest, minlength=comm.size).astype(np.int64)
    rcount = np.empty(comm.size, dtype=np.int64)
    comm.Alltoall(scount, rcount)
    return rcount


def restore_state(arrays: dict[str, np.ndarray], tr, mech, path: Path,
                  funcs: dict[str, Any] | None = None, comm=None) -> None:
    """Set every state function from a format-1 checkpoint's arrays (coordinates as the
    key; every rank holds them all), on any number of ranks (collective).

    ``funcs``: set these (name -> function) instead of the state functions of ``tr`` and
    ``mech``; ``comm``: the communicator (default ``tr.comm``)."""
    from mpi4py import MPI
    from scipy.spatial import cKDTree

    comm = comm if comm is not None else tr.comm
    if (funcs is None and mech is not None and mech.eps_res is None
            and np.any(arrays.get("eps_res__values", 0.0) != 0.0)):
        raise CheckpointError(f"{path}: the checkpoint holds a nonzero residual eigenstrain "
                              "(eps_res), which this run does not carry")
    for name, f in (state_functions(tr, mech) if funcs is None else funcs).items():
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
