"""Gmsh geometry generators for cathode particles (single crystals now; grains and voids next).

Every generator builds the Gmsh model on one rank and returns a distributed DOLFINx mesh
with named physical groups: cell group ``particle`` and facet group ``surface``.
"""

from meshes.particle import PARTICLE_TAG, SURFACE_TAG, ParticleMesh, build_particle_mesh

__all__ = ["PARTICLE_TAG", "SURFACE_TAG", "ParticleMesh", "build_particle_mesh"]
