"""Figures of the validation report (PNG; embedded in the HTML as base64).

Every function takes the completed runs it needs ({case id: run folder}) and the analysis
folder, and returns the PNG path, or None when none of its runs is available (the report
then says which are missing).  Axes carry units; maps carry scale bars and colour bars.
"""

from __future__ import annotations

import json
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from postprocess.io import save_figure  # noqa: E402
from postprocess.report.metrics import mapped_charge_end, step_ends  # noqa: E402
from postprocess.sections import draw_section, section_colorbar  # noqa: E402
from solver.output import read_timeseries  # noqa: E402

COLOURS = {"NC91": "tab:blue", "NM91": "tab:red", "NMC622": "tab:green"}


def _charge_rows(ts: dict[str, np.ndarray]) -> np.ndarray:
    """Rows of the mapped charge (the last charge step)."""
    end = mapped_charge_end(ts)
    step = int(ts["protocol_step"][end])
    return np.flatnonzero(ts["protocol_step"].astype(int) == step)


def voltage_curves(runs: dict[str, Path], info: dict[str, dict], path: Path) -> Path | None:
    """Voltage against the charge passed in the mapped charge, one panel per rate."""
    have = {k: v for k, v in runs.items() if v is not None}
    if not have:
        return None
    rates = sorted({info[k]["rate"] for k in have}, key=lambda r: float(r.split()[0]))
    fig, axes = plt.subplots(1, len(rates), figsize=(5.2 * len(rates), 4.2),
                             constrained_layout=True, squeeze=False)
    for ax, rate in zip(axes[0], rates, strict=True):
        for cid, d in have.items():
            if info[cid]["rate"] != rate:
                continue
            ts = read_timeseries(d / "timeseries.csv")
            rows = _charge_rows(ts)
            style = {"pc": "--", "sc_cycled": ":", "sc_two_phase": "-."}.get(
                info[cid]["group"], "-")
            ax.plot(ts["step_capacity_mAh_g"][rows], ts["voltage_V"][rows], style,
                    color=COLOURS.get(info[cid]["material"], "k"),
                    label=f"{info[cid]['label']}: {ts['step_capacity_mAh_g'][rows[-1]]:.1f} "
                          "mAh/g")
        ax.set_xlabel("charge passed [mAh/g]")
        ax.set_ylabel("voltage [V vs Li/Li⁺]")
        ax.set_title(f"charge to 4.5 V at {rate}", fontsize=10)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7, loc="lower right")
    return save_figure(fig, path)


def sections(runs: dict[str, Path], info: dict[str, dict], path: Path) -> Path | None:
    """Mid-plane (z = 0) sections of the Li fraction at the end of charge and after the
    rest; one colour scale per row (state), shared by all cases of the row."""
    from postprocess.report.analysis import mid_plane, state_times

    have = [(k, v) for k, v in runs.items() if v is not None]
    if not have:
        return None
    states = ("charged", "rested")
    data = {(k, s): mid_plane(d, state_times(d)[s]) for k, d in have for s in states}
    fig, axes = plt.subplots(len(states), len(have), figsize=(3.6 * len(have), 6.6),
                             constrained_layout=True, squeeze=False)
    for i, s in enumerate(states):
        vals = np.concatenate([data[(k, s)]["x"] for k, _ in have])
        lo, hi = float(vals.min()), float(vals.max())
        hi = hi if hi > lo else lo + 1e-6
        im = None
        for j, (k, _) in enumerate(have):
            ax = axes[i][j]
            c = data[(k, s)]
            im = draw_section(ax, c["points"][:, 0], c["points"][:, 1], c["tri"], c["x"],
                              vmin=lo, vmax=hi)
            ax.set_aspect("equal")
            ax.set_xlabel("x (c-axis) [µm]")
            ax.set_ylabel("y [µm]")
            what = "end of charge" if s == "charged" else "after the rest"
            ax.set_title(f"{info[k]['label']}\n{what}, t = {float(c['time_s']) / 3600:.2f} h",
                         fontsize=9)
        section_colorbar(fig, im, ax=list(axes[i]), shrink=0.85, label=f"Li fraction x ({s})")
    return save_figure(fig, path)


