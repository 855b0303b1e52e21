"""Gmsh geometry generators for cathode particles: spheres, ellipsoids, faceted single
crystals, Voronoi polycrystals and voids (docs/meshes.md).

Every generator builds the Gmsh model on rank 0 (or reads it from the mesh cache) and
returns a distributed DOLFINx mesh with named physical groups: cell groups ``particle`` or
``grain_<i>``, facet groups ``surface``, ``basal_surface`` (planar (003) facets of faceted
crystals), ``void_surface`` and ``grain_boundary_<i>_<j>``.
Importing this package loads neither Gmsh, DOLFINx nor MPI (case validation uses it).
"""

from meshes.particle import (
    BASAL_SURFACE_TAG,
    GRAIN_BOUNDARY_TAG0,
    PARTICLE_TAG,
    SURFACE_TAG,
    VOID_SURFACE_TAG,
    MeshBuildError,
    ParticleMesh,
    build_particle_mesh,
    build_spec_mesh,
)

__all__ = ["BASAL_SURFACE_TAG", "GRAIN_BOUNDARY_TAG0", "PARTICLE_TAG", "SURFACE_TAG",
           "VOID_SURFACE_TAG", "MeshBuildError", "ParticleMesh", "build_particle_mesh",
           "build_spec_mesh"]
