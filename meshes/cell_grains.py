"""Grains on a conforming particle mesh: one grain id per tetrahedron (NumPy/SciPy only).

The ``laguerre`` grain method (docs/meshes.md): Gmsh meshes the particle (minus voids)
once, and this module turns that single-region mesh (:class:`meshes.arrays.MeshArrays`
with the ``particle`` group) into a polycrystal:

1. every tetrahedron gets the grain of its centroid in the tessellation
   (meshes/laguerre.py);
2. grains are made connected through faces: per grain, the largest face-connected
   component stays, every other piece (a tetrahedron whose centroid fell into the grain
   but which touches it only by an edge, or the tip of a stretched non-convex cell) joins
   the neighbouring grain it shares most faces with; repeated until every grain is one
   component (two or three passes);
3. every interior face between tetrahedra of different grains is a grain-boundary facet,
   tagged ``grain_boundary_<i>_<j>`` (tag 1000 + k, pairs sorted) as the fragment method
   tags them.

Grain boundaries therefore follow the element faces (a staircase at the element size)
rather than the tessellation's planes: docs/meshes.md measures what that costs.
"""

from __future__ import annotations

import numpy as np

from meshes.arrays import MeshArrays

GMSH_TET, GMSH_TRIANGLE = 4, 2
GRAIN_BOUNDARY_TAG0 = 1000  # as meshes/gmsh_model.py (not imported: that needs no Gmsh,
# but keeping this module free of it keeps the dependency graph flat)

_TET_FACES = np.array([[1, 2, 3], [0, 2, 3], [0, 1, 3], [0, 1, 2]])


class GrainAssignmentError(RuntimeError):
    """A grain received no element: the mesh is too coarse for the grain sizes."""


