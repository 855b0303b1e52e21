"""Read a run folder into plain numpy arrays (no DOLFINx; MPI only when asked to).

A run folder written on any number of ranks holds ``vtk/fields.pvd``: one ``.pvtu`` per
output time that references one ``.vtu`` piece per rank.  PyVista reads it; the pieces
are concatenated, ghost cells (if any) dropped, and the tetrahedra returned as a
``(n_cells, 4)`` vertex index array.  Coordinates are in micrometres (the model unit),
field values in SI (see solver/fields.py).

In parallel (``RunFolder.read(index, comm)`` under mpiexec), rank q of P' reads only the
pieces q, q + P', ... of the ``.pvtu`` (a run written on P ranks has P pieces; with
P' > P some ranks read none and hold an empty snapshot with the same fields): no rank
holds the whole field.  Every piece holds its own cells (ghosts dropped) and the
vertices they use, so cell-wise integrals summed over the ranks are those of the whole
mesh.  The observables reduce their sums (postprocess/sxdm.py, postprocess/xrd.py).

The run's ``case.resolved.toml`` gives the material (with overrides) and the initial Li
fraction, so lattice laws a(x), c(x) and the composition come from ``solver.materials``
exactly as in the run.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from solver.config import CaseError

PVD = Path("vtk") / "fields.pvd"
VTK_DUPLICATECELL = 1  # vtkDataSetAttributes::DUPLICATECELL bit of vtkGhostType


@dataclass
class Snapshot:
    """The fields of one output time on the merged mesh.

    points: (n, 3) vertex coordinates [um]; tets: (m, 4) vertex indices;
    point_data / cell_data: name -> array (first axis n or m), values SI;
    time: output time [s]; index: position in the run's list of output times.
    """

    points: np.ndarray
    tets: np.ndarray
    point_data: dict[str, np.ndarray]
    cell_data: dict[str, np.ndarray]
    time: float
    index: int
    distributed: bool = False  # this rank's pieces only (read with a communicator)

    def tet_volumes(self) -> np.ndarray:
        """Volumes of the tetrahedra [um^3]."""
        p = self.points[self.tets]
        d = p[:, 1:] - p[:, :1]
        return np.abs(np.linalg.det(d)) / 6.0

    def rotations(self) -> np.ndarray:
        """Per-cell crystal -> sample rotation (m, 3, 3).

        Uses ``crystal_rotation`` when the run wrote it; otherwise (older runs) builds a
        rotation from ``c_axis`` (enough for (00l) reflections, which do not see the
        in-plane orientation).
        """
        if "crystal_rotation" in self.cell_data:
            return self.cell_data["crystal_rotation"].reshape(-1, 3, 3)
        from solver.crystal import rotation_from_c_axis

        axes = self.cell_data["c_axis"].reshape(-1, 3)
        if not len(axes):  # a rank without pieces (distributed read)
            return np.zeros((0, 3, 3))
        uniq, inv = np.unique(np.round(axes, 12), axis=0, return_inverse=True)
        rots = np.stack([rotation_from_c_axis(a) for a in uniq])
        return rots[inv.ravel()]


@dataclass
class RunFolder:
    """A finished (or stopped) run: its case, material and field output times."""

    path: Path
    case: Any  # solver.config.Case of case.resolved.toml
    times: list[float] = field(default_factory=list)
    files: list[str] = field(default_factory=list)  # .pvtu/.vtu per output time

    @property
    def material(self):
        """The run's Material (library entry with the case's overrides, in SI)."""
        from solver.materials import get_material

        mat = self.case["material"]
        return get_material(mat["name"], {k: v for k, v in mat.items()
                                          if k != "name" and v is not None})

    @property
    def initial_x(self) -> float:
        """Li fraction the run started from (the pristine, stress-free state)."""
        return float(self.case["conditions"]["initial_x"])

    def select(self, time: float | None = None, step: int | None = None) -> int:
        """Index of the output time nearest ``time`` [s], or output number ``step``.

        Default: the last output.  Negative ``step`` counts from the end.
        """
        n = len(self.times)
        if time is not None and step is not None:
            raise CaseError(str(self.path), "--time/--step", "give one of them, not both")
        if step is not None:
            if not -n <= step < n:
                raise CaseError(str(self.path / PVD), "--step",
                                f"output index in [0, {n - 1}] (or negative from the end), "
                                f"got {step}")
            return step % n
        if time is not None:
            return int(np.argmin(np.abs(np.asarray(self.times) - time)))
        return n - 1

    def read(self, index: int, comm=None) -> Snapshot:
        """Merged mesh and fields of output ``index``; with a communicator of several
        ranks, this rank's share of the pieces only (module docstring; collective in the
        sense that every rank must call it, though it communicates nothing)."""
        import pyvista as pv

        path = self.path / PVD.parent / self.files[index]
        if comm is None or comm.size == 1:
            grid = pv.read(str(path))
            if isinstance(grid, pv.MultiBlock):
                grid = grid.combine()
            return _snapshot(grid, self.times[index], index)
        if path.suffix != ".pvtu":  # one piece only (a serial .vtu): rank 0 reads it
            pieces, layout = [path.name], None
        else:
            pieces, layout = pvtu_pieces(path)
        mine = [path.parent / f for f in pieces[comm.rank::comm.size]]
        if not mine:
            if layout is None:
                layout = _layout(pv.read(str(path)))  # shapes of the arrays
            return _empty_snapshot(layout, self.times[index], index)
        grids = [pv.read(str(f)) for f in mine]
        grid = grids[0] if len(grids) == 1 else pv.MultiBlock(grids).combine(merge_points=False)
        snap = _snapshot(grid, self.times[index], index)
        snap.distributed = True
        return snap


def pvtu_pieces(path: Path) -> tuple[list[str], dict]:
    """Piece files of a .pvtu and its array layout {"point"/"cell": {name: components}}."""
    import xml.etree.ElementTree as ET

    try:
        root = ET.parse(path).getroot()
    except ET.ParseError as exc:
        raise CaseError(str(path), "<file>", f"a parallel VTK file (.pvtu) ({exc})") from exc
    layout: dict[str, dict[str, int]] = {"point": {}, "cell": {}}
    for where, tag in (("point", "PPointData"), ("cell", "PCellData")):
        for node in root.iter(tag):
            for arr in node.iter("PDataArray"):
                layout[where][arr.get("Name", "")] = int(arr.get("NumberOfComponents", "1"))
    pieces = [p.get("Source", "") for p in root.iter("Piece")]
    return pieces, layout


def _layout(grid) -> dict:
    def comps(a) -> int:
        a = np.asarray(a)
        return 1 if a.ndim == 1 else int(a.shape[1])

    return {"point": {k: comps(grid.point_data[k]) for k in grid.point_data.keys()},
            "cell": {k: comps(grid.cell_data[k]) for k in grid.cell_data.keys()}}


def _empty_snapshot(layout: dict, t: float, index: int) -> Snapshot:
    """A rank without pieces: no cells, the run's fields with their component counts."""
    skip = {"vtkGhostType", "vtkOriginalPointIds", "vtkOriginalCellIds"}

    def empty(n: int) -> np.ndarray:
        return np.zeros((0,) if n == 1 else (0, n))

    return Snapshot(np.zeros((0, 3)), np.zeros((0, 4), dtype=np.int64),
                    {k: empty(n) for k, n in layout["point"].items() if k not in skip},
                    {k: empty(n) for k, n in layout["cell"].items() if k not in skip},
                    float(t), index, distributed=True)


