"""Synthetic observables of the report's runs, cached per run.

For every completed single-crystal run: SXDM maps of the (003) reflection at the end of
the mapped charge (``charged``) and at the end of the run (``rested``, after the ex situ
rest), all with the same instrument ([W25]: 30 nm beam, 50 nm pixels, 2 deg rocking, beam
along sample z so the map frame is the sample frame); the (003) XRD of every field output
(postprocess/xrd.py peak fits and two-phase criterion) over the mapped charge, for SC
first-charge and PC runs; and the
mid-plane (z = 0) section of the Li fraction at both states.  Results go to
``analysis/<id>/`` and are recomputed only when the run's status.json changed.
"""

from __future__ import annotations

import json
import logging
from dataclasses import asdict
from pathlib import Path

import numpy as np

from postprocess.report.metrics import mapped_charge_end
from postprocess.report.vset import SXDM_GROUPS, XRD_GROUPS
from solver.output import read_timeseries

log = logging.getLogger("chemomech")

# [W25] 3-ID HXN at NSLS-II (../shared/PARAMETERS.md section 7): ~30 nm beam, 50 nm raster,
# 2 deg rocking around (003); the beam along sample z (the c-axis of the SC cases is along
# sample x, so Q is in the map plane)
SXDM_BEAM_DIRECTION = (0.0, 0.0, 1.0)
STAMP = "stamp.json"


def state_times(run_dir: Path) -> dict[str, float]:
    """Simulated time of the ``charged`` and ``rested`` states of a run."""
    ts = read_timeseries(run_dir / "timeseries.csv")
    return {"charged": float(ts["time_s"][mapped_charge_end(ts)]),
            "rested": float(ts["time_s"][-1])}


def _fresh(adir: Path, run_dir: Path, what: str) -> bool:
    stamp = adir / STAMP
    status = (run_dir / "status.json").read_text()
    try:
        return json.loads(stamp.read_text()).get(what) == status
    except (OSError, ValueError):
        return False


def _mark(adir: Path, run_dir: Path, what: str) -> None:
    stamp = adir / STAMP
    try:
        data = json.loads(stamp.read_text())
    except (OSError, ValueError):
        data = {}
    data[what] = (run_dir / "status.json").read_text()
    stamp.write_text(json.dumps(data, indent=1))


def sxdm_states(run_dir: Path, adir: Path) -> None:
    """SXDM maps (npz + json metrics) of the charged and rested states."""
    from postprocess import io
    from postprocess.reader import open_run
    from postprocess.sxdm import SXDMParams, compute_sxdm, map_metrics

    if _fresh(adir, run_dir, "sxdm"):
        return
    adir.mkdir(parents=True, exist_ok=True)
    run = open_run(run_dir)
    params = SXDMParams(beam_direction=SXDM_BEAM_DIRECTION)
    for state, t in state_times(run_dir).items():
        index = run.select(time=t)
        snap = run.read(index)
        maps = compute_sxdm(snap, run.material, params, run.initial_x)
        io.write_npz(adir / f"sxdm_{state}.npz", **maps, time_s=snap.time)
        io.write_json(adir / f"sxdm_{state}.json", {
            "run": str(run_dir), "state": state, "time_s": snap.time, "output_index": index,
            "state_time_s": t, "params": asdict(params), "reference_x": run.initial_x,
            "pixels_in_mask": int(maps["mask"].sum()), "maps": map_metrics(maps)})
    _mark(adir, run_dir, "sxdm")


