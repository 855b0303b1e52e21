"""Synthetic scanning X-ray diffraction microscopy (SXDM) maps of a simulated particle.

Forward model (docs/observables.md):

1. Every tetrahedron is sampled with the 4-point Keast rule (postprocess.reader.sample_tets);
   at each point the local scattering vector of the reflection is
   ``Q = F_e^{-T} R Q0(x)`` (postprocess.lattice): the stress-free lattice of the local Li
   content, rotated into the sample frame, distorted by the elastic strain and the lattice
   rotation only, so the chemical lattice change is counted once.
2. Geometry: the beam travels along ``b`` (the projection direction).  The map frame
   (x', y', z') has z' = b, x' = the reference scattering vector Q_ref (the volume mean of
   R Q0(x_ref), i.e. the unstrained, nominally oriented crystal) projected perpendicular to
   b, and y' = z' x x'.  When the crystal's c-axis is along sample x and the beam along
   sample z, x'y'z' = xyz.  Map pixels are on a grid of ``step`` in (x', y').
3. Rocking: the experiment rocks the sample over ``rocking_range`` around the particle's
   mean Bragg condition; lattice tilted out of that window (in the x'z' scattering plane)
   does not diffract, so points with |theta_x'z' - mean| > range/2 are left out.
4. Beam: a Gaussian of FWHM ``beam_fwhm`` in (x', y'), integrated along z' (the whole path
   through the particle), truncated at 3 sigma; per pixel the integrated intensity
   I = sum w G (diffracting volume per beam area, in um) and the intensity-weighted centre
   of mass of Q.
5. Per pixel: d = 2 pi / |<Q>|; Delta d/d against the map mean (intensity-weighted mean Q
   of the masked pixels) and against the unstrained reference d_ref = d(hkl) of the
   stress-free lattice at ``reference_x``; tilts theta_xy = angle of <Q> projected on the
   x'y' plane (positive: counter-clockwise about +z', the beam) and theta_xz = angle of
   <Q> projected on the x'z' plane (positive: towards +z'), both relative to the map mean
   and to the reference direction.  Pixels below ``threshold`` x max(I) are masked (NaN).

Serial, or under MPI with the cells split over the ranks and the pixel sums reduced.
"""

from __future__ import annotations

import logging
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from postprocess.lattice import q0_crystal, scattering_vectors

log = logging.getLogger("chemomech")

FWHM_TO_SIGMA = 1.0 / (2.0 * np.sqrt(2.0 * np.log(2.0)))  # Gaussian sigma per FWHM

# Defaults of the reference experiment (Wang et al., Nat. Nanotechnol. 2025 [W25], 3-ID
# HXN at NSLS-II; ../shared/PARAMETERS.md section 7): ~30 nm beam, 50 nm raster steps,
# rocking over 2 deg around (003).
DEFAULT_REFLECTION = "003"
DEFAULT_BEAM_FWHM_UM = 0.030  # um, [W25]
DEFAULT_STEP_UM = 0.050  # um, [W25]
DEFAULT_ROCKING_DEG = 2.0  # deg, [W25]
# Pixels below this fraction of the brightest pixel are outside the particle (assumption:
# the edge pixels are partially illuminated and their centre of mass is biased).
DEFAULT_THRESHOLD = 0.1


@dataclass
class SXDMParams:
    """Instrument parameters (lengths in um, angles in degrees)."""

    reflection: tuple[int, int, int] = (0, 0, 3)
    beam_fwhm_um: float = DEFAULT_BEAM_FWHM_UM
    step_um: float = DEFAULT_STEP_UM
    beam_direction: tuple[float, float, float] | None = None  # None: auto (see beam_axis)
    rocking_range_deg: float = DEFAULT_ROCKING_DEG
    threshold: float = DEFAULT_THRESHOLD

    def check(self) -> None:
        if not self.beam_fwhm_um > 0:
            raise ValueError(f"--beam-fwhm must be > 0, got {self.beam_fwhm_um} um")
        if not self.step_um > 0:
            raise ValueError(f"--step-size must be > 0, got {self.step_um} um")
        if not self.rocking_range_deg > 0:
            raise ValueError(f"--rocking-range must be > 0, got {self.rocking_range_deg} deg")
        if not 0.0 <= self.threshold < 1.0:
            raise ValueError(f"--threshold must be in [0, 1), got {self.threshold}")
        if self.reflection == (0, 0, 0):
            raise ValueError("reflection (000) has no scattering vector")


