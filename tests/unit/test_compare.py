"""compare: a map against a shifted, rotated (and flipped) copy of itself."""

import numpy as np
import pytest

from postprocess.compare import (
    Map2D,
    MapInputError,
    _coords,
    compare_maps,
    load_map,
    transform_points,
)

H = 0.05  # um per pixel


def pattern(x, y):
    """A particle (ellipse) with an asymmetric smooth strain-like pattern; NaN outside."""
    inside = (x / 1.6) ** 2 + (y / 1.2) ** 2 <= 1.0
    v = (1e-3 * np.exp(-((x - 0.6) ** 2 + (y - 0.3) ** 2) / 0.3)
         - 6e-4 * np.exp(-((x + 0.5) ** 2 + (y + 0.4) ** 2) / 0.2) + 2e-4 * x * y)
    return np.where(inside, v, np.nan)


def measured_copy(flip, theta, t, shape=(90, 96), h=H):
    """measured(q) = sim(p) with q = R F p + t, evaluated exactly (no interpolation)."""
    qx, qy = _coords(shape, h)
    x, y = qx - t[0], qy - t[1]
    th = -np.deg2rad(theta)
    px, py = np.cos(th) * x - np.sin(th) * y, np.sin(th) * x + np.cos(th) * y
    if flip:
        px = -px
    return pattern(px, py)


@pytest.mark.parametrize("flip, theta, t", [(False, 17.0, (0.215, -0.13)),
                                            (True, 243.0, (-0.31, 0.08))])
def test_recovers_shift_rotation_and_zero_distance(flip, theta, t):
    sim = Map2D(pattern(*_coords((80, 80), H)), H, "sim")
    meas = Map2D(measured_copy(flip, theta, t), H, "meas")
    metrics, _ = compare_maps(sim, meas)
    reg = metrics["registration"]
    assert reg["flip_x"] == flip
    assert reg["rotation_deg"] == pytest.approx(theta, abs=0.3)
    np.testing.assert_allclose(reg["shift_um"], t, atol=0.2 * H)
    assert metrics["pearson_after_registration"] > 0.995
    std = metrics["simulated"]["std"]
    assert metrics["wasserstein_overlap"] < 0.02 * std
    assert metrics["wasserstein"] < 0.05 * std  # different pixel grids of the same map


def test_different_pixel_size_is_resampled():
    sim = Map2D(pattern(*_coords((80, 80), H)), H, "sim")
    meas = Map2D(measured_copy(False, 5.0, (0.1, 0.0), shape=(60, 64), h=1.5 * H), 1.5 * H,
                 "meas")
    metrics, _ = compare_maps(sim, meas, allow_flip=False)
    reg = metrics["registration"]
    assert metrics["pixel_size_um"]["common"] == pytest.approx(1.5 * H)
    assert reg["rotation_deg"] == pytest.approx(5.0, abs=1.0)
    np.testing.assert_allclose(reg["shift_um"], (0.1, 0.0), atol=0.5 * H)
    assert metrics["pearson_after_registration"] > 0.97


def test_loaders_and_clear_errors(tmp_path):
    v = pattern(*_coords((20, 24), H))
    np.savetxt(tmp_path / "m.csv", np.nan_to_num(v, nan=np.nan), delimiter=",")
    m = load_map(tmp_path / "m.csv", pixel_um=H)
    np.testing.assert_array_equal(np.isfinite(m.values), np.isfinite(v))
    with pytest.raises(MapInputError, match="pixel size"):
        load_map(tmp_path / "m.csv")
    np.savez(tmp_path / "m.npz", a=v, b=v, pixel_size_um=H)
    with pytest.raises(MapInputError, match="several"):
        load_map(tmp_path / "m.npz")
    assert load_map(tmp_path / "m.npz", key="b").pixel_um == H
    with pytest.raises(MapInputError, match="unknown map format"):
        (tmp_path / "m.xyz").write_text("1")
        load_map(tmp_path / "m.xyz", pixel_um=H)
    with pytest.raises(MapInputError, match="not found"):
        load_map(tmp_path / "none.npz")


def test_transform_convention():
    """q = R(theta) F p + t: +90 deg takes x to y."""
    qx, qy = transform_points(np.array([1.0]), np.array([0.0]), False, 90.0, (0.0, 0.0))
    np.testing.assert_allclose([qx[0], qy[0]], [0.0, 1.0], atol=1e-15)


def test_tiff_and_hdf5(tmp_path):
    """TIFF through tifffile or Pillow (row 0 of an image is the top: flipped to y up);
    HDF5 through h5py, or a clear error naming the missing package."""
    v = np.arange(48, dtype=np.float32).reshape(6, 8)
    try:
        import tifffile

        tifffile.imwrite(tmp_path / "m.tif", v)
    except ImportError:
        from PIL import Image

        Image.fromarray(v, mode="F").save(tmp_path / "m.tif")
    m = load_map(tmp_path / "m.tif", pixel_um=H)
    np.testing.assert_array_equal(m.values, np.flipud(v))
    try:
        import h5py
    except ImportError:
        (tmp_path / "m.h5").write_bytes(b"\x89HDF\r\n\x1a\n")
        with pytest.raises(MapInputError, match="h5py"):
            load_map(tmp_path / "m.h5", pixel_um=H)
        return
    with h5py.File(tmp_path / "m.h5", "w") as f:
        f["maps/dd"] = v
        f["maps/dd"].attrs["pixel_size_um"] = H
    m = load_map(tmp_path / "m.h5")
    assert m.pixel_um == H and m.values.shape == (6, 8)
