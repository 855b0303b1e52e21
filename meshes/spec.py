"""What to mesh: a :class:`MeshSpec` built from the case's geometry/grains/voids/orientation.

Pure NumPy/SciPy (no Gmsh, no DOLFINx, no MPI) so that ``chemomech validate`` can build
the spec and refuse impossible geometry before any mesh is made.  Lengths here are in the
model unit (um, solver/scaling.py); the case gives SI metres.

The spec is also the mesh-cache key (meshes/cache.py): every number that changes the mesh
is in :meth:`MeshSpec.key_dict`, nothing else is.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from meshes.polyhedra import (
    Polyhedron,
    ellipsoid_volume,
    hexagonal_platelet,
    random_points_in_ellipsoid,
    scale_to_volume,
    truncated_octahedron,
)
from meshes.voids import VoidPlacementError, place_voids, void_count_and_radius

FACETED = ("platelet", "octahedron")
# bump when meshes/cell_grains.py assigns grains differently for the same weights: only
# laguerre meshes are remade (meshes.cache.GENERATOR_VERSION would remake every mesh)
LAGUERRE_VERSION = 2  # 2: exact (certified) nearest-power assignment


class GeometryError(ValueError):
    """Impossible geometry; ``key`` names the case key at fault (for CaseError)."""

    def __init__(self, key: str, message: str):
        self.key = key
        super().__init__(message)


@dataclass
class MeshSpec:
    """Geometry and mesh sizes of one particle, in model units (um)."""

    shape: str
    semi_axes: np.ndarray  # ellipsoid semi-axes; for faceted shapes the half extents
    h_bulk: float
    h_surf: float
    depth: float
    polyhedron: Polyhedron | None = None  # faceted shapes, sample frame
    edge_radius: float = 0.0
    seeds: np.ndarray | None = None  # (n, 3) grain seeds, n >= 2 for a polycrystal
    void_centres: np.ndarray | None = None  # (m, 3)
    void_radius: float = 0.0
    h_gb: float | None = None  # element size at grain boundaries
    order: int = 1
    analytic_volume: float = 0.0  # solid volume (voids removed), um^3
    c_axis: np.ndarray | None = None  # faceted shapes: crystal c-axis (sample frame)
    # grain method: "fragment" (OCC fragment of Voronoi polyhedra) or "laguerre" (one
    # particle mesh, grain id per tetrahedron from a weighted tessellation)
    grain_method: str = "fragment"
    grain_weights: np.ndarray | None = None  # laguerre: power weights (n,) [um^2]
    grain_aspect: float = 1.0  # laguerre: radial length / width of the grains
    extra: dict = field(default_factory=dict)

    @property
    def num_grains(self) -> int:
        return 1 if self.seeds is None else len(self.seeds)

    @property
    def grain_centres(self) -> np.ndarray:
        """Seed points (the grain centres used for textures), (num_grains, 3)."""
        return np.zeros((1, 3)) if self.seeds is None else self.seeds

    def tessellation(self):
        """The grains' :class:`meshes.laguerre.Tessellation` (laguerre method only)."""
        from meshes.laguerre import Tessellation

        return Tessellation(self.seeds, self.grain_weights, self.grain_aspect)

    def key_dict(self) -> dict:
        """Every parameter that determines the mesh, rounded to 12 significant digits."""

        def r(a):
            if a is None:
                return None
            arr = np.asarray(a, dtype=float)
            return [float(f"{v:.12g}") for v in arr.ravel()]

        poly = self.polyhedron
        # the laguerre keys only when used: fragment meshes keep their cache keys
        lag = ({} if self.grain_method == "fragment" else
               {"grain_method": self.grain_method, "laguerre_version": LAGUERRE_VERSION,
                "grain_weights": r(self.grain_weights),
                "grain_aspect": r(self.grain_aspect)})
        return {**lag,
            "shape": self.shape, "semi_axes": r(self.semi_axes), "h_bulk": r(self.h_bulk),
            "h_surf": r(self.h_surf), "depth": r(self.depth),
            "polyhedron": None if poly is None else {"vertices": r(poly.vertices),
                                                     "faces": poly.faces},
            "edge_radius": r(self.edge_radius), "seeds": r(self.seeds),
            "void_centres": r(self.void_centres), "void_radius": r(self.void_radius),
            "h_gb": r(self.h_gb), "order": self.order, "c_axis": r(self.c_axis),
        }

    def describe(self) -> str:
        """Short human-readable summary for log lines and error messages."""
        text = (f"shape={self.shape}, semi_axes={np.round(self.semi_axes, 4).tolist()} um, "
                f"mesh_size={self.h_bulk:.4g} um, surface_mesh_size={self.h_surf:.4g} um")
        if self.seeds is not None:
            text += f", grains={len(self.seeds)}"
            if self.grain_method != "fragment":
                text += f" ({self.grain_method}, aspect {self.grain_aspect:.3g})"
        if self.void_centres is not None:
            text += f", voids={len(self.void_centres)} x r={self.void_radius:.4g} um"
        if self.edge_radius:
            text += f", edge_radius={self.edge_radius:.4g} um"
        return text


