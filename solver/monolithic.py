"""Monolithic Newton step of the two-way chemo-mechanical problem.

Unknowns (w, s, u) plus the electrode potential V, one backward-Euler step:

    F_w(w, s, V; v) = ∫ (x - x_old)/dt v + D x(1-x) M grad(w - s)·grad v dx + ∫ N/c_max v ds
    F_s(w, s, u; q) = ∫ s q dx - ∫ sigma(u, x) : Omega(x) / (c_max R T) q dx
    F_u(w, u; z)    = ∫ sigma(u, x) : eps(z) dx,  sigma = C:(eps(u) - eps_ch(x) - eps_res)
    G(w, V)         = (∫ i ds - I) / A

i.e. the residual of solver/transport.py with the stress potential s as an unknown (no
``beta`` splitting: nothing is lagged), the L2 projection of solver/mechanics.py as an
equation, and the elasticity residual.  The Jacobian blocks are ``ufl.derivative`` of these
forms (same measures, so the same explicit quadrature degree); F_w does not depend on u and
F_u not on s, so those two blocks are absent.  V is eliminated as in solver/transport.py:
two solves with the (w, s, u) Jacobian per Newton iteration.

The free particle's six rigid-body modes (0, 0, r) are a right and a left null vector of
the Jacobian (rigid motions change neither the strain nor, hence, F_s and F_u).  They are
projected out of each right-hand side (only round-off: the elastic residual is
self-equilibrated) and out of each update, and the linear solver is told about them:
MUMPS with null-pivot detection (``linear_solver = "direct"``) or GMRES with a
multiplicative field split (w, s, u) — GAMG on w and on u (rigid-body near-nullspace),
Jacobi on the s mass block (``"iterative"``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import ufl
from dolfinx import fem
from dolfinx.fem import petsc as fem_petsc
from mpi4py import MPI
from petsc4py import PETSc

from solver.petsc_options import set_prefixed_options
from solver.transport import NewtonResult

DEFAULT_PETSC = {
    "direct": {"ksp_type": "preonly", "pc_type": "lu", "pc_factor_mat_solver_type": "mumps",
               # null-pivot detection for the rigid-body modes of the free particle
               "mat_mumps_icntl_24": 1, "mat_mumps_cntl_3": 1e-10},
    "iterative": {"ksp_type": "fgmres", "ksp_rtol": 1e-10, "ksp_atol": 1e-30,
                  "ksp_max_it": 500, "ksp_gmres_restart": 200,
                  "pc_type": "fieldsplit", "pc_fieldsplit_type": "multiplicative",
                  "fieldsplit_w_ksp_type": "preonly", "fieldsplit_w_pc_type": "gamg",
                  "fieldsplit_s_ksp_type": "preonly", "fieldsplit_s_pc_type": "jacobi",
                  "fieldsplit_u_ksp_type": "preonly", "fieldsplit_u_pc_type": "gamg",
                  "fieldsplit_u_pc_gamg_threshold": 0.01},
}


@dataclass
class MonolithicResult(NewtonResult):
    """Newton result plus the update norms of each iteration (convergence history)."""

    history: tuple[float, ...] = ()


class MonolithicSolver:
    """Newton on (w, s, u) [+ V by block elimination] for one time step.

    Uses the unknowns of ``transport`` (w, s, V) and ``mechanics`` (u) in place, so the
    accept/reject/diagnostics of those objects apply unchanged.
    """

    def __init__(self, transport, mechanics, *, linear_solver: str = "direct",
                 petsc_options: dict | None = None,
                 tol: float = 1e-9, max_it: int = 25):  # Newton settings (update norm)
        """Compile the residual and Jacobian blocks and set up the linear solver.

        Args:
            transport: solver.transport.LiTransport (its beta term is not used here).
            mechanics: solver.mechanics.Elasticity built on ``transport``.
            linear_solver: "direct" (MUMPS) or "iterative" (GMRES + field split).
            tol: Newton tolerance on max |update| of w, s (RT units), u (um) and V (V).
        """
        tr, mech = self.tr, self.mech = transport, mechanics
        self.comm: MPI.Comm = tr.comm
        self.tol, self.max_it = tol, max_it
        W, U = tr.V_space, mech.U
        self.spaces = [W, W, U]
        self.unknowns = [tr.w, tr.s, mech.u]
        # the beta term of the staggered scheme is not part of the monolithic residual
        F_w = ufl.replace(tr.F_ufl, {tr.beta: ufl.as_ufl(0.0)})
        q, z = ufl.TestFunction(W), ufl.TestFunction(U)
        F_s = (tr.s - mech.s_expr) * q * tr.dx
        F_u = ufl.inner(mech.sigma, ufl.sym(ufl.grad(z))) * tr.dx
        residuals = [F_w, F_s, F_u]
        trials = [ufl.TrialFunction(V) for V in self.spaces]
        J = [[None] * 3 for _ in range(3)]
        for i, Fi in enumerate(residuals):
            for j, (uj, dj) in enumerate(zip(self.unknowns, trials, strict=True)):
                Jij = ufl.algorithms.expand_derivatives(ufl.derivative(Fi, uj, dj))
                if Jij.empty():
                    continue
                J[i][j] = fem.form(Jij)
        self.F_forms = [fem.form(Fi) for Fi in residuals]
        self.J_forms = J
        self.A = fem_petsc.create_matrix(J)
        self.P, self.P_forms = None, None
        if linear_solver == "iterative":
            # Preconditioning matrix: the Jacobian with the rigid-body modes of the u block
            # lifted by a small mass shift, so the block preconditioners see a regular
            # u block; GMRES still solves the exact (singular, consistent) system.
            # alpha = 1e-4 C_11 / L^2 (GPa/um^2) puts the rigid modes well below the
            # lowest elastic mode of a particle of size L (numerical setting).
            size = tr.volume ** (1.0 / 3.0)  # um
            alpha = 1e-4 * float(tr.material.stiffness_voigt()[0, 0]) / 1e9 / size**2  # setting
            du = trials[2]
            P = [row[:] for row in J]
            P[2][2] = fem.form(ufl.derivative(F_u, mech.u, du) + alpha * ufl.inner(du, z) * tr.dx)
            self.P_forms = P
            self.P = fem_petsc.create_matrix(P)
        self.F = fem_petsc.create_vector(self.spaces, kind=PETSc.Vec.Type.MPI)
        self.x = self.F.duplicate()
        self.y1, self.y2 = self.F.duplicate(), self.F.duplicate()
        self.bvec, self.cvec = self.F.duplicate(), self.F.duplicate()
        self.offsets = self._owned_offsets()
        self.nullspace = self._rigid_nullspace()
        self.A.setNullSpace(self.nullspace)

        self.ksp = PETSc.KSP().create(self.comm)
        self.ksp.setOperators(self.A, self.P if self.P is not None else self.A)
        self._petsc_keys = set_prefixed_options(self.ksp, "mono_", DEFAULT_PETSC[linear_solver],
                                                petsc_options)
        if PETSc.Options().getString("mono_pc_type", "") == "fieldsplit":
            self._setup_fieldsplit()
        self.ksp.setFromOptions()

    # ------------------------------------------------------------------ layout
    def _owned_offsets(self) -> list[tuple[int, int]]:
        """(start, stop) of each field's owned entries in the local part of a block vector."""
        out, start = [], 0
        for V in self.spaces:
            n = V.dofmap.index_map.size_local * V.dofmap.index_map_bs
            out.append((start, start + n))
            start += n
        return out

    def _rigid_nullspace(self) -> PETSc.NullSpace:
        """The six rigid-body modes in the u block, zero in w and s (orthonormal)."""
        a, b = self.offsets[2]
        vecs = []
        for mode in self.mech.nullspace.getVecs():
            v = self.F.duplicate()
            v.set(0.0)
            v.array[a:b] = mode.array_r  # owned part of an orthonormal basis stays orthonormal
            vecs.append(v)
        return PETSc.NullSpace().create(vectors=vecs, comm=self.comm)

    def _setup_fieldsplit(self) -> None:
        pc = self.ksp.getPC()
        pc.setType("fieldsplit")
        rstart = self.A.getOwnershipRange()[0]
        iss = []
        for a, b in self.offsets:
            iss.append(PETSc.IS().createStride(b - a, first=rstart + a, step=1, comm=self.comm))
        pc.setFieldSplitIS(("w", iss[0]), ("s", iss[1]), ("u", iss[2]))
        self._u_is = iss[2]

    def _near_nullspace_u(self) -> None:
        """Give the u sub-block's GAMG the rigid-body near-nullspace (after set-up)."""
        pc = self.ksp.getPC()
        if pc.getType() != "fieldsplit":
            return
        sub = pc.getFieldSplitSubKSP()[2]
        Auu = sub.getOperators()[1]
        Auu.setNearNullSpace(self.mech.nullspace)
        Auu.setBlockSize(3)

    # ------------------------------------------------------------------ assembly
    def _pull(self) -> None:
        """Copy the unknowns' owned values into ``self.x``."""
        fem_petsc.assign(self.unknowns, self.x)

    def _push(self) -> None:
        fem_petsc.assign(self.x, self.unknowns)
        for f in self.unknowns:
            f.x.scatter_forward()

    def _assemble_block_vector(self, vec: PETSc.Vec, forms) -> None:
        with vec.localForm() as loc:
            loc.set(0.0)
        fem_petsc.assemble_vector(vec, forms)
        vec.ghostUpdate(PETSc.InsertMode.ADD, PETSc.ScatterMode.REVERSE)

    def _single_into_block(self, vec: PETSc.Vec, form) -> None:
        """Assemble a w-row linear form into the w part of a block vector (rest zero)."""
        W = self.spaces[0]
        tmp = fem_petsc.create_vector(W)
        with tmp.localForm() as loc:
            loc.set(0.0)
        fem_petsc.assemble_vector(tmp, form)
        tmp.ghostUpdate(PETSc.InsertMode.ADD, PETSc.ScatterMode.REVERSE)
        vec.set(0.0)
        a, b = self.offsets[0]
        vec.array[a:b] = tmp.array[: b - a]
        tmp.destroy()

    def residual_norms(self) -> list[float]:
        """max |F_i| of the three residual blocks at the current state (diagnostic)."""
        self._assemble_block_vector(self.F, self.F_forms)
        out = []
        for a, b in self.offsets:
            loc = float(np.abs(self.F.array[a:b]).max()) if b > a else 0.0
            out.append(self.comm.allreduce(loc, op=MPI.MAX))
        return out

    def _linear_solve(self, rhs: PETSc.Vec, out: PETSc.Vec) -> int:
        self.nullspace.remove(rhs)
        self.ksp.solve(rhs, out)
        reason = self.ksp.getConvergedReason()
        if reason < 0:
            raise _LinearFailure(f"monolithic linear solve failed (KSP reason {reason})")
        self.nullspace.remove(out)
        return self.ksp.getIterationNumber()

    # ------------------------------------------------------------------ Newton
    def solve(self) -> MonolithicResult:
        """One Newton solve; leaves (w, s, u, V) at the result."""
        tr = self.tr
        bv = tr.b_form is not None
        ksp_total = 0
        history: list[float] = []
        for it in range(1, self.max_it + 1):
            self.A.zeroEntries()
            fem_petsc.assemble_matrix(self.A, self.J_forms)
            self.A.assemble()
            if self.P is not None:
                self.P.zeroEntries()
                fem_petsc.assemble_matrix(self.P, self.P_forms)
                self.P.assemble()
            self._assemble_block_vector(self.F, self.F_forms)
            self._single_into_block(self.cvec, tr.c_form)
            G, d = tr.scalar(tr.G_form), tr.scalar(tr.d_form)
            fnorm = self.F.norm()
            if not (np.isfinite(G) and np.isfinite(d) and np.isfinite(fnorm)):
                return MonolithicResult(False, it, ksp_total, "non-finite residual",
                                        tuple(history))
            self.F.scale(-1.0)
            try:
                if it == 1:
                    self.ksp.setUp()
                    self._near_nullspace_u()
                ksp_total += self._linear_solve(self.F, self.y1)
                cy1 = self.cvec.dot(self.y1)
                if bv:
                    self._single_into_block(self.bvec, tr.b_form)
                    ksp_total += self._linear_solve(self.bvec, self.y2)
                    cy2 = self.cvec.dot(self.y2)
                else:
                    cy2 = 0.0
            except _LinearFailure as err:
                return MonolithicResult(False, it, ksp_total, str(err), tuple(history))
            denom = d - cy2
            if not np.isfinite(denom) or denom == 0.0:
                return MonolithicResult(False, it, ksp_total, "singular voltage equation",
                                        tuple(history))
            dV = (-G - cy1) / denom
            if bv:
                self.y1.axpy(-dV, self.y2)
            norms = []
            for a, b in self.offsets:
                loc = float(np.abs(self.y1.array[a:b]).max()) if b > a else 0.0
                norms.append(self.comm.allreduce(loc, op=MPI.MAX))
            dmax = max(max(norms), abs(dV))
            history.append(dmax)
            if not np.isfinite(dmax):
                return MonolithicResult(False, it, ksp_total, "non-finite update",
                                        tuple(history))
            # same damping rule as solver/transport.py (logit and exp(f eta) overshoot
            # from a far guess); full steps near the solution keep quadratic convergence
            dw = norms[0]
            damp = min(1.0, 4.0 / dw if dw > 0 else 1.0, 0.3 / abs(dV) if dV else 1.0)
            self._pull()
            self.x.axpy(damp, self.y1)
            self._push()
            tr.V.value = float(tr.V.value) + damp * dV
            if damp == 1.0 and dmax < self.tol:
                return MonolithicResult(True, it, ksp_total, "", tuple(history))
        return MonolithicResult(False, self.max_it, ksp_total, "Newton did not converge",
                                tuple(history))

    def destroy(self) -> None:
        opts = PETSc.Options()
        for k in self._petsc_keys:
            opts.delValue(k)
        if self.P is not None:
            self.P.destroy()
        for obj in (self.ksp, self.A, self.F, self.x, self.y1, self.y2, self.bvec, self.cvec):
            obj.destroy()


class _LinearFailure(RuntimeError):
    pass


__all__ = ["MonolithicResult", "MonolithicSolver"]
