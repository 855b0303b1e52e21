"""Map figures: images with micrometre scale bars, colour bars and units."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from postprocess.io import save_figure  # noqa: E402
from postprocess.sections import draw_section, section_colorbar  # noqa: E402


def scale_bar_length(width_um: float) -> float:
    """A round scale-bar length of about a fifth of the image width [um]."""
    target = width_um / 5.0
    for v in (10.0, 5.0, 2.0, 1.0, 0.5, 0.2, 0.1, 0.05, 0.02, 0.01):
        if v <= target:
            return v
    return target


def show_map(ax, image: np.ndarray, extent, *, title: str, label: str, cmap: str = "viridis",
             symmetric: bool = False, fig=None):
    """One map panel with a scale bar (lower left) and a colour bar."""
    from mpl_toolkits.axes_grid1.anchored_artists import AnchoredSizeBar

    vals = image[np.isfinite(image)]
    kw = {}
    if vals.size:
        if symmetric:
            lim = float(np.nanpercentile(np.abs(vals), 99.5)) or 1.0
            kw = {"vmin": -lim, "vmax": lim}
        else:
            lo, hi = np.nanpercentile(vals, [0.5, 99.5])
            kw = {"vmin": float(lo), "vmax": float(hi) if hi > lo else float(lo) + 1e-12}
    cm = plt.get_cmap(cmap).copy()
    cm.set_bad("0.92")
    im = ax.imshow(image, origin="lower", extent=extent, cmap=cm, interpolation="nearest", **kw)
    width = extent[1] - extent[0]
    bar = scale_bar_length(width)
    ax.add_artist(AnchoredSizeBar(ax.transData, bar, f"{bar:g} µm", "lower left", pad=0.4,
                                  color="black", frameon=False, size_vertical=width / 150))
    ax.set_title(title, fontsize=10)
    ax.set_xticks([])
    ax.set_yticks([])
    (fig or ax.figure).colorbar(im, ax=ax, shrink=0.85, label=label)
    return im


def extent_of(maps: dict) -> list[float]:
    xs, ys, h = maps["x_centres_um"], maps["y_centres_um"], float(maps["pixel_size_um"])
    return [xs[0] - h / 2, xs[-1] + h / 2, ys[0] - h / 2, ys[-1] + h / 2]


def _axis_name(v: np.ndarray) -> str:
    return "(" + ", ".join(f"{c:+.2f}" for c in v) + ")"


def sxdm_figure(maps: dict, path: Path, title: str = "") -> Path:
    """Six panels: Delta d/d (mean, reference), theta_xy, theta_xz, intensity, Li fraction."""
    ext = extent_of(maps)
    fig, axes = plt.subplots(2, 3, figsize=(13.5, 8.2), constrained_layout=True)
    m = maps["mask"]

    def std(key):
        return float(np.nanstd(maps[key][m])) if m.any() else float("nan")

    panels = [
        ("dd_mean", 100.0, "Δd/d vs particle mean", "Δd/d [%]", "RdBu_r", True),
        ("dd_ref", 100.0, "Δd/d vs unstrained reference", "Δd/d [%]", "RdBu_r", False),
        ("x_map", 1.0, "Li fraction x (beam-averaged)", "x [-]", "viridis", False),
        ("theta_xy_deg", 1.0, "θxy (tilt about the beam)", "θxy [deg]", "PuOr_r", True),
        ("theta_xz_deg", 1.0, "θxz (tilt in the scattering plane)", "θxz [deg]", "PuOr_r",
         True),
        ("intensity_um", 1.0, "integrated intensity", "diffracting thickness [µm]", "magma",
         False),
    ]
    for ax, (key, scale, name, label, cmap, sym) in zip(axes.ravel(), panels, strict=True):
        img = maps[key] * scale
        sub = f"\nstd = {std(key) * scale:.3g}" if key != "intensity_um" else ""
        show_map(ax, img, ext, title=name + sub, label=label, cmap=cmap, symmetric=sym, fig=fig)
    fr = maps["frame"]
    fig.suptitle(f"SXDM {title}\nmap x' = {_axis_name(fr[0])}, y' = {_axis_name(fr[1])}, "
                 f"beam z' = {_axis_name(fr[2])} (sample frame); pixel "
                 f"{float(maps['pixel_size_um']) * 1e3:.0f} nm", fontsize=10)
    return save_figure(fig, path)


def xrd_figure(grid, profiles, rows, last, last_row, params, path: Path, title: str = ""
               ) -> Path:
    """In situ style (003) map vs time/state of charge; one output's profile with both fits
    and its Williamson-Hall plot (``last``/``last_row``: the analysis shown)."""
    from postprocess.xrd import pseudo_voigt

    fig, axes = plt.subplots(1, 3, figsize=(15, 4.6), constrained_layout=True)
    ax = axes[0]
    t_min = np.array([r["time_s"] for r in rows]) / 60.0
    soc = np.array([r["soc"] for r in rows])
    if len(rows) > 1:
        # one row per field output, as the scans of an in situ experiment
        im = ax.pcolormesh(grid, t_min, profiles, shading="nearest", cmap="inferno")
        fig.colorbar(im, ax=ax, label="intensity [µm³ per deg]", pad=0.2)
        for tm in t_min:
            ax.axhline(tm, color="w", lw=0.3, alpha=0.4)
        ax.set_ylabel("time [min]")
        if np.all(np.diff(soc) > 0):  # monotonic: a state-of-charge axis
            sec = ax.secondary_yaxis("right", functions=(
                lambda t: np.interp(t, t_min, soc), lambda s_: np.interp(s_, soc, t_min)))
            sec.set_ylabel("state of charge [-]")
        else:  # charge and discharge or rest: label every scan with its state of charge
            for tm, s_ in zip(t_min, soc, strict=True):
                ax.annotate(f"SOC {s_:.2f}", (1.01, tm), xycoords=("axes fraction", "data"),
                            fontsize=6, va="center")
    else:
        ax.plot(grid, profiles[0])
        ax.set_ylabel("intensity [µm³ per deg]")
    ax.set_xlabel("2θ [deg]")
    ax.set_title("(003) region at every field output", fontsize=10)
    ax = axes[1]
    p3 = last["003"]
    ax.plot(p3["two_theta_deg"], p3["intensity"], "k", lw=1.5, label="synthetic")
    for key, style in (("fit_one_phase", "--"), ("fit_two_phase", ":")):
        f = last[key]
        y = sum(pseudo_voigt(p3["two_theta_deg"], c, w, e, a) for c, w, e, a in zip(
            f["centre_deg"], f["fwhm_deg"], f["eta"], f["area"], strict=True))
        lab = ", ".join(f"c = {c:.4f} Å ({fr * 100:.0f} %)" for c, fr in zip(
            f["c_A"], f["fraction"], strict=True))
        ax.plot(p3["two_theta_deg"], y, style, label=f"{key.split('_')[1]}-phase: {lab}")
    above = p3["two_theta_deg"][p3["intensity"] > 0.01 * p3["intensity"].max()]
    ax.set_xlim(above.min() - 3 * params.fwhm_deg, above.max() + 3 * params.fwhm_deg)
    ax.set_xlabel("2θ [deg]")
    ax.set_ylabel("intensity [µm³ per deg]")
    ax.set_title(f"broadest (003): t = {last_row['time_s'] / 60:.2f} min, SOC "
                 f"{last_row['soc']:.2f}", fontsize=10)
    ax.legend(fontsize=7)
    ax = axes[2]
    th = np.deg2rad([last[k]["broadening"]["centre_deg"] for k in ("003", "006", "009")]) / 2
    beta = np.deg2rad([last[k]["broadening"]["sample_fwhm_deg"] for k in ("003", "006", "009")])
    wh = last["williamson_hall"]
    X = 4 * np.sin(th)
    ax.plot(X, beta * np.cos(th) * 1e3, "o")
    xx = np.linspace(0, X.max() * 1.05, 10)
    ax.plot(xx, (wh["intercept"] + wh["microstrain_wh"] * xx) * 1e3, "-",
            label=f"ε_WH = {wh['microstrain_wh']:.2e} (rms {wh['microstrain_rms']:.2e})")
    for x_, lab in zip(X, ("003", "006", "009"), strict=True):
        ax.annotate(lab, (x_, 0), textcoords="offset points", xytext=(0, 5), fontsize=8)
    ax.set_xlabel("4 sin θ")
    ax.set_ylabel("β cos θ [mrad]")
    ax.set_title(f"Williamson-Hall at t = {last_row['time_s'] / 60:.2f} min", fontsize=10)
    ax.legend(fontsize=8)
    fig.suptitle(f"synthetic XRD {title}, instrument pseudo-Voigt FWHM "
                 f"{params.fwhm_deg} deg, η = {params.eta}", fontsize=10)
    return save_figure(fig, path)


def txm_figure(grid, values, weights, st: dict, path: Path, title: str = "") -> Path:
    """Slices through the centre normal to x, y, z and the volume-weighted histogram."""
    field = "ni_oxidation_state"
    centre = np.asarray(grid.center)
    fig, axes = plt.subplots(1, 4, figsize=(17, 4.2), constrained_layout=True)
    lo, hi = np.percentile(values, [0.5, 99.5])
    hi = hi if hi > lo else lo + 1e-6
    planes = [("z", (0, 1), "x", "y"), ("y", (0, 2), "x", "z"), ("x", (1, 2), "y", "z")]
    from mpl_toolkits.axes_grid1.anchored_artists import AnchoredSizeBar

    for ax, (normal, (i, j), a, b) in zip(axes[:3], planes, strict=True):
        cut = grid.slice(normal=normal, origin=centre).triangulate()
        tri = cut.faces.reshape(-1, 4)[:, 1:]
        im = draw_section(ax, cut.points[:, i], cut.points[:, j], tri, cut.point_data[field],
                          vmin=lo, vmax=hi)
        ax.set_aspect("equal")
        ax.set_xticks([])
        ax.set_yticks([])
        width = float(np.ptp(cut.points[:, i]))
        bar = scale_bar_length(width)
        ax.add_artist(AnchoredSizeBar(ax.transData, bar, f"{bar:g} µm", "lower left",
                                      pad=0.3, color="black", frameon=False,
                                      size_vertical=width / 150))
        pos = centre["xyz".index(normal)] + 0.0  # + 0.0: no "-0.00"
        ax.set_title(f"{a}{b} slice through the centre ({normal} = {pos:.2f} µm)", fontsize=9)
        section_colorbar(fig, im, ax=ax, shrink=0.85, label="Ni oxidation state")
    ax = axes[3]
    ax.hist(values, bins=80, weights=weights / weights.sum() * 100, color="C0")
    ax.axvline(st["mean"], color="k", lw=1)
    ax.set_xlabel("Ni oxidation state")
    ax.set_ylabel("volume fraction [%]")
    ax.set_title(f"mean {st['mean']:.4f}, std {st['std']:.4f}", fontsize=10)
    fig.suptitle(f"TXM-XANES proxy: {title}", fontsize=10)
    return save_figure(fig, path)


def compare_figure(imgs: dict, metrics: dict, path: Path) -> Path:
    """Simulated | registered measured | difference | histograms."""
    s, r, h = imgs["sim"], imgs["reg"], imgs["pixel"]
    ny, nx = s.shape
    ext = [-nx * h / 2, nx * h / 2, -ny * h / 2, ny * h / 2]
    fig, axes = plt.subplots(1, 4, figsize=(18, 4.3), constrained_layout=True)
    both = np.concatenate([s[np.isfinite(s)], r[np.isfinite(r)]])
    lo, hi = np.percentile(both, [0.5, 99.5]) if both.size else (0, 1)
    label = str(metrics.get("simulated_key") or "value")
    for ax, img, name in ((axes[0], s, "simulated"), (axes[1], r, "measured, registered")):
        show_map(ax, img, ext, title=name, label=label, cmap="viridis", fig=fig)
        ax.images[0].set_clim(lo, hi)
    diff = r - s
    show_map(axes[2], diff, ext, title="measured − simulated", label=f"difference of {label}",
             cmap="RdBu_r", symmetric=True, fig=fig)
    ax = axes[3]
    bins = np.linspace(lo, hi, 60)
    ax.hist(imgs["sv"], bins=bins, alpha=0.6, density=True, label="simulated")
    ax.hist(imgs["mv"], bins=bins, alpha=0.6, density=True, label="measured")
    ax.set_xlabel(label)
    ax.set_ylabel("probability density")
    ax.legend(fontsize=8)
    reg = metrics["registration"]
    ax.set_title(f"W1 = {metrics['wasserstein']:.3g}, r = "
                 f"{metrics['pearson_after_registration']:.3f}", fontsize=10)
    fig.suptitle(f"registration: flip x {reg['flip_x']}, rotation {reg['rotation_deg']:.2f}°, "
                 f"shift ({reg['shift_um'][0]:.3f}, {reg['shift_um'][1]:.3f}) µm; pixel "
                 f"{h * 1e3:.0f} nm", fontsize=10)
    return save_figure(fig, path)