def xrd_contours(runs: dict[str, Path], info: dict[str, dict], analysis: Path,
                 path: Path, zoom_mAh_g: float = 40.0) -> Path | None:
    """(003) intensity against 2θ and the charge passed (in situ style), one column per SC
    case, with the one-phase (line) and two-phase (open symbols, where detected) peak
    centres; the second row zooms on the last ``zoom_mAh_g`` of the charge, where the c
    collapse (and an H2/H3 coexistence) lies."""
    from postprocess.xrd import CU_KA1_M, two_theta_deg

    have = [(k, d) for k, d in runs.items() if d is not None
            and (analysis / k / "xrd" / "fits.csv").exists()]
    if not have:
        return None
    fig, axes = plt.subplots(2, len(have), figsize=(4.2 * len(have), 8.4),
                             constrained_layout=True, squeeze=False,
                             gridspec_kw={"height_ratios": [1.15, 1.0]})
    for j, (k, d) in enumerate(have):
        ts = read_timeseries(d / "timeseries.csv")
        t_end = float(ts["time_s"][mapped_charge_end(ts)])
        fits = read_timeseries(analysis / k / "xrd" / "fits.csv")
        prof = np.loadtxt(analysis / k / "xrd" / "profiles_003.csv", delimiter=",", skiprows=1)
        grid, profiles = prof[:, 0], prof[:, 1:].T
        t = np.atleast_1d(fits["time_s"])
        keep = t <= t_end + 1e-6
        cap = np.interp(t[keep], ts["time_s"], ts["capacity_mAh_g"])
        pr = profiles[keep]
        c1 = two_theta_deg(np.atleast_1d(fits["c_single_A"])[keep] * 1e-10 / 3, CU_KA1_M)
        two = np.atleast_1d(fits["phases"])[keep] == 2
        centres = [two_theta_deg(np.atleast_1d(fits[key])[keep][two] * 1e-10 / 3, CU_KA1_M)
                   for key in ("c1_A", "c2_A")]
        top = float(cap.max()) if cap.size else 0.0
        for i, rows in enumerate((np.ones_like(cap, dtype=bool), cap >= top - zoom_mAh_g)):
            ax = axes[i][j]
            if rows.sum() > 1:
                im = ax.pcolormesh(grid, cap[rows], pr[rows] / pr.max(), shading="nearest",
                                   cmap="inferno", vmin=0.0, vmax=1.0)
                fig.colorbar(im, ax=ax, label="(003) intensity [normalised]")
            ax.plot(c1[rows], cap[rows], "c-", lw=1, label="one-phase fit centre")
            for cc, mk, lab in zip(centres, ("o", "s"), ("two-phase fit centres", None),
                                   strict=True):
                sel = rows[two]
                ax.plot(cc[sel], cap[two][sel], mk, ms=4 if i else 3, mfc="none",
                        color="lime", label=lab)
            lit = pr[rows].max(0) > 0.01 * pr.max() if rows.any() else np.zeros(0, bool)
            if lit.any():
                ax.set_xlim(grid[lit].min() - 0.1, grid[lit].max() + 0.1)
            if i and rows.sum() > 1:  # the scans' span: no empty band at either end
                ax.set_ylim(float(cap[rows].min()), top)
            ax.set_xlabel("2θ [deg] (Cu Kα1)")
            ax.set_ylabel("charge passed [mAh/g]")
            if i == 0:
                ax.set_title(f"{info[k]['label']}\n{int(keep.sum())} scans, two phases in "
                             f"{int(two.sum())}", fontsize=9)
                ax.legend(fontsize=6, loc="lower right")
            else:
                ax.set_title(f"the last {zoom_mAh_g:g} mAh/g of the charge "
                             f"({int(rows.sum())} scans)", fontsize=9)
    return save_figure(fig, path)


SXDM_PANELS = (("dd_mean", 100.0, "Δd/d", "Δd/d [%]", "RdBu_r"),
               ("theta_xy_deg", 1.0, "θxy", "θxy [deg]", "PuOr_r"),
               ("theta_xz_deg", 1.0, "θxz", "θxz [deg]", "PuOr_r"))


def sxdm_grid(items: list[tuple[str, Path | None]], state: str, path: Path
              ) -> Path | None:
    """SXDM maps (rows: cases; columns Δd/d, θxy, θxz), one symmetric colour scale per
    column shared by every row (±99.5th percentile of |value| over all rows), the same
    50 nm pixels, a 1 µm-class scale bar; the std of every map in its title."""
    from postprocess.maps import extent_of, show_map

    have = [(lab, np.load(a / f"sxdm_{state}.npz")) for lab, a in items
            if a is not None and (a / f"sxdm_{state}.npz").exists()]
    if not have:
        return None
    fig, axes = plt.subplots(len(have), 3, figsize=(12.5, 3.5 * len(have)),
                             constrained_layout=True, squeeze=False)
    for j, (key, scale, name, label, cmap) in enumerate(SXDM_PANELS):
        vals = np.concatenate([np.abs(m[key][m["mask"]]) * scale for _, m in have])
        lim = float(np.nanpercentile(vals, 99.5)) if vals.size else 1.0
        lim = lim if lim > 0 else 1e-9
        for i, (lab, m) in enumerate(have):
            img = np.where(m["mask"], m[key] * scale, np.nan)
            ax = axes[i][j]
            show_map(ax, img, extent_of(m), title=f"{lab}: {name}\nstd = "
                     f"{np.nanstd(img):.3g} {label.split('[')[1].rstrip(']')}",
                     label=label, cmap=cmap, fig=fig)
            ax.images[-1].set_clim(-lim, lim)
    px = float(have[0][1]["pixel_size_um"]) * 1e3
    fig.suptitle(f"synthetic SXDM of (003), {state}: beam along z, map x–y (c-axis along x), "
                 f"pixel {px:.0f} nm, 30 nm beam, 2° rocking; one colour scale per column",
                 fontsize=10)
    return save_figure(fig, path)