def _snapshot(grid, t: float, index: int) -> Snapshot:
    cells = grid.cells.reshape(-1, 5) if grid.n_cells else np.zeros((0, 5), dtype=int)
    if not np.all(cells[:, 0] == 4):
        raise ValueError("expected tetrahedra (4 vertices per cell) in fields.pvd")
    keep = np.ones(grid.n_cells, dtype=bool)
    if "vtkGhostType" in grid.cell_data:
        keep = (np.asarray(grid.cell_data["vtkGhostType"]) & VTK_DUPLICATECELL) == 0
    tets = np.asarray(cells[keep, 1:], dtype=np.int64)
    skip = {"vtkGhostType", "vtkOriginalPointIds", "vtkOriginalCellIds"}
    pdata = {k: np.asarray(grid.point_data[k]) for k in grid.point_data.keys() if k not in skip}
    cdata = {k: np.asarray(grid.cell_data[k])[keep] for k in grid.cell_data.keys()
             if k not in skip}
    return Snapshot(np.asarray(grid.points, dtype=float), tets, pdata, cdata, float(t), index)


def open_run(path: str | Path) -> RunFolder:
    """Open a run folder; CaseError (exit status 2 in the CLI) if it is not one."""
    path = Path(path)
    pvd = path / PVD
    if not pvd.exists():
        raise CaseError(str(path), "RUN_DIR", f"a chemomech run folder with {PVD} "
                        "(run with output.pvd = true)")
    case_file = path / "case.resolved.toml"
    if not case_file.exists():
        raise CaseError(str(path), "RUN_DIR", "a run folder with case.resolved.toml")
    from solver.config import load_case

    case = load_case(case_file)  # validated, units -> SI (CaseError names file and key)
    times, files = pvd_entries(pvd)
    if not times:
        raise CaseError(str(pvd), "<file>", "at least one output time")
    return RunFolder(path, case, times, files)