def parse_direction(text: str | None) -> tuple[float, float, float] | None:
    """'x', '-y', 'z', '1,0,1' or 'auto'/None -> unit vector (or None for auto)."""
    if text is None or str(text).strip().lower() == "auto":
        return None
    s = str(text).strip().lower()
    axes = {"x": (1.0, 0.0, 0.0), "y": (0.0, 1.0, 0.0), "z": (0.0, 0.0, 1.0)}
    sign = -1.0 if s.startswith("-") else 1.0
    if s.lstrip("+-") in axes:
        return tuple(sign * v for v in axes[s.lstrip("+-")])  # type: ignore[return-value]
    try:
        v = np.array([float(p) for p in s.replace(",", " ").split()], dtype=float)
    except ValueError:
        v = np.zeros(0)
    if v.size != 3 or not np.all(np.isfinite(v)) or np.linalg.norm(v) == 0:
        raise ValueError(f"beam direction must be x, y, z (optionally -x ...), 'auto' or "
                         f"three numbers 'bx,by,bz', got {text!r}")
    return tuple(v / np.linalg.norm(v))  # type: ignore[return-value]


def beam_axis(q_ref: np.ndarray, given) -> np.ndarray:
    """The beam direction: given, or the sample axis most perpendicular to Q_ref.

    In Bragg geometry at small angles (003 at ~10 keV: theta_B ~ 6-9 deg) the incident
    beam is nearly perpendicular to Q; ties are broken in the order z, x, y.
    """
    if given is not None:
        return np.asarray(given, dtype=float)
    q = np.abs(q_ref) / np.linalg.norm(q_ref)
    order = [2, 0, 1]
    best = min(order, key=lambda i: (round(q[i], 9), order.index(i)))
    b = np.zeros(3)
    b[best] = 1.0
    return b


def map_frame(q_ref: np.ndarray, beam: np.ndarray) -> np.ndarray:
    """Rows x', y', z' of the map frame (z' = beam, x' = Q_ref perpendicular to the beam)."""
    b = beam / np.linalg.norm(beam)
    qp = q_ref - q_ref.dot(b) * b
    if np.linalg.norm(qp) < 1e-3 * np.linalg.norm(q_ref):
        raise ValueError("the beam is parallel to the scattering vector of the reflection: "
                         "no diffraction geometry; choose another --beam-direction")
    ex = qp / np.linalg.norm(qp)
    ey = np.cross(b, ex)
    return np.stack([ex, ey, b])


class _Sum:
    """Sum over ranks (identity in serial)."""

    def __init__(self, comm=None):
        self.comm = comm if comm is not None and comm.size > 1 else None

    def __call__(self, arr):
        if self.comm is None:
            return arr
        from mpi4py import MPI

        a = np.ascontiguousarray(arr, dtype=float)
        out = np.empty_like(a)
        self.comm.Allreduce(a, out, op=MPI.SUM)
        return out

    def min(self, v: float) -> float:
        if self.comm is None:
            return v
        from mpi4py import MPI

        return self.comm.allreduce(v, op=MPI.MIN)

    def max(self, v: float) -> float:
        if self.comm is None:
            return v
        from mpi4py import MPI

        return self.comm.allreduce(v, op=MPI.MAX)


def point_q(snap, material, hkl, cells=slice(None), level: int = 0):
    """Sample points of the cells: positions [um], weights [um^3], Q [1/m], R, x."""
    from postprocess.reader import sample_tets

    names = ["x"] + [n for n in ("elastic_strain", "rotation_vector") if n in snap.point_data]
    pos, w, vals, cell = sample_tets(snap, names, cells, level)
    x = vals["x"]
    R = snap.rotations()[cell]
    eps = vals["elastic_strain"].reshape(-1, 3, 3) if "elastic_strain" in vals else None
    if eps is not None:
        eps = 0.5 * (eps + np.transpose(eps, (0, 2, 1)))
    rot = vals.get("rotation_vector")
    q = scattering_vectors(hkl, material.lattice_a(x), material.lattice_c(x), R, eps, rot)
    return pos, w, q, R, x


def sampling_level(snap, sigma_um: float, max_points: float = 1.2e7) -> int:
    """Subdivision level so that sample points are at most ~2 beam sigmas apart.

    Keast points of a tetrahedron with regular-tet edge h are ~h/2 apart; each midpoint
    subdivision halves that.  Capped so that the total stays below ``max_points``.
    """
    vol = snap.tet_volumes()
    if vol.size == 0:
        return 0
    h = float(np.median((6.0 * np.sqrt(2.0) * vol) ** (1.0 / 3.0)))
    level = max(0, int(np.ceil(np.log2(h / (2.0 * 2.0 * sigma_um)))))
    while level > 0 and 4 * 8**level * vol.size > max_points:
        level -= 1
    return level


