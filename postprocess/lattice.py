"""Local scattering vectors of a layered (R-3m, hexagonal setting) crystal.

Crystal frame (solver/crystal.py): a1 along x_c, a2 = a (-1/2, sqrt(3)/2, 0), c along z_c.
Reciprocal vectors (with the 2 pi): b1 = (2 pi/a)(1, 1/sqrt(3), 0), b2 = (2 pi/a)(0,
2/sqrt(3), 0), b3 = (2 pi/c)(0, 0, 1), so Q0(hkl) = h b1 + k b2 + l b3 and
d(hkl) = 2 pi / |Q0|; for (00l), d = c / l.

The chemical lattice change is counted once: Q0 uses the stress-free lattice a(x), c(x) of
the local Li content, and only the elastic distortion F_e = I + eps_el + W acts on it,

    Q = F_e^{-T} R Q0(x),

with R the crystal -> sample rotation, eps_el the elastic strain (eps(u) - eps_ch -
eps_res) and W = skew(grad u) the lattice rotation (the chemical and residual eigenstrains
are symmetric and rotate nothing).  Lengths in metres, Q in 1/m.
"""

from __future__ import annotations

import re

import numpy as np


def parse_reflection(text: str) -> tuple[int, int, int]:
    """'003' -> (0, 0, 3); '104'; '1,0,4' or '1 0 -4' for multi-digit or negative indices."""
    s = str(text).strip()
    if re.fullmatch(r"\d{3}", s):
        return int(s[0]), int(s[1]), int(s[2])
    parts = re.split(r"[,\s]+", s)
    if len(parts) == 3:
        try:
            return tuple(int(p) for p in parts)  # type: ignore[return-value]
        except ValueError:
            pass
    raise ValueError(f"reflection must look like '003', '104' or '1,0,4', got {text!r}")


def q0_crystal(hkl: tuple[int, int, int], a: np.ndarray, c: np.ndarray) -> np.ndarray:
    """Stress-free scattering vector in the crystal frame, shape (n, 3) [1/m]."""
    h, k, l_ = hkl
    a = np.asarray(a, dtype=float)
    c = np.broadcast_to(np.asarray(c, dtype=float), a.shape)
    two_pi = 2.0 * np.pi
    qx = two_pi / a * h
    qy = two_pi / a * (h / np.sqrt(3.0) + 2.0 * k / np.sqrt(3.0))
    qz = two_pi / c * l_
    return np.stack([qx, qy, qz], axis=-1)


def skew_from_axial(w: np.ndarray) -> np.ndarray:
    """W with W v = w x v, shape (n, 3, 3)."""
    W = np.zeros(w.shape[:-1] + (3, 3))
    W[..., 0, 1], W[..., 0, 2] = -w[..., 2], w[..., 1]
    W[..., 1, 0], W[..., 1, 2] = w[..., 2], -w[..., 0]
    W[..., 2, 0], W[..., 2, 1] = -w[..., 1], w[..., 0]
    return W


def scattering_vectors(hkl, a, c, R, eps_el=None, rotvec=None) -> np.ndarray:
    """Q = F_e^{-T} R Q0(a, c) per point, shape (n, 3) [1/m].

    a, c: (n,) stress-free lattice [m]; R: (n, 3, 3); eps_el: (n, 3, 3) or None;
    rotvec: (n, 3) axial vector of skew(grad u) or None.  F_e is inverted exactly.
    """
    q = np.einsum("nij,nj->ni", R, q0_crystal(hkl, a, c))
    if eps_el is None and rotvec is None:
        return q
    F = np.broadcast_to(np.eye(3), (q.shape[0], 3, 3)).copy()
    if eps_el is not None:
        F += eps_el
    if rotvec is not None:
        F += skew_from_axial(rotvec)
    return np.linalg.solve(np.transpose(F, (0, 2, 1)), q[..., None])[..., 0]


def normal_strain_along(eps: np.ndarray, R: np.ndarray, axis: int = 2) -> np.ndarray:
    """Normal elastic strain along crystal axis ``axis`` (2: c), n_i eps_ij n_j, shape (n,)."""
    n = R[:, :, axis]
    return np.einsum("ni,nij,nj->n", n, eps, n)
