"""Mesh cache: meshed particles as ``.npz`` arrays keyed by a hash of the geometry parameters.

A cached mesh is the :class:`meshes.arrays.MeshArrays` of the Gmsh model (nodes, tagged
elements, physical groups), so that a cache hit reads it with NumPy and never loads the
Gmsh library (meshes/arrays.py).

Key = SHA-256 of the :meth:`MeshSpec.key_dict` (every number that shapes the mesh), the
Gmsh version and :data:`GENERATOR_VERSION` (bump it whenever meshes/ changes what it
generates for the same parameters).  Folder, first match wins:

1. ``geometry.mesh_cache`` of the case (``"off"`` disables the cache),
2. the environment variable ``CHEMOMECH_MESH_CACHE`` (``"off"`` disables it),
3. ``~/.cache/chemomech/meshes``.

Only rank 0 reads and writes; a file is written to a temporary name in the same folder
and renamed, so a killed run never leaves a half-written mesh that looks complete.  A run
that made the mesh distributes the same arrays it stored, so a later hit gives the same
mesh, on any number of ranks.
"""

from __future__ import annotations

import hashlib
import json
import os
import zipfile
from pathlib import Path

from meshes.arrays import MeshArrays

GENERATOR_VERSION = "4"  # 3: basal_surface facet group; 4: .npz arrays instead of .msh
ENV = "CHEMOMECH_MESH_CACHE"


def cache_dir(setting: str | None = None) -> Path | None:
    """The cache folder, or None when caching is off (see the module docstring)."""
    value = setting or os.environ.get(ENV) or ""
    if value.strip().lower() in ("off", "none", "false", "0"):
        return None
    if value:
        return Path(value).expanduser()
    return Path.home() / ".cache" / "chemomech" / "meshes"


def gmsh_version() -> str:
    """The installed Gmsh's version, from the package metadata when there is any (so that
    a cache lookup does not load the Gmsh library), else from the module."""
    from importlib import metadata

    try:
        return metadata.version("gmsh")
    except metadata.PackageNotFoundError:  # e.g. a Gmsh module from a system package
        import gmsh

        return gmsh.__version__


def mesh_key(key_dict: dict, gmsh_version: str) -> str:
    """Hex digest naming the cached mesh."""
    payload = json.dumps({"spec": key_dict, "gmsh": gmsh_version,
                          "generator": GENERATOR_VERSION}, sort_keys=True)
    return hashlib.sha256(payload.encode()).hexdigest()[:20]


def store(folder: Path, key: str, arrays: MeshArrays, meta: dict) -> Path:
    """Write ``<key>.npz`` (the mesh arrays) and ``<key>.json`` (``meta``) atomically."""
    folder.mkdir(parents=True, exist_ok=True)
    final = folder / f"{key}.npz"
    tmp = folder / f".{key}.{os.getpid()}.tmp.npz"
    try:
        arrays.save(tmp)
        os.replace(tmp, final)
    finally:
        tmp.unlink(missing_ok=True)
    meta_tmp = folder / f".{key}.{os.getpid()}.tmp.json"
    meta_tmp.write_text(json.dumps(meta, indent=1, sort_keys=True) + "\n")
    os.replace(meta_tmp, folder / f"{key}.json")
    return final


def lookup(folder: Path | None, key: str) -> Path | None:
    """The cached ``.npz`` for ``key`` if present."""
    if folder is None:
        return None
    path = folder / f"{key}.npz"
    return path if path.is_file() else None


def load(path: Path) -> MeshArrays:
    """The mesh arrays of a cached file (OSError or ValueError if unreadable)."""
    try:
        return MeshArrays.load(path)
    except (zipfile.BadZipFile, KeyError, EOFError) as exc:
        raise ValueError(f"{path}: unreadable mesh file ({exc})") from exc


def read_meta(msh: Path) -> dict:
    """The summary stored next to a cached mesh (empty if missing or unreadable)."""
    try:
        meta = json.loads(msh.with_suffix(".json").read_text())
    except (OSError, ValueError):
        return {}
    return {k: v for k, v in meta.items() if k != "spec"}
