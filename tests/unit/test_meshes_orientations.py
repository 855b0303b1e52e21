"""Orientation sets: uniform on SO(3), textures with the stated spread, Euler files."""

import numpy as np
import pytest

from solver.crystal import rotation_from_euler
from solver.orientations import (
    grain_rotations,
    random_rotations,
    read_euler_file,
    textured_c_axes,
)

N = 2000


def _chi2_equal_area(c: np.ndarray, bands: int = 10, sectors: int = 8) -> float:
    """Chi-square of unit vectors over equal-area bins (z bands x azimuth sectors)."""
    zb = np.minimum(((c[:, 2] + 1.0) / 2.0 * bands).astype(int), bands - 1)
    phi = np.arctan2(c[:, 1], c[:, 0]) + np.pi
    pb = np.minimum((phi / (2 * np.pi) * sectors).astype(int), sectors - 1)
    counts = np.bincount(zb * sectors + pb, minlength=bands * sectors)
    expected = len(c) / (bands * sectors)
    return float(((counts - expected) ** 2 / expected).sum())


# chi-square critical value, 79 degrees of freedom, p = 0.001
CHI2_79_P001 = 124.8


def test_random_rotations_are_proper_and_c_axes_uniform_on_the_sphere():
    R = random_rotations(N, seed=7)
    assert np.allclose(R @ R.transpose(0, 2, 1), np.eye(3), atol=1e-12)
    assert np.allclose(np.linalg.det(R), 1.0)
    c = R[:, :, 2]
    # first moment 0 (sd of each component of the mean: 1/sqrt(3N)) and second moment I/3
    # (sd of the diagonal: sqrt(4/45/N), off-diagonal sqrt(1/15/N)): 4 sigma bounds
    assert np.all(np.abs(c.mean(axis=0)) < 4 / np.sqrt(3 * N))
    T = c.T @ c / N
    assert np.all(np.abs(np.diag(T) - 1 / 3) < 4 * np.sqrt(4 / 45 / N))
    off = T[~np.eye(3, dtype=bool)]
    assert np.all(np.abs(off) < 4 * np.sqrt(1 / 15 / N))
    assert _chi2_equal_area(c) < CHI2_79_P001
    # the a-axes are uniform too (Haar measure, not just the c-axes)
    assert _chi2_equal_area(R[:, :, 0]) < CHI2_79_P001


def test_uniformity_test_rejects_naive_euler_sampling():
    """Uniform Bunge angles crowd the c-axes at the poles: the test must see it."""
    rng = np.random.default_rng(7)
    ang = rng.random((N, 3)) * [360, 180, 360]
    c = np.array([rotation_from_euler(*a)[:, 2] for a in ang])
    assert _chi2_equal_area(c) > CHI2_79_P001


def test_random_rotations_are_reproducible():
    assert np.array_equal(random_rotations(5, 3), random_rotations(5, 3))
    assert not np.allclose(random_rotations(5, 3), random_rotations(5, 4))


@pytest.mark.parametrize("spread", [0.0, 10.0, 30.0])
def test_radial_texture_has_the_stated_spread(spread):
    rng = np.random.default_rng(1)
    centres = rng.standard_normal((N, 3))
    ideal, c = textured_c_axes(centres, "radial", spread, rng)
    radial = centres / np.linalg.norm(centres, axis=1)[:, None]
    assert np.allclose(ideal, radial)
    cos = np.einsum("ij,ij->i", c, radial)
    angle = np.degrees(np.arccos(np.clip(cos, -1, 1)))
    assert angle.max() <= spread + 1e-4  # arccos near 1: ~1e-6 deg round-off
    if spread > 0:
        assert angle.max() > 0.95 * spread
        # uniform on the cap: cos(theta) uniform in [cos a, 1], mean (1 + cos a)/2
        ca = np.cos(np.radians(spread))
        sd = (1 - ca) / np.sqrt(12 * N)
        assert abs(cos.mean() - (1 + ca) / 2) < 4 * sd


@pytest.mark.parametrize("spread", [0.0, 20.0])
def test_tangential_texture_is_perpendicular_to_the_radius_within_the_spread(spread):
    rng = np.random.default_rng(2)
    centres = rng.standard_normal((N, 3))
    ideal, c = textured_c_axes(centres, "tangential", spread, rng)
    radial = centres / np.linalg.norm(centres, axis=1)[:, None]
    assert np.allclose(np.einsum("ij,ij->i", ideal, radial), 0.0, atol=1e-12)
    dev = np.degrees(np.arccos(np.clip(np.einsum("ij,ij->i", c, ideal), -1, 1)))
    assert dev.max() <= spread + 1e-4  # arccos near 1: ~1e-6 deg round-off
    out_of_plane = np.degrees(np.arcsin(np.abs(np.einsum("ij,ij->i", c, radial))))
    assert out_of_plane.max() <= spread + 1e-4  # arccos near 1: ~1e-6 deg round-off


def test_grain_rotations_modes_and_euler_file(tmp_path):
    centres = np.array([[1.0, 0, 0], [0, 2.0, 0], [0, 0, -1.0]])
    fixed = grain_rotations({"mode": "fixed", "c_axis": [1, 0, 0], "euler_deg": None}, centres)
    assert np.allclose(fixed[:, :, 2], [1, 0, 0])
    radial = grain_rotations({"mode": "radial", "spread_deg": 0.0, "seed": 0}, centres)
    assert np.allclose(radial[:, :, 2], centres / np.linalg.norm(centres, axis=1)[:, None])
    f = tmp_path / "euler.csv"
    f.write_text("grain,phi1,Phi,phi2\n1, 0, 0, 0\n3 10 20 30  # comment\n2 90 90 0\n")
    R = grain_rotations({"mode": "file", "file": str(f)}, centres)
    assert np.allclose(R[2], rotation_from_euler(10, 20, 30))
    assert np.allclose(R[1][:, 2], [1, 0, 0])  # Bunge (90, 90, 0): c along +x
    with pytest.raises(ValueError, match=r"grain\(s\) \[4\]"):
        read_euler_file(f, 4)
    f.write_text("1 0 0\n")
    with pytest.raises(ValueError, match=":1: expected"):
        read_euler_file(f, 1)