def faceted_polyhedron(g: dict, unit: float) -> Polyhedron:
    """The faceted crystal of a validated [geometry] in the *crystal* frame (model units).

    Platelet: ``width`` (corner to corner) and ``thickness``, or ``equivalent_diameter``
    with ``aspect_ratio`` = thickness/width.  Octahedron: ``equivalent_diameter`` (or
    ``width`` = the distance between opposite {111} corners before truncation, 2 x size)
    and ``truncation``.
    """
    if g["shape"] == "platelet":
        if g.get("width") is not None:
            return hexagonal_platelet(g["width"] / unit, g["thickness"] / unit)
        d = g["equivalent_diameter"] / unit
        ar = g["aspect_ratio"]
        vol = np.pi * d**3 / 6.0
        # V = (3 sqrt3 / 2) (w/2)^2 (ar w)  ->  w
        w = (vol / (1.5 * np.sqrt(3.0) * 0.25 * ar)) ** (1.0 / 3.0)
        return hexagonal_platelet(w, ar * w)
    poly = truncated_octahedron(1.0, g["truncation"])
    if g.get("width") is not None:
        return poly.scaled(0.5 * g["width"] / unit)
    return scale_to_volume(poly, np.pi * (g["equivalent_diameter"] / unit) ** 3 / 6.0)


def inradius(poly: Polyhedron) -> float:
    """Distance from the origin to the nearest face plane."""
    return float(min(abs(np.dot(poly.vertices[f[0]], n))
                     for f, n in zip(poly.faces, poly.normals, strict=True)))


def read_centres_file(path: str | Path) -> np.ndarray:
    """Grain centres (n, 3) in um from rows ``x y z`` (commas or spaces, # comments)."""
    pts = []
    try:
        lines = Path(path).read_text(encoding="utf-8-sig").splitlines()
    except UnicodeDecodeError as exc:  # a binary file: name it instead of a traceback
        raise ValueError(f"{path}: not a UTF-8 text file (byte "
                         f"0x{exc.object[exc.start:exc.start + 1].hex()} at offset "
                         f"{exc.start}): a binary file, or text saved in another encoding; "
                         "save it as UTF-8 text") from None
    for lineno, line in enumerate(lines, start=1):
        text = line.split("#", 1)[0].replace(",", " ").strip()
        if not text:
            continue
        try:
            vals = [float(v) for v in text.split()]
            if len(vals) != 3:
                raise ValueError
        except ValueError:
            raise ValueError(f"{path}:{lineno}: expected three numbers 'x y z' in um; "
                             f"got {line!r}") from None
        pts.append(vals)
    if not pts:
        raise ValueError(f"{path}: no grain centres")
    return np.array(pts)


def triple_junction_points(seeds: np.ndarray, semi: np.ndarray, per_edge: int = 9
                           ) -> np.ndarray:
    """Points on the edges of the Voronoi cells (where three or more grains meet)."""
    from meshes.polyhedra import voronoi_cells

    pts = []
    t = np.linspace(0.0, 1.0, per_edge + 2)[:, None]
    for cell in voronoi_cells(seeds, -semi * 1.01, semi * 1.01):
        for f in cell.faces:
            for a, b in zip(f, f[1:] + f[:1], strict=True):
                pa, pb = cell.vertices[a], cell.vertices[b]
                pts.append(pa + t * (pb - pa))
    return np.unique(np.round(np.vstack(pts), 9), axis=0)


