"""Single-crystal sphere and ellipsoid particles with surface refinement.

Lengths are passed in SI (m) and the mesh is built in the model length unit
``length_unit`` (the solver uses micrometres for conditioning; see solver/scaling.py).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from mpi4py import MPI

PARTICLE_TAG = 1  # physical cell group "particle"
SURFACE_TAG = 1  # physical facet group "surface"


class MeshBuildError(RuntimeError):
    """Gmsh could not mesh the requested geometry; the message names the parameters."""


@dataclass
class ParticleMesh:
    """A distributed particle mesh and its tags (model length unit)."""

    mesh: object  # dolfinx.mesh.Mesh
    cell_tags: object  # dolfinx.mesh.MeshTags
    facet_tags: object  # dolfinx.mesh.MeshTags
    physical_groups: dict
    length_unit: float  # m per model unit


def _gmsh_particle(semi_axes: np.ndarray, h_bulk: float, h_surf: float, depth: float,
                   order: int) -> None:
    """Create the Gmsh model (model units) on the calling rank."""
    import gmsh

    occ = gmsh.model.occ
    vol = occ.addSphere(0.0, 0.0, 0.0, 1.0)
    occ.dilate([(3, vol)], 0.0, 0.0, 0.0, *semi_axes)
    occ.synchronize()
    surfaces = [s[1] for s in gmsh.model.getBoundary([(3, vol)], oriented=False)]
    gmsh.model.addPhysicalGroup(3, [vol], PARTICLE_TAG, name="particle")
    gmsh.model.addPhysicalGroup(2, surfaces, SURFACE_TAG, name="surface")

    field = gmsh.model.mesh.field
    dist = field.add("Distance")
    field.setNumbers(dist, "SurfacesList", surfaces)
    field.setNumber(dist, "Sampling", 200)
    thr = field.add("Threshold")
    field.setNumber(thr, "InField", dist)
    field.setNumber(thr, "SizeMin", h_surf)
    field.setNumber(thr, "SizeMax", h_bulk)
    field.setNumber(thr, "DistMin", 0.0)
    field.setNumber(thr, "DistMax", depth)
    field.setAsBackgroundMesh(thr)
    gmsh.option.setNumber("Mesh.MeshSizeExtendFromBoundary", 0)
    gmsh.option.setNumber("Mesh.MeshSizeFromPoints", 0)
    gmsh.option.setNumber("Mesh.MeshSizeFromCurvature", 0)
    gmsh.option.setNumber("Mesh.Algorithm3D", 10)  # HXT: fast, parallel-capable tetrahedra
    gmsh.option.setNumber("Mesh.Optimize", 1)
    gmsh.model.mesh.generate(3)
    if order > 1:
        gmsh.model.mesh.setOrder(order)


def build_particle_mesh(comm: MPI.Comm, semi_axes_m: list[float], mesh_size_m: float,
                        surface_mesh_size_m: float, refinement_depth_m: float,
                        length_unit: float = 1e-6, geometry_order: int = 1) -> ParticleMesh:
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
    """
    from dolfinx.io import gmsh as dgmsh

    semi = np.asarray(semi_axes_m, dtype=float) / length_unit
    h_bulk, h_surf = mesh_size_m / length_unit, surface_mesh_size_m / length_unit
    depth = refinement_depth_m / length_unit
    error = None
    model = None
    if comm.rank == 0:
        import gmsh

        gmsh.initialize(interruptible=False)
        gmsh.option.setNumber("General.Terminal", 0)
        gmsh.model.add("particle")
        try:
            _gmsh_particle(semi, h_bulk, h_surf, depth, geometry_order)
            if gmsh.model.mesh.getElementTypes(3).size == 0:
                raise RuntimeError("no tetrahedra generated")
        except Exception as exc:  # Gmsh raises plain Exceptions
            error = (f"Gmsh failed for semi_axes={list(semi * length_unit)} m, "
                     f"mesh_size={mesh_size_m} m, surface_mesh_size={surface_mesh_size_m} m: "
                     f"{exc}")
        model = gmsh.model
    error = comm.bcast(error, root=0)
    if error is not None:
        if comm.rank == 0:
            import gmsh

            gmsh.finalize()
        raise MeshBuildError(error)
    try:
        data = dgmsh.model_to_mesh(model, comm, 0, gdim=3)
    finally:
        if comm.rank == 0:
            import gmsh

            gmsh.finalize()
    data.mesh.topology.create_connectivity(2, 3)
    return ParticleMesh(data.mesh, data.cell_tags, data.facet_tags,
                        dict(data.physical_groups), length_unit)
