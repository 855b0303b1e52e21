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
    grain: int | None = None  # only the cells of this grain_id diffract (polycrystals)

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


def vertex_q(snap, material, hkl, cells: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Q [1/m] and x at the four vertices of each cell, shapes (m, 4, 3) and (m, 4).

    The cell's own rotation is used at its vertices (polycrystals: Q jumps across grain
    boundaries); inside a cell Q is then interpolated linearly, which differs from Q of the
    interpolated fields only at second order in the strain change across a cell.
    """
    tets = snap.tets[cells]
    m = len(cells)
    x = snap.point_data["x"][tets]  # (m, 4)
    R = np.repeat(snap.rotations()[cells], 4, axis=0)
    eps = snap.point_data.get("elastic_strain")
    rot = snap.point_data.get("rotation_vector")
    if eps is not None:
        eps = eps[tets].reshape(-1, 3, 3)
        eps = 0.5 * (eps + np.transpose(eps, (0, 2, 1)))
    if rot is not None:
        rot = rot[tets].reshape(-1, 3)
    xv = x.ravel()
    q = scattering_vectors(hkl, material.lattice_a(xv), material.lattice_c(xv), R, eps, rot)
    return q.reshape(m, 4, 3), x


def column_integrals(pts_map: np.ndarray, tets: np.ndarray, values: np.ndarray,
                     lo: tuple[float, float], p: float, shape: tuple[int, int],
                     keep=None, max_pairs: int = 2_000_000) -> np.ndarray:
    """Exact integrals along z' of P1 data over a grid of beam-parallel lines.

    pts_map: vertex coordinates in the map frame [um]; tets: (m, 4); values: (m, 4, k)
    linear data per cell-vertex; lines at (lo[0] + i p, lo[1] + j p), i < shape[1],
    j < shape[0].  Along a line through a tetrahedron the barycentric coordinates are
    affine in z', so the chord [z_in, z_out] and the chord-midpoint values (= the chord
    average of linear data) are exact.  Returns (k + 1, ny, nx): the chord length times
    p^2 (volume per line cell, um^3) and the volume-weighted sums of the k values.
    ``keep(values_at_midpoints) -> bool mask`` drops chords (the rocking window).
    Cells are processed in groups of at most ``max_pairs`` (cell, line) pairs (memory).
    """
    ny, nx = shape
    k = values.shape[2]
    out = np.zeros((k + 1, ny * nx))
    if len(tets) == 0:
        return out.reshape(k + 1, ny, nx)
    v = pts_map[tets]  # (m, 4, 3)
    T = np.transpose(v[:, 1:] - v[:, :1], (0, 2, 1))  # columns v_k - v_0
    Tinv = np.linalg.inv(T)  # rows: gradients of lambda_1..3
    # line index ranges covered by each cell's shadow
    i_lo = np.maximum(np.ceil((v[:, :, 0].min(1) - lo[0]) / p), 0).astype(np.int64)
    i_hi = np.minimum(np.floor((v[:, :, 0].max(1) - lo[0]) / p), nx - 1).astype(np.int64)
    j_lo = np.maximum(np.ceil((v[:, :, 1].min(1) - lo[1]) / p), 0).astype(np.int64)
    j_hi = np.minimum(np.floor((v[:, :, 1].max(1) - lo[1]) / p), ny - 1).astype(np.int64)
    ni, nj = np.maximum(i_hi - i_lo + 1, 0), np.maximum(j_hi - j_lo + 1, 0)
    count = ni * nj
    if count.sum() > max_pairs and len(tets) > 1:
        h = len(tets) // 2
        return sum(column_integrals(pts_map, tt, vv, lo, p, shape, keep, max_pairs)
                   for tt, vv in ((tets[:h], values[:h]), (tets[h:], values[h:])))
    cell = np.repeat(np.arange(len(tets)), count)
    first = np.repeat(np.cumsum(count) - count, count)
    off = np.arange(count.sum()) - first
    ii = i_lo[cell] + off // nj[cell]
    jj = j_lo[cell] + off % nj[cell]
    # lines nudged by a sub-nanometre offset so none runs exactly inside a shared face
    s = lo[0] + ii * p + 1.234567e-7
    t = lo[1] + jj * p + 2.345678e-7
    G = Tinv[cell]  # (n, 3, 3)
    v0 = v[cell, 0]
    alpha = G[:, :, 0] * (s - v0[:, 0])[:, None] + G[:, :, 1] * (t - v0[:, 1])[:, None] \
        - G[:, :, 2] * v0[:, 2][:, None]
    beta = G[:, :, 2]
    alpha = np.concatenate([1.0 - alpha.sum(1, keepdims=True), alpha], axis=1)  # (n, 4)
    beta = np.concatenate([-beta.sum(1, keepdims=True), beta], axis=1)
    flat = np.abs(beta) < 1e-14
    with np.errstate(divide="ignore", invalid="ignore"):
        root = -alpha / beta
    z_in = np.where(beta > 0, root, -np.inf)
    z_out = np.where(beta < 0, root, np.inf)
    z_in[flat], z_out[flat] = -np.inf, np.inf
    z0, z1 = z_in.max(1), z_out.min(1)
    ok = (z1 > z0) & ~np.any(flat & (alpha < 0), axis=1)
    cell, ii, jj, alpha, beta = cell[ok], ii[ok], jj[ok], alpha[ok], beta[ok]
    chord = (z1 - z0)[ok]
    lam = alpha + beta * (0.5 * (z0 + z1)[ok])[:, None]  # barycentric at the midpoint
    mid = np.einsum("nk,nkc->nc", lam, values[cell])
    if keep is not None:
        sel = keep(mid)
        chord, mid, ii, jj = chord[sel], mid[sel], ii[sel], jj[sel]
    line = jj * nx + ii
    vol = chord * p * p
    out[0] = np.bincount(line, vol, ny * nx)
    for c in range(k):
        out[1 + c] = np.bincount(line, vol * mid[:, c], ny * nx)
    return out.reshape(k + 1, ny, nx)


def beam_kernel(sigma: float, p: float, cut: float) -> np.ndarray:
    """Gaussian beam sampled on the line grid, truncated at radius ``cut``, sum 1."""
    r = int(np.floor(cut / p))
    k = np.arange(-r, r + 1) * p
    X, Y = np.meshgrid(k, k)
    g = np.exp(-0.5 * (X**2 + Y**2) / sigma**2) * (X**2 + Y**2 <= cut**2)
    return g / g.sum()


def compute_sxdm(snap, material, params: SXDMParams, reference_x: float,
                 comm=None, chunk: int = 20000) -> dict[str, np.ndarray]:
    """Maps of one snapshot; every rank returns the same result (MPI: cells split).

    The beam is sampled by lines parallel to it on a grid ``n_sub`` times finer than the
    raster step (spacing <= sigma of the beam), each line integrated exactly through the
    mesh (``column_integrals``); pixel centres are grid lines, so the discrete beam is the
    same, symmetric stencil around every pixel.
    """
    from scipy import ndimage

    params.check()
    total = _Sum(comm)
    hkl = tuple(params.reflection)
    ncell = snap.tets.shape[0]
    rank, size = (comm.rank, comm.size) if comm is not None else (0, 1)
    if params.grain is not None:  # one grain of a polycrystal is in the Bragg condition
        grains = snap.cell_data.get("grain_id")
        cells_all = np.flatnonzero(np.rint(grains) == params.grain) if grains is not None \
            else np.zeros(0, dtype=np.int64)
        found = total(np.array([float(cells_all.size)]))[0] if snap.distributed \
            else cells_all.size
        if found == 0:
            raise ValueError(f"--grain {params.grain}: no cell has this grain_id")
    else:
        cells_all = np.arange(ncell)
    n_all = cells_all.size
    # a distributed snapshot holds this rank's cells only; a whole one is split here
    mine = cells_all if snap.distributed else \
        cells_all[rank * n_all // size: (rank + 1) * n_all // size]
    step, sigma = params.step_um, params.beam_fwhm_um * FWHM_TO_SIGMA
    n_sub = max(1, int(np.ceil(step / sigma)))
    p = step / n_sub
    a_ref, c_ref = material.lattice_a(reference_x), material.lattice_c(reference_x)
    q0_ref = q0_crystal(hkl, np.array([a_ref]), np.array([c_ref]))[0]
    # pass 0 (4 points per cell): reference direction, mean Q (rocking centre)
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

    def in_window(mid):  # rocking window around the mean Bragg condition (x'z' plane)
        return np.abs(np.arctan2(mid[:, 2], mid[:, 0]) - th_xz_mean) <= half

    qf0 = q @ frame.T
    fraction_in_window = total(np.array([w[in_window(qf0)].sum()]))[0] / sums[6]

    # pixel grid aligned to multiples of the step, covering the particle plus the beam tail
    pts = snap.points @ frame.T
    lo = [float(pts[:, j].min(initial=np.inf)) for j in (0, 1)]
    hi = [float(pts[:, j].max(initial=-np.inf)) for j in (0, 1)]
    if snap.distributed:  # the extent of the whole particle
        lo, hi = [total.min(v) for v in lo], [total.max(v) for v in hi]
    lo_s = np.floor((lo[0] - cut) / step) * step
    hi_s = np.ceil((hi[0] + cut) / step) * step
    lo_t = np.floor((lo[1] - cut) / step) * step
    hi_t = np.ceil((hi[1] + cut) / step) * step
    nx = int(round((hi_s - lo_s) / step)) + 1
    ny = int(round((hi_t - lo_t) / step)) + 1
    fx, fy = (nx - 1) * n_sub + 1, (ny - 1) * n_sub + 1
    cols = np.zeros((5, fy, fx))
    for c0 in range(0, mine.size, chunk):
        cells = mine[c0:c0 + chunk]
        qv, xv = vertex_q(snap, material, hkl, cells)
        vals = np.concatenate([qv @ frame.T, xv[:, :, None]], axis=2)  # Q in map frame, x
        cols += column_integrals(pts, snap.tets[cells], vals, (lo_s, lo_t), p, (fy, fx),
                                 keep=in_window)
    cols = total(cols.reshape(5, -1)).reshape(5, fy, fx)
    kern = beam_kernel(sigma, p, cut) / (p * p)  # per um^2: intensity in um (thickness)
    acc = np.stack([ndimage.correlate(c, kern, mode="constant")[::n_sub, ::n_sub]
                    for c in cols])
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
        "beam_lines_per_step": np.int64(n_sub),
    }


MAP_KEYS = ["dd_mean", "dd_ref", "theta_xy_deg", "theta_xz_deg", "theta_xy_ref_deg",
            "theta_xz_ref_deg", "x_map"]


def map_metrics(maps: dict[str, np.ndarray]) -> dict:
    """Statistics (mean, std, quantiles) of every masked map."""
    from postprocess.io import stats

    return {k: stats(maps[k][maps["mask"]]) for k in MAP_KEYS}


def total_cells(snap, comm) -> int:
    """Cells of the whole mesh (a distributed snapshot holds a share; collective)."""
    n = snap.tets.shape[0]
    return comm.allreduce(n) if snap.distributed and comm is not None else n


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
    io.prepare_dir_on_rank0(outdir, force, comm)
    material = run.material
    x_ref = run.initial_x if reference_x is None else float(reference_x)
    t0 = time.perf_counter()
    snap = run.read(index, comm)  # under MPI: this rank's pieces only
    t_read = time.perf_counter() - t0
    ncells = int(total_cells(snap, comm))
    if "elastic_strain" not in snap.point_data:
        log.warning("%s: no elastic_strain field (no mechanics, or written before it "
                    "existed): maps show the chemical lattice only", run_dir)
    maps = compute_sxdm(snap, material, params, x_ref, comm)
    t_map = time.perf_counter() - t0 - t_read
    if rank == 0:
        meta = {"run": str(run_dir), "time_s": snap.time, "output_index": index,
                "cells": ncells, "material": material.name,
                "params": asdict(params), "reference_x": x_ref,
                "reference": "d_ref = d(hkl) of the stress-free lattice at reference_x "
                             "(default: the run's conditions.initial_x, the pristine state)",
                "d_mean_A": float(maps["d_mean_m"]) * 1e10,
                "d_ref_A": float(maps["d_ref_m"]) * 1e10,
                "beam_direction": maps["beam_direction"], "map_frame_rows_xyz": maps["frame"],
                "pixels": list(maps["mask"].shape), "pixels_in_mask": int(maps["mask"].sum()),
                "fraction_in_rocking_window": float(maps["fraction_in_rocking_window"]),
                "beam_lines_per_step": int(maps["beam_lines_per_step"]),
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
