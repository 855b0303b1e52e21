"""Orientation sets for grains: fixed, uniformly random on SO(3), radial or tangential
c-axis texture with a spread, or Bunge Euler angles per grain from a file.

Convention as in solver/crystal.py: ``R`` is the active crystal -> sample rotation,
``v_sample = R v_crystal``, so the crystal c-axis in the sample frame is ``R[:, 2]``.

* ``random``: unit quaternions drawn from a 4D standard normal and normalised are uniform
  on S^3, hence Haar-uniform on SO(3) (Shoemake 1992, Graphics Gems III); the c-axes are
  then uniform on the sphere and the a-axes uniform about them.
* ``radial``: the c-axis of grain g deviates from the radial direction of its centre by an
  angle drawn uniformly on the spherical cap of half-angle ``spread_deg`` (equal-area:
  cos(theta) uniform in [cos(spread), 1], azimuth uniform); ``spread_deg = 0`` is perfect
  texture.  The a-axis is uniform about the c-axis.
* ``tangential``: the ideal c-axis is a uniformly random direction in the plane tangent to
  the particle at the grain centre (perpendicular to the radial direction: Li channels
  point radially); the same cap deviation is applied about it.
* ``file``: one row per grain ``grain phi1 Phi phi2`` (Bunge, degrees; commas or spaces,
  ``#`` comments); grains are numbered from 1 and every grain must appear once.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from solver.crystal import rotation_from_c_axis, rotation_from_euler


def quaternion_to_matrix(q: np.ndarray) -> np.ndarray:
    """Rotation matrices (n, 3, 3) of unit quaternions (n, 4) in (w, x, y, z) order."""
    q = np.asarray(q, dtype=float)
    q = q / np.linalg.norm(q, axis=1)[:, None]
    w, x, y, z = q.T
    return np.stack([
        np.stack([1 - 2 * (y * y + z * z), 2 * (x * y - w * z), 2 * (x * z + w * y)], -1),
        np.stack([2 * (x * y + w * z), 1 - 2 * (x * x + z * z), 2 * (y * z - w * x)], -1),
        np.stack([2 * (x * z - w * y), 2 * (y * z + w * x), 1 - 2 * (x * x + y * y)], -1),
    ], axis=1)


def random_rotations(n: int, seed: int) -> np.ndarray:
    """n Haar-uniform rotations (n, 3, 3), reproducible from ``seed``."""
    rng = np.random.default_rng(seed)
    return quaternion_to_matrix(rng.standard_normal((n, 4)))


def _about_axis(axis: np.ndarray, angle: np.ndarray) -> np.ndarray:
    """Rodrigues rotation matrices (n, 3, 3) about unit axes (n, 3) by angles (n,)."""
    k = axis
    K = np.zeros((len(k), 3, 3))
    K[:, 0, 1], K[:, 0, 2], K[:, 1, 2] = -k[:, 2], k[:, 1], -k[:, 0]
    K[:, 1, 0], K[:, 2, 0], K[:, 2, 1] = k[:, 2], -k[:, 1], k[:, 0]
    s, c = np.sin(angle)[:, None, None], np.cos(angle)[:, None, None]
    return np.eye(3)[None] + s * K + (1 - c) * (K @ K)


def cap_deviation(ideal: np.ndarray, spread_deg: float, rng: np.random.Generator
                  ) -> np.ndarray:
    """Unit vectors uniform on the spherical caps of half-angle spread about ``ideal``."""
    ideal = np.asarray(ideal, dtype=float)
    ideal = ideal / np.linalg.norm(ideal, axis=1)[:, None]
    n = len(ideal)
    cos_t = 1.0 - rng.random(n) * (1.0 - np.cos(np.deg2rad(spread_deg)))
    sin_t = np.sqrt(np.clip(1.0 - cos_t**2, 0.0, None))
    psi = 2.0 * np.pi * rng.random(n)
    out = np.empty_like(ideal)
    for i, c in enumerate(ideal):
        R = rotation_from_c_axis(c)  # columns: two perpendiculars and c
        out[i] = R @ [sin_t[i] * np.cos(psi[i]), sin_t[i] * np.sin(psi[i]), cos_t[i]]
    return out


def rotations_from_c_axes(c_axes: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Rotations with the given c-axes and a-axes uniformly random about them."""
    c_axes = np.asarray(c_axes, dtype=float)
    base = np.array([rotation_from_c_axis(c) for c in c_axes])
    spin = _about_axis(c_axes / np.linalg.norm(c_axes, axis=1)[:, None],
                       2.0 * np.pi * rng.random(len(c_axes)))
    return spin @ base


