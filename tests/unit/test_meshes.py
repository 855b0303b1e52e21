"""Particle meshes: volumes, grains, grain-boundary tags, voids, reproducibility, cache.

Volume tolerance: straight (P1) tetrahedra inscribed in a curved surface lose volume of
relative order (h_s/R)^2; with h_s <= R/8 every curved particle here is within 1.5 % of
the analytical volume.  Planar-faceted solids are meshed exactly (1e-9).
"""

import json

import numpy as np
import pytest
from mpi4py import MPI

from meshes import MeshBuildError, build_particle_mesh, build_spec_mesh
from meshes.polyhedra import (
    ellipsoid_volume,
    hexagonal_platelet,
    platelet_volume,
    random_points_in_ellipsoid,
    truncated_octahedron,
    voronoi_cells,
)
from meshes.quality import grain_volumes, mesh_volume
from meshes.spec import MeshSpec
from meshes.voids import VoidPlacementError, place_voids

COMM = MPI.COMM_SELF  # serial meshes: topology checks below look at whole meshes
R = 2.0  # um


def _polycrystal(n=8, seed=3, h=0.5, hs=0.25, voids=None, void_radius=0.0):
    semi = np.array([R, R, R])
    spec = MeshSpec("sphere", semi, h, hs, 0.5, seeds=random_points_in_ellipsoid(n, semi, seed),
                    void_centres=voids, void_radius=void_radius)
    return build_spec_mesh(COMM, spec)


@pytest.fixture(scope="module")
def poly():
    return _polycrystal()


# ------------------------------------------------------------------ pure geometry
def test_polyhedra_volumes_are_analytic_and_basal_facets_normal_to_c():
    p = hexagonal_platelet(3.0, 1.0)
    assert p.volume == pytest.approx(platelet_volume(3.0, 1.0), rel=1e-12)
    # Archimedean truncated octahedron: edge a = s sqrt2 / 3, V = 8 sqrt2 a^3 = 32 s^3 / 27
    o = truncated_octahedron(1.5, 1.0 / 3.0)
    assert o.volume == pytest.approx(32 * 1.5**3 / 27, rel=1e-12)
    assert len(o.faces) == 14
    R_ = np.linalg.qr(np.random.default_rng(0).standard_normal((3, 3)))[0]
    R_ *= np.sign(np.linalg.det(R_))
    for shape in (p, o):
        for up in ([0, 0, 1], [0, 0, -1]):  # the basal (003) pair
            assert np.min(np.linalg.norm(shape.normals - up, axis=1)) < 1e-12
        turned = shape.rotated(R_)
        assert turned.volume == pytest.approx(shape.volume, rel=1e-12)
        # the basal facets turn with the crystal: a facet normal equals the c-axis R e_z
        assert np.min(np.linalg.norm(turned.normals - R_[:, 2], axis=1)) < 1e-12


def test_voronoi_cells_tile_the_box():
    seeds = np.random.default_rng(1).random((12, 3))
    cells = voronoi_cells(seeds, np.zeros(3), np.ones(3))
    assert sum(c.volume for c in cells) == pytest.approx(1.0, rel=1e-10)


def test_voids_remove_the_stated_fraction_without_overlap():
    semi = np.array([3.0, 3.0, 2.5])
    c, r = place_voids(semi, 0.02, 0.4, "core", seed=5, gap=0.1)
    assert len(c) * 4 / 3 * np.pi * r**3 == pytest.approx(0.02 * ellipsoid_volume(semi))
    d = np.linalg.norm(c[:, None] - c[None], axis=2) + np.eye(len(c)) * 1e9
    assert d.min() >= 2 * r + 0.1
    assert np.all(np.sum((c / (0.5 * semi)) ** 2, axis=1) <= 1.0)  # in the core
    with pytest.raises(VoidPlacementError, match="without overlap"):
        place_voids(semi, 0.45, 0.8, "core", seed=5, gap=0.1)
    with pytest.raises(VoidPlacementError) as err:  # one void of 30 % cannot fit
        place_voids([3.0, 3.0, 1.5], 0.3, 1.5, "random", seed=5, gap=0.1)
    assert err.value.key == "voids.radius"


# ------------------------------------------------------------------ meshes
@pytest.mark.parametrize("semi", [(R, R, R), (R, 0.8 * R, 0.6 * R)])
def test_sphere_and_ellipsoid_volume(semi):
    pm = build_particle_mesh(COMM, [s * 1e-6 for s in semi], 0.4e-6, 0.15e-6, 0.4e-6)
    assert mesh_volume(pm.mesh) == pytest.approx(ellipsoid_volume(semi), rel=0.015)
    assert pm.num_grains == 1 and pm.facet_ids("surface") == [1]


