"""The calcination problem as the time-loop driver (solver/driver.py) sees it.

Unknown: the Li activity ``a`` (P1; mobile Li per TM = ``li_capacity`` a) in the
precursor particle; at every vertex the phase fractions p (precursor), l (layered; l2 of
it via rock salt), r (rock salt).  One backward-Euler step dt at the end-of-step
temperature T solves, for every P1 vertex i (lumped mass m_i = ∫ φ_i dx, lengths in um):

    m_i (a_i - a_i^old)/dt + [K a]_i + h [B (a - 1)]_i + m_i S_i(a_i) / u_s = 0,
    K_ij = ∫ D(T) ∇φ_i·∇φ_j dx,   B_ij = ∫_surface φ_i φ_j ds,

D(T) the effective Arrhenius Li diffusivity, h the exchange velocity with the Li source
(activity 1 outside), u_s = li_capacity, S_i = (l_i - l_i^old)/dt the Li the reactions
take (solver/synthesis/kinetics.py: the local backward-Euler update eliminates p, r, l
exactly, so S is a function of a_i alone).  Newton on a; the Jacobian is K + h B +
diag(m/dt + m S'/u_s).  Because the rows of K sum to zero and the reactions use the
lumped mass, the discrete Li balance  c_TM Σ m_i (u_s a_i + l_i)  changes by exactly the
surface supply  dt c_TM u_s h ∫(1 - a) ds  (to the solver tolerance), and p + l + r = 1
at every vertex to round-off (TM conserved).

Offers the methods the driver uses for the electrochemical problem (solver/problem.py):
``solve(controls)``, ``accept``, ``reject``, ``voltage``/``voltage_accepted`` (NaN: no
electrode), ``surface_current`` (0), ``li_out_rate`` (minus the Li supply rate),
``max_x_change`` (largest change of a phase fraction), ``mass``, ``coupling_max_it``,
``progress_text`` and ``step_summary``; plus ``diagnostics``, the writers and the
checkpoint state for solver/synthesis/recorder.py.
"""

from __future__ import annotations

import dataclasses
import logging
import math
import time

import numpy as np
import ufl
from dolfinx import fem, la
from dolfinx.fem import petsc as fem_petsc
from mpi4py import MPI
from petsc4py import PETSc

from meshes import BASAL_SURFACE_TAG, SURFACE_TAG
from solver import jit
from solver.coupling import StepResult as NewtonResult
from solver.materials.synthesis import DEFAULTS, SynthesisParameters
from solver.protocol import Controls
from solver.scaling import LENGTH_UNIT
from solver.synthesis import kinetics as kin
from solver.synthesis.kinetics import PHASES, RADIAL_BINS, radial_columns

log = logging.getLogger("chemomech")

def synthesis_parameters(case) -> SynthesisParameters:
    """solver/materials/synthesis.py's parameters with the case's [synthesis] overrides."""
    from solver.materials.synthesis import CASE_KEYS

    given = {k: v for k, v in case["synthesis"].items() if k in CASE_KEYS and v is not None}
    params = dataclasses.replace(DEFAULTS, **given)
    if "porosity_precursor" in given:  # the TM density follows the framework's porosity
        params = dataclasses.replace(params, c_tm=(1.0 - params.porosity_precursor)
                                     / params.V_precursor)
    return params