def spec_from_case(values: dict, unit: float, rotation: np.ndarray | None = None,
                   base_dir: Path | None = None) -> MeshSpec:
    """Build (and check) the MeshSpec of a case's values (SI) in model units.

    ``rotation`` is the single-crystal orientation (crystal -> sample) that faceted
    shapes are rotated by.  Raises :class:`GeometryError` naming the key at fault.
    """
    g, gr, vo = values["geometry"], values.get("grains") or {}, values.get("voids") or {}
    shape = g["shape"]
    h, hs, depth = g["mesh_size"] / unit, g["surface_mesh_size"] / unit, \
        g["refinement_depth"] / unit
    poly = None
    if shape in FACETED:
        poly = faceted_polyhedron(g, unit)
        if rotation is not None:
            poly = poly.rotated(np.asarray(rotation, dtype=float))
        semi = np.abs(poly.vertices).max(axis=0)
        volume = poly.volume
    else:
        semi = np.asarray(g["semi_axes"], dtype=float) / unit
        volume = ellipsoid_volume(semi)
    spec = MeshSpec(shape, semi, h, hs, depth, polyhedron=poly,
                    edge_radius=(g.get("edge_radius") or 0.0) / unit, order=1,
                    analytic_volume=volume)
    if poly is not None:  # basal (003) facets are tagged by their normal
        spec.c_axis = (np.eye(3) if rotation is None else np.asarray(rotation, float))[:, 2]
    if g.get("grain_boundary_mesh_size") is not None:
        spec.h_gb = g["grain_boundary_mesh_size"] / unit

    count = gr.get("count", 1) or 1
    method = gr.get("method") or "fragment"
    sigma = gr.get("size_spread") or 0.0
    aspect = gr.get("aspect_ratio") or 1.0
    d50 = gr["diameter"] / unit if gr.get("diameter") is not None else None
    count_key = "grains.count"
    if method == "fragment":
        for key, bad in (("size_spread", sigma > 0), ("aspect_ratio", aspect != 1.0)):
            if bad:
                raise GeometryError(f"grains.{key}", "only with grains.method = 'laguerre' "
                                    "(the fragment method makes Voronoi cells of similar "
                                    "size and no elongation)")
    elif spec.h_gb is not None:
        raise GeometryError("geometry.grain_boundary_mesh_size", "not with grains.method = "
                            "'laguerre': its grain boundaries follow the element faces of "
                            "one particle mesh of geometry.mesh_size")
    if d50 is not None:
        if gr.get("centres_file"):
            raise GeometryError("grains.diameter", "give either grains.centres_file or "
                                "grains.diameter, not both")
        if count > 1:
            raise GeometryError("grains.diameter", "give either grains.count or "
                                "grains.diameter (the count follows from the diameter "
                                "and the particle volume), not both")
        from meshes.laguerre import count_for_diameter

        count, count_key = count_for_diameter(volume, d50, sigma), "grains.diameter"
    if gr.get("centres_file"):
        path = Path(gr["centres_file"])
        if base_dir is not None and not path.is_absolute():
            path = base_dir / path
        try:
            seeds = read_centres_file(path)
        except OSError as exc:
            raise GeometryError("grains.centres_file", f"cannot read {path} "
                                f"({exc.strerror})") from None
        except ValueError as exc:
            raise GeometryError("grains.centres_file", str(exc)) from None
        if np.any(np.sum((seeds / semi) ** 2, axis=1) >= 1.0):
            raise GeometryError("grains.centres_file", f"{path}: every grain centre must lie "
                                "inside the particle (um, relative to its centre)")
        count = len(seeds)
    else:
        seeds = None
    if count > 1:
        if shape in FACETED:
            raise GeometryError(count_key, "polycrystals are built from shape = "
                                "'sphere' or 'ellipsoid'")
        d_grain = (6.0 * volume / (np.pi * count)) ** (1.0 / 3.0)
        h_gb = spec.h_gb or h
        if d_grain < 2.0 * max(h_gb, hs):
            raise GeometryError(count_key, f"{count} grains have a mean diameter of "
                                f"{d_grain:.3g} um, less than two elements "
                                f"(mesh size {max(h_gb, hs):.3g} um): use fewer grains or a "
                                "smaller geometry.mesh_size / grain_boundary_mesh_size")
        if method == "laguerre":
            seeds = _laguerre_grains(spec, gr, count, volume, sigma, aspect, seeds,
                                     max(h, hs), count_key)
        if seeds is None:
            seeds = random_points_in_ellipsoid(count, semi, gr.get("seed", 0))
        if len(np.unique(np.round(seeds, 9), axis=0)) < len(seeds):
            raise GeometryError("grains.centres_file", "two grain centres coincide")
        spec.seeds = seeds

    phi = vo.get("volume_fraction") or 0.0
    if phi > 0:
        if shape in FACETED:
            raise GeometryError("voids.volume_fraction", "voids are placed in shape = "
                                "'sphere' or 'ellipsoid' particles")
        if vo.get("radius") is None:
            raise GeometryError("voids.radius", "voids need a radius, e.g. '0.3 um'")
        r = vo["radius"] / unit
        if r >= semi.min():
            raise GeometryError("voids.radius", f"voids of radius {r:.3g} um are larger than "
                                f"the particle (smallest semi-axis {semi.min():.3g} um)")
        gap = vo["gap"] / unit if vo.get("gap") is not None else hs
        junctions = None
        if vo.get("placement") == "intergranular" and spec.seeds is not None:
            if spec.grain_method == "laguerre":
                from meshes.laguerre import junction_points

                junctions = junction_points(spec.tessellation(), semi, vo.get("seed", 0))
            else:
                junctions = triple_junction_points(spec.seeds, semi)
        _, r_adj = void_count_and_radius(semi, phi, r)
        if r_adj < 0.5 * hs:
            # voids are meshed with elements of radius/4 (meshes/gmsh_model.py): far below
            # the surface size that explodes the element count
            raise GeometryError("voids.radius", f"voids of radius {r_adj:.3g} um cannot be "
                                f"resolved: expected at least half the surface_mesh_size "
                                f"{hs:.3g} um")
        try:
            centres, r_used = place_voids(semi, phi, r, vo.get("placement", "core"),
                                          vo.get("seed", 0), gap, vo.get("core_fraction", 0.5),
                                          junctions)
        except VoidPlacementError as exc:
            raise GeometryError(exc.key, str(exc)) from None
        spec.void_centres, spec.void_radius = centres, r_used
        spec.analytic_volume = volume - len(centres) * 4.0 / 3.0 * np.pi * r_used**3
    return spec