def test_platelet_and_rounded_octahedron_volume():
    p = hexagonal_platelet(3.0, 1.0)
    spec = MeshSpec("platelet", np.abs(p.vertices).max(0), 0.4, 0.3, 0.4, polyhedron=p)
    pm = build_spec_mesh(COMM, spec)
    assert mesh_volume(pm.mesh) == pytest.approx(platelet_volume(3.0, 1.0), rel=1e-9)
    o = truncated_octahedron(1.5, 1 / 3)
    spec = MeshSpec("octahedron", np.abs(o.vertices).max(0), 0.35, 0.2, 0.4, polyhedron=o,
                    edge_radius=0.15)
    pm = build_spec_mesh(COMM, spec)
    vol = mesh_volume(pm.mesh)
    assert vol < o.volume  # rounding removes material
    assert vol == pytest.approx(pm.info["cad_volume_um3"], rel=0.015)


def test_voronoi_particle_volume_and_grains(poly):
    assert poly.num_grains == 8
    vols = grain_volumes(poly)
    assert np.all(vols > 0)
    assert vols.sum() == pytest.approx(ellipsoid_volume([R] * 3), rel=0.015)
    assert vols.sum() == pytest.approx(mesh_volume(poly.mesh), rel=1e-12)


def _cell_graph_components(mesh, cells):
    """Connected components of ``cells`` joined through shared facets."""
    mesh.topology.create_connectivity(3, 2)
    mesh.topology.create_connectivity(2, 3)
    c2f, f2c = mesh.topology.connectivity(3, 2), mesh.topology.connectivity(2, 3)
    members, seen, comps = set(cells.tolist()), set(), 0
    for start in cells:
        if start in seen:
            continue
        comps += 1
        stack = [start]
        seen.add(start)
        while stack:
            c = stack.pop()
            for f in c2f.links(c):
                for d in f2c.links(f):
                    if d in members and d not in seen:
                        seen.add(d)
                        stack.append(d)
    return comps


def test_every_grain_is_one_connected_region(poly):
    tags = poly.cell_tags
    for g in range(1, poly.num_grains + 1):
        assert _cell_graph_components(poly.mesh, tags.indices[tags.values == g]) == 1


def test_grain_boundary_facets_lie_between_exactly_two_grains(poly):
    mesh, ct, ft = poly.mesh, poly.cell_tags, poly.facet_tags
    grain = np.zeros(mesh.topology.index_map(3).size_local, dtype=int)
    grain[ct.indices] = ct.values
    f2c = mesh.topology.connectivity(2, 3)
    gb = set(poly.facet_ids("grain_boundary"))
    assert gb and all(t >= 1000 for t in gb)
    tagged = {}
    for f, t in zip(ft.indices, ft.values, strict=True):
        tagged[int(f)] = int(t)
        cells = f2c.links(f)
        if t in gb:
            assert len(cells) == 2
            pair = tuple(sorted(grain[cells]))
            assert pair[0] != pair[1] and pair == poly.grain_pairs[t]
        else:  # outer surface: exterior facets
            assert t == 1 and len(cells) == 1
    # and every facet between two different grains is tagged as grain boundary
    nf = mesh.topology.index_map(2).size_local
    for f in range(nf):
        cells = f2c.links(f)
        if len(cells) == 2 and grain[cells[0]] != grain[cells[1]]:
            assert tagged.get(f) in gb
        if len(cells) == 1:
            assert tagged.get(f) == 1


def test_same_seed_same_mesh_other_seed_other_mesh(poly):
    again = _polycrystal()
    assert np.array_equal(again.mesh.geometry.x, poly.mesh.geometry.x)
    assert np.array_equal(again.cell_tags.values, poly.cell_tags.values)
    other = _polycrystal(seed=4)
    assert (other.mesh.geometry.x.shape != poly.mesh.geometry.x.shape
            or not np.allclose(other.mesh.geometry.x, poly.mesh.geometry.x))


def test_voids_remove_the_stated_volume_fraction_within_2_percent(poly):
    semi = np.array([R, R, R])
    phi = 0.06
    centres, r = place_voids(semi, phi, 0.45, "random", seed=2, gap=0.15)
    solid = _polycrystal(voids=centres, void_radius=r)
    # against the same particle without voids, so the outer surface's P1 deficit cancels
    removed = 1.0 - mesh_volume(solid.mesh) / mesh_volume(poly.mesh)
    assert removed == pytest.approx(phi, rel=0.02)
    assert solid.facet_ids("void_surface") == [2]
    ft = solid.facet_tags
    void_facets = ft.indices[ft.values == 2]
    assert void_facets.size > 0
    # void facets lie on the void spheres
    mid = solid.mesh.geometry.x[
        __import__("dolfinx").mesh.entities_to_geometry(solid.mesh, 2, void_facets, False)
    ].mean(axis=1)
    dist = np.min(np.linalg.norm(mid[:, None] - centres[None], axis=2), axis=1)
    assert np.all(np.abs(dist - r) < 0.05 * r)