class SynthesisProblem:
    """Li transport and the calcination reactions in one particle; module docstring."""

    coupling_max_it = 1  # no staggered coupling: the driver's dt growth needs the number
    checks_petsc_options = False  # a synthesis case has no PETSc option tables

    def __init__(self, case, pm, params: SynthesisParameters | None = None):
        t0 = time.perf_counter()
        num = case["numerics"]
        self.case, self.pm = case, pm
        self.params = params or synthesis_parameters(case)
        mesh = self.mesh = pm.mesh
        self.comm: MPI.Comm = mesh.comm
        self.V = fem.functionspace(mesh, ("Lagrange", 1))
        V = self.V
        self.n_owned = V.dofmap.index_map.size_local
        self.a = fem.Function(V, name="li_activity")
        self.a_old = fem.Function(V)
        self.fields = {name: fem.Function(V, name=name) for name in
                       (*PHASES, "layered_via_rock_salt", "porosity", "water_released")}
        self.p_old = np.ones(self.a.x.array.size)
        self.l_old = np.zeros_like(self.p_old)
        self.r_old = np.zeros_like(self.p_old)
        self.l2_old = np.zeros_like(self.p_old)
        self._trial = None  # the LocalUpdate of the last solve
        qd = {"quadrature_degree": num["quadrature_degree"]}
        dx = ufl.Measure("dx", mesh, metadata=qd)
        ds = ufl.Measure("ds", mesh, subdomain_data=pm.facet_tags, metadata=qd)
        # the outer surface touches the Li source (faceted crystals: all their facets)
        outer = tuple(t for t in (SURFACE_TAG, BASAL_SURFACE_TAG)
                      if t in set(pm.facet_ids("surface") + pm.facet_ids("basal_surface")))
        dsurf = ds(outer or (SURFACE_TAG,))
        u, v = ufl.TrialFunction(V), ufl.TestFunction(V)
        self.D = fem.Constant(mesh, PETSc.ScalarType(1.0))  # um^2/s
        self.h = fem.Constant(mesh, PETSc.ScalarType(self.params.surface_exchange
                                                     / LENGTH_UNIT))  # um/s
        self.K_form = jit.form(self.D * ufl.inner(ufl.grad(u), ufl.grad(v)) * dx
                               + self.h * u * v * dsurf)
        self.b_form = jit.form(self.h * v * dsurf)  # um^3/s per unit activity
        mass = fem.assemble_vector(jit.form(v * dx))
        mass.scatter_reverse(la.InsertMode.add)
        mass.scatter_forward()
        self.m = mass.array.copy()  # um^3 per vertex (owned and ghost)
        ones = fem.Constant(mesh, PETSc.ScalarType(1.0))
        self.volume = self._sum(fem.assemble_scalar(jit.form(ones * dx)))  # um^3
        self._supply_form = jit.form(self.h * (1.0 - self.a) * dsurf)  # um^3/s
        self.K = fem_petsc.create_matrix(self.K_form)
        self.J = fem_petsc.create_matrix(self.K_form)
        self.F, self.dv = self.K.createVecRight(), self.K.createVecRight()
        self.avec = self.K.createVecRight()
        self.bvec = fem_petsc.create_vector(V)  # ghosted: facet assembly
        self.ksp = PETSc.KSP().create(self.comm)
        if num["linear_solver"] == "direct":
            self.ksp.setType("preonly")
            self.ksp.getPC().setType("lu")
            self.ksp.getPC().setFactorSolverType("mumps")
        else:
            self.ksp.setType("cg")
            self.ksp.getPC().setType("gamg")
            self.ksp.setTolerances(rtol=1e-12, atol=1e-30, max_it=500)
        self.newton_tol, self.newton_max_it = num["newton_tol"], num["newton_max_it"]
        c = self.params.c_tm * LENGTH_UNIT**3  # mol TM per um^3
        self._mol_per_um3 = c
        self.mass = self._sum(float(self.m[: self.n_owned].sum())) * c \
            * self.params.M_layered  # kg of layered oxide when fully converted
        self._radial_setup(case)
        self.T = case["synthesis"]["initial_temperature"]
        self.initialise()
        self.unknowns = V.dofmap.index_map.size_global
        if self.comm.rank == 0:
            log.info("synthesis: %d Li-activity unknowns on %d rank(s), set-up %.2f s",
                     self.unknowns, self.comm.size, time.perf_counter() - t0)

    # ------------------------------------------------------------------ helpers
    def _sum(self, value: float) -> float:
        return self.comm.allreduce(value, op=MPI.SUM)

    def _radial_setup(self, case) -> None:
        xyz = self.V.tabulate_dof_coordinates()[: self.n_owned]  # um
        semi = case["geometry"].get("semi_axes")
        if semi:
            rho = np.sqrt(((xyz / (np.asarray(semi) / LENGTH_UNIT)) ** 2).sum(axis=1))
        else:  # faceted: against the largest distance from the centre
            r = np.linalg.norm(xyz, axis=1)
            rmax = self.comm.allreduce(float(r.max()) if r.size else 0.0, op=MPI.MAX)
            rho = r / rmax
        self.bin = np.minimum((rho * RADIAL_BINS).astype(int), RADIAL_BINS - 1)
        self.bin_mass = np.array([self._sum(float(self.m[: self.n_owned][self.bin == b].sum()))
                                  for b in range(RADIAL_BINS)])

    def initialise(self) -> None:
        """Pure precursor, no mobile Li."""
        self.a.x.array[:] = 0.0
        self.a_old.x.array[:] = 0.0
        self.p_old[:], self.l_old[:], self.r_old[:], self.l2_old[:] = 1.0, 0.0, 0.0, 0.0
        self._trial = None
        self._set_fields(self.p_old, self.l_old, self.r_old, self.l2_old)

    def _set_fields(self, p, l, r, l2) -> None:  # noqa: E741
        f = self.fields
        f["precursor"].x.array[:] = p
        f["layered"].x.array[:] = l
        f["rock_salt"].x.array[:] = r
        f["layered_via_rock_salt"].x.array[:] = l2
        f["porosity"].x.array[:] = kin.porosity(p, l, r, self.params)
        f["water_released"].x.array[:] = kin.water_released(p, l)

    def _rates(self, T: float) -> tuple[float, float, float]:
        P = self.params
        return (float(P.rate("lithiation", T)), float(P.rate("decomposition", T)),
                float(P.rate("rocksalt_lithiation", T)))

    # ------------------------------------------------------------------ stepping
    def solve(self, controls: Controls) -> NewtonResult:
        """One backward-Euler trial step under ``controls`` (dt, temperature)."""
        dt, T = controls.dt, controls.temperature
        P = self.params
        self.T = T
        self.D.value = P.D_li(T) / LENGTH_UNIT**2
        kL, kD, kR = self._rates(T)
        self.K.zeroEntries()
        fem_petsc.assemble_matrix(self.K, self.K_form)
        self.K.assemble()
        with self.bvec.localForm() as loc:
            loc.set(0.0)
        fem_petsc.assemble_vector(self.bvec, self.b_form)
        self.bvec.ghostUpdate(PETSc.InsertMode.ADD, PETSc.ScatterMode.REVERSE)
        n, us = self.n_owned, P.li_capacity
        m = self.m[:n]
        a_old = self.a_old.x.array[:n]
        ksp_its = 0
        for it in range(1, self.newton_max_it + 1):
            loc = kin.local_update(self.p_old, self.r_old, self.l_old, self.l2_old,
                                   self.a.x.array, kL, kD, kR, dt)
            a = self.a.x.array[:n]
            self.avec.setArray(a)
            self.K.mult(self.avec, self.F)
            F = self.F.getArray()
            F += m * (a - a_old) / dt + m * loc.sink[:n] / us - self.bvec.getArray()
            self.J.zeroEntries()  # K again (cheap), plus the nodal diagonal
            fem_petsc.assemble_matrix(self.J, self.K_form)
            self.J.assemble()
            diag = self.J.createVecRight()
            diag.setArray(m / dt + m * loc.dsink[:n] / us)
            self.J.setDiagonal(diag, addv=PETSc.InsertMode.ADD_VALUES)
            diag.destroy()
            self.ksp.setOperators(self.J)
            self.F.scale(-1.0)
            self.ksp.solve(self.F, self.dv)
            ksp_its += self.ksp.getIterationNumber()
            if self.ksp.getConvergedReason() < 0:
                return NewtonResult(False, it, ksp_its,
                                    f"linear solve failed ({self.ksp.getConvergedReason()})")
            step = self.dv.getArray()
            self.a.x.array[:n] += step
            self.a.x.scatter_forward()
            du = self.comm.allreduce(float(np.abs(step).max()) if n else 0.0, op=MPI.MAX)
            if not math.isfinite(du):
                break
            if du < self.newton_tol:
                self._trial = kin.local_update(self.p_old, self.r_old, self.l_old,
                                               self.l2_old, self.a.x.array, kL, kD, kR, dt)
                t = self._trial
                self._set_fields(t.p, t.l, t.r, t.l2)
                return NewtonResult(True, it, ksp_its)
        return NewtonResult(False, self.newton_max_it, ksp_its, "Newton did not converge")

    def accept(self) -> None:
        t = self._trial
        self.a_old.x.array[:] = self.a.x.array
        self.p_old, self.r_old, self.l_old, self.l2_old = (t.p.copy(), t.r.copy(),
                                                           t.l.copy(), t.l2.copy())
        self._trial = None

    def reject(self) -> None:
        self.a.x.array[:] = self.a_old.x.array
        self._trial = None
        self._set_fields(self.p_old, self.l_old, self.r_old, self.l2_old)

    # ------------------------------------------------------------------ driver interface
    @property
    def voltage(self) -> float:
        return float("nan")

    @property
    def voltage_accepted(self) -> float:
        return float("nan")

    def surface_current(self) -> float:
        return 0.0

    def li_supply_rate(self) -> float:
        """Li entering through the surface at the present state [mol/s]."""
        return (self._sum(fem.assemble_scalar(self._supply_form)) * self._mol_per_um3
                * self.params.li_capacity)

    def li_out_rate(self) -> float:
        """Li leaving through the surface [mol/s] (minus the supply)."""
        return -self.li_supply_rate()

    def max_x_change(self) -> float:
        """Largest change of a local phase fraction in the trial step (all ranks)."""
        t, n = self._trial, self.n_owned
        if t is None or n == 0:
            local = 0.0
        else:
            local = float(max(np.abs(t.p[:n] - self.p_old[:n]).max(),
                              np.abs(t.r[:n] - self.r_old[:n]).max(),
                              np.abs(t.l[:n] - self.l_old[:n]).max()))
        return self.comm.allreduce(local, op=MPI.MAX)

    def progress_text(self, state, row: dict) -> str:
        return (f"step {state.step:5d}  t = {state.time_s:9.1f} s  T = "
                f"{row['temperature_K'] - 273.15:7.2f} degC  precursor {row['precursor']:.3f}"
                f"  layered {row['layered']:.3f}  rock salt {row['rock_salt']:.3f}")

    def step_summary(self, seg, row: dict) -> str:
        return (f"T = {row.get('temperature_K', float('nan')) - 273.15:.2f} degC, "
                f"precursor {row.get('precursor', float('nan')):.4f}, layered "
                f"{row.get('layered', float('nan')):.4f}, rock salt "
                f"{row.get('rock_salt', float('nan')):.4f}")

    # ------------------------------------------------------------------ reporting
    def diagnostics(self) -> dict[str, float]:
        """Global (vertex-volume weighted) and radial phase fractions, balances."""
        n, m = self.n_owned, self.m[: self.n_owned]
        f = {k: v.x.array[:n] for k, v in self.fields.items()}
        tot = self._sum(float(m.sum()))
        out: dict[str, float] = {}
        for k in (*PHASES, "layered_via_rock_salt", "porosity", "water_released"):
            out[k] = self._sum(float((m * f[k]).sum())) / tot
        a = self.a.x.array[:n]
        out["li_activity_mean"] = self._sum(float((m * a).sum())) / tot
        out["li_activity_min"] = self.comm.allreduce(float(a.min()) if n else np.inf,
                                                     op=MPI.MIN)
        out["li_activity_max"] = self.comm.allreduce(float(a.max()) if n else -np.inf,
                                                     op=MPI.MAX)
        c = self._mol_per_um3
        out["tm_total_mol"] = self._sum(float((m * (f["precursor"] + f["layered"]
                                                    + f["rock_salt"])).sum())) * c
        out["li_total_mol"] = self._sum(float((m * (self.params.li_capacity * a
                                                    + f["layered"])).sum())) * c
        sums = np.zeros((4, RADIAL_BINS))
        for i, k in enumerate((*PHASES, "porosity")):
            sums[i] = np.bincount(self.bin, weights=m * f[k], minlength=RADIAL_BINS)
        sums = self.comm.allreduce(sums, op=MPI.SUM)
        cols = radial_columns()
        vals = (sums / np.where(self.bin_mass > 0, self.bin_mass, np.nan)).ravel()
        out.update(zip(cols, (float(v) for v in vals), strict=True))
        return out

    def field_writer(self, outdir, out: dict, stem: str = "fields"):
        """VTX ``fields.bp`` and ``vtk/fields.pvd`` of the phase, porosity, Li fields."""
        from dolfinx import io

        if outdir is None or not (out["vtx"] or out["pvd"]):
            return None
        funcs = [self.fields[k] for k in self.fields] + [self.a]
        return _Writer(io, self.comm, outdir, stem, funcs, out["vtx"], out["pvd"])

    def end_state(self) -> dict[str, np.ndarray] | None:
        """Cell-midpoint coordinates [m], cell volumes [m^3] and the P1 fields at the
        midpoints (the mean of the cell's vertex values), gathered on rank 0 and sorted
        by coordinates (the same on any number of ranks); None on the other ranks
        (collective)."""
        mesh = self.mesh
        ncell = mesh.topology.index_map(3).size_local
        geo = mesh.geometry.x[mesh.geometry.dofmaps[0][:ncell]]  # (ncell, 4, 3) um
        mid = geo.mean(axis=1) * LENGTH_UNIT
        edges = geo[:, 1:, :] - geo[:, :1, :]
        vol = np.abs(np.linalg.det(edges)) / 6.0 * LENGTH_UNIT**3  # m^3 (straight tets)
        dofs = self.V.dofmap.list[:ncell]
        vals = {k: self.fields[k].x.array[dofs].mean(axis=1) for k in self.fields}
        vals["cell_volume_m3"] = vol
        parts = self.comm.gather((mid, vals), root=0)
        if self.comm.rank != 0:
            return None
        xyz = np.concatenate([p[0] for p in parts])
        order = np.lexsort((xyz[:, 2], xyz[:, 1], xyz[:, 0]))
        res = {"cell_midpoints_m": xyz[order]}
        for k in parts[0][1]:
            res[k] = np.concatenate([p[1][k] for p in parts])[order]
        return res

    # ------------------------------------------------------------------ checkpoints
    def _state_functions(self) -> dict[str, fem.Function]:
        f = self.fields
        return {"li_activity": self.a, "precursor": f["precursor"], "layered": f["layered"],
                "rock_salt": f["rock_salt"], "layered_via_rock_salt": f["layered_via_rock_salt"]}

    def checkpoint_state(self) -> tuple[dict | None, dict]:
        """(accepted state gathered on rank 0 by dof coordinates, extra metadata);
        collective (solver/checkpoint.py)."""
        from solver import checkpoint as ck

        return ck.gather_functions(self.comm, self._state_functions()), {}

    def restore(self, arrays: dict, meta: dict, path) -> None:
        """The accepted state of a checkpoint, on any number of ranks (collective)."""
        from solver import checkpoint as ck

        ck.restore_functions(arrays, self.comm, self._state_functions(), path)
        f = self.fields
        self.a_old.x.array[:] = self.a.x.array
        self.p_old = f["precursor"].x.array.copy()
        self.l_old = f["layered"].x.array.copy()
        self.r_old = f["rock_salt"].x.array.copy()
        self.l2_old = f["layered_via_rock_salt"].x.array.copy()
        self._trial = None
        self._set_fields(self.p_old, self.l_old, self.r_old, self.l2_old)

    def destroy(self) -> None:
        for obj in (self.ksp, self.K, self.J, self.F, self.dv, self.avec, self.bvec):
            obj.destroy()


class _Writer:
    """VTX and VTK writers of a list of P1 functions (collective)."""

    def __init__(self, io, comm, outdir, stem, funcs, vtx: bool, pvd: bool):
        self._vtx = io.VTXWriter(comm, outdir / f"{stem}.bp", funcs) if (
            vtx and hasattr(io, "VTXWriter")) else None
        self._pvd = io.VTKFile(comm, outdir / "vtk" / f"{stem}.pvd", "w") if pvd else None
        self.funcs = funcs

    def write(self, t: float) -> None:
        if self._vtx is not None:
            self._vtx.write(t)
        if self._pvd is not None:
            self._pvd.write_function(self.funcs, t)

    def close(self) -> None:
        for w in (self._vtx, self._pvd):
            if w is not None:
                w.close()
