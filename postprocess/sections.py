"""Drawing a P1 field on a triangulated plane section (a PyVista slice of the mesh).

Matplotlib's ``tripcolor(shading="gouraud")`` interpolates *colours* (RGB) across each
triangle, not values: where a steep front (a core-shell interface, an H2/H3 boundary)
crosses one thin triangle of the slice, the blend of its vertex colours is a colour the
map does not have (brown between viridis' yellow and purple), which reads as a spurious
feature.  Filled contours of the piecewise-linear field map every point by its value.
"""

from __future__ import annotations

import numpy as np


def draw_section(ax, x: np.ndarray, y: np.ndarray, triangles: np.ndarray,
                 values: np.ndarray, vmin: float | None = None, vmax: float | None = None,
                 cmap: str = "viridis", levels: int = 96):
    """Filled contours of the P1 field ``values`` (one per point) on the triangles;
    ``vmin``/``vmax`` default to the field's range, values beyond them take the end
    colours (an extended colour bar).  Returns the mappable for ``fig.colorbar``."""
    v = np.asarray(values, dtype=float)
    lo = float(np.nanmin(v)) if vmin is None else float(vmin)
    hi = float(np.nanmax(v)) if vmax is None else float(vmax)
    if not hi > lo:  # a uniform field: one band around its value
        pad = max(abs(lo) * 1e-9, 1e-12)
        lo, hi = lo - pad, hi + pad
    below, above = bool(np.nanmin(v) < lo), bool(np.nanmax(v) > hi)
    extend = {(True, True): "both", (True, False): "min", (False, True): "max",
              (False, False): "neither"}[(below, above)]
    return ax.tricontourf(x, y, triangles, v, levels=np.linspace(lo, hi, levels + 1),
                          cmap=cmap, extend=extend)


def section_colorbar(fig, mappable, **kwargs):
    """A colour bar for :func:`draw_section` with round ticks (a filled-contour bar
    would tick at the band edges)."""
    from matplotlib.ticker import MaxNLocator

    return fig.colorbar(mappable, ticks=MaxNLocator(nbins=6), **kwargs)
