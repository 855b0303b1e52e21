"""End-of-run products of a synthesis run (rank 0, NumPy/matplotlib; no DOLFINx).

* ``xrd_refinement.csv``: the global phase fractions when the program first reaches each
  of ``synthesis.report_temperatures`` and at the end, as mole fractions per TM and as
  the mass fractions a Rietveld refinement of an XRD pattern reports (interpolated
  linearly in time between the accepted steps that bracket the temperature);
* ``figures/synthesis.png``: phase fractions and temperature against time, the radial
  profiles at the report temperatures and at the end, and the refinement bars.
"""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np

from solver.synthesis.kinetics import PHASES, RADIAL_BINS, weight_fractions

REFINEMENT_COLUMNS = ["label", "temperature_C", "time_s", "precursor", "layered",
                      "rock_salt", "porosity", "wt_precursor", "wt_layered", "wt_rock_salt"]
_KEYS = (*PHASES, "porosity")


def _interp(rows: list[dict], i: int, w: float, key: str) -> float:
    return (1.0 - w) * float(rows[i - 1][key]) + w * float(rows[i][key])


def state_at_temperature(rows: list[dict], T: float) -> dict | None:
    """Fractions (global and radial) when the program first reaches ``T`` [K], or None."""
    for i in range(1, len(rows)):
        T0, T1 = float(rows[i - 1]["temperature_K"]), float(rows[i]["temperature_K"])
        if (T0 - T) * (T1 - T) <= 0.0 and T0 != T1 or T1 == T:
            w = 1.0 if T1 == T0 else (T - T0) / (T1 - T0)
            keys = [k for k in rows[i] if k not in ("step_type",)]
            return {k: _interp(rows, i, w, k) for k in keys}
    return None


def refinement(rows: list[dict], temps: list[float], params) -> list[dict]:
    """Rows of xrd_refinement.csv (see the module docstring)."""
    out = []
    points = [(f"{T - 273.15:.0f} degC", state_at_temperature(rows, T), T) for T in temps]
    points.append(("end", {k: v for k, v in rows[-1].items() if k != "step_type"},
                   float(rows[-1]["temperature_K"])))
    for label, st, T in points:
        if st is None:
            out.append({"label": label + " (not reached)", "temperature_C": T - 273.15,
                        **dict.fromkeys(REFINEMENT_COLUMNS[2:], float("nan"))})
            continue
        wt = weight_fractions(st["precursor"], st["layered"], st["rock_salt"], params)
        out.append({"label": label, "temperature_C": float(st["temperature_K"]) - 273.15,
                    "time_s": st["time_s"], **{k: st[k] for k in _KEYS},
                    "wt_precursor": wt[0], "wt_layered": wt[1], "wt_rock_salt": wt[2],
                    "_state": st})
    return out


def write_refinement(outdir: Path, table: list[dict]) -> Path:
    path = outdir / "xrd_refinement.csv"
    with path.open("w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=REFINEMENT_COLUMNS)
        w.writeheader()
        for r in table:
            w.writerow({k: (f"{r[k]:.6g}" if isinstance(r[k], float) else r[k])
                        for k in REFINEMENT_COLUMNS})
    return path


def figure(outdir: Path, rows: list[dict], table: list[dict]) -> Path:
    """figures/synthesis.png (module docstring)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    t = np.array([float(r["time_s"]) for r in rows]) / 3600.0
    fig, ax = plt.subplots(1, 3, figsize=(15, 4.4))
    colours = {"precursor": "tab:green", "layered": "tab:blue", "rock_salt": "tab:red",
               "porosity": "tab:gray"}
    for k in _KEYS:
        ax[0].plot(t, [float(r[k]) for r in rows], color=colours[k], label=k.replace("_", " "))
    ax[0].set_xlabel("time [h]")
    ax[0].set_ylabel("global fraction (per TM; porosity per volume)")
    ax[0].set_ylim(-0.02, 1.02)
    axT = ax[0].twinx()
    axT.plot(t, [float(r["temperature_C"]) for r in rows], "k--", lw=1, label="T")
    axT.set_ylabel("temperature [degC]")
    ax[0].legend(loc="center right", fontsize=8)
    ax[0].set_title("phase fractions over the program")
    centres = (np.arange(RADIAL_BINS) + 0.5) / RADIAL_BINS
    shown = [x for x in table if "_state" in x]
    cmap = plt.get_cmap("viridis")
    for j, r in enumerate(shown):
        st = r["_state"]
        col = cmap(j / max(1, len(shown) - 1))
        for k, style in (("layered", "-"), ("rock_salt", "--")):
            ax[1].plot(centres, [st[f"{k}_rho{c:.1f}"] for c in centres], style, color=col,
                       marker="o", ms=3, label=f"{r['label']}" if k == "layered" else None)
    ax[1].plot([], [], "k-", label="layered")
    ax[1].plot([], [], "k--", label="rock salt")
    ax[1].set_xlabel("normalised radius r/R")
    ax[1].set_ylabel("shell-averaged fraction")
    ax[1].set_ylim(-0.02, 1.02)
    ax[1].legend(fontsize=7)
    ax[1].set_title("radial profiles (shell averages)")
    ok = [r for r in table if "_state" in r]
    x = np.arange(len(ok))
    bottom = np.zeros(len(ok))
    for k, c in (("wt_precursor", colours["precursor"]), ("wt_layered", colours["layered"]),
                 ("wt_rock_salt", colours["rock_salt"])):
        vals = np.array([r[k] for r in ok])
        ax[2].bar(x, vals, bottom=bottom, color=c, label=k[3:].replace("_", " "))
        bottom += vals
    ax[2].set_xticks(x, [r["label"] for r in ok], rotation=30, fontsize=8)
    ax[2].set_ylabel("mass fraction (synthetic XRD refinement)")
    ax[2].legend(fontsize=8)
    ax[2].set_title("phase fractions at the report temperatures")
    fig.tight_layout()
    path = outdir / "figures" / "synthesis.png"
    path.parent.mkdir(exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