# fitted weights per fit input, so that a process fits a tessellation once: `chemomech run`
# builds the spec when it validates the case and again when it meshes (2 s at 500 grains)
_FITS: dict[bytes, tuple] = {}


def _fit_once(seeds: np.ndarray, target: np.ndarray, semi: np.ndarray, aspect: float,
              seed: int):
    """:func:`meshes.laguerre.fit_weights`, remembered for the same inputs (a copy)."""
    from meshes.laguerre import Tessellation, fit_weights

    key = b"".join(np.ascontiguousarray(a, dtype=float).tobytes()
                   for a in (seeds, target, semi, [aspect, seed]))
    if key not in _FITS:
        _FITS[key] = fit_weights(seeds, target, semi, aspect, seed)
    tess, err = _FITS[key]
    return Tessellation(tess.seeds.copy(), tess.weights.copy(), tess.aspect), err


# smallest grain of the laguerre method, in elements of the bulk size: a grain of 1.5
# elements' equivalent diameter holds ~15 tetrahedra (enough to stay one connected region)
LAGUERRE_MIN_ELEMENTS = 1.5


def _laguerre_grains(spec: MeshSpec, gr: dict, count: int, volume: float, sigma: float,
                     aspect: float, seeds: np.ndarray | None, h: float,
                     count_key: str) -> np.ndarray:
    """Seeds and fitted weights of the laguerre method; sets spec.grain_* (model units).

    Grain sizes are log-normal (meshes/laguerre.py) and fill ``volume`` (um^3); ``h`` is
    the element size that resolves them."""
    from meshes.laguerre import grain_diameters, place_seeds

    seed = gr.get("seed", 0)
    d = grain_diameters(count, volume, sigma, seed)
    if d.min() < LAGUERRE_MIN_ELEMENTS * h:
        key = "grains.size_spread" if sigma > 0 else count_key
        raise GeometryError(key, f"the smallest of {count} grains (size_spread {sigma:.3g}) "
                            f"has an equivalent diameter of {d.min():.3g} um, less than "
                            f"{LAGUERRE_MIN_ELEMENTS} elements (mesh size {h:.3g} um): use "
                            "fewer or more uniform grains or a smaller geometry.mesh_size")
    if seeds is None:
        seeds = place_seeds(d, spec.semi_axes, seed)
    target = np.pi / 6.0 * d**3 * (volume / float(np.sum(np.pi / 6.0 * d**3)))
    tess, err = _fit_once(seeds, target, spec.semi_axes, aspect, seed)
    spec.grain_method, spec.grain_aspect = "laguerre", float(aspect)
    spec.grain_weights = tess.weights
    spec.extra.update(grain_diameters_um=d, grain_volume_fit_rms=err)
    return seeds
