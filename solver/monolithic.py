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
F_u not on s, so those two blocks are absent.  V is eliminated through the rank-one
modified operator of solver/bordered.py (one Krylov solve per Newton iteration) on the
iterative path, and by block elimination (two solves with one factorisation) with MUMPS.

The free particle's six rigid-body modes (0, 0, r) are a right and a left null vector of
the Jacobian (rigid motions change neither the strain nor, hence, F_s and F_u).  They are
projected out of each right-hand side (only round-off: the elastic residual is
self-equilibrated) and out of each update, and the linear solver is told about them:
MUMPS with null-pivot detection (``linear_solver = "direct"``) or GMRES with a
multiplicative field split (w, s, u) on a nested matrix (``"iterative"``): GAMG on w
(built from J_ww plus the local stress response, an approximate Schur complement;
``SCHUR_FRACTION``), Jacobi on the s mass block, and on u the elasticity solver's own GAMG
(rigid-body
near-nullspace), set up once per run because the u block is the constant stiffness
matrix itself.  The iterative Newton is inexact (forcing term ``_forcing_term``), starts
from an extrapolation of the last step along sqrt(time) (``_predict``) and stops when the
estimated remaining error is below the tolerance (``_converged``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import ufl
from dolfinx import fem
from dolfinx.fem import petsc as fem_petsc
from mpi4py import MPI
from petsc4py import PETSc

from solver import jit
from solver.bordered import BorderedOperator
from solver.chunked import ChunkedForm
from solver.petsc_options import set_prefixed_options
from solver.predictor import control_of, extrapolation_factor, same_control
from solver.sparsity import SharedPattern
from solver.transport import NewtonResult, stagnates

DEFAULT_PETSC = {
    "direct": {"ksp_type": "preonly", "pc_type": "lu", "pc_factor_mat_solver_type": "mumps",
               # null-pivot detection for the rigid-body modes of the free particle
               "mat_mumps_icntl_24": 1, "mat_mumps_cntl_3": 1e-10},
    # GMRES, right-preconditioned (the true residual is monitored): the preconditioner is
    # a fixed linear operator (preonly sub-solves, Chebyshev/Jacobi smoothers), so the
    # flexible variant and its second set of basis vectors are not needed (half the
    # Krylov memory, same iterations: measured).  Restart 100: the Krylov basis is the
    # largest allocation of a step (one (w, s, u) vector per iteration, ~5 MB each at
    # 5.1e5 unknowns) but grows only as far as a solve goes (<= ~31 iterations at
    # x = 0.9); restart 20 saved ~75 MB there but made the two-way demo 2.5x slower
    # (its solves below x = 0.3 need 40-100 iterations and stagnated: 86 -> 91 steps)
    "iterative": {"ksp_type": "gmres", "ksp_pc_side": "right", "ksp_rtol": 1e-10,
                  "ksp_atol": 1e-30, "ksp_max_it": 500, "ksp_gmres_restart": 100,
                  "pc_type": "fieldsplit", "pc_fieldsplit_type": "multiplicative",
                  "fieldsplit_w_ksp_type": "preonly", "fieldsplit_w_pc_type": "gamg",
                  # SSOR smoothing for the anisotropic Li block (see solver/transport.py)
                  "fieldsplit_w_mg_levels_pc_type": "sor",
                  "fieldsplit_s_ksp_type": "preonly", "fieldsplit_s_pc_type": "jacobi",
                  # u: the elasticity solver's GAMG, shared (see _share_elasticity_pc)
                  "fieldsplit_u_ksp_type": "preonly"},
}


@dataclass
class MonolithicResult(NewtonResult):
    """Newton result plus the update norms of each iteration (convergence history)."""

    history: tuple[float, ...] = ()


class MonolithicSolver:
    """Newton on (w, s, u) [+ V, eliminated] for one time step.

    Uses the unknowns of ``transport`` (w, s, V) and ``mechanics`` (u) in place, so the
    accept/reject/diagnostics of those objects apply unchanged.
    """

    # Fraction of the fully constrained stress response put into the w-split
    # preconditioning matrix (see __init__); 0 switches it off.  Measured (3.2e4
    # unknowns, dt = 30 s): from x = 0.15, GMRES iterations per Newton iteration 49-288
    # with 0, 17-73 with 0.35, 17-62 with 1; from x = 0.9 unchanged (11-25).  Whole
    # two-way demo: 84.7 s -> 72.4 s, 40 -> 28 iterations per Newton iteration.
    SCHUR_FRACTION = 1.0  # numerical setting (preconditioner only; the Jacobian is exact)
    FORCING = 0.01  # eta_k = FORCING * (last update norm), see _forcing_term

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
        if not getattr(transport, "supports_monolithic", True):
            raise NotImplementedError(
                f"the monolithic two-way Newton does not take {type(transport).__name__} "
                "(two-phase Cahn-Hilliard transport: mixed (w, mu) unknowns); use "
                "mechanics.scheme = 'staggered'")
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
        self.nested = linear_solver == "iterative"
        # the iterative path assembles block by block, each over chunks of cells (bounded
        # coefficient-packing transient, solver/chunked.py); MUMPS takes the blocked forms
        compile_ = ChunkedForm if self.nested else jit.form
        J = [[None] * 3 for _ in range(3)]
        J_ww_ufl = None
        for i, Fi in enumerate(residuals):
            for j, (uj, dj) in enumerate(zip(self.unknowns, trials, strict=True)):
                Jij = ufl.algorithms.expand_derivatives(ufl.derivative(Fi, uj, dj))
                if Jij.empty():
                    continue
                if self.nested and (i, j) in ((1, 1), (2, 2)):
                    continue  # constant blocks: the mechanics object's M and K (below)
                if self.nested and (i, j) == (2, 0):
                    # stored transposed (see below): the adjoint form, W rows x U columns
                    Jij = ufl.adjoint(Jij)
                J[i][j] = compile_(Jij)
                if (i, j) == (0, 0):
                    J_ww_ufl = Jij
        self.F_forms = [compile_(Fi) for Fi in residuals]
        self.J_forms = J
        if self.nested:
            # Nested matrix: each block is its own matrix, so the two constant blocks are
            # shared with the mechanics object instead of re-assembled -- the s mass
            # matrix (J_ss = M) and the elasticity stiffness (J_uu = K, composition-
            # independent) -- and the field split takes its blocks without copies.  The u
            # block is therefore the very matrix whose GAMG hierarchy the elasticity solver
            # set up once (solver/mechanics.py), and the split reuses that preconditioner.
            blocks = [[None] * 3 for _ in range(3)]
            blocks[1][1], blocks[2][2] = mech.Mmass, mech.K
            # shared sparsity patterns of the Li and (Li x U) blocks (_block_matrix)
            self._li_pattern: SharedPattern | None = None
            self._li_u_pattern: SharedPattern | None = None
            self._varying = []
            for i in range(3):
                for j in range(3):
                    if J[i][j] is not None and (i, j) != (2, 0):
                        blocks[i][j] = self._block_matrix(i, j, J[i][j])
                        self._varying.append((blocks[i][j], J[i][j]))
            # J_uw (3 rows per vertex, 1 column) is assembled as its transpose: each cell's
            # 12 x 4 element matrix is inserted as 4 rows of 12 instead of 12 rows of 4, and
            # PETSc's insertion costs per row.  It enters the nest as a virtual transpose.
            # Measured at 1e5 cells: 0.130 s instead of 0.154 s per assembly, and
            # 0.46 ms instead of 0.41 ms per product (MatMultTranspose).
            J_wu_T = self._block_matrix(0, 2, J[2][0])
            self._varying.append((J_wu_T, J[2][0]))
            blocks[2][0] = PETSc.Mat().createTranspose(J_wu_T)
            self._virtual = [blocks[2][0]]
            self.A = PETSc.Mat().createNest(blocks, comm=self.comm)
            self.P = self.A
            self._pc_blocks = []  # preconditioner-only matrices, refreshed once per step
            beta = self.SCHUR_FRACTION
            if beta > 0.0:
                # w-split preconditioning matrix: an approximate Schur complement of the
                # (s, u) response.  A Li perturbation dw at a fully constrained point
                # changes s by -Omega:C:Omega x'(w) dw / (c_max R T) <= 0, which enters
                # F_w through -mobility grad s: the Li operator seen by the w split is
                # J_ww plus a mobility Laplacian weighted by that (nonnegative) local
                # response, scaled by beta (the elastic relaxation of a free particle
                # makes the true response smaller).  Positive by construction, so GAMG
                # stays robust; the Jacobian itself is unchanged.
                S_form = ChunkedForm(J_ww_ufl + beta * mech.omega_c_omega * tr.x_expr
                                     * (1.0 - tr.x_expr) * tr.mobility
                                     * ufl.inner(tr.Mrot * ufl.grad(trials[0]),
                                                 ufl.grad(q)) * tr.dx)
                S_hat = self._block_matrix(0, 0, S_form)
                self._pc_blocks.append((S_hat, S_form))
                pblocks = [list(r) for r in blocks]
                pblocks[0][0] = S_hat
                self.P = PETSc.Mat().createNest(pblocks, comm=self.comm)
            self._own_blocks = [m for m, _ in self._varying + self._pc_blocks] + self._virtual
        else:
            self._own_blocks = []
            self.A = self.P = fem_petsc.create_matrix(J)
        self.F = fem_petsc.create_vector(self.spaces, kind=PETSc.Vec.Type.MPI)
        self.x = self.F.duplicate()
        self.y1 = self.F.duplicate()
        self.y2: PETSc.Vec | None = None  # voltage column (block elimination only)
        self.offsets = self._owned_offsets()
        self._field_vecs = [fem_petsc.create_vector(V) for V in self.spaces]
        self.nullspace = self._rigid_nullspace()
        self.A.setNullSpace(self.nullspace)

        self.ksp = PETSc.KSP().create(self.comm)
        defaults = dict(DEFAULT_PETSC[linear_solver])
        # a case that sets u-split preconditioner options gets its own u preconditioner
        # (GAMG unless it names one; the u block is K, which carries the near-nullspace)
        self._own_u_pc = any(k.lstrip("-").startswith("fieldsplit_u_pc_")
                             for k in (petsc_options or {}))
        if self._own_u_pc and linear_solver == "iterative":
            defaults["fieldsplit_u_pc_type"] = "gamg"
            # that preconditioner is set up on K itself: AIJ, which every PC takes
            mechanics.keep_aij_stiffness()
        self._petsc_keys = set_prefixed_options(self.ksp, "mono_", defaults, petsc_options)
        # Krylov path: V eliminated through the rank-one modified operator, one solve per
        # Newton iteration (solver/bordered.py); the rigid-body modes stay null vectors (b
        # and c have no displacement part).  MUMPS keeps the block elimination.
        self._bordered = None
        if (self.nested and tr.b_form is not None
                and PETSc.Options().getString("mono_ksp_type", "") != "preonly"):
            # b = dF/dV and c = dG/dw live in the w block only: Li-sized vectors
            w_map = W.dofmap.index_map
            self.bvec, self.cvec = (
                PETSc.Vec().createMPI((w_map.size_local, w_map.size_global), comm=self.comm)
                for _ in range(2))
            self._bordered = BorderedOperator(self.A, self.bvec, self.cvec,
                                              part=self.offsets[0])
            self._bordered.mat.setNullSpace(self.nullspace)
            self.ksp.setOperators(self._bordered.mat, self.P)
        else:
            self.bvec, self.cvec = self.F.duplicate(), self.F.duplicate()
            self.ksp.setOperators(self.A, self.P)
        if PETSc.Options().getString("mono_pc_type", "") == "fieldsplit":
            self._setup_fieldsplit()
        self.ksp.setFromOptions()
        self._share_elasticity_pc()
        # inexact Newton (iterative solver only; a direct solve is exact anyway): the
        # case's ksp_rtol is the tightest forcing term (numerical settings)
        self.rtol_min = float(self.ksp.getTolerances()[0])
        self.eta_max = max(1e-3, self.rtol_min)
        # predictor state (see _predict)
        self._start: PETSc.Vec | None = None
        self._V_start = 0.0
        # last accepted step: (increment of (w, s, u), of V, dt, (current, T))
        self._last: tuple[PETSc.Vec, float, float, tuple[float, float]] | None = None
        self._tau = 0.0  # s, time since the current (current, T) segment began

    # ------------------------------------------------------------------ layout
    def _owned_offsets(self) -> list[tuple[int, int]]:
        """(start, stop) of each field's owned entries in the local part of a block vector."""
        out, start = [], 0
        for V in self.spaces:
            n = V.dofmap.index_map.size_local * V.dofmap.index_map_bs
            out.append((start, start + n))
            start += n
        return out

    def _block_matrix(self, i: int, j: int, form: ChunkedForm) -> PETSc.Mat:
        """Matrix of block (i, j), on a sparsity pattern shared where blocks have one.

        The (w, s) x (w, s) blocks have the pattern of the Li-space mass matrix (P1 x P1
        over the same cells); the (Li space x U) blocks -- J_su and the transposed J_uw --
        are cell integrals of P1 x P1-vector over all cells, hence one pattern too.  Each
        group stores its index arrays once (solver/sparsity.py).  Measured at 5.1e5
        unknowns on 2 ranks, per rank: J_wu^T 34.6 -> 23.7 MB, the preconditioning Li
        block 12.6 -> 8.6 MB, the other four blocks 73.6 -> 65.5 MB (the Li pattern's
        one copy included).  Other blocks get their own pattern."""
        if i < 2 and j < 2:
            if self._li_pattern is None:
                self._li_pattern = SharedPattern(self.mech.Mmass)
            return self._li_pattern.matrix()
        if i < 2 and j == 2 and form.rest is None:
            if self._li_u_pattern is None:
                # PETSc fills in an AIJ pattern only when values arrive (an empty assembly
                # would drop the preallocation), so the template is assembled once
                T = fem_petsc.create_matrix(form.full())
                form.assemble_matrix(T)
                T.assemble()
                self._li_u_pattern = SharedPattern(T)
                T.destroy()
            return self._li_u_pattern.matrix()
        return fem_petsc.create_matrix(form.full())

    def _rigid_nullspace(self) -> PETSc.NullSpace:
        """The six rigid-body modes in the u block, zero in w and s.

        Held as a removal function on the u part that uses the mechanics object's
        orthonormal basis itself (``rigid_modes``, owned parts, no copy) instead of six
        vectors of the full (w, s, u) length: the same projection, ~13 + 15 MB less at
        5.1e5 unknowns."""
        a, b = self.offsets[2]
        modes = self.mech.rigid_modes  # (6, n), the memory of the mechanics nullspace
        comm = self.comm
        local, coef = np.zeros(len(modes)), np.zeros(len(modes))

        def remove(_ns: PETSc.NullSpace, vec: PETSc.Vec) -> None:
            u = vec.array[a:b]
            # one BLAS product and a buffer Allreduce: this runs at every Krylov
            # iteration, and a per-mode loop with the pickling allreduce made the 2-rank
            # two-way demo 2.5x slower (measured)
            np.dot(modes, u, out=local)
            comm.Allreduce(local, coef, op=MPI.SUM)
            u -= coef @ modes

        ns = PETSc.NullSpace().create(constant=False, vectors=(), comm=comm)
        ns.setFunction(remove)
        return ns

    def _setup_fieldsplit(self) -> None:
        pc = self.ksp.getPC()
        pc.setType("fieldsplit")
        if self.nested:
            iss = self.A.getNestISs()[0]
        else:
            rstart = self.A.getOwnershipRange()[0]
            iss = [PETSc.IS().createStride(b - a, first=rstart + a, step=1, comm=self.comm)
                   for a, b in self.offsets]
        pc.setFieldSplitIS(("w", iss[0]), ("s", iss[1]), ("u", iss[2]))

    def _share_elasticity_pc(self) -> None:
        """Let the u split apply the elasticity solver's GAMG (set up once per run).

        The u block of the nested Jacobian is the elasticity matrix itself, never
        re-assembled, so that preconditioner is exact for the block and is never rebuilt.
        Only when the case sets u-split preconditioner options (``fieldsplit_u_pc_*`` in
        ``monolithic_petsc``) is the split left to build its own (GAMG by default)."""
        pc = self.ksp.getPC()
        if pc.getType() != "fieldsplit" or not self.nested or self._own_u_pc:
            return
        mech = self.mech
        mech.setup_solver()
        shared = mech.ksp.getPC()
        # K is never re-assembled, but the split hands the operator to the PC again at
        # every set-up, which would redo GAMG's Galerkin products (measured: every Newton
        # iteration); the hierarchy stays exact for K, so keep it.
        shared.setReusePreconditioner(True)
        pc.getFieldSplitSubKSP()[2].setPC(shared)

    # ------------------------------------------------------------------ assembly
    def _pull(self) -> None:
        """Copy the unknowns' owned values into ``self.x``."""
        fem_petsc.assign(self.unknowns, self.x)

    def _push(self) -> None:
        fem_petsc.assign(self.x, self.unknowns)
        for f in self.unknowns:
            f.x.scatter_forward()

    def _assemble_jacobian(self, refresh_pc: bool = True) -> None:
        """Jacobian at the current state (nested: only the blocks that depend on it).

        ``refresh_pc``: also re-assemble the preconditioner-only w block (the approximate
        Schur complement), which is then set up anew; otherwise the preconditioner keeps
        the last one (see :meth:`solve`)."""
        if self.nested:
            for M, form in self._varying + (self._pc_blocks if refresh_pc else []):
                M.zeroEntries()
                form.assemble_matrix(M)
                M.assemble()
            self.A.assemble()
            if self.P is not self.A and refresh_pc:
                self.P.assemble()
        else:
            self.A.zeroEntries()
            fem_petsc.assemble_matrix(self.A, self.J_forms)
            self.A.assemble()

    def _assemble_block_vector(self, vec: PETSc.Vec, forms) -> None:
        """Assemble one linear form per field into ``vec`` (None: that part is zero).

        Form by form through a ghosted vector per field: DOLFINx's blocked assembly packs
        the coefficients of all forms at once, a transient of ~46 MB per 1e5 cells
        (measured), while one form at a time needs only that form's."""
        vec.set(0.0)
        for k, (form, (a, b)) in enumerate(zip(forms, self.offsets, strict=True)):
            if form is not None:
                vec.array[a:b] = self._assemble_field(k, form).array_r[: b - a]

    def _assemble_field(self, k: int, form) -> PETSc.Vec:
        """A linear form on field ``k``'s space, assembled into that field's ghosted work
        vector (returned; its owned part is final)."""
        tmp = self._field_vecs[k]
        with tmp.localForm() as loc:
            loc.set(0.0)
        if isinstance(form, ChunkedForm):
            form.assemble_vector(tmp)
        else:
            fem_petsc.assemble_vector(tmp, form)
        tmp.ghostUpdate(PETSc.InsertMode.ADD, PETSc.ScatterMode.REVERSE)
        return tmp

    def _single_into_block(self, vec: PETSc.Vec, form) -> None:
        """Assemble a w-row linear form into the w part of a block vector (rest zero), or
        into a vector of the w block alone (the bordered operator's b and c)."""
        if vec.getSize() == self.F.getSize():
            self._assemble_block_vector(vec, [form, None, None])
        else:
            vec.array[:] = self._assemble_field(0, form).array_r[: vec.getLocalSize()]

    def residual_norms(self) -> list[float]:
        """max |F_i| of the three residual blocks at the current state (diagnostic)."""
        self._assemble_block_vector(self.F, self.F_forms)
        out = []
        for a, b in self.offsets:
            loc = float(np.abs(self.F.array[a:b]).max()) if b > a else 0.0
            out.append(self.comm.allreduce(loc, op=MPI.MAX))
        return out

    def _linear_solve(self, rhs: PETSc.Vec, out: PETSc.Vec, rtol: float,
                      guess: bool = False) -> int:
        """Solve J out = rhs to relative tolerance ``rtol`` (iterative solvers only);
        ``guess``: start from the current ``out``."""
        self.nullspace.remove(rhs)
        self.ksp.setTolerances(rtol=rtol)
        self.ksp.setInitialGuessNonzero(guess and self.ksp.getType() != "preonly")
        self.ksp.solve(rhs, out)
        reason = self.ksp.getConvergedReason()
        if reason < 0:
            raise _LinearFailure(f"monolithic linear solve failed (KSP reason {reason})")
        self.nullspace.remove(out)
        return self.ksp.getIterationNumber()

    def _forcing_term(self, history: list[float]) -> float:
        """Relative tolerance of the Newton-update solve (inexact Newton).

        eta_k = FORCING * (last update norm), clipped to [rtol_min, 1e-3]: the linear
        error then stays below the Newton error, so the convergence stays quadratic
        (Dembo, Eisenstat & Steihaug, SIAM J. Numer. Anal. 19, 400 (1982)), while the
        first, far-from-solution iterations are not solved to round-off.  FORCING = 0.01:
        the linear error in the update is larger than eta times the update (the coupled
        operator is ill-conditioned), and with 0.1 it visibly slowed the quadratic
        convergence (d_k / d_{k-1}^2 grew from 2 to 8 within a step).  Measured on the
        two-way demo (86 steps): 3.45 -> 3.14 Newton iterations per step and 95 -> 90
        Krylov iterations per step; 0.001 gave 3.08 Newton but 98 Krylov iterations.

        When Newton is in its quadratic regime and the coming update, predicted as
        d_pred = d_k^3 / d_{k-1}^2, is small enough to end the iteration, the solve is
        tightened so that its own error, eta d, is ~1 % of the tolerance: otherwise the
        stopping test of ``_converged`` fails on the linear-solve term alone and costs one
        more Newton iteration (measured on the bench steps) for a few more Krylov ones."""
        if not self.nested:
            return 0.0  # MUMPS: exact
        if not history:
            return self.eta_max
        eta = min(self.eta_max, max(self.rtol_min, self.FORCING * history[-1]))
        if len(history) >= 2 and history[-1] < 0.1 * history[-2]:
            d_pred = history[-1] ** 3 / history[-2] ** 2
            # the stopping estimate after the coming update would pass on its quadratic
            # term (the 0.1 tol of _converged)
            if d_pred**3 / history[-1] ** 2 < 0.1 * self.tol:
                # numerical setting: 1 % of the tolerance for the linear error
                eta = min(eta, max(self.rtol_min, 0.01 * self.tol / max(d_pred, 1e-300)))
        return float(eta)

    # ------------------------------------------------------------------ Newton
    def solve(self) -> MonolithicResult:
        """One Newton solve; leaves (w, s, u, V) at the result."""
        tr = self.tr
        bv = tr.b_form is not None
        ksp_total = 0
        history: list[float] = []
        self._predict()
        for it in range(1, self.max_it + 1):
            # the w preconditioner's approximate Schur complement is refreshed once per
            # step: it is only a preconditioner, and its GAMG set-up is then reused by the
            # step's later iterations (measured: same Krylov counts, one assembly and one
            # set-up instead of 3-4)
            self._assemble_jacobian(refresh_pc=it == 1)
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
                eta = self._forcing_term(history)
                if self._bordered is not None:
                    # (J - b c^T/d) y = -F + b G/d, then dV = (-G - c.y)/d below
                    if d == 0.0:
                        return MonolithicResult(False, it, ksp_total,
                                                "singular voltage equation", tuple(history))
                    self._single_into_block(self.bvec, tr.b_form)
                    self._bordered.d = d
                    self._bordered.rhs(self.F, G)
                    ksp_total += self._linear_solve(self.F, self.y1, eta)
                    cy1, cy2 = self._bordered.dot_c(self.y1), 0.0
                else:
                    # block elimination (direct solver: the second solve reuses the
                    # factorisation): y1 = -J^-1 F, y2 = J^-1 b
                    ksp_total += self._linear_solve(self.F, self.y1, eta)
                    cy1 = self.cvec.dot(self.y1)
                    cy2 = 0.0
                    if bv:
                        if self.y2 is None:
                            self.y2 = self.F.duplicate()
                        self._single_into_block(self.bvec, tr.b_form)
                        ksp_total += self._linear_solve(self.bvec, self.y2, self.rtol_min)
                        cy2 = self.cvec.dot(self.y2)
            except _LinearFailure as err:
                return MonolithicResult(False, it, ksp_total, str(err), tuple(history))
            denom = d - cy2
            if not np.isfinite(denom) or denom == 0.0:
                return MonolithicResult(False, it, ksp_total, "singular voltage equation",
                                        tuple(history))
            dV = (-G - cy1) / denom
            if bv and self._bordered is None:
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
            if damp == 1.0 and self._converged(history, eta):
                return MonolithicResult(True, it, ksp_total, "", tuple(history))
            # the same stagnation exit as the Li solve (solver/transport.py): at the end of
            # a two-way discharge, where the surface saturates, infeasible trial steps
            # otherwise ran all max_it = 25 iterations before dt was cut
            if stagnates(history):
                return MonolithicResult(False, it, ksp_total, "Newton stagnates (max update "
                                        f"{history[-3]:.3g} -> {dmax:.3g} in two iterations)",
                                        tuple(history))
        return MonolithicResult(False, self.max_it, ksp_total, "Newton did not converge",
                                tuple(history))

    def _converged(self, history: list[float], eta: float) -> bool:
        """The state after the last (full) update is within ``tol`` of the solution.

        Either the update itself was below ``tol``, or Newton is in its quadratic regime
        (the last update d_k at least 10x smaller than the one before) and the error left
        after it is estimated below tol/10: d_k^3 / d_{k-1}^2 (= C d_k^2 with
        C = d_k / d_{k-1}^2) plus eta d_k for the inexact linear solve of forcing term eta.
        This saves the last iteration, which would only confirm convergence."""
        d = history[-1]
        if d < self.tol:
            return True
        if len(history) < 2 or d > 0.1 * history[-2]:
            return False
        return d**3 / history[-2] ** 2 + eta * d < 0.1 * self.tol

    # ------------------------------------------------------------------ predictor
    def _control(self) -> tuple[float, float, float, float]:
        """(current A, T K, voltage control 0/1, set voltage V) of the next solve."""
        return control_of(self.tr)

    def _same_segment(self) -> bool:
        """The control is that of the last accepted step (solver/predictor.py)."""
        assert self._last is not None
        return same_control(self._last[3], self._control())

    def _predict(self) -> None:
        """Start Newton from an extrapolation of the last accepted step.

        (w, s, u, V)_guess = y_n + f (y_n - y_{n-1}), with f exact for y ~ a + b sqrt(tau),
        tau the time since the segment began (:func:`extrapolation_factor`, p = 1/2):
        every protocol step begins with a jump of the surface flux, to which a diffusion
        problem responds like sqrt(tau) near the surface, where the Newton error is
        largest; f tends to the linear dt / dt_n once tau >> dt.  The plain linear
        extrapolation overshoots just after a jump (x 2.4 on the second step).  Measured
        Newton iterations, steps 2-4 of the bench charge (dt = 30 s from x = 0.9): at
        7.4e4 unknowns 4, 4, 3 (linear) -> 4, 3, 3; at 5.1e5 unknowns 5, 4, 3 -> 4, 3, 3;
        over 7 steps of the 2-rank restart test's charge (x = 0.6, dt from 1 s) 18 -> 17
        (20 from y_n).  Fitting the exponent to the ratio of the last two increments'
        norms was tried: the norm follows the bulk, which moves linearly, so the fit drifts
        to p ~ 1 too early (5.1e5: 4, 4, 3).  A quadratic extrapolation was tried too:
        0-1 fewer iterations on smooth stretches, more after the start-up transient.  Only
        within one protocol step (same current and temperature); the first step of a run,
        of a restart and of every protocol step starts from y_n.  The solution does not
        depend on the start beyond the Newton tolerance."""
        self._pull()
        if self._start is None:
            self._start = self.x.duplicate()
        self.x.copy(self._start)
        self._V_start = float(self.tr.V.value)
        dt = float(self.tr.dt.value)
        if self._last is None or not self._same_segment() or dt <= 0:
            return
        inc, inc_V, dt_n, _ = self._last
        f = extrapolation_factor(self._tau, dt_n, dt)
        self.x.axpy(f, inc)
        self._push()
        self.tr.V.value = self._V_start + f * inc_V

    def accept(self) -> None:
        """Record the increment of the accepted step for the next step's predictor."""
        self._pull()
        new_segment = self._last is None or not self._same_segment()
        inc = self.x.duplicate() if self._last is None else self._last[0]
        self.x.copy(inc)
        inc.axpy(-1.0, self._start)
        dt = float(self.tr.dt.value)
        self._tau = (0.0 if new_segment else self._tau) + dt
        self._last = (inc, float(self.tr.V.value) - self._V_start, dt, self._control())

    # ------------------------------------------------------------------ checkpoints
    def predictor_functions(self) -> dict[str, fem.Function]:
        """Empty functions (w, s, u spaces) that hold the predictor's increment in a
        checkpoint (keyed like the state: by mesh-input vertices, any rank count)."""
        return {f"predictor_{name}": fem.Function(V, name=f"predictor_{name}")
                for name, V in zip("wsu", self.spaces, strict=True)}

    def predictor_state(self) -> tuple[dict[str, fem.Function], dict] | None:
        """The predictor's history for a checkpoint: the increment of the last accepted
        step as functions and the scalars (voltage increment, its dt, the (current, T)
        it was taken at, the time since that segment began); None before the first
        accepted step.  A restart restores it (:meth:`restore_predictor`), so that its
        first step starts from the same guess, takes the same Newton iterations and thus
        the same time-step decisions as the uninterrupted run."""
        if self._last is None:
            return None
        inc, inc_V, dt_n, control = self._last
        funcs = self.predictor_functions()
        fem_petsc.assign(inc, list(funcs.values()))
        meta = {"dV": inc_V, "dt_s": dt_n, "current_A": control[0],
                "temperature_K": control[1], "voltage_control": control[2],
                "V_set_V": control[3], "tau_s": self._tau}
        return funcs, meta

    def restore_predictor(self, funcs: dict[str, fem.Function], meta: dict) -> None:
        """Set the predictor's history from :meth:`predictor_state`'s output (read back
        into :meth:`predictor_functions`)."""
        inc = self.x.duplicate()
        fem_petsc.assign([funcs[f"predictor_{n}"] for n in "wsu"], inc)
        self._last = (inc, float(meta["dV"]), float(meta["dt_s"]),
                      (float(meta["current_A"]), float(meta["temperature_K"]),
                       float(meta.get("voltage_control", 0.0)),
                       float(meta.get("V_set_V", 0.0))))
        self._tau = float(meta["tau_s"])

    def destroy(self) -> None:
        opts = PETSc.Options()
        for k in self._petsc_keys:
            opts.delValue(k)
        for obj in (self._start, self._last[0] if self._last else None):
            if obj is not None:
                obj.destroy()
        if self._bordered is not None:
            self._bordered.free()
        if self.P is not self.A:
            self.P.destroy()
        for obj in (self.ksp, self.A, *self._own_blocks, *self._field_vecs, self.F, self.x,
                    self.y1, self.y2, self.bvec, self.cvec):
            if obj is not None:
                obj.destroy()


class _LinearFailure(RuntimeError):
    pass


__all__ = ["MonolithicResult", "MonolithicSolver", "extrapolation_factor"]
