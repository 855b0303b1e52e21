"""Convex polyhedra from half-spaces: faceted crystals and Voronoi cells (NumPy/SciPy only).

A convex polyhedron is ``{p : A p + b <= 0}`` for rows ``(A_k, b_k)``; its vertices come
from :class:`scipy.spatial.HalfspaceIntersection` and its faces are the vertex sets lying
on each plane, ordered around the face centre.  Gmsh builds the solid from these planar
faces (meshes/gmsh_model.py); the exact volume of the polytope is its convex-hull volume,
which the tests use as the analytical reference.

This module imports neither Gmsh nor DOLFINx: case validation (solver/config.py) uses it.

Crystal frame of faceted single crystals (docs/meshes.md): x_c along a1, z_c along the
crystal c-axis, so the basal (003) facets have normal ±z_c.  The solid is built in the
crystal frame and rotated by the case's orientation R (``p_sample = R p_crystal``), which
keeps the c-axis normal to the basal facets whatever the orientation.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass
class Polyhedron:
    """Vertices (n, 3) and faces (lists of vertex indices, counter-clockwise seen from
    outside) of a convex polyhedron; ``normals`` are the outward unit face normals."""

    vertices: np.ndarray
    faces: list[list[int]]
    normals: np.ndarray

    @property
    def volume(self) -> float:
        """Exact volume (divergence theorem over the planar faces)."""
        vol = 0.0
        for f in self.faces:
            p = self.vertices[f]
            for i in range(1, len(f) - 1):
                vol += np.dot(p[0], np.cross(p[i], p[i + 1])) / 6.0
        return float(vol)

    def rotated(self, R: np.ndarray) -> Polyhedron:
        """The polyhedron rotated actively by R (p -> R p)."""
        return Polyhedron(self.vertices @ R.T, self.faces, self.normals @ R.T)

    def scaled(self, s: float) -> Polyhedron:
        return Polyhedron(self.vertices * s, self.faces, self.normals)


def from_halfspaces(A: np.ndarray, b: np.ndarray, interior: np.ndarray,
                    tol: float = 1e-9) -> Polyhedron:
    """The convex polyhedron {p : A p + b <= 0}; ``interior`` must lie strictly inside.

    Planes that only touch the solid in an edge or vertex produce no face.
    """
    from scipy.spatial import HalfspaceIntersection

    A = np.asarray(A, dtype=float)
    b = np.asarray(b, dtype=float)
    norms = np.linalg.norm(A, axis=1)
    A, b = A / norms[:, None], b / norms
    hs = HalfspaceIntersection(np.column_stack([A, b]), np.asarray(interior, dtype=float))
    pts = hs.intersections
    scale = float(np.abs(pts).max())  # tolerances relative to the size
    # merge duplicate vertices (degenerate vertices where more than 3 planes meet)
    verts: list[np.ndarray] = []
    for p in pts:
        if not any(np.linalg.norm(p - q) < 1e-7 * scale for q in verts):
            verts.append(p)
    V = np.array(verts)
    faces, normals = [], []
    for k in range(len(A)):
        on = np.where(np.abs(V @ A[k] + b[k]) < 1e-7 * scale)[0]
        if on.size < 3:
            continue
        c = V[on].mean(axis=0)
        n = A[k]
        u = V[on[0]] - c
        u -= u.dot(n) * n
        u /= np.linalg.norm(u)
        w = np.cross(n, u)
        ang = np.arctan2((V[on] - c) @ w, (V[on] - c) @ u)
        order = on[np.argsort(ang)]
        ring = V[order] - c
        area = 0.5 * np.linalg.norm(np.cross(ring, np.roll(ring, -1, axis=0)).sum(axis=0))
        if area < tol * scale**2:
            continue
        faces.append([int(i) for i in order])
        normals.append(n)
    return Polyhedron(V, faces, np.array(normals))


# --------------------------------------------------------------------------- faceted shapes
def hexagonal_platelet(width: float, thickness: float) -> Polyhedron:
    """Hexagonal prism in the crystal frame: basal (003) facets at z = ±thickness/2 and six
    {1-10x}-type side facets; ``width`` is the corner-to-corner diameter (2 x side)."""
    side = 0.5 * width
    apothem = side * np.sqrt(3.0) / 2.0
    A, b = [], []
    for k in range(6):
        ang = np.pi / 6.0 + k * np.pi / 3.0  # side-facet normals; corners on the x-axis
        A.append([np.cos(ang), np.sin(ang), 0.0])
        b.append(-apothem)
    A += [[0.0, 0.0, 1.0], [0.0, 0.0, -1.0]]
    b += [-0.5 * thickness, -0.5 * thickness]
    return from_halfspaces(np.array(A), np.array(b), np.zeros(3))


def platelet_volume(width: float, thickness: float) -> float:
    """Analytical volume of :func:`hexagonal_platelet`: (3 sqrt 3 / 2) side^2 thickness."""
    return 1.5 * np.sqrt(3.0) * (0.5 * width) ** 2 * thickness


def _cubic_to_crystal() -> np.ndarray:
    """Rotation taking the cubic (rock-salt) [111] to the crystal c-axis z_c.

    The layered R-3m lattice is an ordered rock salt whose c-axis is the cubic [111]: the
    octahedron's {111} faces include the basal (003) pair, the other six are the {104}/{012}
    -type side facets of layered-oxide single crystals.
    """
    c = np.array([1.0, 1.0, 1.0]) / np.sqrt(3.0)
    a = np.array([1.0, -1.0, 0.0]) / np.sqrt(2.0)
    return np.vstack([a, np.cross(c, a), c])  # rows: crystal axes in cubic components


def truncated_octahedron(size: float, truncation: float) -> Polyhedron:
    """Octahedron {|x|+|y|+|z| <= size} (cubic frame) truncated by the six {100} planes
    |x_k| <= (1 - truncation) * size, expressed in the crystal frame (c = cubic [111]).

    truncation = 0 gives the octahedron, truncation = 1/3 the Archimedean truncated
    octahedron (square {100} facets and hexagonal {111} facets, basal pair included).
    """
    A, b = [], []
    for sx in (-1, 1):
        for sy in (-1, 1):
            for sz in (-1, 1):
                A.append(np.array([sx, sy, sz]) / np.sqrt(3.0))
                b.append(-size / np.sqrt(3.0))
    d100 = size * (1.0 - truncation)
    for k in range(3):
        for s in (-1, 1):
            e = np.zeros(3)
            e[k] = s
            A.append(e)
            b.append(-d100)
    Q = _cubic_to_crystal()
    A = np.array(A) @ Q.T  # normals in the crystal frame
    return from_halfspaces(A, np.array(b), np.zeros(3))


def scale_to_volume(poly: Polyhedron, volume: float) -> Polyhedron:
    """The polyhedron scaled about the origin to the given volume."""
    return poly.scaled((volume / poly.volume) ** (1.0 / 3.0))


# --------------------------------------------------------------------------- Voronoi cells
def voronoi_cells(seeds: np.ndarray, box_min: np.ndarray, box_max: np.ndarray
                  ) -> list[Polyhedron]:
    """Voronoi cells of ``seeds`` (n, 3) clipped to the box [box_min, box_max].

    Cell i = box ∩ {p : (p - m_ij)·(s_j - s_i) <= 0 for all j != i}, m_ij the midpoint.
    """
    seeds = np.asarray(seeds, dtype=float)
    cells = []
    for i, s in enumerate(seeds):
        A = [np.eye(3)[k] * sgn for k in range(3) for sgn in (1, -1)]
        b = [-box_max[k] if sgn > 0 else box_min[k] for k in range(3) for sgn in (1, -1)]
        for j, t in enumerate(seeds):
            if j == i:
                continue
            n = t - s
            A.append(n)
            b.append(-np.dot(0.5 * (s + t), n))
        cells.append(from_halfspaces(np.array(A), np.array(b), s))
    return cells


def random_points_in_ellipsoid(n: int, semi_axes: np.ndarray, seed: int,
                               min_spacing_factor: float = 0.6,
                               max_tries: int = 200000) -> np.ndarray:
    """n seeded points in the ellipsoid with a minimum spacing (random sequential addition).

    The spacing ``min_spacing_factor * (V/n)^(1/3)`` avoids sliver grains that a purely
    random (Poisson) tessellation produces; it is relaxed by 10 % whenever placement stalls
    so the function always returns n points.  Same seed -> same points.
    """
    rng = np.random.default_rng(seed)
    semi = np.asarray(semi_axes, dtype=float)
    vol = 4.0 / 3.0 * np.pi * np.prod(semi)
    dmin = min_spacing_factor * (vol / n) ** (1.0 / 3.0)
    pts: list[np.ndarray] = []
    tries = 0
    while len(pts) < n:
        p = (rng.random(3) * 2.0 - 1.0) * semi
        if np.sum((p / semi) ** 2) > 0.9**2:  # keep seeds off the very surface
            continue
        tries += 1
        if all(np.linalg.norm(p - q) >= dmin for q in pts):
            pts.append(p)
        if tries > max_tries // 20:
            dmin *= 0.9
            tries = 0
    return np.array(pts)


def ellipsoid_volume(semi_axes) -> float:
    return float(4.0 / 3.0 * np.pi * np.prod(np.asarray(semi_axes, dtype=float)))
