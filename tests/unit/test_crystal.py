"""Orientation convention: R maps crystal-frame components to sample-frame components."""

import numpy as np
import pytest

from solver.crystal import rotation_from_c_axis, rotation_from_euler


@pytest.mark.parametrize("angles", [(0, 0, 0), (30, 40, 50), (90, 90, 0), (200, 10, 300)])
def test_euler_is_proper_rotation_with_bunge_c_axis(angles):
    R = rotation_from_euler(*angles)
    assert np.allclose(R @ R.T, np.eye(3)) and np.isclose(np.linalg.det(R), 1.0)
    p1, P, _ = np.deg2rad(angles)
    expected_c = [np.sin(p1) * np.sin(P), -np.cos(p1) * np.sin(P), np.cos(P)]
    assert np.allclose(R @ [0, 0, 1], expected_c)


@pytest.mark.parametrize("c", [(0, 0, 1), (1, 0, 0), (0, 1, 0), (1, 1, 1), (-0.3, 0.2, 0.9)])
def test_c_axis_points_where_asked(c):
    R = rotation_from_c_axis(c)
    assert np.allclose(R @ R.T, np.eye(3)) and np.isclose(np.linalg.det(R), 1.0)
    assert np.allclose(R[:, 2], np.asarray(c) / np.linalg.norm(c))


def test_rotated_tensor_has_slow_axis_along_c():
    R = rotation_from_c_axis([1, 0, 0])
    M = R @ np.diag([1.0, 1.0, 0.0]) @ R.T  # D_c = 0
    assert np.allclose(M @ [1, 0, 0], 0.0)
    assert np.allclose(M @ [0, 1, 0], [0, 1, 0])
