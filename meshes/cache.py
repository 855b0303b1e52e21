"""Mesh cache: Gmsh ``.msh`` files keyed by a hash of the geometry parameters.

Key = SHA-256 of the :meth:`MeshSpec.key_dict` (every number that shapes the mesh), the
Gmsh version and :data:`GENERATOR_VERSION` (bump it whenever meshes/ changes what it
generates for the same parameters).  Folder, first match wins:

1. ``geometry.mesh_cache`` of the case (``"off"`` disables the cache),
2. the environment variable ``CHEMOMECH_MESH_CACHE`` (``"off"`` disables it),
3. ``~/.cache/chemomech/meshes``.

Only rank 0 reads and writes; a file is written to a temporary name in the same folder
and renamed, so a killed run never leaves a half-written mesh that looks complete.
Reloading the ``.msh`` with Gmsh gives the same mesh on any number of ranks.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

GENERATOR_VERSION = "3"  # 3: basal_surface facet group
ENV = "CHEMOMECH_MESH_CACHE"


def cache_dir(setting: str | None = None) -> Path | None:
    """The cache folder, or None when caching is off (see the module docstring)."""
    value = setting or os.environ.get(ENV) or ""
    if value.strip().lower() in ("off", "none", "false", "0"):
        return None
    if value:
        return Path(value).expanduser()
    return Path.home() / ".cache" / "chemomech" / "meshes"


def mesh_key(key_dict: dict, gmsh_version: str) -> str:
    """Hex digest naming the cached mesh."""
    payload = json.dumps({"spec": key_dict, "gmsh": gmsh_version,
                          "generator": GENERATOR_VERSION}, sort_keys=True)
    return hashlib.sha256(payload.encode()).hexdigest()[:20]


def store(folder: Path, key: str, meta: dict) -> Path:
    """Write the current Gmsh model as ``<key>.msh`` (+ ``<key>.json``) atomically."""
    import gmsh

    folder.mkdir(parents=True, exist_ok=True)
    final = folder / f"{key}.msh"
    tmp = folder / f".{key}.{os.getpid()}.tmp.msh"
    gmsh.option.setNumber("Mesh.Binary", 1)
    gmsh.option.setNumber("Mesh.SaveAll", 0)  # only elements in physical groups
    gmsh.write(str(tmp))
    os.replace(tmp, final)
    meta_tmp = folder / f".{key}.{os.getpid()}.tmp.json"
    meta_tmp.write_text(json.dumps(meta, indent=1, sort_keys=True) + "\n")
    os.replace(meta_tmp, folder / f"{key}.json")
    return final


def lookup(folder: Path | None, key: str) -> Path | None:
    """The cached ``.msh`` for ``key`` if present."""
    if folder is None:
        return None
    path = folder / f"{key}.msh"
    return path if path.is_file() else None


def read_meta(msh: Path) -> dict:
    """The summary stored next to a cached mesh (empty if missing or unreadable)."""
    try:
        meta = json.loads(msh.with_suffix(".json").read_text())
    except (OSError, ValueError):
        return {}
    return {k: v for k, v in meta.items() if k != "spec"}
