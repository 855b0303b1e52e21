"""Cell vertex order (meshes/ordering.py): every cell of a built particle mesh lists its
vertices, and hence its P1 dofs, in ascending local order, and the rebuilt mesh is the
same mesh: same cells, grains, grain-boundary and surface tags, outward normals."""

import numpy as np
import pytest
import ufl
from dolfinx import fem
from mpi4py import MPI

import meshes.ordering
from meshes import build_spec_mesh
from meshes.polyhedra import random_points_in_ellipsoid
from meshes.spec import MeshSpec

R = 2.0  # um


def _spec() -> MeshSpec:
    semi = np.array([R, R, R])
    return MeshSpec("sphere", semi, 0.5, 0.25, 0.5,
                    seeds=random_points_in_ellipsoid(8, semi, 3))


def _fraction_ascending(lists: np.ndarray, comm, op=MPI.MIN) -> float:
    """Fraction of rows in ascending order, reduced over the ranks (every rank asserts
    the same value: no rank leaves a collective call behind)."""
    return comm.allreduce(float(np.mean(np.all(np.diff(lists, axis=1) > 0, axis=1))), op=op)


def _interior_area(pm, tag: int) -> float:
    """Area of this rank's owned interior facets with the tag (um^2).  Not a dS integral:
    the meshes have no ghost cells (the vertex sort keeps none), and DOLFINx refuses a dS
    integral over a facet on the partition boundary, where grain-boundary facets may lie
    (whether they do depends on the partition, i.e. on how the mesh was read)."""
    from dolfinx.mesh import entities_to_geometry, exterior_facet_indices

    m = pm.mesh
    m.topology.create_connectivity(2, 3)
    n_owned = m.topology.index_map(2).size_local
    facets = pm.facet_tags.find(tag)
    facets = facets[facets < n_owned]
    facets = np.setdiff1d(facets, exterior_facet_indices(m.topology))
    if facets.size == 0:
        return 0.0
    xyz = m.geometry.x[entities_to_geometry(m, 2, facets)]
    return float(0.5 * np.linalg.norm(np.cross(xyz[:, 1] - xyz[:, 0], xyz[:, 2] - xyz[:, 0]),
                                      axis=1).sum())


def _integrals(pm) -> np.ndarray:
    """Grain volumes and first moments, and for every facet tag its exterior (ds) and
    interior area and its number of owned facets; the flux of x through the surface
    (3 V: fails if any normal pointed inwards)."""
    m, comm = pm.mesh, pm.mesh.comm
    dx = ufl.Measure("dx", m, subdomain_data=pm.cell_tags)
    ds = ufl.Measure("ds", m, subdomain_data=pm.facet_tags)
    one, x = fem.Constant(m, 1.0), ufl.SpatialCoordinate(m)
    out = []
    for g in range(1, pm.num_grains + 1):
        out += [fem.assemble_scalar(fem.form(f * dx(g))) for f in (one, x[0], x[1], x[2])]
    n_owned = m.topology.index_map(2).size_local
    owned = pm.facet_tags.indices < n_owned
    for _name, (dim, tag) in sorted(pm.physical_groups.items()):
        if dim == 2:
            out += [fem.assemble_scalar(fem.form(one * ds(tag))),
                    _interior_area(pm, tag),
                    float(np.sum(pm.facet_tags.values[owned] == tag))]
    out.append(fem.assemble_scalar(fem.form(ufl.dot(x, ufl.FacetNormal(m)) * ds)))
    return np.array([comm.allreduce(v, op=MPI.SUM) for v in out])


def check_sorted_mesh_equals_plain(comm, monkeypatch) -> None:
    spec = _spec()
    pm = build_spec_mesh(comm, spec)
    nc = pm.mesh.topology.index_map(3).size_local
    W = fem.functionspace(pm.mesh, ("Lagrange", 1))
    # the point of the rebuild: every cell (measured on 1 and 2 ranks; Gmsh's order: ~7 %)
    assert _fraction_ascending(pm.mesh.geometry.dofmaps[0][:nc], comm) == 1.0
    assert _fraction_ascending(W.dofmap.list[:nc], comm) == 1.0
    monkeypatch.setattr(meshes.ordering, "sort_cell_vertices", lambda m, c, f: (m, c, f))
    plain = build_spec_mesh(comm, spec)
    # Gmsh's order is not already ascending (else the comparison would prove nothing)
    assert _fraction_ascending(plain.mesh.geometry.dofmaps[0], comm, MPI.MAX) < 0.5
    assert (pm.mesh.topology.index_map(3).size_global
            == plain.mesh.topology.index_map(3).size_global)
    assert pm.physical_groups == plain.physical_groups
    assert pm.grain_pairs == plain.grain_pairs
    a, b = _integrals(pm), _integrals(plain)
    assert a[-1] == pytest.approx(3.0 * a[: 4 * pm.num_grains: 4].sum(), rel=1e-12)
    np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-12)


def test_cells_ascend_and_the_mesh_and_tags_are_unchanged(monkeypatch):
    check_sorted_mesh_equals_plain(MPI.COMM_SELF, monkeypatch)
