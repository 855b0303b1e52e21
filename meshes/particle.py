"""Distributed particle meshes: Gmsh on rank 0 (or the mesh cache), then DOLFINx.

Lengths are passed in SI (m) to :func:`build_particle_mesh` and in model units to
:func:`build_spec_mesh` (a :class:`meshes.spec.MeshSpec`); the mesh is built in the model
length unit ``length_unit`` (the solver uses micrometres for conditioning; see
solver/scaling.py).  Tags and physical-group names: meshes/gmsh_model.py.

A Gmsh failure is caught on rank 0, broadcast, and raised on *every* rank as
:class:`MeshBuildError` naming the parameters, before the collective ``model_to_mesh``:
no rank-local traceback, no hang.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from meshes.gmsh_model import (
    BASAL_SURFACE_TAG,
    GRAIN_BOUNDARY_TAG0,
    PARTICLE_TAG,
    SURFACE_TAG,
    VOID_SURFACE_TAG,
)
from meshes.spec import MeshSpec

log = logging.getLogger("chemomech")


class MeshBuildError(RuntimeError):
    """Gmsh could not mesh the requested geometry; the message names the parameters."""


@dataclass
class ParticleMesh:
    """A distributed particle mesh and its tags (model length unit)."""

    mesh: object  # dolfinx.mesh.Mesh
    cell_tags: object  # dolfinx.mesh.MeshTags (cell tag = grain id, from 1)
    facet_tags: object  # dolfinx.mesh.MeshTags
    physical_groups: dict
    length_unit: float  # m per model unit
    num_grains: int = 1
    # grain-boundary facet tag -> (grain i, grain j), i < j
    grain_pairs: dict[int, tuple[int, int]] = field(default_factory=dict)
    info: dict = field(default_factory=dict)  # cache hit/miss, meshing time, CAD volume
    # laguerre grains: the tessellation the grain ids come from (its boundary normals are
    # those of the surface the staircase of element faces approximates); else None
    tessellation: object | None = None

    def facet_ids(self, name: str) -> list[int]:
        """Facet tags of a physical-group name; ``grain_boundary`` means all pairs."""
        if name == "grain_boundary":
            return sorted(self.grain_pairs)
        if name in self.physical_groups:
            return [int(self.physical_groups[name][1])]
        return []

    def cell_ids(self, name: str) -> list[int]:
        """Cell tags of ``particle`` (all grains) or ``grain_<i>``."""
        if name == "particle":
            return list(range(1, self.num_grains + 1))
        return [int(self.physical_groups[name][1])] if name in self.physical_groups else []


def _groups_info(groups: dict) -> tuple[int, dict[int, tuple[int, int]]]:
    grains = sum(1 for n in groups if n.startswith("grain_") and
                 not n.startswith("grain_boundary"))
    pairs = {}
    for name, grp in groups.items():
        if name.startswith("grain_boundary_"):
            i, j = name.split("_")[2:4]
            pairs[int(grp[1])] = (int(i), int(j))
    return max(grains, 1), pairs


def build_spec_mesh(comm, spec: MeshSpec, length_unit: float = 1e-6,
                    cache: Path | None = None) -> ParticleMesh:
    """Mesh a MeshSpec (model units) on rank 0, or load it from ``cache``; distribute.

    Gmsh is loaded only when the mesh is made (a cache miss, or no cache): a cache hit
    reads NumPy arrays (meshes/arrays.py).  A cached file (a hit, or the one a miss just
    stored) is read in parallel, each rank its own block (:func:`meshes.arrays.mesh_from_file`),
    so no rank holds the whole mesh; only without a cache, or when a rank cannot see the
    cache folder (a node-local disk), rank 0 distributes the arrays it holds."""
    from meshes import cache as mcache
    from meshes.arrays import mesh_from_arrays, mesh_from_file, read_layout
    from meshes.ordering import sort_cell_vertices

    error, info, arrays, path = None, {}, None, None
    if comm.rank == 0:
        t0 = time.perf_counter()
        key = mcache.mesh_key(spec.key_dict(), mcache.gmsh_version())
        path = mcache.lookup(cache, key)
        if path is not None:
            try:
                read_layout(path)  # header, members and length: a damaged file is remade
                info = {**mcache.read_meta(path), "cache": "hit", "cache_file": str(path)}
            except (OSError, ValueError) as exc:
                log.warning("mesh cache file %s unreadable (%s); meshing anew", path, exc)
                path = None
        if path is None:
            try:
                arrays, info = _make_arrays(spec)
            except Exception as exc:  # Gmsh raises plain Exceptions
                error = f"Gmsh failed for {spec.describe()}: {exc}"
            else:
                info["cache"] = "off" if cache is None else "miss"
                if cache is not None:
                    try:
                        path = mcache.store(cache, key, arrays,
                                            {**info, "spec": spec.describe()})
                        info["cache_file"] = str(path)
                    except OSError as exc:  # a read-only cache must not stop the run
                        log.warning("mesh cache %s not writable (%s)", cache, exc)
        info["mesh_s"] = time.perf_counter() - t0
    error = comm.bcast(error, root=0)
    if error is not None:
        raise MeshBuildError(error)
    path = comm.bcast(None if path is None else str(path), root=0)
    # every rank must see the file to read its block (a cache on a node-local disk
    # does not): otherwise rank 0 distributes
    seen = path is not None and Path(path).is_file()
    parallel = comm.allreduce(int(not seen)) == 0
    if parallel:
        del arrays
        mesh, cell_tags, facet_tags, groups = mesh_from_file(comm, Path(path))
    else:
        if path is not None and comm.rank == 0:
            log.warning("mesh file %s is not visible to every rank; rank 0 distributes it",
                        path)
            if arrays is None:
                arrays = mcache.load(Path(path))
        mesh, cell_tags, facet_tags, groups = mesh_from_arrays(comm, arrays, root=0)
        del arrays
    info = comm.bcast(info, root=0)
    info["mesh_read"] = "parallel" if parallel else "rank 0"
    # the same mesh with every cell's vertices in ascending order: faster matrix
    # assembly (meshes/ordering.py)
    mesh, cell_tags, facet_tags = sort_cell_vertices(mesh, cell_tags, facet_tags)
    mesh.topology.create_connectivity(2, 3)
    grains, pairs = _groups_info(groups)
    tess = (spec.tessellation() if spec.seeds is not None and spec.grain_method == "laguerre"
            else None)
    return ParticleMesh(mesh, cell_tags, facet_tags, groups, length_unit, grains, pairs, info,
                        tess)


def _make_arrays(spec: MeshSpec):
    """Gmsh model of ``spec`` as MeshArrays, and Gmsh's time (rank 0); Gmsh finalised."""
    import gmsh

    from meshes.arrays import MeshArrays

    t0 = time.perf_counter()
    gmsh.initialize(interruptible=False)
    try:
        gmsh.option.setNumber("General.Terminal", 0)
        gmsh.model.add("particle")
        laguerre = spec.seeds is not None and spec.grain_method == "laguerre"
        # laguerre: Gmsh meshes the particle (minus voids) as one region; the grains are
        # assigned per tetrahedron below, without Gmsh (meshes/cell_grains.py)
        info = build_model_checked(replace(spec, seeds=None) if laguerre else spec)
        # Gmsh's own time, stored with a cached mesh so that a later hit reports what the
        # mesh cost to make (chemomech bench)
        info["gmsh_s"] = time.perf_counter() - t0
        arrays = MeshArrays.from_gmsh(gmsh.model)
    finally:
        gmsh.finalize()
    if laguerre:
        from meshes.cell_grains import grains_on_mesh

        t1 = time.perf_counter()
        arrays, grain_info = grains_on_mesh(arrays, spec.tessellation())
        info.update(grain_info, grain_assign_s=time.perf_counter() - t1)
        if "grain_volume_fit_rms" in spec.extra:  # how closely the grains got their sizes
            info["grain_volume_fit_rms"] = float(spec.extra["grain_volume_fit_rms"])
    return arrays, info


