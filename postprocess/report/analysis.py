"""Synthetic observables of the report's runs, cached per run.

For every completed single-crystal run: SXDM maps of the (003) reflection at the end of
the mapped charge (``charged``) and at the end of the run (``rested``, after the ex situ
rest), all with the same instrument ([W25]: 30 nm beam, 50 nm pixels, 2 deg rocking, beam
along sample z so the map frame is the sample frame); the (003) XRD of every field output
(postprocess/xrd.py, its one- and two-phase fits) for SC first-charge and PC runs; and the
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
    """(003)/(006)/(009) XRD of every field output (postprocess.xrd.run_xrd) into adir/xrd."""
    from postprocess.xrd import XRDParams, run_xrd

    if _fresh(adir, run_dir, "xrd"):
        return
    adir.mkdir(parents=True, exist_ok=True)
    run_xrd(run_dir, XRDParams(), output=adir / "xrd", force=True)
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
    if entry_group in ("sc_first_charge", "sc_cycled"):
        jobs.append(("SXDM", sxdm_states))
    if entry_group in ("sc_first_charge", "pc"):
        jobs.append(("XRD", xrd))
    for name, fn in jobs:
        try:
            fn(run_dir, adir)
        except Exception as exc:  # an analysis must not take the whole report down
            log.warning("%s of %s failed: %r", name, run_dir, exc)
            problems.append(f"{name} of {run_dir.name} failed: {exc!r}")
    return problems