def pvd_entries(pvd: Path) -> tuple[list[float], list[str]]:
    """Output times and their files from a .pvd collection.

    A run writes the end of one protocol step and the start of the next at the same time;
    such repeated times are listed once (the last file written for that time), so that a
    time never stands for two copies of the mesh.
    """
    import xml.etree.ElementTree as ET

    try:
        root = ET.parse(pvd).getroot()
    except ET.ParseError as exc:
        raise CaseError(str(pvd), "<file>", f"a VTK collection (.pvd) ({exc})") from exc
    by_time: dict[float, str] = {}
    for ds in root.iter("DataSet"):
        by_time[float(ds.get("timestep", "nan"))] = ds.get("file", "")
    times = sorted(t for t in by_time if np.isfinite(t))
    return times, [by_time[t] for t in times]


def _keast_bary() -> np.ndarray:
    a, b = 0.5854101966249685, 0.1381966011250105  # Keast rule, degree 2 (exact to 2)
    bary = np.full((4, 4), b)
    np.fill_diagonal(bary, a)
    return bary


def _children(tet: np.ndarray) -> list[np.ndarray]:
    """The eight children (equal volume) of the midpoint subdivision of a tetrahedron."""
    v = list(tet)
    m = {(i, j): 0.5 * (v[i] + v[j]) for i in range(4) for j in range(i + 1, 4)}
    m01, m02, m03, m12, m13, m23 = (m[(0, 1)], m[(0, 2)], m[(0, 3)], m[(1, 2)], m[(1, 3)],
                                    m[(2, 3)])
    return [np.array(t) for t in (
        (v[0], m01, m02, m03), (m01, v[1], m12, m13), (m02, m12, v[2], m23),
        (m03, m13, m23, v[3]),
        (m01, m02, m03, m13), (m01, m02, m12, m13), (m02, m03, m13, m23), (m02, m12, m13, m23))]


def sample_rule(level: int) -> np.ndarray:
    """Barycentric coordinates (4 * 8**level, 4) of the Keast points of the level-times
    midpoint-subdivided reference tetrahedron; every point carries volume / count."""
    tets = [np.eye(4)]  # rows: barycentric coordinates of the vertices
    for _ in range(level):
        tets = [c for t in tets for c in _children(t)]
    bary = _keast_bary()
    return np.concatenate([bary @ t for t in tets])


def sample_tets(snap: Snapshot, point_fields: list[str], cells: slice | np.ndarray = slice(None),
                level: int = 0
                ) -> tuple[np.ndarray, np.ndarray, dict[str, np.ndarray], np.ndarray]:
    """Points and weights sampling every tetrahedron, with P1 fields interpolated.

    ``level`` 0 is the 4-point (degree-2, Keast) rule; level L applies it to the 8**L
    children of L midpoint subdivisions (finer transverse sampling under a narrow beam).
    Returns (positions (q, 3) [um], weights (q,) [um^3], {name: values (q, ...)},
    cell index (q,)).  P1 fields are linear on a cell, so their volume integrals and their
    products with linear functions are exact.
    """
    tets = snap.tets[cells]
    bary = sample_rule(level)
    nq = bary.shape[0]
    p = snap.points[tets]  # (m, 4, 3)
    pos = np.einsum("qk,mkd->mqd", bary, p).reshape(-1, 3)
    d = p[:, 1:] - p[:, :1]
    vol = np.abs(np.linalg.det(d)) / 6.0
    w = np.repeat(vol / nq, nq)
    vals = {}
    for name in point_fields:
        f = snap.point_data[name][tets]  # (m, 4, ...)
        vals[name] = np.einsum("qk,mk...->mq...", bary, f).reshape(-1, *f.shape[2:])
    idx = np.arange(snap.tets.shape[0])[cells]
    return pos, w, vals, np.repeat(idx, nq)
