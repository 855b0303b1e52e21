"""Two-phase (H2-H3) Li transport: Cahn-Hilliard with a galvanostatic Butler-Volmer surface.

Same public interface as :class:`solver.transport.LiTransport` (constructor, set_uniform,
set_state, solve, accept, reject, diagnostics, li_out_rate, x_function, nodal_x_range,
destroy; V, V_old, w, w_old, w_lag, s, beta, V_space, x_expr, dx, ds, volume, area, ...),
so that solver/mechanics.Elasticity and the staggered coupling use it unchanged.

Unknowns: ``w = ln(x/(1-x))`` and the dimensionless chemical potential ``m = mu/(R T)``
(P1 x P1, one mixed space), and the electrode potential V (one global number).  Backward
Euler, model units (um, s; solver/scaling.py):

    ∫ (x - x_old)/dt v dx + ∫ Mob(x) (M grad(m - s))·grad v dx + ∫ N / c_max v ds = 0
    ∫ m q dx - ∫ mu_hom(x)/(R T) q dx - ∫ k grad x · grad q dx = 0
    (∫ i ds - I) / A = 0

* mu_hom = f_hom'(x) of solver/materials/phase.py (the material OCV with its H2-H3 part
  contracted onto a plateau, plus the barrier W b(x)); k = kappa / (R T) [um^2] the
  gradient coefficient (isotropic), natural boundary condition grad x . n = 0.
* Mobility: J = -c_max D* x(1-x)/(R T) M grad(mu - R T s) with the tracer-like
  D* = D_chem(x) / Theta(x), Theta = -x(1-x) F U'(x)/(R T) the thermodynamic factor of the
  *material* OCV U (never zero, U is strictly decreasing), so Mob = D* x(1-x) =
  D_chem(x) R T / (F |U'(x)|).  Where U_eq = U (x >= x_hi = 0.2661, the whole sourced
  Chen2020 range) the bulk flux is D_chem grad x exactly as in LiTransport (plus the
  gradient-energy term); in the re-mapped range the effective chemical diffusivity is
  D_chem U_eq'/U' (zero on the plateau, as in any two-phase region).
* ``s`` is the stress potential sigma:Omega/(c_max R T) of the two-way coupling, entering
  the diffusion potential exactly as in LiTransport (mu/RT - s, with the same optional
  implicit local part beta (f(x) - f(x_lag))).
* Surface: ``i = i0(x_s) [exp(alpha f eta) - exp(-(1-alpha) f eta)]`` with
  ``eta = V + m_s / f`` (f = F/(R T)), i.e. eta = V - U_eq(x_s) for a homogeneous
  surface; like LiTransport, the stress potential does not enter the surface reaction.

Newton: the (w, m) Jacobian A is factorised by MUMPS and V is eliminated as in
LiTransport's direct branch (two solves, one factorisation).  No iterative/field-split
path: ``linear_solver = "iterative"`` is accepted for interface compatibility and solved
directly (a warning is logged once).  The monolithic two-way Newton (solver/monolithic.py)
does not take this class (``supports_monolithic = False``); use the staggered scheme.
"""

from __future__ import annotations

import logging

import basix.ufl
import numpy as np
import ufl
from dolfinx import fem
from dolfinx.fem import petsc as fem_petsc
from mpi4py import MPI
from petsc4py import PETSc

from meshes import SURFACE_TAG, ParticleMesh
from solver import jit
from solver.materials.phase import TwoPhaseFreeEnergy, two_phase_free_energy
from solver.mathns import ufl_namespace
from solver.petsc_options import set_prefixed_options
from solver.scaling import FARADAY, GAS_CONSTANT, LENGTH_UNIT
from solver.transport import LiTransport, NewtonResult

log = logging.getLogger("chemomech")

DIRECT = {"ksp_type": "preonly", "pc_type": "lu", "pc_factor_mat_solver_type": "mumps"}


def _logistic(w):
    return 1.0 / (1.0 + np.exp(-w))


