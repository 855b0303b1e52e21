"""Synthetic powder/in situ XRD of the (00l) reflections of a simulated particle.

Each volume element diffracts at its local d(00l) = c(x) (1 + eps_cc) / l: the stress-free
c of the local Li content times the elastic normal strain along the local c-axis (the
chemical lattice change counted once).  The volume-weighted distribution of 2 theta
(Bragg's law) is convolved with the instrument's pseudo-Voigt.  The synthetic profile has
no size broadening (the coherent domain is the whole single crystal, micrometres) and no
intensity factors (Lorentz-polarisation, structure factor): areas are diffracting volumes,
so peak-area ratios are phase (volume) fractions.

Fits: single pseudo-Voigt, or two pseudo-Voigts (two-phase, e.g. H2 + H3), with
scipy.optimize.curve_fit; c = l lambda / (2 sin theta).  Williamson-Hall from (003),
(006), (009): the sample broadening of each peak is fitted as a Gaussian convolved with the
known instrument pseudo-Voigt (analytic: a Voigt plus a Gaussian), and
beta cos(theta) = K lambda / L + 4 eps sin(theta) is fitted with beta the sample FWHM
[rad].  For a Gaussian distribution of strain with standard deviation s the slope is
eps_WH = sqrt(2 ln 2) s; ``microstrain_rms`` = eps_WH / sqrt(2 ln 2).
"""

from __future__ import annotations

import logging
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
from scipy.optimize import curve_fit
from scipy.special import voigt_profile

from postprocess.lattice import normal_strain_along

log = logging.getLogger("chemomech")

CU_KA1_M = 1.540593e-10  # m, Cu K-alpha1 (Hoelzer et al., Phys. Rev. A 56, 4554 (1997))
# Instrument broadening: an ASSUMPTION typical of a laboratory Bragg-Brentano
# diffractometer (FWHM ~0.05 deg 2theta, pseudo-Voigt mixing 0.5); synchrotron in situ set-ups
# differ (wavelength and resolution): pass --wavelength and --fwhm.
DEFAULT_FWHM_DEG = 0.05  # deg 2theta, assumption
DEFAULT_ETA = 0.5  # -, Lorentzian fraction of the instrument pseudo-Voigt, assumption
SCHERRER_K = 0.9  # -, Scherrer constant for spherical crystallites (common convention)
G_FWHM = 2.0 * np.sqrt(2.0 * np.log(2.0))  # Gaussian FWHM / sigma


@dataclass
class XRDParams:
    wavelength_m: float = CU_KA1_M
    fwhm_deg: float = DEFAULT_FWHM_DEG
    eta: float = DEFAULT_ETA
    step_deg: float = 0.002  # 2theta grid spacing, << fwhm
    window_deg: float = 1.6  # half-width of the 2theta window around each (00l) region

    def check(self) -> None:
        if not 0.5e-10 < self.wavelength_m < 3e-10:
            raise ValueError(f"--wavelength must be in (0.5, 3) Angstrom, got "
                             f"{self.wavelength_m * 1e10} A")
        if not self.fwhm_deg > 0:
            raise ValueError(f"--fwhm must be > 0 deg, got {self.fwhm_deg}")
        if not 0.0 <= self.eta <= 1.0:
            raise ValueError(f"--eta must be in [0, 1], got {self.eta}")


def pseudo_voigt(x, x0, fwhm, eta, area):
    """Area-normalised pseudo-Voigt times ``area`` (x, x0, fwhm in the same unit)."""
    sig = fwhm / G_FWHM
    g = np.exp(-0.5 * ((x - x0) / sig) ** 2) / (sig * np.sqrt(2 * np.pi))
    lor = (fwhm / 2) / np.pi / ((x - x0) ** 2 + (fwhm / 2) ** 2)
    return area * (eta * lor + (1.0 - eta) * g)


def two_theta_deg(d, wavelength):
    return np.rad2deg(2.0 * np.arcsin(np.clip(wavelength / (2.0 * np.asarray(d)), -1, 1)))


def d_from_two_theta(tt_deg, wavelength):
    return wavelength / (2.0 * np.sin(np.deg2rad(np.asarray(tt_deg)) / 2.0))


def local_d00l(snap, material, l_index: int, level: int = 0):
    """Sample points' d(00l) [m] and volumes [um^3]."""
    from postprocess.reader import sample_tets

    names = ["x"] + (["elastic_strain"] if "elastic_strain" in snap.point_data else [])
    _, w, vals, cell = sample_tets(snap, names, slice(None), level)
    c = material.lattice_c(vals["x"])
    if "elastic_strain" in vals:
        R = snap.rotations()[cell]
        c = c * (1.0 + normal_strain_along(vals["elastic_strain"].reshape(-1, 3, 3), R, 2))
    return c / l_index, w


