"""Per-grain diagnostics: grain statistics (grains.csv) and grain-boundary stresses.

Statistics use cell-midpoint (DG0) values weighted by cell volume, like the mechanics
diagnostics (solver/mechanics.py), so they converge with the mesh at first order for P1:

* per grain g: volume, mean and standard deviation of x, mean and maximum von Mises
  stress, mean hydrostatic stress;
* grain boundaries: ``gb_stress_max_Pa`` = largest von Mises stress of a cell touching a
  grain-boundary facet (either side), ``gb_normal_stress_max_Pa`` = largest normal
  traction n·σ·n on a grain-boundary facet (tension positive; evaluated with the stress of
  each adjacent cell, so both sides count).  NaN without mechanics or without grain
  boundaries.

All numbers are reduced over ranks; every rank must call every method.
"""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import ufl
from dolfinx import fem
from dolfinx import mesh as dmesh
from mpi4py import MPI

from solver import jit
from solver.chunked import cell_chunks, cell_midpoint, eval_cells

GRAIN_COLUMNS = ["step", "time_s", "grain", "volume_m3", "x_mean", "x_std", "vm_mean_Pa",
                 "vm_max_Pa", "hydrostatic_mean_Pa", "c_axis_x", "c_axis_y", "c_axis_z"]
GB_COLUMNS = ["gb_stress_max_Pa", "gb_normal_stress_max_Pa"]


def cell_grain_ids(pm) -> np.ndarray:
    """Grain id of every local cell (owned and ghost), from the cell tags (1 if untagged)."""
    mesh = pm.mesh
    Q = fem.functionspace(mesh, ("DG", 0))
    g = fem.Function(Q)
    g.x.array[:] = 1.0
    tags = pm.cell_tags
    if tags is not None:
        g.x.array[Q.dofmap.list[tags.indices, 0]] = tags.values
    g.x.scatter_forward()
    ncells = mesh.topology.index_map(3).size_local + mesh.topology.index_map(3).num_ghosts
    return np.rint(g.x.array[Q.dofmap.list[:ncells, 0]]).astype(np.int32)


def cell_rotations(pm, grain_rotations: np.ndarray) -> np.ndarray:
    """Per-cell rotations (num_local_cells incl. ghosts, 3, 3) from per-grain ones."""
    ids = cell_grain_ids(pm)
    return np.asarray(grain_rotations)[ids - 1]