def tet_face_pairs(tets: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Interior faces of a tetrahedral mesh.

    Returns (faces (f, 3) sorted vertex indices, cell a (f,), cell b (f,)) of every face
    shared by two tetrahedra."""
    n = len(tets)
    faces = np.sort(tets[:, _TET_FACES].reshape(-1, 3), axis=1)
    owner = np.repeat(np.arange(n), 4)
    order = np.lexsort(faces.T[::-1])
    faces, owner = faces[order], owner[order]
    same = np.all(faces[1:] == faces[:-1], axis=1)
    first = np.nonzero(same)[0]
    return faces[first], owner[first], owner[first + 1]


def connect_grains(grain: np.ndarray, a: np.ndarray, b: np.ndarray,
                   max_passes: int = 50) -> tuple[np.ndarray, int]:
    """Make every grain face-connected (see the module docstring, step 2).

    ``grain`` (n,) grain index per cell, ``a``/``b`` the cells on either side of each
    interior face.  Returns the new grain array and the number of cells moved."""
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    grain = grain.copy()
    n = len(grain)
    moved = 0
    for _ in range(max_passes):
        same = grain[a] == grain[b]
        graph = coo_matrix((np.ones(int(same.sum()), dtype=np.int8), (a[same], b[same])),
                           shape=(n, n))
        ncomp, label = connected_components(graph, directed=False)
        size = np.bincount(label, minlength=ncomp)
        comp_grain = np.empty(ncomp, dtype=grain.dtype)
        comp_grain[label] = grain
        # the largest component of each grain stays
        order = np.lexsort((-size, comp_grain))
        first = np.ones(ncomp, dtype=bool)
        first[1:] = comp_grain[order[1:]] != comp_grain[order[:-1]]
        stray = np.ones(ncomp, dtype=bool)
        stray[order[first]] = False
        if not stray.any():
            return grain, moved
        # a stray piece joins the other grain it shares most faces with, counting faces
        # to kept pieces only (two strays side by side would otherwise swap grains);
        # a piece that touches only strays waits for a later pass, unless none can move
        diff = ~same
        fa = np.concatenate([a[diff], b[diff]])
        fb = np.concatenate([b[diff], a[diff]])
        sel = stray[label[fa]]
        target = _majority(label[fa[sel & ~stray[label[fb]]]],
                           grain[fb[sel & ~stray[label[fb]]]], ncomp)
        if not np.any(target[stray] >= 0):
            target = _majority(label[fa[sel]], grain[fb[sel]], ncomp)
        move = stray[label] & (target[label] >= 0)
        moved += int(move.sum())
        grain[move] = target[label[move]]
    raise GrainAssignmentError(f"grains still disconnected after {max_passes} passes")


def _majority(comp: np.ndarray, other: np.ndarray, ncomp: int) -> np.ndarray:
    """Per component, the most frequent value of ``other`` over its (comp, other) face
    pairs (-1 for a component without any)."""
    target = np.full(ncomp, -1, dtype=np.int64)
    if comp.size == 0:
        return target
    base = int(other.max()) + 1
    keys, counts = np.unique(comp.astype(np.int64) * base + other, return_counts=True)
    kc, ko = keys // base, keys % base
    best = np.lexsort((-counts, kc))
    first = np.ones(len(best), dtype=bool)
    first[1:] = kc[best[1:]] != kc[best[:-1]]
    target[kc[best[first]]] = ko[best[first]]
    return target


def grains_on_mesh(arrays: MeshArrays, tessellation) -> tuple[MeshArrays, dict]:
    """The polycrystal of a single-region particle mesh (module docstring).

    ``arrays``: P1 tetrahedra tagged ``particle`` and the outer/void surface triangles.
    Returns the new arrays (cell tag = grain id 1..N, grain-boundary facet groups added)
    and a summary (grains, grain-boundary pairs and facets, cells moved to connect)."""
    gtype, tets, _ = arrays.elements[3]
    if gtype != GMSH_TET:
        raise ValueError("the laguerre grain method needs straight (P1) tetrahedra")
    centroids = arrays.x[tets].mean(axis=1)
    grain = tessellation.assign(centroids)
    faces, a, b = tet_face_pairs(tets)
    grain, moved = connect_grains(grain, a, b)
    n = tessellation.num_grains
    counts = np.bincount(grain, minlength=n)
    if np.any(counts == 0):
        empty = (np.nonzero(counts == 0)[0] + 1).tolist()
        raise GrainAssignmentError(f"grain(s) {empty[:10]} hold no element: the mesh is too "
                                   "coarse for the grain sizes (use a smaller mesh_size)")
    gb = grain[a] != grain[b]
    gi, gj = np.minimum(grain[a[gb]], grain[b[gb]]), np.maximum(grain[a[gb]], grain[b[gb]])
    pair_key = gi.astype(np.int64) * n + gj
    pairs, pair_index = np.unique(pair_key, return_inverse=True)
    gb_tags = (GRAIN_BOUNDARY_TAG0 + pair_index).astype(np.int32)

    groups = {name: g for name, g in arrays.physical_groups.items() if g[0] != 3}
    groups.update({f"grain_{g}": (3, g) for g in range(1, n + 1)})
    for k, key in enumerate(pairs):
        groups[f"grain_boundary_{key // n + 1}_{key % n + 1}"] = (2, GRAIN_BOUNDARY_TAG0 + k)
    elements = dict(arrays.elements)
    elements[3] = (gtype, tets, (grain + 1).astype(np.int32))
    if 2 in arrays.elements:
        ttype, tris, ttags = arrays.elements[2]
        elements[2] = (ttype, np.vstack([tris, faces[gb]]),
                       np.concatenate([ttags, gb_tags]).astype(np.int32))
    else:
        elements[2] = (GMSH_TRIANGLE, faces[gb], gb_tags)
    info = {"grains": n, "grain_boundary_pairs": len(pairs),
            "grain_boundary_facets": int(gb.sum()), "cells_moved_to_connect": moved,
            "smallest_grain_cells": int(counts.min())}
    return MeshArrays(arrays.x, elements, groups), info


__all__ = ["GrainAssignmentError", "connect_grains", "grains_on_mesh", "tet_face_pairs"]
