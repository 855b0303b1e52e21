"""TXM-XANES proxy: the Ni oxidation state of the local Li content.

Mapping (charge balance of Li_x Ni_a Mn_b Co_c O2, documented in docs/observables.md):
O is 2-, Mn stays 4+ and Co 3+ (redox-inactive) while Ni is oxidised, so

    v_Ni(x) = (4 - x - 4 b - 3 c) / a,

linear in x with slope -1/a.  Ni cannot exceed 4+: below the x where v_Ni = 4 (only
reachable for Co-containing materials at deep charge, e.g. x < 0.1 for NC91) the remaining
charge is assigned to Co3+/4+ and v_Ni stays 4.  These are ASSUMPTIONS (the usual reading of
Ni K-edge XANES of Ni-rich layered oxides: Ni carries the redox, Mn4+ is inactive); oxygen
redox at deep charge is neglected.  At x = 1: NC91 -> 3.00, NM91 -> 2.89 (Mn4+ requires
Ni2+), NMC811 -> 2.88, NMC622 -> 2.67.

TXM voxels (~30 nm) are finer than or comparable to the mesh, so no blur is applied: the
3D field is the model's P1 field.
"""

from __future__ import annotations

import logging
import re
import time
from pathlib import Path

import numpy as np

log = logging.getLogger("chemomech")

VALENCE_FIXED = {"Mn": 4.0, "Co": 3.0, "Al": 3.0}  # assumption: redox-inactive cations


def composition_fractions(formula: str) -> dict[str, float]:
    """'LiNi0.9Mn0.1O2' -> {'Ni': 0.9, 'Mn': 0.1} (transition metals / Al of Li M O2)."""
    parts = re.findall(r"([A-Z][a-z]?)(\d*\.?\d*)", formula)
    out = {el: float(n) if n else 1.0 for el, n in parts if el not in ("Li", "O")}
    if "Ni" not in out:
        raise ValueError(f"composition {formula!r} has no Ni")
    if abs(sum(out.values()) - 1.0) > 1e-6:
        raise ValueError(f"composition {formula!r}: metal fractions must sum to 1")
    return out


def ni_oxidation_state(x, formula: str) -> np.ndarray:
    """Ni oxidation state of Li_x M O2 (see the module docstring for the assumptions)."""
    comp = composition_fractions(formula)
    fixed = sum(f * VALENCE_FIXED[el] for el, f in comp.items() if el != "Ni")
    unknown = [el for el in comp if el != "Ni" and el not in VALENCE_FIXED]
    if unknown:
        raise ValueError(f"no valence assumption for {unknown} in {formula!r}")
    v = (4.0 - np.asarray(x, dtype=float) - fixed) / comp["Ni"]
    return np.minimum(v, 4.0)


def run_txm(run_dir: Path, *, time_s: float | None = None, step: int | None = None,
            output: Path | None = None, force: bool = False) -> Path:
    """3D Ni oxidation field (.vtu), three orthogonal slices, histogram, metrics.json."""
    import pyvista as pv

    from postprocess import io
    from postprocess.maps import txm_figure
    from postprocess.reader import open_run, sample_tets

    pv.OFF_SCREEN = True
    run = open_run(run_dir)
    index = run.select(time_s, step)
    outdir = io.prepare_dir(Path(output) if output else Path(run_dir) / "txm" /
                            f"out{index:04d}", force)
    t0 = time.perf_counter()
    snap = run.read(index)
    material = run.material
    v = ni_oxidation_state(snap.point_data["x"], material.composition)
    cells = np.hstack([np.full((len(snap.tets), 1), 4), snap.tets]).ravel()
    grid = pv.UnstructuredGrid(cells, np.full(len(snap.tets), pv.CellType.TETRA),
                               snap.points)
    grid.point_data["ni_oxidation_state"] = v
    grid.point_data["x"] = snap.point_data["x"]
    io.save_mesh(grid, outdir / "ni_oxidation.vtu")
    _, w, vals, _ = sample_tets(snap, ["x"])
    vq = ni_oxidation_state(vals["x"], material.composition)
    st = io.stats(vq, w)
    txm_figure(grid, vq, w, st, outdir / "ni_oxidation.png",
               title=f"{material.name} ({material.composition}), t = {snap.time / 60:.2f} min")
    io.write_json(outdir / "metrics.json", {
        "run": str(run_dir), "time_s": snap.time, "output_index": index,
        "material": material.name, "composition": material.composition,
        "mapping": "v_Ni = (4 - x - 4 b_Mn - 3 c_Co) / a_Ni, capped at 4 (O2-, Mn4+, Co3+ "
                   "fixed; assumption)",
        "ni_oxidation_state_volume_weighted": st,
        "ni_oxidation_state_at_x1": float(ni_oxidation_state(1.0, material.composition)),
        "wall_s": time.perf_counter() - t0})
    log.info("txm: %s (Ni oxidation state %.4f +- %.4f)", outdir, st["mean"], st["std"])
    return outdir