def compute_sxdm(snap, material, params: SXDMParams, reference_x: float,
                 comm=None, level: int | None = None,
                 chunk: int = 40000) -> dict[str, np.ndarray]:
    """Maps of one snapshot; every rank returns the same result (MPI: cells split)."""
    params.check()
    total = _Sum(comm)
    hkl = tuple(params.reflection)
    ncell = snap.tets.shape[0]
    rank, size = (comm.rank, comm.size) if comm is not None else (0, 1)
    mine = np.arange(rank * ncell // size, (rank + 1) * ncell // size)
    step, sigma = params.step_um, params.beam_fwhm_um * FWHM_TO_SIGMA
    if level is None:
        level = sampling_level(snap, sigma)
    a_ref, c_ref = material.lattice_a(reference_x), material.lattice_c(reference_x)
    q0_ref = q0_crystal(hkl, np.array([a_ref]), np.array([c_ref]))[0]
    # pass 0 (4 points per cell): reference direction, mean Q (rocking centre), extent
    pos, w, q, R, _ = point_q(snap, material, hkl, mine, 0)
    q_nominal = np.einsum("nij,j->ni", R, q0_ref)
    sums = total(np.concatenate([(w[:, None] * q_nominal).sum(0), (w[:, None] * q).sum(0),
                                 [w.sum()]]))
    q_ref, q_vol_mean = sums[:3] / sums[6], sums[3:6] / sums[6]
    beam = beam_axis(q_ref, params.beam_direction)
    frame = map_frame(q_ref, beam)
    qm = frame @ q_vol_mean
    th_xz_mean = np.arctan2(qm[2], qm[0])
    half = np.deg2rad(params.rocking_range_deg) / 2.0
    cut = 3.0 * sigma
    # grid aligned to multiples of the step, covering the particle plus the beam tail
    pts = snap.points @ frame.T
    lo_s = np.floor((pts[:, 0].min() - cut) / step) * step
    hi_s = np.ceil((pts[:, 0].max() + cut) / step) * step
    lo_t = np.floor((pts[:, 1].min() - cut) / step) * step
    hi_t = np.ceil((pts[:, 1].max() + cut) / step) * step
    nx = int(round((hi_s - lo_s) / step)) + 1
    ny = int(round((hi_t - lo_t) / step)) + 1
    k = int(np.floor(cut / step + 0.5))
    acc = np.zeros((5, ny * nx))
    norm = 1.0 / (2.0 * np.pi * sigma**2)  # beam profile per um^2: I in um (thickness)
    w_in = 0.0
    for c0 in range(0, mine.size, chunk):
        pos, w, q, _, x = point_q(snap, material, hkl, mine[c0:c0 + chunk], level)
        qf = q @ frame.T  # components in the map frame
        # rocking window around the particle's mean Bragg condition (x'z' plane)
        inside = np.abs(np.arctan2(qf[:, 2], qf[:, 0]) - th_xz_mean) <= half
        w_in += float(w[inside].sum())
        s, t = pos[inside] @ frame[0], pos[inside] @ frame[1]  # um along x', y'
        wq, qf, x = w[inside], qf[inside], x[inside]
        i0 = np.rint((s - lo_s) / step).astype(np.int64)
        j0 = np.rint((t - lo_t) / step).astype(np.int64)
        for di in range(-k, k + 1):
            ii = i0 + di
            ds = s - (lo_s + ii * step)
            for dj in range(-k, k + 1):
                jj = j0 + dj
                dt = t - (lo_t + jj * step)
                r2 = ds * ds + dt * dt
                ok = (r2 <= cut * cut) & (ii >= 0) & (ii < nx) & (jj >= 0) & (jj < ny)
                g = wq[ok] * norm * np.exp(-0.5 * r2[ok] / sigma**2)
                pix = jj[ok] * nx + ii[ok]
                acc[0] += np.bincount(pix, g, ny * nx)
                for c in range(3):
                    acc[1 + c] += np.bincount(pix, g * qf[ok, c], ny * nx)
                acc[4] += np.bincount(pix, g * x[ok], ny * nx)
    acc = total(acc).reshape(5, ny, nx)
    fraction_in_window = total(np.array([w_in]))[0] / sums[6]
    intensity = acc[0]
    mask = intensity >= params.threshold * intensity.max() if intensity.max() > 0 else (
        np.zeros_like(intensity, dtype=bool))
    mask &= intensity > 0
    with np.errstate(invalid="ignore", divide="ignore"):
        qpix = acc[1:4] / intensity  # (3, ny, nx), map frame
        x_map = acc[4] / intensity
    qbar = (acc[1:4][:, mask]).sum(1) / intensity[mask].sum()
    d = 2.0 * np.pi / np.linalg.norm(qpix, axis=0)
    d_mean = 2.0 * np.pi / np.linalg.norm(qbar)
    d_ref = 2.0 * np.pi / np.linalg.norm(q0_ref)
    ang_xy = np.arctan2(qpix[1], qpix[0])
    ang_xz = np.arctan2(qpix[2], qpix[0])
    mean_xy, mean_xz = np.arctan2(qbar[1], qbar[0]), np.arctan2(qbar[2], qbar[0])
    qr = frame @ q_ref  # reference direction: (|.|, 0, qr_z) in the map frame
    ref_xy, ref_xz = 0.0, np.arctan2(qr[2], qr[0])

    def masked(a):
        out = np.array(a, dtype=float)
        out[~mask] = np.nan
        return out

    def wrap(a):
        return (a + np.pi) % (2.0 * np.pi) - np.pi

    return {
        "dd_mean": masked(d / d_mean - 1.0),
        "dd_ref": masked(d / d_ref - 1.0),
        "theta_xy_deg": masked(np.rad2deg(wrap(ang_xy - mean_xy))),
        "theta_xz_deg": masked(np.rad2deg(wrap(ang_xz - mean_xz))),
        "theta_xy_ref_deg": masked(np.rad2deg(wrap(ang_xy - ref_xy))),
        "theta_xz_ref_deg": masked(np.rad2deg(wrap(ang_xz - ref_xz))),
        "intensity_um": intensity,
        "x_map": masked(x_map),
        "mask": mask,
        "x_centres_um": lo_s + step * np.arange(nx),
        "y_centres_um": lo_t + step * np.arange(ny),
        "pixel_size_um": np.float64(step),
        "frame": frame,
        "beam_direction": beam,
        "d_mean_m": np.float64(d_mean),
        "d_ref_m": np.float64(d_ref),
        "reference_x": np.float64(reference_x),
        "fraction_in_rocking_window": np.float64(fraction_in_window),
        "reflection": np.array(hkl),
        "sampling_level": np.int64(level),
    }


MAP_KEYS = ["dd_mean", "dd_ref", "theta_xy_deg", "theta_xz_deg", "theta_xy_ref_deg",
            "theta_xz_ref_deg", "x_map"]


def map_metrics(maps: dict[str, np.ndarray]) -> dict:
    """Statistics (mean, std, quantiles) of every masked map."""
    from postprocess.io import stats

    return {k: stats(maps[k][maps["mask"]]) for k in MAP_KEYS}


def run_sxdm(run_dir: Path, params: SXDMParams, *, time_s: float | None = None,
             step: int | None = None, reference_x: float | None = None,
             output: Path | None = None, force: bool = False, comm=None) -> Path:
    """Read the run, compute the maps, write npz, PNGs and metrics.json (rank 0)."""
    from postprocess import io
    from postprocess.maps import sxdm_figure
    from postprocess.reader import open_run

    params.check()
    run = open_run(run_dir)
    index = run.select(time_s, step)
    hkl = "".join(str(v) for v in params.reflection)
    outdir = Path(output) if output else Path(run_dir) / "sxdm" / f"out{index:04d}_{hkl}"
    rank = comm.rank if comm is not None else 0
    if rank == 0:
        io.prepare_dir(outdir, force)
    material = run.material
    x_ref = run.initial_x if reference_x is None else float(reference_x)
    t0 = time.perf_counter()
    snap = run.read(index)
    t_read = time.perf_counter() - t0
    if "elastic_strain" not in snap.point_data:
        log.warning("%s: no elastic_strain field (no mechanics, or written before it "
                    "existed): maps show the chemical lattice only", run_dir)
    maps = compute_sxdm(snap, material, params, x_ref, comm)
    t_map = time.perf_counter() - t0 - t_read
    if rank == 0:
        meta = {"run": str(run_dir), "time_s": snap.time, "output_index": index,
                "cells": int(snap.tets.shape[0]), "material": material.name,
                "params": asdict(params), "reference_x": x_ref,
                "reference": "d_ref = d(hkl) of the stress-free lattice at reference_x "
                             "(default: the run's conditions.initial_x, the pristine state)",
                "d_mean_A": float(maps["d_mean_m"]) * 1e10,
                "d_ref_A": float(maps["d_ref_m"]) * 1e10,
                "beam_direction": maps["beam_direction"], "map_frame_rows_xyz": maps["frame"],
                "pixels": list(maps["mask"].shape), "pixels_in_mask": int(maps["mask"].sum()),
                "fraction_in_rocking_window": float(maps["fraction_in_rocking_window"]),
                "sampling_level": int(maps["sampling_level"]),
                "ranks": comm.size if comm is not None else 1,
                "read_s": t_read, "compute_s": t_map,
                "maps": map_metrics(maps)}
        io.write_npz(outdir / "sxdm_maps.npz", **maps, time_s=snap.time)
        sxdm_figure(maps, outdir / "sxdm_maps.png", title=f"{material.name}, ({hkl}), "
                    f"t = {snap.time / 60:.2f} min")
        io.write_json(outdir / "metrics.json", meta)
        log.info("sxdm: %s (%d x %d pixels, read %.2f s, maps %.2f s)", outdir,
                 maps["mask"].shape[1], maps["mask"].shape[0], t_read, t_map)
    return outdir