class GrainDiagnostics:
    """Grain statistics and grain-boundary stresses of a transport (+ mechanics) state."""

    def __init__(self, transport, mechanics=None, grain_c_axes: np.ndarray | None = None):
        tr = self.tr = transport
        self.mech = mechanics
        pm = tr.pm
        mesh = tr.mesh
        self.comm: MPI.Comm = mesh.comm
        self.num_grains = pm.num_grains
        n_own = mesh.topology.index_map(3).size_local
        self.n_own = n_own
        Q = fem.functionspace(mesh, ("DG", 0))  # for the cell volumes only
        self.grain = cell_grain_ids(pm)[:n_own]
        v = ufl.TestFunction(Q)
        vol = fem.assemble_vector(jit.form(v * tr.dx))
        self.cell_volume = vol.array[Q.dofmap.list[:n_own, 0]].copy()  # um^3
        self.c_axes = (np.asarray(grain_c_axes) if grain_c_axes is not None
                       else np.full((self.num_grains, 3), np.nan))
        # cell-midpoint values are evaluated chunk by chunk when asked for (solver/
        # chunked.py), not kept as DG0 fields: x, von Mises, hydrostatic and the stress
        # tensor took 12 values per cell, ~70 MB at 7.4e5 cells
        mid = cell_midpoint(mesh)
        self._x_expr = jit.expression(tr.x_expr, mid)
        if mechanics is not None:
            from solver.mechanics import GPA

            self._gpa = GPA
            self._vm_hyd_expr = jit.expression(
                ufl.as_vector([mechanics.von_mises, mechanics.hydrostatic]), mid)
            # grain-boundary cells: von Mises and the 9 stress components
            self._gb_expr = jit.expression(
                ufl.as_vector([mechanics.von_mises]
                              + [mechanics.sigma[i, j] for i in range(3) for j in range(3)]),
                mid)
        self._setup_gb(pm)

    def _setup_gb(self, pm) -> None:
        """Grain-boundary facets, their owned adjacent cells and unit normals."""
        mesh, tags = pm.mesh, pm.facet_tags
        gb_tags = np.array(sorted(pm.grain_pairs), dtype=np.int32)
        self.has_gb = self.comm.allreduce(len(gb_tags) > 0, op=MPI.LOR)
        cells, normals = [], []
        if tags is not None and len(gb_tags):
            facets = tags.indices[np.isin(tags.values, gb_tags)]
            mesh.topology.create_connectivity(2, 3)
            f2c = mesh.topology.connectivity(2, 3)
            geo = dmesh.entities_to_geometry(mesh, 2, facets, False)
            x = mesh.geometry.x
            tess = getattr(pm, "tessellation", None)
            if tess is not None:
                # laguerre grains: the facets are a staircase of element faces; the normal
                # traction is taken on the tessellation's boundary (meshes/laguerre.py)
                tag_of = dict(zip(tags.indices.tolist(), tags.values.tolist(), strict=True))
                pair = np.array([pm.grain_pairs[tag_of[int(f)]] for f in facets]).reshape(-1, 2)
                face_n = tess.boundary_normals(x[geo].mean(axis=1), pair[:, 0] - 1,
                                               pair[:, 1] - 1)
            for k, f in enumerate(facets):
                if tess is not None:
                    n = face_n[k]
                else:
                    p = x[geo[k]]
                    n = np.cross(p[1] - p[0], p[2] - p[0])
                    n /= np.linalg.norm(n)
                for c in f2c.links(f):
                    if c < self.n_own:
                        cells.append(c)
                        normals.append(n)
        self._gb_cells = np.array(cells, dtype=np.int32)
        self._gb_normals = np.array(normals).reshape(-1, 3)

    # ------------------------------------------------------------------ evaluation
    def _sum(self, a: np.ndarray) -> np.ndarray:
        out = np.zeros_like(a)
        self.comm.Allreduce(np.ascontiguousarray(a), out, op=MPI.SUM)
        return out

    def _max(self, a: np.ndarray) -> np.ndarray:
        out = np.zeros_like(a)
        self.comm.Allreduce(np.ascontiguousarray(a), out, op=MPI.MAX)
        return out

    def _chunks(self):
        """(grain index, cell volume, cells) of the owned cells, chunk by chunk."""
        for sl in cell_chunks(self.n_own):
            yield (self.grain[sl] - 1, self.cell_volume[sl],
                   np.arange(sl.start, sl.stop, dtype=np.int32))

    def grain_table(self) -> list[dict]:
        """One dict per grain (SI units), equal on all ranks."""
        n, mesh = self.num_grains, self.tr.mesh
        vol = self._sum(np.bincount(self.grain - 1, self.cell_volume, n))
        # two passes over x (evaluated again, not stored): the variance about the mean,
        # not E[x^2] - E[x]^2, which cancels for the nearly uniform x of slow runs
        wx = np.zeros(n)
        for g, w, cells in self._chunks():
            wx += np.bincount(g, w * eval_cells(self._x_expr, mesh, cells)[:, 0], n)
        xm = self._sum(wx) / vol
        wxx = np.zeros(n)
        for g, w, cells in self._chunks():
            x = eval_cells(self._x_expr, mesh, cells)[:, 0]
            wxx += np.bincount(g, w * (x - xm[g]) ** 2, n)
        xv = self._sum(wxx) / vol
        nan = np.full(n, np.nan)
        vm_mean, vm_max, hyd_mean = nan, nan, nan
        if self.mech is not None:
            wvm, whyd, local_max = np.zeros(n), np.zeros(n), np.full(n, -np.inf)
            for g, w, cells in self._chunks():
                vals = eval_cells(self._vm_hyd_expr, mesh, cells) * self._gpa
                wvm += np.bincount(g, w * vals[:, 0], n)
                whyd += np.bincount(g, w * vals[:, 1], n)
                np.maximum.at(local_max, g, vals[:, 0])
            vm_mean = self._sum(wvm) / vol
            vm_max = self._max(local_max)
            hyd_mean = self._sum(whyd) / vol
        L3 = self.tr.pm.length_unit**3
        return [{"grain": i + 1, "volume_m3": vol[i] * L3, "x_mean": xm[i],
                 "x_std": float(np.sqrt(max(xv[i], 0.0))), "vm_mean_Pa": vm_mean[i],
                 "vm_max_Pa": vm_max[i], "hydrostatic_mean_Pa": hyd_mean[i],
                 "c_axis_x": self.c_axes[i, 0], "c_axis_y": self.c_axes[i, 1],
                 "c_axis_z": self.c_axes[i, 2]} for i in range(n)]

    def grain_boundary_stress(self) -> dict[str, float]:
        """``gb_stress_max_Pa`` and ``gb_normal_stress_max_Pa`` (NaN if not defined)."""
        if self.mech is None or not self.has_gb:
            return dict.fromkeys(GB_COLUMNS, float("nan"))
        c = self._gb_cells
        vals = eval_cells(self._gb_expr, self.tr.mesh, c) * self._gpa
        vm, sig = vals[:, 0], vals[:, 1:].reshape(-1, 3, 3)
        nsn = np.einsum("ki,kij,kj->k", self._gb_normals, sig, self._gb_normals)
        return {
            "gb_stress_max_Pa": self.comm.allreduce(float(vm.max()) if c.size else -np.inf,
                                                    op=MPI.MAX),
            "gb_normal_stress_max_Pa": self.comm.allreduce(
                float(nsn.max()) if c.size else -np.inf, op=MPI.MAX),
        }


class GrainTable:
    """grains.csv: one row per grain at every field output (rank 0 writes)."""

    def __init__(self, path: Path | None, append: bool = False):
        """``append``: continue an existing table (a restart, already truncated)."""
        resume = append and path is not None and path.exists()
        self._file = open(path, "a" if resume else "w", newline="") if path else None
        if self._file is not None:
            self._writer = csv.DictWriter(self._file, fieldnames=GRAIN_COLUMNS)
            if not resume:
                self._writer.writeheader()
            self._file.flush()

    def write(self, step: int, time_s: float, rows: list[dict]) -> None:
        if self._file is None:
            return
        for r in rows:
            self._writer.writerow({k: (f"{v:.12g}" if isinstance(v, (float, np.floating))
                                       else v) for k, v in
                                   {"step": step, "time_s": time_s, **r}.items()})
        self._file.flush()

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