def pc_vs_sc(rows: list[dict], path: Path) -> Path | None:
    """Bars of the PC-versus-SC metrics (rows: label + metric values, NaN = missing)."""
    keys = (("vm_stress_max_MPa", "largest von Mises stress [MPa]"),
            ("gb_stress_max_MPa", "largest grain-boundary stress [MPa]"),
            ("strain_std", "std of the (003) strain, end of charge [-]"),
            ("x_std", "std of the Li fraction, end of charge [-]"))
    if not rows or all(not np.isfinite(r.get(k, np.nan)) for r in rows for k, _ in keys):
        return None
    fig, axes = plt.subplots(1, len(keys), figsize=(4.0 * len(keys), 4.2),
                             constrained_layout=True)
    labels = [r["label"] for r in rows]
    for ax, (k, title) in zip(axes, keys, strict=True):
        v = np.array([r.get(k, np.nan) for r in rows], dtype=float)
        ok = np.isfinite(v) & (v > 0)
        log = k.endswith("MPa") and ok.any()
        floor = float(v[ok].min()) / 3.0 if log else 0.0
        ax.bar(np.flatnonzero(ok), v[ok] - floor, bottom=floor,
               color=[COLOURS.get(r["material"], "k") for r, o in zip(rows, ok, strict=True)
                      if o], alpha=0.8)
        for i, val in enumerate(v):  # value labels just above the axis (axes fraction)
            ax.annotate("n/a" if not np.isfinite(val) else f"{val:.3g}", (i, 0.02),
                        xycoords=ax.get_xaxis_transform(), ha="center", fontsize=7)
        ax.set_xticks(range(len(v)), labels, rotation=30, ha="right", fontsize=7)
        ax.set_xlim(-0.5, len(v) - 0.5)
        if log:
            ax.set_yscale("log")
            ax.set_ylim(bottom=floor)
        ax.set_title(title, fontsize=9)
        ax.grid(alpha=0.3, axis="y")
    return save_figure(fig, path)


def anneal(runs: dict[str, Path], info: dict[str, dict], path: Path) -> Path | None:
    """[TH] runs: strain_003_std against time (anneal shaded) and discharge capacity per
    discharge step."""
    have = {k: d for k, d in runs.items() if d is not None}
    if not have:
        return None
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 4.2), constrained_layout=True)
    for i, (k, d) in enumerate(have.items()):
        ts = read_timeseries(d / "timeseries.csv")
        col = f"C{i}"
        ax1.plot(ts["time_s"] / 3600, ts["strain_003_std"], color=col, label=info[k]["label"])
        steps = ts["protocol_step"].astype(int)
        for s in np.unique(steps):
            rows = np.flatnonzero(steps == s)
            if str(ts["step_type"][rows[0]]) == "anneal":
                ax1.axvspan(ts["time_s"][rows[0]] / 3600, ts["time_s"][rows[-1]] / 3600,
                            color=col, alpha=0.12)
        ends = step_ends(ts, "discharge")
        ax2.plot(range(1, len(ends) + 1), np.abs(ts["step_capacity_mAh_g"][ends]),
                 "o-" if i == 0 else "s--", mfc="none", color=col, label=info[k]["label"])
    ax1.set_xlabel("time [h] (shaded: the anneal step)")
    ax1.set_ylabel("std of the (003) strain [-]")
    ax1.set_yscale("log")
    ax1.grid(alpha=0.3)
    ax1.legend(fontsize=7)
    ax2.set_xlabel("discharge step (last: the re-test at 0.1 C)")
    ax2.set_ylabel("discharge capacity [mAh/g]")
    ax2.xaxis.get_major_locator().set_params(integer=True)
    ax2.grid(alpha=0.3)
    ax2.legend(fontsize=7)
    return save_figure(fig, path)


def sxdm_std_table(items: list[tuple[str, Path | None]]) -> list[dict]:
    """std of Δd/d, θxy, θxz at both states for every (label, analysis dir)."""
    out = []
    for lab, a in items:
        row = {"label": lab}
        for s in ("charged", "rested"):
            p = None if a is None else a / f"sxdm_{s}.json"
            m = json.loads(p.read_text())["maps"] if p is not None and p.exists() else None
            for key, *_ in SXDM_PANELS:
                row[f"{key}_{s}"] = m[key]["std"] if m else float("nan")
        out.append(row)
    return out
