"""Seeding an electrochemical run from the end state of a synthesis run.

``conditions.from_synthesis = "RUN_DIR"`` (solver/config.py checks the folder) reads
``RUN_DIR/synthesis_end.npz``: the synthesis end state at its cell midpoints (written by
solver/synthesis/run.py on any number of ranks, sorted by coordinates).  Every cell of
the electrochemical mesh takes the values of the nearest synthesis cell midpoint (the
same cell when both runs use the same geometry and mesh settings, which the follow-up
cases do), so the seed does not depend on the rank count of either run.  What carries
over (docs/synthesis.md section 6):

* inactive fraction  phi_in = p + r + f_dis l2  (left-over precursor and rock salt store
  no Li; the part f_dis = ``disorder_inactive`` of the layered oxide that formed via the
  rock salt keeps its cation disorder), and the porosity beyond that of a fully
  lithiated cell as reduced effective properties:
  active = (1 - phi_in) min(1, (1 - phi) / (1 - phi_L)),  phi_L = 1 - (1 - phi0) V_l/V_p.
  The Li storage and mobility of LiTransport are multiplied by ``active``
  (``active_fraction``, the mechanism of the lattice-defect model), floored at
  ACTIVE_FLOOR so that no region drops out of the equations;
* residual eigenstrain where the phases mismatch: the rock-salt fraction r carries the
  lattice mismatch of the rock salt against the layered lattice in the crystal frame of
  the cell, eps_res = r R diag(m_a, m_a, m_c) R^T (solver/materials/synthesis.py).

Capacities of the follow-up run stay per gram of the dense particle (its mass is that of
the fully layered particle of the same volume).
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import ufl
from dolfinx import fem
from mpi4py import MPI
from petsc4py import PETSc

from solver import jit
from solver.chunked import cell_midpoint, eval_cells
from solver.defects import full_to_sym
from solver.synthesis.config import END_FILE

ACTIVE_FLOOR = 1e-3  # numerical setting: smallest active fraction (keeps rows regular)


class SynthesisSeed:
    """DG0 fields of the seeded particle: ``active``, ``f.phi`` (inactive), and the
    residual eigenstrain values for the elasticity (module docstring)."""

    class _Fields:  # the attribute the field writer reads (as of the defect model)
        def __init__(self, phi: fem.Function):
            self.phi = phi

    def __init__(self, mesh, run_dir: Path):
        self.mesh = mesh
        self.comm: MPI.Comm = mesh.comm
        data = None
        if self.comm.rank == 0:
            with np.load(Path(run_dir) / END_FILE) as z:
                data = {k: z[k] for k in z.files}
        data = self.comm.bcast(data, root=0)
        S0 = fem.functionspace(mesh, ("DG", 0))
        self.active = fem.Function(S0, name="active_fraction")
        self.phi = fem.Function(S0, name="inactive_fraction")
        self.rock_salt = fem.Function(S0, name="synthesis_rock_salt")
        self.porosity = fem.Function(S0, name="synthesis_porosity")
        self.f = self._Fields(self.phi)
        ncell = mesh.topology.index_map(3).size_local + mesh.topology.index_map(3).num_ghosts
        geo = mesh.geometry.x[mesh.geometry.dofmaps[0][:ncell]]  # um
        from scipy.spatial import cKDTree

        from solver.scaling import LENGTH_UNIT

        mid = geo.mean(axis=1) * LENGTH_UNIT
        _, idx = cKDTree(data["cell_midpoints_m"]).query(mid)
        self.cells = S0.dofmap.list[:ncell, 0]
        p, r = data["precursor"][idx], data["rock_salt"][idx]
        l2, por = data["layered_via_rock_salt"][idx], data["porosity"][idx]
        inactive = np.clip(p + r + float(data["disorder_inactive"]) * l2, 0.0, 1.0)
        phi_l = float(data["porosity_layered"])
        dense = np.minimum(1.0, (1.0 - por) / (1.0 - phi_l))
        act = np.maximum((1.0 - inactive) * dense, ACTIVE_FLOOR)
        self.active.x.array[self.cells] = act
        self.phi.x.array[self.cells] = 1.0 - act
        self.rock_salt.x.array[self.cells] = r
        self.porosity.x.array[self.cells] = por
        self.mismatch = (float(data["mismatch_a"]), float(data["mismatch_c"]))
        self.equivalent_expr = None
        self._mean = None

    def set_eigenstrain(self, transport, mechanics) -> None:
        """eps_res = r R diag(m_a, m_a, m_c) R^T per cell (collective)."""
        mesh, R = self.mesh, transport.R
        expr = jit.expression(ufl.as_vector([R[i, j] for i in range(3) for j in range(3)]),
                              cell_midpoint(mesh))
        nloc = mesh.topology.index_map(3).size_local
        cells = np.arange(nloc, dtype=np.int32)
        rot = eval_cells(expr, mesh, cells).reshape(-1, 3, 3)
        ma, mc = self.mismatch
        r = self.rock_salt.x.array[self.cells[:nloc]]
        eps = np.einsum("nik,k,njk->nij", rot, np.array([ma, ma, mc]), rot) * r[:, None, None]
        tc = mechanics.eps_res.function_space.dofmap.list[:nloc, 0]
        mechanics.eps_res.x.array.reshape(-1, 6)[tc] = full_to_sym(eps)
        mechanics.eps_res.x.scatter_forward()
        e = mechanics.eps_res
        dev = e - ufl.tr(e) / 3.0 * ufl.Identity(3)
        self.equivalent_expr = ufl.sqrt(2.0 / 3.0 * ufl.inner(dev, dev) + 1e-30)
        self._mean = fem.Constant(mesh, PETSc.ScalarType(0.0))
        dx = transport.dx
        self._eq_form = jit.form(self.equivalent_expr * dx)
        self._eq2_form = jit.form((self.equivalent_expr - self._mean) ** 2 * dx)

    def diagnostics(self, transport) -> dict[str, float]:
        """The defect columns of timeseries.csv for the seeded (static) state."""
        tr = transport
        if getattr(self, "_phi_form", None) is None:
            self._phi_form = jit.form(self.phi * tr.dx)
        out = {"inactive_fraction": tr.scalar(self._phi_form) / tr.volume,
               "residual_strain_mean": float("nan"), "residual_strain_std": float("nan")}
        if self.equivalent_expr is not None:
            mean = tr.scalar(self._eq_form) / tr.volume
            self._mean.value = mean
            var = tr.scalar(self._eq2_form) / tr.volume
            out.update(residual_strain_mean=mean, residual_strain_std=math.sqrt(max(var, 0.0)))
        return out