def test_mesh_cache_hit_gives_the_same_mesh(tmp_path):
    semi = [1.5e-6, 1.5e-6, 1.2e-6]
    first = build_particle_mesh(COMM, semi, 0.5e-6, 0.3e-6, 0.4e-6, cache=tmp_path)
    second = build_particle_mesh(COMM, semi, 0.5e-6, 0.3e-6, 0.4e-6, cache=tmp_path)
    assert first.info["cache"] == "miss" and second.info["cache"] == "hit"
    assert np.array_equal(first.mesh.geometry.x, second.mesh.geometry.x)
    files = sorted(p.name for p in tmp_path.iterdir())
    assert len(files) == 2 and not any(".tmp" in f for f in files)
    meta = json.loads(next(tmp_path.glob("*.json")).read_text())
    assert "shape=ellipsoid" in meta["spec"]
    other = build_particle_mesh(COMM, semi, 0.45e-6, 0.3e-6, 0.4e-6, cache=tmp_path)
    assert other.info["cache"] == "miss"


def test_gmsh_failure_is_a_mesh_build_error_naming_the_parameters(monkeypatch):
    import meshes.particle as mp

    def broken(spec):
        raise Exception("OpenCASCADE boolean failed")  # what Gmsh raises

    monkeypatch.setattr(mp, "build_model_checked", broken)
    with pytest.raises(MeshBuildError, match=r"Gmsh failed for shape=ellipsoid.*"
                       r"mesh_size=0\.5 um.*boolean failed"):
        build_particle_mesh(COMM, [1e-6] * 3, 0.5e-6, 0.3e-6, 0.3e-6)


def test_meshed_platelet_basal_facets_follow_the_case_orientation():
    """spec_from_case turns the crystal: the largest boundary facets are normal to R e_z."""
    from dolfinx.mesh import entities_to_geometry

    from meshes.spec import spec_from_case
    from solver.crystal import rotation_from_euler

    Rot = rotation_from_euler(40.0, 60.0, 15.0)
    g = {"shape": "platelet", "width": 3e-6, "thickness": 0.8e-6, "mesh_size": 0.4e-6,
         "surface_mesh_size": 0.3e-6, "refinement_depth": 0.3e-6, "edge_radius": None,
         "equivalent_diameter": None, "aspect_ratio": 0.4, "truncation": 1 / 3}
    spec = spec_from_case({"geometry": g}, 1e-6, Rot)
    pm = build_spec_mesh(COMM, spec)
    # outer facets: "surface" (tag 1) and "basal_surface" (tag 3, the (003) facets)
    facets = pm.facet_tags.indices[np.isin(pm.facet_tags.values, [1, 3])]
    tags = pm.facet_tags.values[np.isin(pm.facet_tags.values, [1, 3])]
    p = pm.mesh.geometry.x[entities_to_geometry(pm.mesh, 2, facets, False)]
    n = np.cross(p[:, 1] - p[:, 0], p[:, 2] - p[:, 0])
    area = 0.5 * np.linalg.norm(n, axis=1)
    n /= 2 * area[:, None]
    basal = np.abs(n @ Rot[:, 2]) > 1 - 1e-9
    # two basal hexagons: area 2 x (3 sqrt3 / 2) (w/2)^2
    assert area[basal].sum() == pytest.approx(2 * 1.5 * np.sqrt(3) * 1.5**2, rel=1e-9)
    assert np.array_equal(basal, tags == 3)  # exactly those facets are basal_surface
    assert mesh_volume(pm.mesh) == pytest.approx(platelet_volume(3.0, 0.8), rel=1e-9)


def _gb_facet_size(pm) -> float:
    """Mean edge length of the grain-boundary triangles."""
    from dolfinx.mesh import entities_to_geometry

    ft = pm.facet_tags
    facets = ft.indices[np.isin(ft.values, pm.facet_ids("grain_boundary"))]
    p = pm.mesh.geometry.x[entities_to_geometry(pm.mesh, 2, facets, False)]
    return float(np.mean([np.linalg.norm(p[:, i] - p[:, (i + 1) % 3], axis=1).mean()
                          for i in range(3)]))


def test_grain_boundary_mesh_size_refines_the_interfaces(poly):
    semi = np.array([R, R, R])
    spec = MeshSpec("sphere", semi, 0.5, 0.25, 0.5, h_gb=0.2,
                    seeds=random_points_in_ellipsoid(8, semi, 3))
    fine = build_spec_mesh(COMM, spec)
    coarse_size, fine_size = _gb_facet_size(poly), _gb_facet_size(fine)
    assert coarse_size > 0.3  # bulk 0.5, surface 0.25 where interfaces meet the surface
    assert fine_size < 0.25  # grain_boundary_mesh_size 0.2
    assert fine.grain_pairs == poly.grain_pairs  # same tessellation