def textured_c_axes(centres: np.ndarray, kind: str, spread_deg: float,
                    rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """(ideal directions, sampled c-axes) for a radial or tangential texture.

    ``centres`` are grain centres relative to the particle centre; a centre at the origin
    has no radial direction and gets a random one.
    """
    centres = np.asarray(centres, dtype=float)
    radial = centres.copy()
    norm = np.linalg.norm(radial, axis=1)
    bad = norm < 1e-12 * max(1.0, float(norm.max(initial=0.0)))
    radial[bad] = rng.standard_normal((int(bad.sum()), 3))
    radial /= np.linalg.norm(radial, axis=1)[:, None]
    if kind == "radial":
        ideal = radial
    elif kind == "tangential":
        t = rng.standard_normal(radial.shape)
        t -= np.einsum("ij,ij->i", t, radial)[:, None] * radial
        ideal = t / np.linalg.norm(t, axis=1)[:, None]
    else:
        raise ValueError(f"unknown texture {kind!r}")
    return ideal, cap_deviation(ideal, spread_deg, rng)


def read_euler_file(path: str | Path, num_grains: int) -> np.ndarray:
    """Rotations (num_grains, 3, 3) from a file of ``grain phi1 Phi phi2`` rows (degrees).

    Raises ValueError naming the line for malformed rows, duplicates or missing grains.
    """
    path = Path(path)
    rows: dict[int, np.ndarray] = {}
    from solver.config import read_text_file  # no DOLFINx there either

    lines = read_text_file(path).splitlines()  # ValueError names the file if not text
    for lineno, line in enumerate(lines, start=1):
        text = line.split("#", 1)[0].replace(",", " ").strip()
        if not text:
            continue
        parts = text.split()
        try:
            if len(parts) != 4:
                raise ValueError
            g = int(parts[0])
            angles = np.array([float(p) for p in parts[1:]])
        except ValueError:
            if lineno == 1 and not parts[0].lstrip("-").isdigit():
                continue  # a header line
            raise ValueError(f"{path}:{lineno}: expected 'grain phi1 Phi phi2' "
                             f"(integer, three angles in degrees); got {line!r}") from None
        if g in rows:
            raise ValueError(f"{path}:{lineno}: grain {g} appears twice")
        rows[g] = angles
    missing = sorted(set(range(1, num_grains + 1)) - set(rows))
    if missing:
        raise ValueError(f"{path}: no Euler angles for grain(s) {missing[:10]} "
                         f"(need grains 1..{num_grains})")
    return np.array([rotation_from_euler(*rows[g]) for g in range(1, num_grains + 1)])


def grain_rotations(orientation: dict, centres: np.ndarray) -> np.ndarray:
    """Rotations (n, 3, 3) of n grains with ``centres`` (n, 3) from a validated
    ``[orientation]`` section (see the module docstring for the modes)."""
    n = len(centres)
    mode = orientation.get("mode", "fixed")
    seed = orientation.get("seed", 0)
    rng = np.random.default_rng(seed)
    if mode == "fixed":
        from solver.crystal import rotation_from_case

        return np.broadcast_to(rotation_from_case(orientation), (n, 3, 3)).copy()
    if mode == "random":
        return random_rotations(n, seed)
    if mode in ("radial", "tangential"):
        _, c = textured_c_axes(centres, mode, orientation["spread_deg"], rng)
        return rotations_from_c_axes(c, rng)
    if mode == "file":
        return read_euler_file(orientation["file"], n)
    raise ValueError(f"unknown orientation mode {mode!r}")