def profile(d, w, params: XRDParams, grid: np.ndarray, total=None) -> np.ndarray:
    """Volume-weighted 2theta profile on ``grid`` [deg] (area = diffracting volume).

    The 2theta values are deposited linearly on the grid (keeps area and centroid), then
    convolved with the instrument pseudo-Voigt sampled on the same spacing.  ``total``:
    the sum over ranks of the deposits (each rank holding a share of the sample points:
    a distributed read, postprocess/reader.py).
    """
    tt = two_theta_deg(d, params.wavelength_m)
    h = grid[1] - grid[0]
    f = (tt - grid[0]) / h
    i = np.floor(f).astype(np.int64)
    frac = f - i
    hist = np.zeros(grid.size + 2)
    ok = (i >= 0) & (i < grid.size - 1)
    np.add.at(hist, i[ok], w[ok] * (1 - frac[ok]))
    np.add.at(hist, i[ok] + 1, w[ok] * frac[ok])
    hist = hist[: grid.size] / h  # density per degree
    if total is not None:
        hist = total(hist)
    half = int(np.ceil(30 * params.fwhm_deg / h))  # Lorentzian tails
    k = pseudo_voigt(np.arange(-half, half + 1) * h, 0.0, params.fwhm_deg, params.eta, 1.0) * h
    return np.convolve(hist, k, mode="full")[half: half + grid.size]


def _guess(tt, y, n):
    area = np.trapezoid(y, tt)
    mu = np.trapezoid(tt * y, tt) / area
    sd = np.sqrt(max(np.trapezoid((tt - mu) ** 2 * y, tt) / area, 1e-12))
    if n == 1:
        return [mu], [area], [max(G_FWHM * sd, 1e-4)]
    c = np.cumsum(y)
    c = c / c[-1]
    lo, hi = np.interp([0.2, 0.8], c, tt)
    return [lo, hi], [area / 2, area / 2], [max(G_FWHM * sd / 2, 1e-4)] * 2


def fit_peaks(tt: np.ndarray, y: np.ndarray, n: int) -> dict:
    """Fit n (1 or 2) pseudo-Voigts; returns centres [deg], areas, fwhm, eta, rms residual."""
    centres, areas, widths = _guess(tt, y, n)
    p0, lo, hi = [], [], []
    for c, a, f in zip(centres, areas, widths, strict=True):
        p0 += [c, f, 0.5, a]
        lo += [tt[0], 1e-5, 0.0, 0.0]
        hi += [tt[-1], tt[-1] - tt[0], 1.0, np.inf]

    def model(x, *p):
        return sum(pseudo_voigt(x, *p[4 * j: 4 * j + 4]) for j in range(n))

    scale = float(y.max()) or 1.0
    try:
        popt, _ = curve_fit(lambda x, *p: model(x, *p) / scale, tt, y / scale, p0=p0,
                            bounds=(lo, hi), maxfev=3000)
    except RuntimeError:
        popt = np.array(p0, dtype=float)
    resid = float(np.sqrt(np.mean((model(tt, *popt) - y) ** 2)) / scale)
    peaks = sorted([popt[4 * j: 4 * j + 4] for j in range(n)], key=lambda p: p[0])
    return {"centre_deg": [float(p[0]) for p in peaks], "fwhm_deg": [float(p[1]) for p in peaks],
            "eta": [float(p[2]) for p in peaks], "area": [float(p[3]) for p in peaks],
            "rms_residual_rel": resid}


def fit_strain_broadening(tt, y, params: XRDParams) -> dict:
    """Gaussian sample broadening (FWHM [deg]) convolved with the instrument pseudo-Voigt."""
    sig_i = params.fwhm_deg / G_FWHM
    gam_i = params.fwhm_deg / 2.0
    # the linear deposition on the grid (profile) is a triangular kernel of variance h^2/6:
    # part of the instrument here, so that sig_s is the sample broadening alone
    bin_var = (tt[1] - tt[0]) ** 2 / 6.0

    def model(x, x0, sig_s, area):
        sg2 = sig_s**2 + bin_var
        return area * (params.eta * voigt_profile(x - x0, np.sqrt(sg2), gam_i)
                       + (1 - params.eta) * np.exp(-0.5 * (x - x0) ** 2 / (sg2 + sig_i**2))
                       / np.sqrt(2 * np.pi * (sg2 + sig_i**2)))

    (mu,), (area,), (fw,) = _guess(tt, y, 1)
    scale = float(y.max()) or 1.0
    p0 = [mu, max(np.sqrt(max((fw / G_FWHM) ** 2 - sig_i**2, 0.0)), 1e-4), area]
    popt, _ = curve_fit(lambda x, *p: model(x, *p) / scale, tt, y / scale, p0=p0,
                        bounds=([tt[0], 1e-7, 0], [tt[-1], tt[-1] - tt[0], np.inf]),
                        maxfev=3000)
    return {"centre_deg": float(popt[0]), "sample_fwhm_deg": float(G_FWHM * popt[1]),
            "area": float(popt[2])}


