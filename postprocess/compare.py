"""Compare a simulated map with a measured one: load, register, histogram metrics.

Registration model: the measured map is the simulated one seen through a rigid transform
T, ``measured(q) = simulated(p)`` with ``q = R(theta) F p + t`` (physical coordinates in um
from each image's centre, F = identity or the mirror x -> -x, R a counter-clockwise
rotation by theta, t a translation [um]).  Both maps are first resampled to the coarser of
the two pixel sizes.  Search: for both F, a coarse scan of theta (3 deg) with the best
translation from an FFT cross-correlation at each angle, then a Nelder-Mead refinement of
(theta, t) maximising the Pearson correlation on the overlap (bilinear resampling).

Pixels outside the particle are NaN (simulated maps from ``chemomech sxdm`` already are;
for measured maps use NaN, or --mask-below to mask low values).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from scipy import ndimage
from scipy.optimize import minimize
from scipy.stats import pearsonr, wasserstein_distance

log = logging.getLogger("chemomech")


class MapInputError(ValueError):
    """A map file cannot be used: names the file, the key and what was expected."""


SIM_DEFAULT_KEY = "dd_mean"


@dataclass
class Map2D:
    values: np.ndarray  # (rows, cols), NaN outside the particle; row 0 at the bottom (y up)
    pixel_um: float
    source: str

    @property
    def mask(self) -> np.ndarray:
        return np.isfinite(self.values)


def _pick(arrays: dict[str, np.ndarray], key: str | None, path: Path, default: str | None):
    two_d = {k: v for k, v in arrays.items() if np.ndim(v) == 2}
    if key is not None:
        if key not in arrays:
            raise MapInputError(f"{path}: key {key!r} not found; available 2D arrays: "
                                f"{sorted(two_d)}")
        if np.ndim(arrays[key]) != 2:
            raise MapInputError(f"{path}: {key!r} is not a 2D array")
        return key
    if default is not None and default in two_d:
        return default
    if len(two_d) == 1:
        return next(iter(two_d))
    raise MapInputError(f"{path}: several or no 2D arrays ({sorted(two_d)}); choose one "
                        "with --key / --sim-key")


def load_map(path: str | Path, key: str | None = None, pixel_um: float | None = None,
             default_key: str | None = None) -> Map2D:
    """Load a 2D map from .npz, .csv/.txt, .tif/.tiff or .h5/.hdf5.

    The pixel size comes from ``pixel_size_um`` inside an .npz (our sxdm output) or an
    HDF5 attribute/dataset of that name, else from ``pixel_um`` (required then).
    """
    path = Path(path)
    if not path.exists():
        raise MapInputError(f"{path}: file not found")
    suffix = path.suffix.lower()
    found_px = None
    if suffix == ".npz":
        with np.load(path, allow_pickle=False) as z:
            arrays = {k: z[k] for k in z.files}
        k = _pick(arrays, key, path, default_key)
        values = arrays[k]
        if "pixel_size_um" in arrays:
            found_px = float(arrays["pixel_size_um"])
    elif suffix in (".csv", ".txt"):
        try:
            values = np.loadtxt(path, delimiter="," if suffix == ".csv" else None, ndmin=2)
        except ValueError as exc:
            raise MapInputError(f"{path}: expected a numeric 2D table ({exc})") from exc
    elif suffix in (".tif", ".tiff"):
        try:
            import tifffile

            values = tifffile.imread(path)
        except ImportError:
            try:
                from PIL import Image
            except ImportError as exc:
                raise MapInputError(f"{path}: reading TIFF needs tifffile or Pillow "
                                    "(pip install tifffile)") from exc
            values = np.asarray(Image.open(path))
        values = np.flipud(values)  # image row 0 is the top; maps have y up
    elif suffix in (".h5", ".hdf5", ".hdf"):
        try:
            import h5py
        except ImportError as exc:
            raise MapInputError(f"{path}: reading HDF5 needs h5py (pip install h5py)") from exc
        arrays = {}
        with h5py.File(path, "r") as f:
            f.visititems(lambda name, obj: arrays.__setitem__(name, obj[()]) if isinstance(
                obj, h5py.Dataset) and obj.ndim in (0, 2) else None)
            k = _pick(arrays, key, path, default_key)
            px = f[k].attrs.get("pixel_size_um", arrays.get("pixel_size_um"))
            found_px = float(px) if px is not None else None
        values = arrays[k]
    else:
        raise MapInputError(f"{path}: unknown map format {suffix!r}; expected .npz, .csv, "
                            ".txt, .tif, .tiff, .h5 or .hdf5")
    values = np.asarray(values, dtype=float)
    if values.ndim != 2 or min(values.shape) < 4:
        raise MapInputError(f"{path}: expected a 2D map of at least 4 x 4 pixels, got shape "
                            f"{values.shape}")
    px = pixel_um if pixel_um is not None else found_px
    if px is None or not px > 0:
        raise MapInputError(f"{path}: pixel size unknown; give it with --pixel-size "
                            "(e.g. 50nm)")
    if not np.isfinite(values).any():
        raise MapInputError(f"{path}: the map has no finite pixels")
    return Map2D(values, float(px), str(path))


def resample(m: Map2D, pixel_um: float) -> Map2D:
    """Map on a grid of ``pixel_um`` (bilinear, NaN-aware; area-average when coarsening)."""
    if np.isclose(pixel_um, m.pixel_um, rtol=1e-9):
        return m
    factor = m.pixel_um / pixel_um
    ok = m.mask.astype(float)
    v = np.where(m.mask, m.values, 0.0)
    if factor < 1:  # coarsening: average over the new pixel first
        size = 1.0 / factor
        v = ndimage.uniform_filter(v, size=size, mode="constant")
        ok = ndimage.uniform_filter(ok, size=size, mode="constant")
    vz = ndimage.zoom(v, factor, order=1, grid_mode=True, mode="grid-constant")
    oz = ndimage.zoom(ok, factor, order=1, grid_mode=True, mode="grid-constant")
    with np.errstate(invalid="ignore", divide="ignore"):
        out = np.where(oz > 0.5, vz / oz, np.nan)
    return Map2D(out, pixel_um, m.source)


def _coords(shape, h):
    """Physical coordinates (x, y) [um] of the pixel centres, origin at the image centre."""
    r, c = np.indices(shape, dtype=float)
    return (c - (shape[1] - 1) / 2) * h, (r - (shape[0] - 1) / 2) * h


def _pull(m: Map2D, qx, qy, order=1):
    """Values and in-particle flag of map m at physical points (qx, qy)."""
    rows = qy / m.pixel_um + (m.values.shape[0] - 1) / 2
    cols = qx / m.pixel_um + (m.values.shape[1] - 1) / 2
    v = np.where(m.mask, m.values, 0.0)
    val = ndimage.map_coordinates(v, [rows, cols], order=order, mode="constant", cval=0.0)
    ok = ndimage.map_coordinates(m.mask.astype(float), [rows, cols], order=order,
                                 mode="constant", cval=0.0)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(ok > 0.999, val / np.maximum(ok, 1e-12), np.nan)


def transform_points(px, py, flip: bool, theta_deg: float, t):
    """q = R(theta) F p + t."""
    x = -px if flip else px
    th = np.deg2rad(theta_deg)
    c, s = np.cos(th), np.sin(th)
    return c * x - s * py + t[0], s * x + c * py + t[1]


def registered(sim: Map2D, meas: Map2D, flip: bool, theta_deg: float, t) -> np.ndarray:
    """The measured map pulled back onto the simulated grid."""
    px, py = _coords(sim.values.shape, sim.pixel_um)
    qx, qy = transform_points(px, py, flip, theta_deg, t)
    return _pull(meas, qx, qy)


def _score(sim: Map2D, meas: Map2D, flip, theta, t) -> tuple[float, float]:
    reg = registered(sim, meas, flip, theta, t)
    both = sim.mask & np.isfinite(reg)
    if both.sum() < 10:
        return -1.0, 0.0
    a, b = sim.values[both], reg[both]
    if a.std() == 0 or b.std() == 0:
        return -1.0, 0.0
    overlap = both.sum() / max(sim.mask.sum(), 1)
    return float(np.corrcoef(a, b)[0, 1]), float(overlap)


def _fft_shift(sim: Map2D, rot: np.ndarray) -> tuple[float, float]:
    """Translation s [um] maximising sum_p S'(p) M'(p + s) (zero-mean, zero outside)."""
    h = sim.pixel_um
    a = np.where(sim.mask, sim.values - np.nanmean(sim.values), 0.0)
    b = np.where(np.isfinite(rot), rot - np.nanmean(rot), 0.0)
    shape = [2 * n for n in a.shape]
    c = np.fft.irfft2(np.conj(np.fft.rfft2(a, shape)) * np.fft.rfft2(b, shape), shape)
    i, j = np.unravel_index(np.argmax(c), c.shape)
    di = i if i < shape[0] // 2 else i - shape[0]
    dj = j if j < shape[1] // 2 else j - shape[1]
    return dj * h, di * h


def register(sim: Map2D, meas: Map2D, allow_flip: bool = True, coarse_deg: float = 3.0
             ) -> dict:
    """Best rigid transform (flip, theta [deg], t [um]) of sim onto meas (common pixels)."""
    px, py = _coords(sim.values.shape, sim.pixel_um)
    best = (-2.0, None)
    for flip in ((False, True) if allow_flip else (False,)):
        for theta in np.arange(0.0, 360.0, coarse_deg):
            qx, qy = transform_points(px, py, flip, theta, (0.0, 0.0))
            rot = _pull(meas, qx, qy)  # M(R F p) on the sim grid
            if not np.isfinite(rot).any():
                continue
            s = _fft_shift(sim, rot)
            t = transform_points(s[0], s[1], flip, theta, (0.0, 0.0))  # t = R F s
            r, _ = _score(sim, meas, flip, theta, t)
            if r > best[0]:
                best = (r, (flip, theta, t))
    if best[1] is None:
        raise MapInputError("registration failed: the maps do not overlap at any rotation")
    flip, theta0, t0 = best[1]

    def cost(p):
        r, overlap = _score(sim, meas, flip, p[0], (p[1], p[2]))
        return -r

    res = minimize(cost, [theta0, t0[0], t0[1]], method="Nelder-Mead",
                   options={"xatol": 1e-4, "fatol": 1e-10, "maxiter": 2000,
                            "initial_simplex": np.array([
                                [theta0, t0[0], t0[1]], [theta0 + coarse_deg / 2, t0[0], t0[1]],
                                [theta0, t0[0] + sim.pixel_um, t0[1]],
                                [theta0, t0[0], t0[1] + sim.pixel_um]])})
    theta, tx, ty = res.x
    r, overlap = _score(sim, meas, flip, theta, (tx, ty))
    return {"flip_x": bool(flip), "rotation_deg": float(theta % 360.0),
            "shift_um": [float(tx), float(ty)], "correlation": r, "overlap_fraction": overlap}


def compare_maps(sim: Map2D, meas: Map2D, allow_flip: bool = True) -> tuple[dict, dict]:
    """Register and compare; returns (metrics, images for the figure)."""
    from postprocess.io import stats

    pixel = max(sim.pixel_um, meas.pixel_um)
    s, m = resample(sim, pixel), resample(meas, pixel)
    reg = register(s, m, allow_flip)
    img = registered(s, m, reg["flip_x"], reg["rotation_deg"], reg["shift_um"])
    both = s.mask & np.isfinite(img)
    sv, mv = s.values[s.mask], m.values[m.mask]
    metrics = {
        "pixel_size_um": {"simulated": sim.pixel_um, "measured": meas.pixel_um,
                          "common": pixel},
        "registration": reg,
        "simulated": stats(sv), "measured": stats(mv),
        "wasserstein": float(wasserstein_distance(sv, mv)),
        "wasserstein_overlap": float(wasserstein_distance(s.values[both], img[both])),
        "pearson_after_registration": float(pearsonr(s.values[both], img[both])[0]),
        "std_ratio_measured_over_simulated": float(mv.std() / sv.std()) if sv.std() else None,
        "pixels_overlap": int(both.sum()),
    }
    return metrics, {"sim": s.values, "reg": img, "pixel": pixel, "sv": sv, "mv": mv}


def run_compare(sim_path: Path, meas_path: Path, *, sim_key: str | None = None,
                key: str | None = None, pixel_um: float | None = None,
                mask_below: float | None = None, allow_flip: bool = True,
                output: Path | None = None, force: bool = False) -> Path:
    """CLI driver: load, compare, write metrics.json and compare.png."""
    from postprocess import io
    from postprocess.maps import compare_figure

    sim = load_map(sim_path, sim_key, None, SIM_DEFAULT_KEY)
    meas = load_map(meas_path, key, pixel_um, SIM_DEFAULT_KEY)
    if mask_below is not None:
        meas.values[meas.values < mask_below] = np.nan
    outdir = io.prepare_dir(Path(output) if output else Path(sim_path).parent / "compare",
                            force)
    metrics, imgs = compare_maps(sim, meas, allow_flip)
    metrics.update({"simulated_file": str(sim_path), "measured_file": str(meas_path),
                    "simulated_key": sim_key or SIM_DEFAULT_KEY, "measured_key": key})
    compare_figure(imgs, metrics, outdir / "compare.png")
    io.write_npz(outdir / "registered.npz", simulated=imgs["sim"],
                 measured_registered=imgs["reg"], pixel_size_um=np.float64(imgs["pixel"]))
    io.write_json(outdir / "metrics.json", metrics)
    reg = metrics["registration"]
    log.info("compare: %s (rotation %.2f deg, shift %s um, flip %s, r = %.3f, W1 = %.3g)",
             outdir, reg["rotation_deg"], np.round(reg["shift_um"], 4), reg["flip_x"],
             metrics["pearson_after_registration"], metrics["wasserstein"])
    return outdir
