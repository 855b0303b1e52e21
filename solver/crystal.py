"""Crystal orientation: rotation matrices from Bunge Euler angles or a c-axis direction.

Convention (tested in tests/unit/test_crystal.py): ``R`` is the *active* rotation that
maps a vector's components in the crystal frame (a1 along x_c, c along z_c) to its
components in the sample frame, ``v_sample = R @ v_crystal``.  With Bunge angles
(phi1, Phi, phi2), ``R = Rz(phi1) @ Rx(Phi) @ Rz(phi2)``, which is the transpose of
Bunge's passive orientation matrix g; the c-axis then points along
``(sin phi1 sin Phi, -cos phi1 sin Phi, cos Phi)`` in the sample frame.  A crystal-frame
tensor T transforms as ``R @ T @ R.T``.
"""

from __future__ import annotations

import numpy as np


def _rz(a: float) -> np.ndarray:
    c, s = np.cos(a), np.sin(a)
    return np.array([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]])


def _rx(a: float) -> np.ndarray:
    c, s = np.cos(a), np.sin(a)
    return np.array([[1.0, 0.0, 0.0], [0.0, c, -s], [0.0, s, c]])


def rotation_from_euler(phi1_deg: float, Phi_deg: float, phi2_deg: float) -> np.ndarray:
    """Crystal -> sample rotation from Bunge Euler angles in degrees."""
    p1, P, p2 = np.deg2rad([phi1_deg, Phi_deg, phi2_deg])
    return _rz(p1) @ _rx(P) @ _rz(p2)


def rotation_from_c_axis(c_axis: list[float] | np.ndarray) -> np.ndarray:
    """Crystal -> sample rotation whose crystal c-axis points along ``c_axis``.

    The in-plane (a1) axis is the sample x-axis projected perpendicular to c (sample y
    when c is along x); the in-plane direction does not matter for the transversely
    isotropic properties used here.
    """
    c = np.asarray(c_axis, dtype=float)
    c = c / np.linalg.norm(c)
    ref = np.array([1.0, 0.0, 0.0]) if abs(c[0]) < 0.9 else np.array([0.0, 1.0, 0.0])
    a1 = ref - ref.dot(c) * c
    a1 /= np.linalg.norm(a1)
    a2 = np.cross(c, a1)
    return np.column_stack([a1, a2, c])


def rotation_from_case(orientation: dict) -> np.ndarray:
    """Rotation from a validated ``[orientation]`` section."""
    if orientation.get("euler_deg") is not None:
        return rotation_from_euler(*orientation["euler_deg"])
    return rotation_from_c_axis(orientation["c_axis"])
