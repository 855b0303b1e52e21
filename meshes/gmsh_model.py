"""The Gmsh OCC model of a :class:`meshes.spec.MeshSpec`: particle, grains, voids, tags.

Runs on one rank.  One ``occ.fragment`` of the particle with every Voronoi cell and every
void sphere gives conforming grain interfaces; pieces outside the particle or inside a
void are removed.  Physical groups (the names case files and the solver use):

* cells: ``particle`` (tag 1) for a single crystal, ``grain_<i>`` (tag i = 1..N) for a
  polycrystal; the cell tag is the grain id (so grain 1 keeps PARTICLE_TAG = 1);
* facets: ``surface`` (tag 1 = SURFACE_TAG, the electrolyte interface), ``void_surface``
  (tag 2: blocked for Li and traction-free unless the case says otherwise), and one
  group ``grain_boundary_<i>_<j>`` (i < j, tags from GRAIN_BOUNDARY_TAG0 = 1000 up) per
  pair of touching grains, so every grain-boundary facet carries the pair of grains it
  separates; the name ``grain_boundary`` stands for all of them (ParticleMesh.facet_ids).
"""

from __future__ import annotations

import numpy as np

from meshes.polyhedra import Polyhedron, voronoi_cells
from meshes.spec import MeshSpec

PARTICLE_TAG = 1
SURFACE_TAG = 1
VOID_SURFACE_TAG = 2
BASAL_SURFACE_TAG = 3  # faceted crystals: planar facets normal to the c-axis, (003)
GRAIN_BOUNDARY_TAG0 = 1000


def occ_polyhedron(poly: Polyhedron) -> int:
    """An OCC volume from planar faces (shared points and edges); returns its tag."""
    import gmsh

    occ = gmsh.model.occ
    pts = [occ.addPoint(*p) for p in poly.vertices]
    lines: dict[tuple[int, int], int] = {}
    loops = []
    for f in poly.faces:
        curve = []
        for a, b in zip(f, f[1:] + f[:1], strict=True):
            key = (min(a, b), max(a, b))
            if key not in lines:
                lines[key] = occ.addLine(pts[key[0]], pts[key[1]])
            curve.append(lines[key] if a == key[0] else -lines[key])
        loops.append(occ.addPlaneSurface([occ.addCurveLoop(curve)]))
    return occ.addVolume([occ.addSurfaceLoop(loops)])


def _particle(spec: MeshSpec) -> int:
    import gmsh

    occ = gmsh.model.occ
    if spec.polyhedron is not None:
        vol = occ_polyhedron(spec.polyhedron)
        if spec.edge_radius > 0:
            occ.synchronize()
            edges = [t for _, t in gmsh.model.getEntities(1)]  # only this solid exists yet
            out = occ.fillet([vol], edges, [spec.edge_radius], removeVolume=True)
            vol = out[0][1]
        return vol
    vol = occ.addSphere(0.0, 0.0, 0.0, 1.0)
    occ.dilate([(3, vol)], 0.0, 0.0, 0.0, *spec.semi_axes)
    return vol


def build_model(spec: MeshSpec) -> dict:
    """Create geometry, physical groups and mesh-size fields; generate the mesh.

    Returns a summary: number of grains, grain-boundary pairs, OCC (CAD) volume.
    """
    import gmsh

    occ = gmsh.model.occ
    particle = _particle(spec)
    tools: list[tuple[int, int]] = []
    cell_ids: list[int] = []
    if spec.seeds is not None:
        box = np.abs(spec.semi_axes) * 1.05 + 1e-3
        for cell in voronoi_cells(spec.seeds, -box, box):
            tools.append((3, occ_polyhedron(cell)))
            cell_ids.append(len(cell_ids) + 1)
    n_cells = len(tools)
    if spec.void_centres is not None:
        for c in spec.void_centres:
            tools.append((3, occ.addSphere(*c, spec.void_radius)))
    grain_of: dict[int, int] = {}
    if tools:
        _, maps = occ.fragment([(3, particle)], tools)
        inside = {t for d, t in maps[0] if d == 3}
        in_void = {t for m in maps[1 + n_cells:] for d, t in m if d == 3}
        for k, m in enumerate(maps[1:1 + n_cells]):
            for d, t in m:
                if d == 3 and t in inside and t not in in_void:
                    grain_of[t] = cell_ids[k]
        if n_cells == 0:
            grain_of = {t: 1 for t in inside - in_void}
        occ.synchronize()
        drop = [(3, t) for _, t in gmsh.model.getEntities(3) if t not in grain_of]
        if drop:
            occ.remove(drop, recursive=True)
    else:
        grain_of = {particle: 1}
    occ.synchronize()
    volumes = [t for _, t in gmsh.model.getEntities(3)]
    missing = sorted(set(range(1, spec.num_grains + 1)) - set(grain_of.values()))
    if missing:
        raise RuntimeError(f"grain(s) {missing} lie outside the particle or inside voids")
    cad_volume = sum(occ.getMass(3, t) for t in volumes)

    # physical groups
    if spec.seeds is None:
        gmsh.model.addPhysicalGroup(3, volumes, PARTICLE_TAG, name="particle")
    else:
        for g in range(1, spec.num_grains + 1):
            gmsh.model.addPhysicalGroup(3, [t for t in volumes if grain_of[t] == g], g,
                                        name=f"grain_{g}")
    outer, voids, basal, pairs = [], [], [], {}
    for _, s in gmsh.model.getEntities(2):
        up, _ = gmsh.model.getAdjacencies(2, s)
        up = [v for v in up if v in grain_of]
        if len(up) == 2:
            gi, gj = sorted(grain_of[v] for v in up)
            if gi != gj:
                pairs.setdefault((gi, gj), []).append(s)
        elif len(up) == 1:
            if _on_void(spec, s):
                voids.append(s)
            elif _is_basal(spec, s):
                basal.append(s)
            else:
                outer.append(s)
    gmsh.model.addPhysicalGroup(2, outer, SURFACE_TAG, name="surface")
    if basal:
        gmsh.model.addPhysicalGroup(2, basal, BASAL_SURFACE_TAG, name="basal_surface")
    if voids:
        gmsh.model.addPhysicalGroup(2, voids, VOID_SURFACE_TAG, name="void_surface")
    for k, ((gi, gj), surfs) in enumerate(sorted(pairs.items())):
        gmsh.model.addPhysicalGroup(2, surfs, GRAIN_BOUNDARY_TAG0 + k,
                                    name=f"grain_boundary_{gi}_{gj}")

    _size_fields(spec, outer + basal, voids, [s for v in pairs.values() for s in v])
    gmsh.option.setNumber("General.NumThreads", 1)  # deterministic meshes
    gmsh.option.setNumber("Mesh.Algorithm3D", 10)  # HXT
    gmsh.option.setNumber("Mesh.Optimize", 1)
    gmsh.model.mesh.generate(3)
    if spec.order > 1:
        gmsh.model.mesh.setOrder(spec.order)
    if gmsh.model.mesh.getElementTypes(3).size == 0:
        raise RuntimeError("no tetrahedra generated")
    return {"grains": spec.num_grains, "grain_boundary_pairs": len(pairs),
            "cad_volume_um3": cad_volume}


