"""Figures of a run: voltage curve and a mid-plane section of the Li fraction.

Reads only the output folder (``timeseries.csv``, ``fields.pvd``), so it works for runs
made on any number of ranks and can be re-run later: ``python -m postprocess.figures DIR``.
"""

from __future__ import annotations

import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from postprocess.sections import draw_section, section_colorbar  # noqa: E402
from solver.output import read_timeseries  # noqa: E402


def voltage_figure(outdir: Path, figdir: Path) -> Path:
    """Voltage against specific capacity (per protocol step) and against time."""
    ts = read_timeseries(outdir / "timeseries.csv")
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(10, 4), constrained_layout=True)
    steps = ts["protocol_step"].astype(int)
    many = len(np.unique(steps)) > 8  # cycling: capacity per step, coloured by cycle
    cycle = ts["cycle"].astype(int) if "cycle" in ts else np.zeros_like(steps)
    cmap = plt.get_cmap("viridis")
    top = max(int(cycle.max()), 1)
    for k in np.unique(steps):
        sel = steps == k
        kind = ts["step_type"][sel][0]
        if many:
            ax1.plot(ts["step_capacity_mAh_g"][sel], ts["voltage_V"][sel], lw=1,
                     color=cmap(cycle[sel][0] / top) if cycle[sel][0] else "0.5")
        else:
            ax1.plot(ts["capacity_mAh_g"][sel], ts["voltage_V"][sel], label=f"{k}: {kind}")
    if many:
        ax1.set_xlabel("capacity passed in the step [mAh/g]")
        sm = plt.cm.ScalarMappable(cmap=cmap, norm=plt.Normalize(1, top))
        fig.colorbar(sm, ax=ax1, label="cycle (grey: outside cycle blocks)")
    else:
        ax1.set_xlabel("net charge passed [mAh/g]")
        ax1.legend(fontsize=8)
    ax1.set_ylabel("voltage [V vs Li/Li+]")
    ax1.grid(alpha=0.3)
    hours = ts["time_s"][-1] > 5 * 3600.0
    t_axis = ts["time_s"] / (3600.0 if hours else 60.0)
    ax2.plot(t_axis, ts["x_surface_mean"], label="surface mean")
    ax2.plot(t_axis, ts["x_mean"], label="particle mean")
    ax2.fill_between(t_axis, ts["x_min"], ts["x_max"], alpha=0.2, label="min-max")
    ax2.set_xlabel("time [h]" if hours else "time [min]")
    ax2.set_ylabel("Li fraction x")
    ax2.legend(fontsize=8)
    ax2.grid(alpha=0.3)
    path = figdir / "voltage.png"
    fig.savefig(path, dpi=130)
    plt.close(fig)
    return path


MAX_SECTIONS = 6  # panels of a section figure (long cycling protocols have hundreds of ends)


def _section_times(outdir: Path, available: list[float]) -> list[float]:
    """Output times nearest to the end of every protocol step (where the contrast is);
    of many steps, at most MAX_SECTIONS spread over the run, the first and last kept."""
    ts = read_timeseries(outdir / "timeseries.csv")
    steps = ts["protocol_step"].astype(int)
    ends = [ts["time_s"][steps == k][-1] for k in np.unique(steps)]
    if len(ends) > MAX_SECTIONS:
        pick = np.unique(np.linspace(0, len(ends) - 1, MAX_SECTIONS).round().astype(int))
        ends = [ends[i] for i in pick]
    chosen = []
    for t in ends:
        near = min(available, key=lambda a: abs(a - t))
        if near not in chosen:
            chosen.append(near)
    return chosen


