"""Synthetic inputs with known answers for the observables (tests and users' checks).

``box_snapshot`` meshes a box with tetrahedra (six per cube, Kuhn subdivision) and attaches
fields given as functions of position, in the layout of a run's ``fields.pvd``
(postprocess.reader.Snapshot), so the forward models are verified without a solver run.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from postprocess.reader import Snapshot

# the six tetrahedra of a unit cube around its 0-7 diagonal (vertex k = bits x, y, z)
_KUHN = np.array([[0, 1, 3, 7], [0, 1, 5, 7], [0, 2, 3, 7], [0, 2, 6, 7], [0, 4, 5, 7],
                  [0, 4, 6, 7]])


def box_mesh(lo, hi, n) -> tuple[np.ndarray, np.ndarray]:
    """Points (um) and tetrahedra of the box [lo, hi] with n = (nx, ny, nz) cubes."""
    lo, hi, n = np.asarray(lo, float), np.asarray(hi, float), np.asarray(n, int)
    axes = [np.linspace(lo[d], hi[d], n[d] + 1) for d in range(3)]
    X, Y, Z = np.meshgrid(*axes, indexing="ij")
    points = np.column_stack([X.ravel(), Y.ravel(), Z.ravel()])

    def vid(i, j, k):
        return (i * (n[1] + 1) + j) * (n[2] + 1) + k

    i, j, k = np.meshgrid(np.arange(n[0]), np.arange(n[1]), np.arange(n[2]), indexing="ij")
    i, j, k = i.ravel(), j.ravel(), k.ravel()
    corners = np.stack([vid(i + (b & 1), j + ((b >> 1) & 1), k + ((b >> 2) & 1))
                        for b in range(8)], axis=1)
    tets = corners[:, _KUHN].reshape(-1, 4)
    return points, tets


def box_snapshot(lo, hi, n, *, x: float | Callable = 1.0, rotation=None,
                 elastic_strain: Callable | None = None,
                 rotation_vector: Callable | None = None, time: float = 0.0) -> Snapshot:
    """A Snapshot on a box mesh.

    x: Li fraction (number or f(points) -> (n,)); rotation: (3, 3) crystal -> sample, or
    f(cell centroids) -> (m, 3, 3); elastic_strain: f(points) -> (n, 3, 3);
    rotation_vector: f(points) -> (n, 3).
    """
    pts, tets = box_mesh(lo, hi, n)
    xv = x(pts) if callable(x) else np.full(len(pts), float(x))
    pdata: dict[str, np.ndarray] = {"x": np.asarray(xv, float)}
    if elastic_strain is not None:
        pdata["elastic_strain"] = np.asarray(elastic_strain(pts), float).reshape(-1, 9)
    if rotation_vector is not None:
        pdata["rotation_vector"] = np.asarray(rotation_vector(pts), float).reshape(-1, 3)
    R = np.eye(3) if rotation is None else rotation
    if callable(R):
        rots = np.asarray(R(pts[tets].mean(axis=1)), float)
    else:
        rots = np.broadcast_to(np.asarray(R, float), (len(tets), 3, 3))
    cdata = {"crystal_rotation": rots.reshape(-1, 9).copy(),
             "c_axis": rots[:, :, 2].copy(), "grain_id": np.ones(len(tets))}
    return Snapshot(pts, tets, pdata, cdata, time, 0)


@dataclass(frozen=True)
class LinearLattice:
    """a(x), c(x) linear in x (Vegard), for known-answer tests: c = c1 (1 + kc (x - 1))."""

    a1: float = 2.8704e-10  # m (Maerker 2019 NMC811 at x = 1)
    c1: float = 14.1918e-10  # m (Maerker 2019 NMC811 at x = 1)
    ka: float = 0.02
    kc: float = -0.03
    name: str = "linear-lattice"
    composition: str = "LiNi0.9Mn0.1O2"

    def lattice_a(self, x):
        return self.a1 * (1.0 + self.ka * (np.asarray(x, float) - 1.0))

    def lattice_c(self, x):
        return self.c1 * (1.0 + self.kc * (np.asarray(x, float) - 1.0))

    def x_for_c(self, c):
        """Inverse of lattice_c."""
        return 1.0 + (np.asarray(c, float) / self.c1 - 1.0) / self.kc