def build_model_checked(spec: MeshSpec) -> dict:
    """Build the Gmsh model of ``spec`` (rank 0)."""
    from meshes.gmsh_model import build_model

    return build_model(spec)


def build_particle_mesh(comm, semi_axes_m: list[float], mesh_size_m: float,
                        surface_mesh_size_m: float, refinement_depth_m: float,
                        length_unit: float = 1e-6, geometry_order: int = 1,
                        cache: Path | None = None) -> ParticleMesh:
    """Mesh an ellipsoid (a sphere when all semi-axes are equal) and distribute it.

    Args:
        comm: communicator; Gmsh runs on rank 0 only.
        semi_axes_m: semi-axes along sample x, y, z [m].
        mesh_size_m: bulk element size [m].
        surface_mesh_size_m: element size at the surface [m].
        refinement_depth_m: depth over which the size grows from the surface value to the
            bulk value [m].
        length_unit: metres per model unit of the returned mesh coordinates.
        geometry_order: 1 for straight tetrahedra, 2 for curved (P2 geometry).
        cache: mesh-cache folder (None: no cache).
    """
    semi = np.asarray(semi_axes_m, dtype=float) / length_unit
    spec = MeshSpec("ellipsoid", semi, mesh_size_m / length_unit,
                    surface_mesh_size_m / length_unit, refinement_depth_m / length_unit,
                    order=geometry_order, analytic_volume=4.0 / 3.0 * np.pi * np.prod(semi))
    return build_spec_mesh(comm, spec, length_unit, cache)


__all__ = ["BASAL_SURFACE_TAG", "GRAIN_BOUNDARY_TAG0", "PARTICLE_TAG", "SURFACE_TAG",
           "VOID_SURFACE_TAG", "MeshBuildError", "ParticleMesh", "build_particle_mesh",
           "build_spec_mesh"]