class CahnHilliardTransport:
    """Two-phase Li transport in one particle; see the module docstring."""

    supports_monolithic = False
    #: defaults of the two-phase parameters, bound per case by :func:`transport_class`
    phase_parameters: dict = {}

    def __init__(self, pm: ParticleMesh, material, rotations: np.ndarray, *, degree: int = 1,
                 quadrature_degree: int = 4, distribution: str = "butler-volmer",
                 linear_solver: str = "direct", petsc_options: dict | None = None,
                 newton_tol: float = 1e-9, newton_max_it: int = 12,
                 facet_activity: dict[int, float] | None = None,
                 local_stress_potential=None, phase: TwoPhaseFreeEnergy | None = None):
        """Arguments as LiTransport; ``phase`` the free energy (default: the material's
        with the class's ``phase_parameters``, i.e. the case's or the documented
        defaults)."""
        self.pm, self.mesh, self.material = pm, pm.mesh, material
        self.comm: MPI.Comm = pm.mesh.comm
        self.distribution = distribution
        self.newton_tol, self.newton_max_it = newton_tol, newton_max_it
        self.phase = phase or two_phase_free_energy(material, **self._phase_parameters(material))
        if linear_solver != "direct" and self.comm.rank == 0:
            log.warning("two-phase transport: no iterative solver for the Cahn-Hilliard "
                        "system; using MUMPS (linear_solver = %r ignored)", linear_solver)
        mesh = self.mesh
        m = ufl_namespace()
        fe = self.phase

        P = basix.ufl.element("Lagrange", mesh.basix_cell(), degree)
        self.ME = fem.functionspace(mesh, basix.ufl.mixed_element([P, P]))
        self.V_space, self._map_w = self.ME.sub(0).collapse()
        self._mu_space, self._map_mu = self.ME.sub(1).collapse()
        self._map_w = np.asarray(self._map_w, dtype=np.int32)
        self._map_mu = np.asarray(self._map_mu, dtype=np.int32)
        self.U = fem.Function(self.ME, name="w_mu")
        self.U_old = fem.Function(self.ME)
        # the Li field as a plain P1 function (what Elasticity, checkpoints and output
        # read), kept equal to the w part of U
        self.w = fem.Function(self.V_space, name="w")
        self.w_old = fem.Function(self.V_space, name="w_old")
        self.s = fem.Function(self.V_space, name="stress_potential")
        self.w_lag = fem.Function(self.V_space)
        self.beta = fem.Constant(mesh, PETSc.ScalarType(0.0))
        self.dt = fem.Constant(mesh, PETSc.ScalarType(1.0))  # s
        self.T = fem.Constant(mesh, PETSc.ScalarType(material.T_ref))  # K
        self.I_total = fem.Constant(mesh, PETSc.ScalarType(0.0))  # A, >0 on charge
        self.V = fem.Constant(mesh, PETSc.ScalarType(4.0))  # V
        self.V_old = 4.0

        rot = np.asarray(rotations, dtype=float)
        self._rotation_field: fem.Function | None = None
        if rot.ndim == 2:
            self._uniform_rotation = rot.copy()
            self.R = fem.Constant(mesh, PETSc.ScalarType(rot))
        else:
            self._uniform_rotation = None
            self._rotation_field = LiTransport._build_rotation_field(self, rot)
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

        wU, mU = ufl.split(self.U)
        w_oldU = ufl.split(self.U_old)[0]
        v, q = ufl.TestFunctions(self.ME)
        x = 1.0 / (1.0 + ufl.exp(-wU))
        x_old = 1.0 / (1.0 + ufl.exp(-w_oldU))
        # x of the plain Li function (same values as x): Elasticity builds its forms on it
        self.x_expr = 1.0 / (1.0 + ufl.exp(-self.w))
        R = self.R
        aniso = ufl.as_matrix([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0],
                               [0.0, 0.0, material.D_c_over_D_ab]])
        Mrot = R * aniso * R.T
        RT = GAS_CONSTANT * self.T
        f = FARADAY / RT
        D = material.d_ab(x, self.T, m) / L**2  # um^2/s, chemical diffusivity
        # D* x (1 - x) = D_chem / Theta * x (1 - x) = D_chem R T / (F |U'|)  (um^2/s)
        mobility = D / (f * -material.docv_dx(x, m))
        self.mobility, self.Mrot = mobility, Mrot
        k_grad = fe.kappa / (RT * L**2)  # um^2
        self.k_grad = k_grad

        eta = ufl.variable(self.V + mU / f)
        alpha = material.alpha
        i_bv = material.i0(x, self.T, m) * (ufl.exp(alpha * f * eta)
                                            - ufl.exp(-(1.0 - alpha) * f * eta))
        di_dV = ufl.diff(i_bv, eta)
        self.i_bv = i_bv
        if distribution == "uniform":
            i_flux, di_flux = self.I_total / self.area_m2, None
        else:
            i_flux, di_flux = i_bv, di_dV
        scale = 1.0 / (FARADAY * material.c_max * L)  # (A/m^2) -> um/s of x

        def surface(expr):
            return sum(activity[t] * expr * self.ds(t) for t in facet_ids)

        potential = mU - self.s
        if local_stress_potential is not None:
            x_lag = 1.0 / (1.0 + ufl.exp(-self.w_lag))
            potential = potential - self.beta * (local_stress_potential(x, self.T)
                                                 - local_stress_potential(x_lag, self.T))
        F = ((x - x_old) / self.dt * v * self.dx
             + mobility * ufl.inner(Mrot * ufl.grad(potential), ufl.grad(v)) * self.dx
             + scale * surface(i_flux * v)
             + (mU - fe.mu_hom(x, m) / RT) * q * self.dx
             - k_grad * ufl.inner(ufl.grad(x), ufl.grad(q)) * self.dx)
        G = surface(i_bv / self.area) - self.I_total / (L**2 * self.area**2) * dsurf
        self.F_ufl = F
        self.F_form = jit.form(F)
        self.J_form = jit.form(ufl.derivative(F, self.U))
        self.b_form = jit.form(scale * surface(di_flux * v)) if di_flux is not None else None
        self.G_form = jit.form(G)
        self.c_form = jit.form(ufl.derivative(G, self.U, ufl.TestFunction(self.ME)))
        self.d_form = jit.form(surface(di_dV / self.area))

        # diagnostics (as LiTransport), on the mixed state
        self.li_form = jit.form(x * self.dx)
        self._x_mean = fem.Constant(mesh, PETSc.ScalarType(0.0))
        self._xs_mean = fem.Constant(mesh, PETSc.ScalarType(0.0))
        self.x2_form = jit.form((x - self._x_mean) ** 2 * self.dx)
        self.xs_form = jit.form(surface(x))
        self.xs2_form = jit.form(surface((x - self._xs_mean) ** 2))
        self.flux_form = jit.form(surface(i_flux))
        self.eta_form = jit.form(surface(eta))
        x_mid = 0.5 * (fe.x_H3 + fe.x_H2)
        self.h3_form = jit.form(ufl.conditional(ufl.lt(x, x_mid), 1.0, 0.0) * self.dx)
        # gradient (interface) energy per c_max, J/mol * um^3
        self.grad_energy_form = jit.form(
            0.5 * fe.kappa / L**2 * ufl.inner(ufl.grad(x), ufl.grad(x)) * self.dx)

        # chemical potential of a given Li field (restart, external writes to w)
        wp = 1.0 / (1.0 + ufl.exp(-self.w))
        p, r = ufl.TrialFunction(self._mu_space), ufl.TestFunction(self._mu_space)
        self._mu_mass = jit.form(p * r * self.dx)
        self._mu_rhs = jit.form(fe.mu_hom(wp, m) / RT * r * self.dx
                                + k_grad * ufl.inner(ufl.grad(wp), ufl.grad(r)) * self.dx)

        self.ksp = PETSc.KSP().create(self.comm)
        self._options = (DIRECT, petsc_options)
        self._petsc_keys: list[str] = []
        self.A: PETSc.Mat | None = None
        self.Fvec = self.bvec = self.cvec = self.y1 = self.y2 = None
        self._bordered = None

    # ------------------------------------------------------------------ helpers
    def _phase_parameters(self, material) -> dict:
        """lambda, gamma: the class's (bound by transport_class), else the material's
        transport-model fields, else the documented defaults."""
        params = {k: getattr(material, k, None) for k in ("interface_width",
                                                         "interface_energy")}
        params.update(self.phase_parameters)
        return {k: v for k, v in params.items() if v is not None}

    def _sum(self, local: float) -> float:
        return self.comm.allreduce(local, op=MPI.SUM)

    def scalar(self, form) -> float:
        """Assemble a scalar form over all ranks."""
        return self._sum(fem.assemble_scalar(form))

    @property
    def rotation(self) -> fem.Function:
        """Crystal->sample rotation as a DG0 (3, 3) field."""
        if self._rotation_field is None:
            self._rotation_field = LiTransport._build_rotation_field(
                self, self._uniform_rotation)
        return self._rotation_field

    def _ensure_linear_system(self) -> None:
        if self.A is not None:
            return
        self.A = fem_petsc.create_matrix(self.J_form)
        self.Fvec, self.bvec, self.cvec, self.y1, self.y2 = (
            fem_petsc.create_vector(self.ME) for _ in range(5))
        self._petsc_keys = set_prefixed_options(self.ksp, "ch_", *self._options)
        self.ksp.setOperators(self.A)
        self.ksp.setFromOptions()

    def _sync_w(self) -> None:
        """Copy the w part of U (and U_old) into the plain Li functions."""
        self.w.x.array[:] = self.U.x.array[self._map_w]
        self.w_old.x.array[:] = self.U_old.x.array[self._map_w]

    def _w_written_outside(self) -> bool:
        """Did a caller write ``w`` directly (restart, tests)?  (all ranks agree)"""
        diff = bool(np.any(self.w.x.array != self.U.x.array[self._map_w]))
        return self.comm.allreduce(diff, op=MPI.LOR)

    def _mu_from_w(self) -> None:
        """Set the chemical-potential part of U from the Li field ``w`` (L2 projection of
        mu_hom/RT - k lap x) and the w part from ``w``."""
        A = fem_petsc.assemble_matrix(self._mu_mass)
        A.assemble()
        b = fem_petsc.assemble_vector(self._mu_rhs)
        b.ghostUpdate(PETSc.InsertMode.ADD, PETSc.ScatterMode.REVERSE)
        mu = fem.Function(self._mu_space)
        ksp = PETSc.KSP().create(self.comm)
        ksp.setOperators(A)
        ksp.setType("cg")
        ksp.getPC().setType("jacobi")
        ksp.setTolerances(rtol=1e-14, atol=1e-30, max_it=1000)  # numerical setting
        ksp.solve(b, mu.x.petsc_vec)
        mu.x.scatter_forward()
        for obj in (ksp, A, b):
            obj.destroy()
        self.U.x.array[self._map_w] = self.w.x.array
        self.U.x.array[self._map_mu] = mu.x.array
        self.U.x.scatter_forward()

    # ------------------------------------------------------------------ state
    def set_uniform(self, x0: float) -> None:
        """Uniform Li fraction, m = mu_hom(x0)/RT, V at the rest potential U_eq(x0)."""
        w0 = np.log(x0 / (1.0 - x0))
        RT = GAS_CONSTANT * float(self.T.value)
        self.U.x.array[self._map_w] = w0
        self.U.x.array[self._map_mu] = float(self.phase.mu_hom(x0)) / RT
        self.U_old.x.array[:] = self.U.x.array
        self._sync_w()
        self.V.value = float(self.phase.ocv_eq(x0))
        self.V_old = float(self.V.value)

    def set_state(self, control: dict) -> None:
        """Set dt [s], total current [A] and temperature [K] for the next solve."""
        self.dt.value = control["dt"]
        self.I_total.value = control["current"]
        self.T.value = control["temperature"]

    def accept(self) -> None:
        """Make the current state the old state of the next step (a Li field written
        into ``w`` from outside, e.g. by a restart, is taken over with its chemical
        potential)."""
        if self._w_written_outside():
            self._mu_from_w()
        self.U_old.x.array[:] = self.U.x.array
        self._sync_w()
        self.V_old = float(self.V.value)

    def reject(self) -> None:
        """Restore the state of the last accepted step."""
        self.U.x.array[:] = self.U_old.x.array
        self._sync_w()
        self.V.value = self.V_old

    # ------------------------------------------------------------------ Newton
    def solve(self) -> NewtonResult:
        """Newton on (w, m, V), V eliminated with one factorisation per iteration."""
        if self._w_written_outside():
            self._mu_from_w()
        bv = self.b_form is not None
        self._ensure_linear_system()
        # owned entries of the mixed vector, by sub-space (a sub-space's owned dofs need
        # not be owned in the mixed space: select by the mixed space's ownership)
        n_own = self.ME.dofmap.index_map.size_local
        own_w = self._map_w[self._map_w < n_own]
        own_mu = self._map_mu[self._map_mu < n_own]
        n_w, n_mu = own_w.size, own_mu.size
        for it in range(1, self.newton_max_it + 1):
            G, d = LiTransport._assemble_newton_system(self)
            if not (np.isfinite(G) and np.isfinite(d) and np.isfinite(self.Fvec.norm())):
                return NewtonResult(False, it, it, "non-finite residual")
            self.Fvec.scale(-1.0)
            self.ksp.solve(self.Fvec, self.y1)
            if self.ksp.getConvergedReason() < 0:
                return NewtonResult(False, it, it, "linear solve failed "
                                    f"({self.ksp.getConvergedReason()})")
            if bv:
                LiTransport._assemble_b(self)
                self.ksp.solve(self.bvec, self.y2)
                denom = d - self.cvec.dot(self.y2)
                if not np.isfinite(denom) or denom == 0.0:
                    return NewtonResult(False, it, it, "singular voltage equation")
                dV = (-G - self.cvec.dot(self.y1)) / denom
                self.y1.axpy(-dV, self.y2)
            else:
                if not np.isfinite(d) or d == 0.0:
                    return NewtonResult(False, it, it, "singular voltage equation")
                dV = (-G - self.cvec.dot(self.y1)) / d
            y = self.y1.getArray(readonly=True)
            dw_max = self.comm.allreduce(float(np.abs(y[own_w]).max()) if n_w else 0.0,
                                         op=MPI.MAX)
            dmu_max = self.comm.allreduce(float(np.abs(y[own_mu]).max()) if n_mu else 0.0,
                                          op=MPI.MAX)
            mu_scale = self.comm.allreduce(
                float(np.abs(self.U.x.array[own_mu]).max()) if n_mu else 0.0, op=MPI.MAX)
            if not (np.isfinite(dw_max) and np.isfinite(dmu_max) and np.isfinite(dV)):
                return NewtonResult(False, it, it, "non-finite update")
            # damping as in LiTransport (logit variable and exp(f eta) overshoot from far)
            damp = min(1.0, 4.0 / dw_max if dw_max > 0 else 1.0,
                       0.3 / abs(dV) if dV else 1.0)
            self.U.x.petsc_vec.axpy(damp, self.y1)
            self.U.x.scatter_forward()
            self.V.value = float(self.V.value) + damp * dV
            self.w.x.array[:] = self.U.x.array[self._map_w]
            if (damp == 1.0 and dw_max < self.newton_tol and abs(dV) < self.newton_tol
                    and dmu_max < self.newton_tol * max(1.0, mu_scale)):
                return NewtonResult(True, it, it)
        return NewtonResult(False, self.newton_max_it, self.newton_max_it,
                            "Newton did not converge")

    # ------------------------------------------------------------------ diagnostics
    def nodal_x_range(self) -> tuple[float, float]:
        """Smallest and largest Li fraction over all degrees of freedom."""
        n = self.V_space.dofmap.index_map.size_local
        w = self.w.x.array[:n]
        lo = self.comm.allreduce(w.min() if n else np.inf, op=MPI.MIN)
        hi = self.comm.allreduce(w.max() if n else -np.inf, op=MPI.MAX)
        return float(_logistic(lo)), float(_logistic(hi))

    _active_form = None  # no active-fraction field (the defect model is not combined yet)

    def diagnostics(self) -> dict[str, float]:
        """The same keys as LiTransport.diagnostics (see there)."""
        return LiTransport.diagnostics(self)

    def surface_current(self) -> float:
        """Total current through the surface at the current state [A], > 0 on charge."""
        return LiTransport.surface_current(self)

    def phase_diagnostics(self) -> dict[str, float]:
        """Two-phase measures: volume fraction of H3 (x below the window centre) and the
        gradient (interface) energy [J]."""
        grad_e = self.scalar(self.grad_energy_form) * LENGTH_UNIT**3 * self.material.c_max
        return {"h3_fraction": self.scalar(self.h3_form) / self.volume,
                "gradient_energy_J": grad_e}

    def li_out_rate(self) -> float:
        """Li leaving through the surface at the current state [mol/s]."""
        return self.scalar(self.flux_form) * LENGTH_UNIT**2 / FARADAY

    def x_function(self, target: fem.Function) -> None:
        """Interpolate x = 1/(1+exp(-w)) into ``target`` (same space as w)."""
        target.x.array[:] = _logistic(self.w.x.array)

    def destroy(self) -> None:
        """Free PETSc objects and the options this object set."""
        opts = PETSc.Options()
        for k in self._petsc_keys:
            opts.delValue(k)
        for obj in (self.ksp, self.A, self.Fvec, self.bvec, self.cvec, self.y1, self.y2):
            if obj is not None:
                obj.destroy()


def transport_class(case) -> type:
    """The Li transport class of a validated case: LiTransport for the single-phase model,
    else CahnHilliardTransport bound to the case's two-phase parameters."""
    mat = case["material"]
    if (mat.get("phase_model") or "single-phase") == "single-phase":
        return LiTransport
    params = {"interface_width": mat["interface_width"],
              "interface_energy": mat["interface_energy"]}
    return type("CahnHilliardTransportOfCase", (CahnHilliardTransport,),
                {"phase_parameters": params})


__all__ = ["CahnHilliardTransport", "transport_class"]
