"""Laguerre (power) tessellations of a particle into many primary grains (NumPy/SciPy only).

The ``laguerre`` grain method (docs/meshes.md) does not cut the particle into polyhedra
with OpenCASCADE (one ``fragment`` of N Voronoi cells, which grows much faster than N:
measured 3 s for 100 grains, 290 s for 500 in a 6.5 um particle, before any meshing); it meshes the
particle once and gives every tetrahedron the grain that owns its centroid
(meshes/cell_grains.py).  This module holds the tessellation:

* grain sizes: equivalent diameters drawn from a log-normal distribution (median ``d50``,
  ``sigma`` = standard deviation of ln d) and scaled so that the grain volumes add up to
  the particle volume (so either the count or the median diameter follows from the other);
* seeds: random sequential addition in the particle, largest grains first, with a minimum
  spacing of ``0.5 (r_i + r_j)`` (no sliver grains);
* the grain of a point p is ``argmin_i |A_i (p - s_i)|^2 - w_i`` (power distance).
  ``A_i`` stretches grain i along the radial direction of its seed by ``aspect`` with the
  volume kept (``aspect = 1``: the ordinary Laguerre tessellation, convex cells); the
  weights ``w_i`` [um^2] are fitted on sample points so that each grain gets its target
  volume (5-10 % rms, reported as ``grain_volume_fit_rms``).

Same inputs, same tessellation (every random number comes from seeded generators).
Lengths are in the model unit (um).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

# sample points per grain for the weight fit and the junction search: enough for volume
# errors of 5-10 %, cheap enough that `chemomech validate` stays ~2 s CPU at 500 grains
SAMPLES_PER_GRAIN = 128
FIT_ITERATIONS = 40
DAMP = 0.35  # weight-update damping: neighbours move too, a full step overshoots


def lognormal_mean_cube(d50: float, sigma: float) -> float:
    """E[d^3] of a log-normal diameter with median d50 and log-standard deviation sigma."""
    return d50**3 * float(np.exp(4.5 * sigma**2))


def count_for_diameter(volume: float, d50: float, sigma: float) -> int:
    """Number of grains of median equivalent diameter d50 [um] that fill ``volume`` [um^3]."""
    return max(2, int(round(volume / (np.pi / 6.0 * lognormal_mean_cube(d50, sigma)))))


def grain_diameters(count: int, volume: float, sigma: float, seed: int) -> np.ndarray:
    """Equivalent diameters [um] of ``count`` grains, log-normal with log-std ``sigma``,
    scaled so the grain volumes add up to ``volume``; sorted largest first."""
    rng = np.random.default_rng([seed, 22])
    d = np.exp(sigma * rng.standard_normal(count)) if sigma > 0 else np.ones(count)
    d *= (volume / (np.pi / 6.0 * np.sum(d**3))) ** (1.0 / 3.0)
    return np.sort(d)[::-1]


def _in_ellipsoid(p: np.ndarray, semi: np.ndarray, scale: float = 1.0) -> np.ndarray:
    return np.sum((p / (semi * scale)) ** 2, axis=1) <= 1.0


def place_seeds(diameters: np.ndarray, semi: np.ndarray, seed: int,
                spacing: float = 0.5, batch: int = 32, max_batches: int = 12) -> np.ndarray:
    """Seed points (n, 3) in the ellipsoid, one per diameter, by random sequential
    addition: grain i keeps ``spacing (r_i + r_j)`` from every placed seed j; the spacing is
    relaxed by 10 % for a grain that finds no room in ``max_batches`` batches of draws.

    Candidates are tested a batch at a time against all placed seeds (one NumPy call per
    batch): most grains take the first batch, so the cost stays ~batch x n^2 / 2."""
    rng = np.random.default_rng([seed, 23])
    semi = np.asarray(semi, dtype=float)
    r = 0.5 * np.asarray(diameters, dtype=float)
    pts = np.empty((len(r), 3))
    for i, ri in enumerate(r):
        f, tries = spacing, 0
        while True:
            cand = (rng.random((batch, 3)) * 2.0 - 1.0) * semi
            cand = cand[_in_ellipsoid(cand, semi, 0.95)]
            if i == 0 and len(cand):
                pts[0] = cand[0]
                break
            d2 = np.sum((cand[:, None, :] - pts[None, :i, :]) ** 2, axis=2)
            ok = np.all(d2 >= (f * (ri + r[None, :i])) ** 2, axis=1)
            if ok.any():
                pts[i] = cand[np.argmax(ok)]
                break
            tries += 1
            if tries >= max_batches:
                f, tries = 0.9 * f, 0
    return pts


def sample_points(n: int, semi: np.ndarray, seed: int) -> np.ndarray:
    """About n points in the ellipsoid on a randomly shifted cubic lattice (seeded).

    A lattice counts a cell's volume with an error set by its surface (~1/n^(1/3) per
    grain), far below the 1/sqrt(n) of random points: the weights then fit the grains,
    not the sampling noise."""
    semi = np.asarray(semi, dtype=float)
    vol = 4.0 / 3.0 * np.pi * np.prod(semi)
    step = (vol / n) ** (1.0 / 3.0)
    shift = np.random.default_rng([seed, 24]).random(3) * step
    axes = [np.arange(-s - step, s + step, step) + shift[k] for k, s in enumerate(semi)]
    p = np.stack(np.meshgrid(*axes, indexing="ij"), axis=-1).reshape(-1, 3)
    return p[_in_ellipsoid(p, semi)]


@dataclass
class Tessellation:
    """A (stretched) Laguerre tessellation: seeds (n, 3) [um], weights (n,) [um^2],
    radial aspect ratio (length along the seed's radial direction / width)."""

    seeds: np.ndarray
    weights: np.ndarray
    aspect: float = 1.0

    @property
    def num_grains(self) -> int:
        return len(self.seeds)

    def _radial(self) -> np.ndarray:
        n = np.linalg.norm(self.seeds, axis=1)
        out = np.zeros_like(self.seeds)
        ok = n > 1e-9
        out[ok] = self.seeds[ok] / n[ok, None]
        return out  # a seed at the centre has no radial direction: isotropic

    def candidates(self, points: np.ndarray, k: int = 32, exact_k: bool = False,
                   chunk: int = 20_000) -> tuple[np.ndarray, np.ndarray]:
        """(indices (m, k'), stretched squared distances (m, k') [um^2]) of the k'
        Euclidean-nearest seeds of every point: the grains that can own it (k' = 2k for
        stretched grains, whose owner may lie farther, unless ``exact_k``)."""
        idx, vv, _ = self._candidates(points, k if exact_k or self.aspect == 1.0 else 2 * k,
                                      chunk)
        return idx, vv

    def _fmin(self) -> float:
        """Smallest factor of the stretched squared distance: |A v|^2 >= fmin |v|^2."""
        return min(self.aspect ** (-4.0 / 3.0), self.aspect ** (2.0 / 3.0))

    def _candidates(self, points: np.ndarray, k: int, chunk: int = 20_000,
                    lift: bool = False) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """:meth:`candidates` and the squared distance to the k-th seed: Euclidean, or
        with ``lift`` in the lifted space where seed j gets the 4th coordinate
        ``sqrt((W - w_j) / fmin)`` (W the largest weight; :meth:`assign`)."""
        from scipy.spatial import cKDTree

        k = min(k, self.num_grains)
        if lift:
            w = self.weights
            tree = cKDTree(np.column_stack([self.seeds,
                                            np.sqrt((w.max() - w) / self._fmin())]))
            dist, idx = tree.query(np.column_stack([points, np.zeros(len(points))]), k=k)
        else:
            dist, idx = cKDTree(self.seeds).query(points, k=k)
        idx = np.asarray(idx).reshape(len(points), k)
        dk2 = np.asarray(dist).reshape(len(points), k)[:, -1] ** 2
        radial = self._radial()
        a_par2 = self.aspect ** (-4.0 / 3.0)  # |A v|^2 factors: volume-preserving stretch
        a_perp2 = self.aspect ** (2.0 / 3.0)
        vv = np.empty(idx.shape)
        for s in range(0, len(points), chunk):  # chunks: (m, k, 3) temporaries in cache
            ii = idx[s:s + chunk]
            v = points[s:s + chunk, None, :] - self.seeds[ii]
            d2 = np.einsum("mkj,mkj->mk", v, v)
            if self.aspect != 1.0:
                vr = np.einsum("mkj,mkj->mk", v, radial[ii])
                d2 = a_par2 * vr**2 + a_perp2 * (d2 - vr**2)
            vv[s:s + chunk] = d2
        return idx, vv, dk2

    def owner(self, idx: np.ndarray, vv: np.ndarray) -> np.ndarray:
        """Grain index of each point from its :meth:`candidates` (least power distance)."""
        pw = vv - self.weights[idx]
        return idx[np.arange(len(idx)), np.argmin(pw, axis=1)]

    def _metric(self, g: np.ndarray) -> np.ndarray:
        """(m, 3, 3) matrices A_g^T A_g of the grains ``g`` (the stretched distance)."""
        e = self._radial()[g]
        a_par2, a_perp2 = self.aspect ** (-4.0 / 3.0), self.aspect ** (2.0 / 3.0)
        rr = e[:, :, None] * e[:, None, :]
        return a_par2 * rr + a_perp2 * (np.eye(3)[None] - rr)

    def boundary_normals(self, points: np.ndarray, gi: np.ndarray, gj: np.ndarray
                         ) -> np.ndarray:
        """Unit normals (m, 3) of the boundary between grains gi and gj (0-based) at
        ``points``, pointing from gi into gj: the gradient of the power-distance
        difference, ``M_i (p - s_i) - M_j (p - s_j)`` up to a factor 2 (the bisector
        direction ``s_j - s_i`` for unstretched grains, the plane of the Laguerre cell).

        Element faces of a grain boundary form a staircase; these are the normals of the
        surface they approximate (grain-boundary normal tractions, solver/grains.py)."""
        p = np.asarray(points, dtype=float)
        gi, gj = np.asarray(gi), np.asarray(gj)
        n = (np.einsum("mij,mj->mi", self._metric(gi), p - self.seeds[gi])
             - np.einsum("mij,mj->mi", self._metric(gj), p - self.seeds[gj]))
        return n / np.linalg.norm(n, axis=1)[:, None]

    def power(self, points: np.ndarray, k: int = 32) -> tuple[np.ndarray, np.ndarray]:
        """(candidate grains, power distances [um^2]) of every point, sorted by power."""
        idx, vv = self.candidates(points, k)
        pw = vv - self.weights[idx]
        order = np.argsort(pw, axis=1)
        return np.take_along_axis(idx, order, axis=1), np.take_along_axis(pw, order, axis=1)

    def assign(self, points: np.ndarray, k: int = 16) -> np.ndarray:
        """Grain index (0-based) of every point (m, 3): the least power distance, exactly.

        Seeds are searched in a lifted space: seed j at ``(s_j, sqrt((W - w_j)/f))`` with
        W the largest weight and f the smallest stretch factor (|A v|^2 >= f |v|^2), so
        that the lifted squared distance L_j = |p - s_j|^2 + (W - w_j)/f bounds the power
        distance from below: P_j >= f L_j - W (exact, not a bound, for unstretched grains:
        the classical lifting of a power diagram).  The k lifted-nearest seeds are tried
        first; every seed beyond the k-th has P_j >= f L_k - W, so a point whose best
        candidate beats that is decided; the others are tried again with 4k seeds."""
        points = np.asarray(points, dtype=float)
        owner = np.zeros(len(points), dtype=np.int64)
        todo = np.arange(len(points))
        fmin = self._fmin()
        wmax = float(np.max(self.weights)) if self.num_grains else 0.0
        while todo.size:
            idx, vv, dk2 = self._candidates(points[todo], k, lift=True)
            pw = vv - self.weights[idx]
            best = np.argmin(pw, axis=1)
            owner[todo] = idx[np.arange(len(idx)), best]
            if k >= self.num_grains:
                break
            certain = pw[np.arange(len(idx)), best] <= fmin * dk2 - wmax
            todo, k = todo[~certain], 4 * k
        return owner


def fit_weights(seeds: np.ndarray, target: np.ndarray, semi: np.ndarray, aspect: float,
                seed: int, iterations: int = FIT_ITERATIONS) -> tuple[Tessellation, float]:
    """Weights that give every grain its ``target`` volume [um^3] in the ellipsoid.

    Fixed-point iteration on sample points: a grain's power-cell volume grows with its
    weight, by about ``V^(1/3)`` per unit of ``w`` for a cell of volume V, so each step adds
    ``(T^(2/3) - V^(2/3))`` (damped).  Returns the tessellation and the rms relative
    volume error on the samples."""
    n = len(seeds)
    pts = sample_points(SAMPLES_PER_GRAIN * n, semi, seed)
    vol_per_pt = float(4.0 / 3.0 * np.pi * np.prod(semi)) / len(pts)
    w = (0.5 * (6.0 / np.pi * target) ** (1.0 / 3.0)) ** 2  # r_i^2: a good first guess
    tess = Tessellation(np.asarray(seeds, dtype=float), w.copy(), aspect)
    idx, vv = tess.candidates(pts)  # the seeds stay: the neighbour search is done once
    best, best_w, since = np.inf, tess.weights, 0
    for _ in range(iterations):
        got = np.bincount(tess.owner(idx, vv), minlength=n) * vol_per_pt
        err = float(np.sqrt(np.mean((got / target - 1.0) ** 2)))
        if err < best:
            best, best_w, since = err, tess.weights, 0
        else:
            since += 1
        # done when close, or when the lattice's resolution stops the fit improving
        if err < 0.03 or since >= 6:
            break
        tess.weights = tess.weights + DAMP * (target ** (2.0 / 3.0) - got ** (2.0 / 3.0))
    tess.weights = best_w
    return tess, best


def junction_points(tess: Tessellation, semi: np.ndarray, seed: int,
                    max_points: int = 20000) -> np.ndarray:
    """Points near the triple lines of the tessellation (where three grains meet): the
    sample points whose first and third power distances differ least.  Candidates for
    intergranular voids (meshes/voids.py)."""
    pts = sample_points(SAMPLES_PER_GRAIN * tess.num_grains, semi, seed + 1)
    _, pw = tess.power(pts, k=8)
    # power distances differ by ~2 delta |s_i - s_j| at a distance delta from a bisector:
    # the gap between the 1st and 3rd is small only near a triple line
    gap = pw[:, 2] - pw[:, 0]
    keep = np.argsort(gap)[:min(max_points, max(1, len(pts) // 20))]
    return pts[np.sort(keep)]


__all__ = ["Tessellation", "count_for_diameter", "fit_weights", "grain_diameters",
           "junction_points", "lognormal_mean_cube", "place_seeds", "sample_points"]
