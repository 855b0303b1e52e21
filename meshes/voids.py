"""Spherical voids (synthesis porosity) placed in a particle, reproducibly (NumPy only).

Void radius and volume fraction are given; the number of voids is the nearest integer
``n = round(phi V / v)`` (at least 1) and the radius is then adjusted to
``r = (phi V / (n 4/3 pi))^(1/3)`` so that the voids remove exactly the stated fraction
of the particle volume V (the adjustment is at most ~26 % for n = 1 and shrinks as n grows;
the run log reports the radius used).  Placements:

* ``core``: centres uniform in the core ellipsoid of ``core_fraction`` x the semi-axes
  (a porous core, as after a fast calcination ramp);
* ``random``: centres uniform in the whole particle;
* ``intergranular``: centres at grain junctions (vertices of the Voronoi tessellation
  inside the particle), i.e. pores between primary grains.

Every void keeps ``gap`` from the particle surface and from every other void; random
sequential addition with a seeded generator (same seed, same voids).  When the voids
cannot be placed, :class:`VoidPlacementError` says why (validation turns it into a
CaseError naming the key).
"""

from __future__ import annotations

import numpy as np

from meshes.polyhedra import ellipsoid_volume


class VoidPlacementError(ValueError):
    """The requested voids do not fit (too large, too many, or would overlap)."""

    def __init__(self, key: str, message: str):
        self.key = key
        super().__init__(message)


def void_count_and_radius(semi_axes, volume_fraction: float, radius: float
                          ) -> tuple[int, float]:
    """Number of voids and the adjusted radius [same length unit as the inputs]."""
    vol = ellipsoid_volume(semi_axes)
    v1 = 4.0 / 3.0 * np.pi * radius**3
    n = max(1, int(round(volume_fraction * vol / v1)))
    r = (volume_fraction * vol / (n * 4.0 / 3.0 * np.pi)) ** (1.0 / 3.0)
    return n, float(r)


def _surface_points(semi: np.ndarray, n: int = 4000) -> np.ndarray:
    """Fibonacci-lattice points on the ellipsoid surface (for distance checks)."""
    i = np.arange(n) + 0.5
    phi = np.arccos(1.0 - 2.0 * i / n)
    theta = np.pi * (1.0 + 5.0**0.5) * i
    unit = np.column_stack([np.cos(theta) * np.sin(phi), np.sin(theta) * np.sin(phi),
                            np.cos(phi)])
    return unit * semi


def place_voids(semi_axes, volume_fraction: float, radius: float, placement: str,
                seed: int, gap: float, core_fraction: float = 0.5,
                junctions: np.ndarray | None = None, max_tries: int = 20000
                ) -> tuple[np.ndarray, float]:
    """Centres (n, 3) and radius of non-overlapping voids inside the ellipsoid.

    Args:
        semi_axes: particle semi-axes.
        volume_fraction: fraction of the particle volume removed (0 < phi < 1).
        radius: requested void radius (adjusted, see module docstring).
        placement: "core", "random" or "intergranular".
        seed: random seed.
        gap: smallest distance between voids and from a void to the particle surface.
        core_fraction: size of the core region relative to the particle ("core").
        junctions: candidate centres for "intergranular" (grain junction points).
    """
    semi = np.asarray(semi_axes, dtype=float)
    n, r = void_count_and_radius(semi, volume_fraction, radius)
    if r + gap >= semi.min():
        raise VoidPlacementError("voids.radius", f"voids of radius {r:.3g} (plus the gap "
                                 f"{gap:.3g}) do not fit in a particle of smallest semi-axis "
                                 f"{semi.min():.3g}")
    surf = _surface_points(semi)
    rng = np.random.default_rng(seed)

    def inside(c: np.ndarray) -> bool:
        if np.sum((c / semi) ** 2) >= 1.0:
            return False
        return float(np.min(np.linalg.norm(surf - c, axis=1))) >= r + gap

    if placement == "intergranular":
        if junctions is None or len(junctions) == 0:
            raise VoidPlacementError("voids.placement", "'intergranular' needs grains "
                                     "(grains.count > 1)")
        cand = [c for c in rng.permutation(np.asarray(junctions, dtype=float)) if inside(c)]
    centres: list[np.ndarray] = []
    tries = 0
    while len(centres) < n:
        if placement == "intergranular":
            if not cand:
                break
            c = cand.pop()
        else:
            tries += 1
            if tries > max_tries:
                break
            scale = semi * (core_fraction if placement == "core" else 1.0)
            c = (rng.random(3) * 2.0 - 1.0) * scale
            if np.sum((c / scale) ** 2) > 1.0:
                continue
        if not inside(c):
            continue
        if all(np.linalg.norm(c - q) >= 2 * r + gap for q in centres):
            centres.append(c)
    if len(centres) < n:
        raise VoidPlacementError(
            "voids.volume_fraction",
            f"cannot place {n} voids of radius {r:.3g} without overlap (gap {gap:.3g}) "
            f"in the {placement} region; placed {len(centres)}: lower the volume fraction, "
            "use smaller voids or another placement")
    return np.array(centres), r