def _is_basal(spec: MeshSpec, surface: int) -> bool:
    """Whether an outer surface is a planar facet normal to the crystal c-axis ((003))."""
    import gmsh

    if spec.c_axis is None or gmsh.model.getType(2, surface) != "Plane":
        return False
    lo, hi = gmsh.model.getParametrizationBounds(2, surface)
    n = np.asarray(gmsh.model.getNormal(surface, list(0.5 * (np.asarray(lo)
                                                             + np.asarray(hi)))))
    c = np.asarray(spec.c_axis, dtype=float)
    return bool(abs(abs(n @ c) / (np.linalg.norm(n) * np.linalg.norm(c)) - 1.0) < 1e-6)


def _on_void(spec: MeshSpec, surface: int) -> bool:
    """Whether a surface lies on one of the void spheres (its underlying surface does)."""
    import gmsh

    if spec.void_centres is None:
        return False
    lo, hi = gmsh.model.getParametrizationBounds(2, surface)
    p = np.asarray(gmsh.model.getValue(2, surface, list(0.5 * (np.asarray(lo) +
                                                                 np.asarray(hi)))))
    d = np.abs(np.linalg.norm(spec.void_centres - p, axis=1) - spec.void_radius)
    return bool(d.min() < 1e-6 * max(1.0, spec.void_radius))


def _size_fields(spec: MeshSpec, outer: list[int], voids: list[int], gbs: list[int]) -> None:
    """Element size: surface refinement, void surfaces, grain boundaries (Min of fields)."""
    import gmsh

    field = gmsh.model.mesh.field
    parts = []

    def threshold(surfaces: list[int], size_min: float, dist_max: float) -> None:
        dist = field.add("Distance")
        field.setNumbers(dist, "SurfacesList", surfaces)
        # sampling^2 points per surface: 200 on a single sphere (as before grains existed),
        # fewer on many patches so the distance queries stay fast
        field.setNumber(dist, "Sampling", max(30, int(200 / np.sqrt(len(surfaces)))))
        thr = field.add("Threshold")
        field.setNumber(thr, "InField", dist)
        field.setNumber(thr, "SizeMin", size_min)
        field.setNumber(thr, "SizeMax", spec.h_bulk)
        field.setNumber(thr, "DistMin", 0.0)
        field.setNumber(thr, "DistMax", max(dist_max, 1e-9))
        parts.append(thr)

    threshold(outer, spec.h_surf, spec.depth)
    if voids:
        # voids are resolved with at least ~4 elements per radius (volume accuracy)
        threshold(voids, min(spec.h_surf, spec.void_radius / 4.0), spec.depth)
    if gbs and spec.h_gb is not None:
        threshold(gbs, spec.h_gb, 2.0 * spec.h_gb)
    if len(parts) == 1:
        field.setAsBackgroundMesh(parts[0])
    else:
        mn = field.add("Min")
        field.setNumbers(mn, "FieldsList", parts)
        field.setAsBackgroundMesh(mn)
    gmsh.option.setNumber("Mesh.MeshSizeExtendFromBoundary", 0)
    gmsh.option.setNumber("Mesh.MeshSizeFromPoints", 0)
    gmsh.option.setNumber("Mesh.MeshSizeFromCurvature", 0)