def williamson_hall(centres_deg, sample_fwhm_deg, wavelength) -> dict:
    """beta cos(theta) = K lambda / L + 4 eps sin(theta) (beta: sample FWHM [rad])."""
    th = np.deg2rad(np.asarray(centres_deg)) / 2.0
    beta = np.deg2rad(np.asarray(sample_fwhm_deg))
    X, Y = 4.0 * np.sin(th), beta * np.cos(th)
    slope, icpt = np.polyfit(X, Y, 1)
    size = SCHERRER_K * wavelength / icpt if icpt > 0 else float("inf")
    return {"microstrain_wh": float(slope), "microstrain_rms": float(slope / np.sqrt(
        2 * np.log(2))), "intercept": float(icpt), "size_m": float(size)}


def window(d: np.ndarray, params: XRDParams, total=None) -> np.ndarray:
    """2theta grid [deg] covering the d range, +- window_deg (and 20 FWHM) around it
    (``total``: the range over every rank's share)."""
    pad = max(params.window_deg, 20 * params.fwhm_deg)
    d_lo, d_hi = float(d.min(initial=np.inf)), float(d.max(initial=-np.inf))
    if total is not None:
        d_lo, d_hi = total.min(d_lo), total.max(d_hi)
    lo = float(two_theta_deg(d_hi, params.wavelength_m)) - pad
    hi = float(two_theta_deg(d_lo, params.wavelength_m)) + pad
    return np.arange(lo, hi + params.step_deg, params.step_deg)


def analyse(snap, material, params: XRDParams, grid003: np.ndarray | None = None,
            comm=None) -> dict:
    """Profiles of (003), (006), (009), one- and two-phase fits of (003), Williamson-Hall.

    ``comm``: the snapshot is this rank's share (a distributed read); the profiles are
    summed over the ranks, so every rank gets the whole particle's result."""
    from postprocess.sxdm import _Sum

    total = _Sum(comm) if snap.distributed and comm is not None and comm.size > 1 else None
    return analyse_d(lambda l_index: local_d00l(snap, material, l_index), params, grid003,
                     total)


def analyse_d(d_of_l, params: XRDParams, grid003: np.ndarray | None = None,
              total=None) -> dict:
    """As ``analyse``, from a function l -> (d(00l) [m], volumes) of the sample points
    (``total``: sums and ranges over ranks, each holding a share of the points)."""
    out: dict = {}
    wh_c, wh_b = [], []
    for l_index in (3, 6, 9):
        d, w = d_of_l(l_index)
        grid = grid003 if (l_index == 3 and grid003 is not None) else window(d, params,
                                                                             total)
        y = profile(d, w, params, grid, total)
        sb = fit_strain_broadening(grid, y, params)
        wh_c.append(sb["centre_deg"])
        wh_b.append(sb["sample_fwhm_deg"])
        out[f"{l_index:03d}"] = {"two_theta_deg": grid, "intensity": y, "broadening": sb}
    p3 = out["003"]
    one = fit_peaks(p3["two_theta_deg"], p3["intensity"], 1)
    two = fit_peaks(p3["two_theta_deg"], p3["intensity"], 2)
    for f in (one, two):
        f["c_A"] = [float(3 * d_from_two_theta(c, params.wavelength_m) * 1e10)
                    for c in f["centre_deg"]]
        f["fraction"] = [a / sum(f["area"]) for a in f["area"]] if sum(f["area"]) > 0 else []
    # two phases when the second peak is real: both > 5 % of the area, separated by more
    # than the instrument FWHM, and the residual at least halved (criterion: ours)
    two_ok = (min(two["fraction"]) > 0.05 and
              two["centre_deg"][1] - two["centre_deg"][0] > params.fwhm_deg and
              two["rms_residual_rel"] < 0.5 * one["rms_residual_rel"])
    out["fit_one_phase"], out["fit_two_phase"] = one, two
    out["phases"] = 2 if two_ok else 1
    out["williamson_hall"] = williamson_hall(wh_c, wh_b, params.wavelength_m)
    return out