def xrd(run_dir: Path, adir: Path) -> None:
    """(003) XRD of every field output of the mapped charge, with the one- and two-peak
    fits of postprocess/xrd.py and its two-phase criterion, into adir/xrd (fits.csv,
    profiles_003.csv).  The (006)/(009) Williamson-Hall fits of ``chemomech xrd`` are
    left out: they are three quarters of its cost and the report does not use them."""
    from postprocess import io
    from postprocess.reader import open_run
    from postprocess.xrd import XRDParams, d_from_two_theta, fit_peaks, local_d00l, profile
    from postprocess.xrd import two_theta_deg as tt_of

    if _fresh(adir, run_dir, "xrd"):
        return
    out = adir / "xrd"
    out.mkdir(parents=True, exist_ok=True)
    params = XRDParams()
    run = open_run(run_dir)
    material = run.material
    ts = read_timeseries(run_dir / "timeseries.csv")
    end = mapped_charge_end(ts)
    t_end = float(ts["time_s"][end])
    # common window: the c range of the material law over the run's x range, +-1 % for
    # elastic strain (as chemomech xrd)
    cs = material.lattice_c(np.linspace(float(ts["x_min"][: end + 1].min()),
                                        float(ts["x_max"][: end + 1].max()), 2001))
    lam = params.wavelength_m
    lo = float(tt_of(float(cs.max()) * 1.01 / 3, lam)) - 10 * params.fwhm_deg
    hi = float(tt_of(float(cs.min()) * 0.99 / 3, lam)) + 10 * params.fwhm_deg
    grid = np.arange(lo, hi + params.step_deg, params.step_deg)
    rows, profiles = [], []
    for i, t in enumerate(run.times):
        if t > t_end + 1e-6:
            break
        d, w = local_d00l(run.read(i), material, 3)
        y = profile(d, w, params, grid)
        one, two = fit_peaks(grid, y, 1), fit_peaks(grid, y, 2)
        for f in (one, two):
            f["c_A"] = [float(3 * d_from_two_theta(c, lam) * 1e10) for c in f["centre_deg"]]
            f["fraction"] = ([a / sum(f["area"]) for a in f["area"]] if sum(f["area"]) > 0
                             else [float("nan")] * len(f["area"]))
        # the criterion of postprocess.xrd.analyse_d
        two_ok = (min(two["fraction"]) > 0.05
                  and two["centre_deg"][1] - two["centre_deg"][0] > params.fwhm_deg
                  and two["rms_residual_rel"] < 0.5 * one["rms_residual_rel"])
        k = int(np.argmin(np.abs(ts["time_s"] - t)))
        rows.append({"time_s": t, "soc": float(ts["soc"][k]),
                     "capacity_mAh_g": float(ts["capacity_mAh_g"][k]),
                     "phases": 2 if two_ok else 1, "c_single_A": one["c_A"][0],
                     "fwhm_single_deg": one["fwhm_deg"][0], "c1_A": two["c_A"][0],
                     "c2_A": two["c_A"][1], "fraction1": two["fraction"][0],
                     "fraction2": two["fraction"][1]})
        profiles.append(y)
    keys = list(rows[0])
    io.write_text(out / "fits.csv", ",".join(keys) + "\n" + "".join(
        ",".join(f"{r[k]:.10g}" for k in keys) + "\n" for r in rows))
    io.write_text(out / "profiles_003.csv", "two_theta_deg," + ",".join(
        f"t={r['time_s']:.6g}s" for r in rows) + "\n" + "".join(
        f"{tt:.5f}," + ",".join(f"{p[j]:.8g}" for p in profiles) + "\n"
        for j, tt in enumerate(grid)))
    _mark(adir, run_dir, "xrd")


def mid_plane(run_dir: Path, t: float) -> dict[str, np.ndarray]:
    """Triangulated z = 0 section of the output nearest ``t``: points, triangles, x."""
    import pyvista as pv

    from postprocess.reader import pvd_entries

    times, files = pvd_entries(run_dir / "vtk" / "fields.pvd")
    i = int(np.argmin(np.abs(np.asarray(times) - t)))
    grid = pv.read(str(run_dir / "vtk" / files[i]))
    grid = grid.combine() if isinstance(grid, pv.MultiBlock) else grid
    cut = grid.slice(normal="z", origin=(0.0, 0.0, 0.0)).triangulate()
    return {"points": np.asarray(cut.points), "tri": cut.faces.reshape(-1, 4)[:, 1:],
            "x": np.asarray(cut.point_data["x"]), "time_s": np.float64(times[i])}


def analyse(entry_group: str, run_dir: Path, adir: Path) -> list[str]:
    """Everything the report needs from one completed run; returns problems (text)."""
    problems = []
    jobs = []
    if entry_group in SXDM_GROUPS:
        jobs.append(("SXDM", sxdm_states))
    if entry_group in XRD_GROUPS:
        jobs.append(("XRD", xrd))
    for name, fn in jobs:
        try:
            fn(run_dir, adir)
        except Exception as exc:  # an analysis must not take the whole report down
            log.warning("%s of %s failed: %r", name, run_dir, exc)
            problems.append(f"{name} of {run_dir.name} failed: {exc!r}")
    return problems