def section_figure(outdir: Path, figdir: Path, field: str = "x") -> Path | None:
    """Mid-plane (z = 0) sections of ``field`` at the end of every protocol step.

    One colour scale per panel, because the point is the contrast inside the particle
    (core-shell), which a shared scale over the whole run would hide.
    """
    import pyvista as pv

    from postprocess.reader import pvd_entries

    pv.OFF_SCREEN = True
    # one file per output time (a time written twice is read once, not as two meshes)
    all_times, files = pvd_entries(outdir / "vtk" / "fields.pvd")
    file_at = dict(zip(all_times, files, strict=True))

    def read(t):
        grid = pv.read(str(outdir / "vtk" / file_at[t]))
        return grid.combine() if isinstance(grid, pv.MultiBlock) else grid

    times = _section_times(outdir, all_times)
    if field not in read(times[0]).point_data:
        return None
    fig, axes = plt.subplots(1, len(times), figsize=(4.2 * len(times), 3.8),
                             constrained_layout=True, squeeze=False)
    for ax, t in zip(axes[0], times, strict=False):
        grid = read(t)
        cut = grid.slice(normal="z", origin=(0.0, 0.0, 0.0)).triangulate()
        tri = cut.faces.reshape(-1, 4)[:, 1:]
        pts = cut.points
        im = draw_section(ax, pts[:, 0], pts[:, 1], tri, cut.point_data[field])
        ax.set_aspect("equal")
        ax.set_title(f"t = {t / 60:.1f} min", fontsize=10)
        ax.set_xlabel("x [µm]")
        ax.set_ylabel("y [µm]")
        label = {"x": "Li fraction x", "hydrostatic": "hydrostatic stress [Pa]"}.get(field, field)
        section_colorbar(fig, im, ax=ax, shrink=0.85, label=f"{label} (z = 0)")
    path = figdir / f"section_{field}.png"
    fig.savefig(path, dpi=130)
    plt.close(fig)
    return path


def cycles_figure(outdir: Path, figdir: Path) -> Path | None:
    """Capacity, retention and strain heterogeneity against cycle (from cycles.csv)."""
    path = outdir / "cycles.csv"
    if not path.exists():
        return None
    cy = read_timeseries(path)
    n = np.atleast_1d(cy["cycle"]).astype(int)
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(10, 4), constrained_layout=True)
    ax1.plot(n, np.atleast_1d(cy["charge_capacity_mAh_g"]), "o-", label="charge")
    ax1.plot(n, np.atleast_1d(cy["discharge_capacity_mAh_g"]), "s-", label="discharge")
    ax1.set_xlabel("cycle")
    ax1.set_ylabel("capacity [mAh/g]")
    ax1.legend()
    ax1.legend(loc="lower left")
    ret = np.atleast_1d(cy["retention"])
    ax1b = ax1.twinx()
    ax1b.plot(n, ret, "k--", lw=1)
    ax1b.set_ylim(0.0, 1.1 * max(1.0, float(np.nanmax(ret)) if np.isfinite(ret).any() else 1))
    ax1b.set_ylabel("retention (dashed; discharge / first discharge)")
    curves = [("strain_003_std", "o-", "std of the (003) strain"),
              ("residual_strain_std", "s-", "std of the residual strain"),
              ("residual_strain_mean", "^-", "mean residual strain")]
    drawn = 0
    for key, style, label in curves:
        y = np.atleast_1d(cy[key])
        if np.isfinite(y).any():
            ax2.plot(n, y, style, label=label)
            drawn += 1
    if drawn:
        ax2.legend(fontsize=8)
    else:
        ax2.text(0.5, 0.5, "no mechanics in this run", ha="center", va="center",
                 transform=ax2.transAxes)
    ax2.set_xlabel("cycle")
    ax2.set_ylabel("strain at the end of the cycle [-]")
    for ax in (ax1, ax2):
        ax.xaxis.get_major_locator().set_params(integer=True)
    out = figdir / "cycles.png"
    fig.savefig(out, dpi=130)
    plt.close(fig)
    return out


def run_figures(outdir: str | Path) -> list[Path]:
    """Write every figure of a run into ``outdir/figures``."""
    outdir = Path(outdir)
    figdir = outdir / "figures"
    figdir.mkdir(exist_ok=True)
    paths = [voltage_figure(outdir, figdir)]
    cycles = cycles_figure(outdir, figdir)
    if cycles is not None:
        paths.append(cycles)
    if (outdir / "vtk" / "fields.pvd").exists():
        for field in ("x", "hydrostatic"):  # hydrostatic stress only when mechanics ran
            path = section_figure(outdir, figdir, field)
            if path is not None:
                paths.append(path)
    return paths


if __name__ == "__main__":
    for p in run_figures(sys.argv[1]):
        print(p)
