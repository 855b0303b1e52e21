"""Li transport in a particle with galvanostatic Butler-Volmer or uniform surface exchange.

Unknowns: ``w = ln(x / (1 - x))`` (P1/P2 Lagrange), so the Li site fraction
``x = 1 / (1 + exp(-w))`` lies in (0, 1) by construction, and the electrode potential
``V`` [V], one real number shared by all ranks.  Backward Euler, in model units
(um, s; solver/scaling.py):

    F(w, V; v) = ∫ (x - x_old)/dt v dx + ∫ D_ab(x,T) x(1-x) (M grad(w - s))·grad v dx
                 + ∫ N(w, V) / c_max v ds = 0                      for all v
    G(w, V)    = (∫ i ds - I) / A = 0                              (A/m^2)

with ``M = R diag(1, 1, D_c/D_ab) R^T`` the rotated diffusion anisotropy, ``s`` the
stress potential of the two-way coupling (zero otherwise; solver/mechanics.py) and
``N = i / F`` the outward molar Li flux.  Because ``grad x = x (1 - x) grad w`` the
transport term is Fick's law ``J = -c_max D grad x`` with the *chemical* diffusivity D(x)
measured by GITT (which already contains the thermodynamic factor), so the measured
D(x) enters unchanged; the logit variable is only the bounded parametrisation.

``i = i0(x_s, T) [exp(alpha f eta) - exp(-(1 - alpha) f eta)]``, ``eta = V - U(x_s)``,
``f = F / (R T)``; charge (Li leaving the particle) is positive current.  With
``distribution = "uniform"`` the flux is ``I / (F A)`` everywhere and G still defines V,
so the reported voltage is the one that would drive the same total current.

The coupled Newton system [[A, b], [c^T, d]] (A = dF/dw, b = dF/dV, c = dG/dw,
d = dG/dV) keeps the sparse operator untouched by the global unknown: the iterative solver
solves the rank-one modified system (A - b c^T/d) y = -F + b G/d with A's preconditioner
(one Krylov solve per iteration, solver/bordered.py); the direct solver eliminates V by
two solves with one factorisation of A (one in uniform mode).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import ufl
from dolfinx import fem
from dolfinx.fem import petsc as fem_petsc
from mpi4py import MPI
from petsc4py import PETSc

from meshes import SURFACE_TAG, ParticleMesh
from solver import jit
from solver.bordered import BorderedOperator
from solver.mathns import ufl_namespace
from solver.petsc_options import set_prefixed_options
from solver.scaling import FARADAY, GAS_CONSTANT, LENGTH_UNIT

DEFAULT_PETSC = {
    "iterative": {"ksp_type": "gmres", "ksp_rtol": 1e-11, "ksp_atol": 1e-30,
                  "ksp_max_it": 500, "ksp_gmres_restart": 100, "pc_type": "gamg",
                  # SSOR inside the Chebyshev smoother: D_c/D_ab = 1e-3 makes the operator
                  # strongly anisotropic, which point Jacobi smooths poorly; measured on
                  # the one-way bench (4.9e3 -> 2.2e5 unknowns) 10.5 -> 26.2 Krylov
                  # iterations per Newton iteration with Jacobi, 10.0 -> 11.9 with SOR,
                  # same step time.  Two SSOR sweeps per smoother application: 4.9e3 ->
                  # 5.1e5 unknowns 10.0 -> 15.0 iterations with one, 7.9 -> 10.8 with two
                  # (measured, 1 rank).  Also measured at 5.1e5 unknowns: Chebyshev degree
                  # 3 (7.0 -> 11.4), GAMG threshold 0.05 (-> 14.2) or no aggressive
                  # coarsening (-> 13.4, 25 % slower).  The second sweep costs ~2.5 s of
                  # the 18 s one-way demo (27k unknowns, cheap Li solves) and nothing
                  # measurable from 2.2e5 unknowns up; at 5.1e5 on 2 ranks it brings the
                  # count from 19.2 to 11.0 (the SSOR is local to each rank)
                  "mg_levels_pc_type": "sor", "mg_levels_pc_sor_its": 2},
    "direct": {"ksp_type": "preonly", "pc_type": "lu", "pc_factor_mat_solver_type": "mumps"},
}


@dataclass
class NewtonResult:
    """Outcome of one nonlinear solve."""

    converged: bool
    iterations: int
    ksp_iterations: int
    reason: str = ""


# Give a Newton solve up once it is clearly not converging (numerical setting): from the
# fourth iteration on, when the update has not halved over two iterations while still
# above STAGNATION_FLOOR.  A converging solve here is quadratic (the linear solves are
# tight), so its update falls by orders of magnitude in two iterations.  Measured on the
# 4 um NM91 cycling case (max_dx = 0.15): the end of every discharge, where the surface
# saturates, had 12 trial steps that each ran all newton_max_it = 12 iterations before
# dt was halved, 43 % of all Newton iterations of the cycle.
STAGNATION_START = 4  # iterations
STAGNATION_FLOOR = 1e-6  # max |dw| below which a solve is left to finish


def stagnates(updates: list[float]) -> bool:
    """True when the Newton updates ``updates`` (max |dw| per iteration) stopped falling."""
    k = len(updates)
    return (k >= STAGNATION_START and updates[-1] > STAGNATION_FLOOR
            and updates[-1] > 0.5 * updates[-3])


class LiTransport:
    """Li diffusion in one particle with a galvanostatic surface; see the module docstring."""

    _active_form = None  # ∫ a dx with an active fraction a (subclasses without one: None)

    def __init__(self, pm: ParticleMesh, material, rotations: np.ndarray, *, degree: int = 1,
                 quadrature_degree: int = 4, distribution: str = "butler-volmer",
                 linear_solver: str = "iterative", petsc_options: dict | None = None,
                 newton_tol: float = 1e-9, newton_max_it: int = 12,
                 facet_activity: dict[int, float] | None = None,
                 local_stress_potential=None, active_fraction=None, mobility_factor=None):
        """Set up spaces, forms (compiled once) and the linear solver.

        Args:
            pm: the particle mesh (model unit um).
            material: a solver.materials.Material.
            rotations: (3, 3) crystal->sample rotation, or (num_local_cells, 3, 3) per cell.
            degree: Lagrange degree of w.
            quadrature_degree: quadrature degree of every integral (set explicitly:
                UFL's estimate explodes for exp/log of rotated fields).
            distribution: "butler-volmer" or "uniform".
            facet_activity: optional {facet tag: relative exchange-current factor}.
            local_stress_potential: optional ``f(x, T) -> UFL`` giving the local part of
                the stress potential (solver/mechanics.py); when given, the two-way
                coupling treats ``beta (f(x) - f(x_lag))`` implicitly in the Li solve.
            active_fraction: optional field (e.g. DG0) a in [0, 1], the electrochemically
                active fraction of a partly transformed lattice (solver/defects.py): it
                multiplies the Li storage (the mass term) and the mobility, and the Li
                integrals count only active sites (x_mean = ∫ a x / ∫ a).
            mobility_factor: optional ``f(T) -> UFL``, a factor of the Li mobility alone
                (e.g. the raised Li barrier of a distorted lattice, solver/defects.py).
        """
        if getattr(material, "phase_model", "single-phase") != "single-phase":
            raise ValueError(
                f"material {material.name} has phase_model = {material.phase_model!r}: "
                "LiTransport is the single-phase model; build the transport with "
                "solver.phasefield.transport_class(case) (CahnHilliardTransport)")
        self.pm, self.mesh, self.material = pm, pm.mesh, material
        self.comm: MPI.Comm = pm.mesh.comm
        self.distribution = distribution
        self.newton_tol, self.newton_max_it = newton_tol, newton_max_it
        mesh = self.mesh
        m = ufl_namespace()

        self.V_space = fem.functionspace(mesh, ("Lagrange", degree))
        self.w = fem.Function(self.V_space, name="w")
        self.w_old = fem.Function(self.V_space, name="w_old")
        # dimensionless stress potential sigma:Omega/(c_max R T) (solver/mechanics.py);
        # zero unless the two-way chemo-mechanical coupling sets it
        self.s = fem.Function(self.V_space, name="stress_potential")
        self.w_lag = fem.Function(self.V_space)  # Li state at which s was computed
        self.beta = fem.Constant(mesh, PETSc.ScalarType(0.0))
        self.dt = fem.Constant(mesh, PETSc.ScalarType(1.0))  # s
        self.T = fem.Constant(mesh, PETSc.ScalarType(material.T_ref))  # K
        self.I_total = fem.Constant(mesh, PETSc.ScalarType(0.0))  # A, >0 on charge
        self.V = fem.Constant(mesh, PETSc.ScalarType(4.0))  # V
        self.V_old = 4.0
        # potentiostatic control (constant-voltage holds): 1 replaces the total-current
        # equation G by V - V_set = 0, so the current is whatever the surface draws
        self.voltage_control = fem.Constant(mesh, PETSc.ScalarType(0.0))
        self.V_set = fem.Constant(mesh, PETSc.ScalarType(4.0))  # V

        # Orientation in the forms (``R``): a constant tensor for one orientation (single
        # crystal), else a DG0 tensor field so polycrystals only change its values.  A
        # DG0 tensor costs 9 values per cell in storage and again in the coefficient
        # packing of every form it enters (~53 MB each at 7.4e5 cells, measured), so the
        # single crystal builds the field only when output asks for it (``rotation``).
        rot = np.asarray(rotations, dtype=float)
        self._rotation_field: fem.Function | None = None
        if rot.ndim == 2:
            self._uniform_rotation = rot.copy()
            self.R = fem.Constant(mesh, PETSc.ScalarType(rot))
        else:
            self._uniform_rotation = None
            self._rotation_field = self._build_rotation_field(rot)
            self.R = self._rotation_field

        qd = {"quadrature_degree": quadrature_degree}
        self.dx = ufl.Measure("dx", mesh, metadata=qd)
        self.ds = ufl.Measure("ds", mesh, subdomain_data=pm.facet_tags, metadata=qd)
        L = LENGTH_UNIT
        ones = fem.Constant(mesh, PETSc.ScalarType(1.0))
        self.volume = self._sum(fem.assemble_scalar(jit.form(ones * self.dx)))  # um^3
        facet_ids = sorted(facet_activity) if facet_activity else [SURFACE_TAG]
        activity = facet_activity or {SURFACE_TAG: 1.0}
        dsurf = self.ds(tuple(facet_ids))
        self.area = self._sum(fem.assemble_scalar(jit.form(ones * dsurf)))  # um^2
        self.volume_m3, self.area_m2 = self.volume * L**3, self.area * L**2

        w, v = self.w, ufl.TestFunction(self.V_space)
        x = 1.0 / (1.0 + ufl.exp(-w))
        x_old = 1.0 / (1.0 + ufl.exp(-self.w_old))
        self.x_expr = x
        R = self.R
        aniso = ufl.as_matrix([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0],
                               [0.0, 0.0, material.D_c_over_D_ab]])
        Mrot = R * aniso * R.T
        D = material.d_ab(x, self.T, m) / L**2  # um^2/s
        act = active_fraction if active_fraction is not None else 1.0
        self._active = active_fraction
        if active_fraction is not None:
            D = D * active_fraction
        if mobility_factor is not None:
            D = D * mobility_factor(self.T)
        # Li mobility D x (1 - x) and the rotated anisotropy (kept for the two-way
        # coupling's preconditioner, solver/monolithic.py)
        self.mobility, self.Mrot = D * x * (1.0 - x), Mrot
        f = FARADAY / (GAS_CONSTANT * self.T)

        # Butler-Volmer current density [A/m^2], with eta as a UFL variable for dF/dV.
        eta = ufl.variable(self.V - material.ocv(x, m))
        alpha = material.alpha
        i_bv = material.i0(x, self.T, m) * (ufl.exp(alpha * f * eta)
                                            - ufl.exp(-(1.0 - alpha) * f * eta))
        di_dV = ufl.diff(i_bv, eta)
        self.i_bv = i_bv

        if distribution == "uniform":
            i_flux = self.I_total / self.area_m2
            di_flux = None
        else:
            i_flux, di_flux = i_bv, di_dV
        scale = 1.0 / (FARADAY * material.c_max * L)  # (A/m^2) -> um/s of x

        def surface(expr):
            return sum(activity[t] * expr * self.ds(t) for t in facet_ids)

        potential = w - self.s
        if local_stress_potential is not None:
            x_lag = 1.0 / (1.0 + ufl.exp(-self.w_lag))
            potential = potential - self.beta * (local_stress_potential(x, self.T)
                                                 - local_stress_potential(x_lag, self.T))
        F = (act * (x - x_old) / self.dt * v * self.dx
             + D * x * (1.0 - x) * ufl.inner(Mrot * ufl.grad(potential), ufl.grad(v)) * self.dx
             + scale * surface(i_flux * v))
        # galvanostatic: (∫ i ds - I)/A; potentiostatic: V - V_set (∫ dsurf / A = 1), so
        # both Newton solvers (this one and solver/monolithic.py) take either control
        gal = 1.0 - self.voltage_control
        G = (gal * (surface(i_bv / self.area) - self.I_total / (L**2 * self.area**2) * dsurf)
             + self.voltage_control * (self.V - self.V_set) / self.area * dsurf)
        # UFL residual kept for solver/monolithic.py (differentiated w.r.t. w, s and u)
        self.F_ufl = F
        self.F_form = jit.form(F)
        self.J_form = jit.form(ufl.derivative(F, w))
        self.b_form = jit.form(scale * surface(di_flux * v)) if di_flux is not None else None
        self.G_form = jit.form(G)
        self.c_form = jit.form(ufl.derivative(G, w, v))
        self.d_form = jit.form(gal * surface(di_dV / self.area)
                               + self.voltage_control / self.area * dsurf)

        # Diagnostics, compiled once.
        self.li_form = jit.form(act * x * self.dx)  # um^3 of "full sites"
        self._active_form = (jit.form(act * self.dx) if active_fraction is not None
                             else None)  # um^3 of active sites
        # variances about the mean (no E[x^2] - E[x]^2 cancellation)
        self._x_mean = fem.Constant(mesh, PETSc.ScalarType(0.0))
        self._xs_mean = fem.Constant(mesh, PETSc.ScalarType(0.0))
        self.x2_form = jit.form(act * (x - self._x_mean) ** 2 * self.dx)
        self.xs_form = jit.form(surface(x))
        self.xs2_form = jit.form(surface((x - self._xs_mean) ** 2))
        self.flux_form = jit.form(surface(i_flux))  # A/m^2 * um^2
        self.eta_form = jit.form(surface(eta))

        self.ksp = PETSc.KSP().create(self.comm)
        # The Li Jacobian, its Newton vectors, the solver's operators and its options are
        # set up on the first solve(): a two-way run whose Newton is the monolithic one
        # (solver/monolithic.py) never needs them (one Li-sized matrix and five vectors
        # less, ~26 MB at 1.3e5 Li dofs; and no unused "li_" options left in PETSc's
        # database, which it reports at exit)
        self._li_options = (DEFAULT_PETSC[linear_solver], petsc_options)
        self._petsc_keys: list[str] = []
        self.A: PETSc.Mat | None = None
        self.Fvec = self.bvec = self.cvec = self.y1 = self.y2 = None
        self._bordered = None

    def _ensure_linear_system(self) -> None:
        """Create the Li Jacobian matrix and hand the operators to the KSP (once)."""
        if self.A is not None:
            return
        self.A = fem_petsc.create_matrix(self.J_form)
        self.Fvec, self.bvec, self.cvec, self.y1, self.y2 = (
            fem_petsc.create_vector(self.V_space) for _ in range(5))
        self._petsc_keys = set_prefixed_options(self.ksp, "li_", *self._li_options)
        # Krylov solver: V eliminated through the rank-one modified operator, one solve
        # per Newton iteration (solver/bordered.py); a direct solve (preonly, whatever
        # the case's options) keeps the block elimination, whose second solve reuses the
        # factorisation
        if self.b_form is not None and PETSc.Options().getString("li_ksp_type",
                                                                   "") != "preonly":
            self._bordered = BorderedOperator(self.A, self.bvec, self.cvec)
            self.ksp.setOperators(self._bordered.mat, self.A)
        else:
            self.ksp.setOperators(self.A)
        self.ksp.setFromOptions()

    # ------------------------------------------------------------------ helpers
    def _sum(self, local: float) -> float:
        return self.comm.allreduce(local, op=MPI.SUM)

    def scalar(self, form) -> float:
        """Assemble a scalar form over all ranks."""
        return self._sum(fem.assemble_scalar(form))

    def _build_rotation_field(self, rot: np.ndarray) -> fem.Function:
        """DG0 (3, 3) field of the crystal->sample rotation; ``rot`` (3, 3) or per cell."""
        mesh = self.mesh
        Q = fem.functionspace(mesh, ("DG", 0, (3, 3)))
        field = fem.Function(Q, name="rotation")
        ncells = mesh.topology.index_map(3).size_local + mesh.topology.index_map(3).num_ghosts
        rot = np.broadcast_to(rot, (ncells, 3, 3)) if rot.ndim == 2 else rot
        dofs = Q.dofmap.list[:, 0]  # DG0: one (blocked) dof per cell
        values = field.x.array.reshape(-1, 9)
        values[dofs] = rot.reshape(ncells, 9)[: dofs.size]
        return field

    @property
    def rotation(self) -> fem.Function:
        """Crystal->sample rotation as a DG0 (3, 3) field (built on first use for a single
        orientation, whose forms use a constant)."""
        if self._rotation_field is None:
            self._rotation_field = self._build_rotation_field(self._uniform_rotation)
        return self._rotation_field

    def set_uniform(self, x0: float) -> None:
        """Set a uniform Li fraction and put V at its rest potential (zero current)."""
        w0 = np.log(x0 / (1.0 - x0))
        self.w.x.array[:] = w0
        self.w_old.x.array[:] = w0
        self.V.value = float(self.material.ocv(x0))
        self.V_old = float(self.V.value)

    def set_state(self, control: dict) -> None:
        """Set dt [s], temperature [K] and the control of the next solve: the total current
        [A] (``"current"``), or, with ``"voltage"`` [V] given and not None, the electrode
        potential (potentiostatic; the current follows from Butler-Volmer)."""
        self.dt.value = control["dt"]
        self.T.value = control["temperature"]
        voltage = control.get("voltage")
        if voltage is not None:
            if self.distribution == "uniform":
                raise ValueError("a voltage-controlled step needs distribution = "
                                 "'butler-volmer' (a uniform flux needs a given current)")
            self.voltage_control.value = 1.0
            self.V_set.value = voltage
            self.I_total.value = 0.0
        else:
            self.voltage_control.value = 0.0
            self.I_total.value = control["current"]

    def surface_current(self) -> float:
        """Total current through the surface at the current state [A], > 0 on charge."""
        return self.li_out_rate() * FARADAY

    # ------------------------------------------------------------------ Newton
    def solve(self) -> NewtonResult:
        """Newton on (w, V) by block elimination; leaves the state at the result."""
        bv = self.b_form is not None
        ksp_total = 0
        self._ensure_linear_system()
        updates: list[float] = []  # max |dw| of every iteration
        for it in range(1, self.newton_max_it + 1):
            G, d = self._assemble_newton_system()
            if not (np.isfinite(G) and np.isfinite(d) and np.isfinite(self.Fvec.norm())):
                return NewtonResult(False, it, ksp_total, "non-finite residual")
            self.Fvec.scale(-1.0)
            if self._bordered is not None:
                self._assemble_b()
                if d == 0.0 or not np.isfinite(d):
                    return NewtonResult(False, it, ksp_total, "singular voltage equation")
                self._bordered.d = d
                self._bordered.rhs(self.Fvec, G)
            self.ksp.solve(self.Fvec, self.y1)
            ksp_total += self.ksp.getIterationNumber()
            if self.ksp.getConvergedReason() < 0:
                return NewtonResult(False, it, ksp_total,
                                    f"linear solve failed ({self.ksp.getConvergedReason()})")
            if self._bordered is not None:
                dV = self._bordered.voltage_update(self.y1, G)  # y1 is dw already
            elif bv:
                self._assemble_b()
                self.ksp.solve(self.bvec, self.y2)
                ksp_total += self.ksp.getIterationNumber()
                if self.ksp.getConvergedReason() < 0:
                    return NewtonResult(False, it, ksp_total, "linear solve failed")
                denom = d - self.cvec.dot(self.y2)
                if not np.isfinite(denom) or denom == 0.0:
                    return NewtonResult(False, it, ksp_total, "singular voltage equation")
                dV = (-G - self.cvec.dot(self.y1)) / denom
                self.y1.axpy(-dV, self.y2)  # y1 <- dw
            else:
                if not np.isfinite(d) or d == 0.0:
                    return NewtonResult(False, it, ksp_total, "singular voltage equation")
                dV = (-G - self.cvec.dot(self.y1)) / d
            dw_max = self.y1.norm(PETSc.NormType.INFINITY)
            # Damp very large updates: the logit variable and exp(f eta) make a full step
            # from a far guess overshoot; quadratic convergence is kept near the solution.
            damp = min(1.0, 4.0 / dw_max if dw_max > 0 else 1.0, 0.3 / abs(dV) if dV else 1.0)
            self.w.x.petsc_vec.axpy(damp, self.y1)
            self.w.x.scatter_forward()
            self.V.value = float(self.V.value) + damp * dV
            if not np.isfinite(dw_max):
                return NewtonResult(False, it, ksp_total, "non-finite update")
            if damp == 1.0 and dw_max < self.newton_tol and abs(dV) < self.newton_tol:
                return NewtonResult(True, it, ksp_total)
            updates.append(dw_max)
            if stagnates(updates):
                return NewtonResult(False, it, ksp_total, "Newton stagnates (max |dw| "
                                    f"{updates[-3]:.3g} -> {dw_max:.3g} in two iterations)")
        return NewtonResult(False, self.newton_max_it, ksp_total, "Newton did not converge")

    def _assemble_newton_system(self) -> tuple[float, float]:
        """Assemble A = dF/dw, F, c = dG/dw of the present state; return (G, d = dG/dV).
        Shared with solver/phasefield.py (same attribute names on the mixed space)."""
        self.A.zeroEntries()
        fem_petsc.assemble_matrix(self.A, self.J_form)
        self.A.assemble()
        for vec, form in ((self.Fvec, self.F_form), (self.cvec, self.c_form)):
            with vec.localForm() as loc:
                loc.set(0.0)
            fem_petsc.assemble_vector(vec, form)
            vec.ghostUpdate(PETSc.InsertMode.ADD, PETSc.ScatterMode.REVERSE)
        return self.scalar(self.G_form), self.scalar(self.d_form)

    def _assemble_b(self) -> None:
        """b = dF/dV (the surface column of the Newton system)."""
        with self.bvec.localForm() as loc:
            loc.set(0.0)
        fem_petsc.assemble_vector(self.bvec, self.b_form)
        self.bvec.ghostUpdate(PETSc.InsertMode.ADD, PETSc.ScatterMode.REVERSE)

    def accept(self) -> None:
        """Make the current state the old state of the next step."""
        self.w_old.x.array[:] = self.w.x.array
        self.V_old = float(self.V.value)

    def reject(self) -> None:
        """Restore the state of the last accepted step."""
        self.w.x.array[:] = self.w_old.x.array
        self.V.value = self.V_old

    # ------------------------------------------------------------------ diagnostics
    def nodal_x_range(self) -> tuple[float, float]:
        """Smallest and largest Li fraction over all degrees of freedom."""
        n = self.V_space.dofmap.index_map.size_local * self.V_space.dofmap.index_map_bs
        w = self.w.x.array[:n]
        lo = self.comm.allreduce(w.min() if n else np.inf, op=MPI.MIN)
        hi = self.comm.allreduce(w.max() if n else -np.inf, op=MPI.MAX)
        return 1.0 / (1.0 + np.exp(-lo)), 1.0 / (1.0 + np.exp(-hi))

    def diagnostics(self) -> dict[str, float]:
        """Volume and surface statistics of the current state (SI where dimensional)."""
        li = self.scalar(self.li_form)
        active = self.scalar(self._active_form) if self._active_form else self.volume
        x_mean = li / active
        self._x_mean.value = x_mean
        x_var = self.scalar(self.x2_form) / active
        xs = self.scalar(self.xs_form) / self.area
        self._xs_mean.value = xs
        xs_var = self.scalar(self.xs2_form) / self.area
        x_min, x_max = self.nodal_x_range()
        return {
            "x_mean": x_mean, "x_min": x_min, "x_max": x_max, "x_std": np.sqrt(x_var),
            "x_surface_mean": xs, "x_surface_std": np.sqrt(xs_var),
            "li_total_mol": li * LENGTH_UNIT**3 * self.material.c_max,
            "li_out_rate_mol_s": self.li_out_rate(),
            "eta_surface_mean_V": self.scalar(self.eta_form) / self.area,
        }

    def li_out_rate(self) -> float:
        """Li leaving through the surface at the current state [mol/s]."""
        return self.scalar(self.flux_form) * LENGTH_UNIT**2 / FARADAY

    def x_function(self, target: fem.Function) -> None:
        """Interpolate x = 1/(1+exp(-w)) into ``target`` (same space as w)."""
        target.x.array[:] = 1.0 / (1.0 + np.exp(-self.w.x.array))

    def destroy(self) -> None:
        """Free PETSc objects and the options this object set."""
        opts = PETSc.Options()
        for k in self._petsc_keys:
            opts.delValue(k)
        if self._bordered is not None:
            self._bordered.free()
        for obj in (self.ksp, self.A, self.Fvec, self.bvec, self.cvec, self.y1, self.y2):
            if obj is not None:
                obj.destroy()


__all__ = ["LiTransport", "NewtonResult"]