def run_xrd(run_dir: Path, params: XRDParams, *, output: Path | None = None,
            force: bool = False, comm=None) -> Path:
    """Every output time of a run: profiles, fits, contour plot, CSV and metrics.json.

    ``comm`` (several ranks): every rank reads its share of each output's pieces, the
    profiles are summed over the ranks, rank 0 writes (postprocess/reader.py)."""
    from postprocess import io
    from postprocess.reader import open_run
    from solver.output import read_timeseries

    params.check()
    run = open_run(run_dir)
    outdir = Path(output) if output else Path(run_dir) / "xrd"
    rank0 = comm is None or comm.rank == 0
    io.prepare_dir_on_rank0(outdir, force, comm)
    material = run.material
    t0 = time.perf_counter()
    ts = read_timeseries(Path(run_dir) / "timeseries.csv") if (
        Path(run_dir) / "timeseries.csv").exists() else None
    # a common (003) window over the whole run: the c range of the material law over the
    # run's x range (timeseries.csv), widened by 1 % for elastic strain; one snapshot in
    # memory at a time
    if ts is not None and len(ts["time_s"]):
        x_lo, x_hi = float(np.min(ts["x_min"])), float(np.max(ts["x_max"]))
    else:
        xs = [run.read(i, comm).point_data["x"] for i in range(len(run.times))]
        x_lo = min(float(x.min(initial=np.inf)) for x in xs)
        x_hi = max(float(x.max(initial=-np.inf)) for x in xs)
        if comm is not None and comm.size > 1:
            from mpi4py import MPI

            x_lo, x_hi = comm.allreduce(x_lo, op=MPI.MIN), comm.allreduce(x_hi, op=MPI.MAX)
    cs = material.lattice_c(np.linspace(x_lo, x_hi, 2001))
    c_lo, c_hi = float(cs.min()) * 0.99, float(cs.max()) * 1.01
    tt_lo = float(two_theta_deg(c_hi / 3, params.wavelength_m)) - 10 * params.fwhm_deg
    tt_hi = float(two_theta_deg(c_lo / 3, params.wavelength_m)) + 10 * params.fwhm_deg
    grid = np.arange(tt_lo, tt_hi + params.step_deg, params.step_deg)
    rows, profiles = [], []
    shown, shown_row = None, None  # the broadest (003): the most heterogeneous output
    for i in range(len(run.times)):
        snap = run.read(i, comm)
        res = analyse(snap, material, params, grid, comm)
        profiles.append(res["003"]["intensity"])
        soc = float("nan")
        if ts is not None and len(ts["time_s"]):
            soc = float(ts["soc"][int(np.argmin(np.abs(ts["time_s"] - snap.time)))])
        one, two, wh = res["fit_one_phase"], res["fit_two_phase"], res["williamson_hall"]
        rows.append({"time_s": snap.time, "soc": soc, "phases": res["phases"],
                     "c_single_A": one["c_A"][0], "fwhm_single_deg": one["fwhm_deg"][0],
                     "c1_A": two["c_A"][0], "c2_A": two["c_A"][1],
                     "fraction1": two["fraction"][0], "fraction2": two["fraction"][1],
                     "microstrain_wh": wh["microstrain_wh"],
                     "microstrain_rms": wh["microstrain_rms"]})
        if shown is None or one["fwhm_deg"][0] > shown["fit_one_phase"]["fwhm_deg"][0]:
            shown, shown_row = res, rows[-1]
    if not rank0:
        return outdir
    keys = list(rows[0])
    io.write_text(outdir / "fits.csv", ",".join(keys) + "\n" + "".join(
        ",".join(f"{r[k]:.10g}" for k in keys) + "\n" for r in rows))
    header = "two_theta_deg," + ",".join(f"t={t:.6g}s" for t in run.times)
    io.write_text(outdir / "profiles_003.csv", header + "\n" + "".join(
        f"{tt:.5f}," + ",".join(f"{p[i]:.8g}" for p in profiles) + "\n"
        for i, tt in enumerate(grid)))
    from postprocess.maps import xrd_figure

    xrd_figure(grid, np.array(profiles), rows, shown, shown_row, params, outdir / "xrd_003.png",
               title=f"{material.name}, λ = {params.wavelength_m * 1e10:.4f} Å")
    io.write_json(outdir / "metrics.json", {
        "run": str(run_dir), "material": material.name, "params": asdict(params),
        "wavelength_source": "Cu K-alpha1, Hoelzer et al. 1997" if params.wavelength_m ==
        CU_KA1_M else "user", "outputs": rows, "wall_s": time.perf_counter() - t0})
    log.info("xrd: %s (%d output times)", outdir, len(rows))
    return outdir
