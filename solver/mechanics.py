"""Anisotropic small-strain elasticity of the particle with chemical and residual eigenstrain.

    div sigma = 0 in the particle, sigma n = 0 on its surface (free particle),
    sigma = C_g : (eps(u) - eps_ch(x) - eps_res),
    eps_ch(x) = R diag(a(x)/a_ref - 1, a(x)/a_ref - 1, c(x)/c_ref - 1) R^T.

C_g is the material's crystal-frame stiffness (transversely isotropic about c) turned into
the sample frame by R, the DG0 orientation field shared with the diffusion problem.  For a
transversely isotropic stiffness (all materials here) it is written in Spencer's invariant
form in the c-axis n = R e_z (``transversely_isotropic_stress``), and eps_ch, Omega as
p I + (q - p) n (x) n; otherwise the sample strain is rotated into the crystal frame
(R^T eps R), the 6x6 Voigt stiffness acts there and the stress is rotated back (R s R^T).
Both give the same tensors (tests/unit/test_elastic_forms.py).  Inside the solve stresses
are in GPa and lengths in um (solver/scaling.py); every reported number is SI.

The operator does not depend on x (composition-independent stiffness), so it is assembled
and its preconditioner (CG + GAMG with the six rigid-body modes as near-nullspace) set up
once; each solve only assembles the right-hand side.  The free particle's rigid-body modes
are the operator's nullspace: they are removed from the right-hand side (which is
self-equilibrated, so this only removes round-off) and from the solution, so the
displacement has zero mean translation and rotation and is rank-count independent.

The two-way coupling enters the Li flux through the dimensionless stress potential
``s = sigma : Omega / (c_max R T)``, ``Omega = d eps_ch / dx``, L2-projected onto the Li
space: J = -c_max D x (1 - x) M grad(w - s), i.e. Li moves up the gradient of sigma : Omega
(towards tension when the lattice expands with Li).
"""

from __future__ import annotations

import time

import basix.ufl
import numpy as np
import ufl
from dolfinx import fem, la
from dolfinx.fem import petsc as fem_petsc
from mpi4py import MPI
from petsc4py import PETSc

from solver import jit
from solver.chunked import cell_chunks, cell_midpoint, eval_cells
from solver.mathns import ufl_namespace
from solver.petsc_options import set_prefixed_options
from solver.scaling import GAS_CONSTANT, LENGTH_UNIT

GPA = 1e9  # Pa per stress unit inside the forms
# numerical setting: matptap_via = "auto" takes GAMG's memory-lean Galerkin products from
# this many stiffness rows per rank up (Elasticity.setup_solver); below it a process's
# fixed ~250 MB (interpreter, libraries, mesh) outweighs the products' transient
ALLATONCE_MIN_ROWS_PER_RANK = 100_000

DEFAULT_PETSC = {
    "iterative": {"ksp_type": "cg", "ksp_rtol": 1e-10, "ksp_atol": 1e-30, "ksp_max_it": 1000,
                  "pc_type": "gamg", "pc_gamg_type": "agg", "pc_gamg_agg_nsmooths": 1,
                  "pc_gamg_threshold": 0.01, "pc_gamg_coarse_eq_limit": 1000,
                  "mg_levels_ksp_type": "chebyshev", "mg_levels_pc_type": "jacobi",
                  "mg_levels_ksp_chebyshev_esteig_steps": 10,
                  # the Galerkin products' algorithm on more than one rank (not a PETSc
                  # option of this prefix: Elasticity.setup_solver scopes it)
                  "matptap_via": "auto"},
    "direct": {"ksp_type": "preonly", "pc_type": "lu", "pc_factor_mat_solver_type": "mumps"},
}


def rigid_body_modes(V: fem.FunctionSpace) -> tuple[PETSc.NullSpace, np.ndarray]:
    """Orthonormal basis of the six rigid-body modes of a 3D vector Lagrange space.

    Returns the PETSc nullspace and its basis as one (6, owned dofs) array, which the
    nullspace's vectors wrap without a copy: the monolithic solver projects with the same
    array in one BLAS product (solver/monolithic.py) instead of holding a second copy
    (~15 MB at 5.1e5 unknowns)."""
    bs = V.dofmap.index_map_bs
    n_owned = V.dofmap.index_map.size_local
    basis = [la.vector(V.dofmap.index_map, bs=bs, dtype=PETSc.ScalarType) for _ in range(6)]
    b = [v.array for v in basis]
    dofs = [V.sub(i).dofmap.list.flatten() for i in range(3)]
    for i in range(3):
        b[i][dofs[i]] = 1.0
    x = V.tabulate_dof_coordinates()
    blocks = V.dofmap.list.flatten()
    x0, x1, x2 = x[blocks, 0], x[blocks, 1], x[blocks, 2]
    b[3][dofs[0]], b[3][dofs[1]] = -x1, x0
    b[4][dofs[0]], b[4][dofs[2]] = x2, -x0
    b[5][dofs[2]], b[5][dofs[1]] = x1, -x2
    la.orthonormalize(basis)
    modes = np.array([a[: bs * n_owned] for a in b])  # C-contiguous rows; ghosts dropped
    vecs = [PETSc.Vec().createWithArray(row, bsize=bs, comm=V.mesh.comm) for row in modes]
    return PETSc.NullSpace().create(vectors=vecs, comm=V.mesh.comm), modes


def voigt_stress(C, e):
    """Stress tensor from the 6x6 Voigt stiffness C (numbers) and a strain tensor e (UFL)."""
    ev = [e[0, 0], e[1, 1], e[2, 2], 2 * e[1, 2], 2 * e[0, 2], 2 * e[0, 1]]
    s = [sum(float(C[i, j]) * ev[j] for j in range(6) if C[i, j] != 0.0) for i in range(6)]
    return ufl.as_matrix([[s[0], s[5], s[4]], [s[5], s[1], s[3]], [s[4], s[3], s[2]]])


def transverse_isotropy(C: np.ndarray, rtol: float = 1e-10) -> dict | None:  # rtol: numerical
    """Invariant constants of a transversely isotropic (about crystal z) Voigt stiffness.

    sigma = lam tr(e) I + 2 mu_t e + alpha [(n.e.n) I + tr(e) M] + 2 (mu_l - mu_t) (M e + e M)
            + beta (n.e.n) M,   M = n (x) n
    (Spencer's representation) with lam = C12, mu_t = C66 = (C11 - C12)/2,
    alpha = C13 - C12, mu_l = C44, beta = C11 + C33 - 2 C13 - 4 C44.  Returns None when C is
    not of that form within ``rtol`` of max |C_ij| (a numerical tolerance, not material
    data; e.g. a trigonal C14), in which case the general rotated form is used.
    """
    C = np.asarray(C, dtype=float)
    lam, mu_t, alpha = C[0, 1], C[5, 5], C[0, 2] - C[0, 1]
    mu_l, beta = C[3, 3], C[0, 0] + C[2, 2] - 2.0 * C[0, 2] - 4.0 * C[3, 3]
    ref = np.zeros((6, 6))
    ref[:3, :3] = [[lam + 2 * mu_t, lam, lam + alpha], [lam, lam + 2 * mu_t, lam + alpha],
                   [lam + alpha, lam + alpha, C[2, 2]]]
    ref[3, 3] = ref[4, 4] = mu_l
    ref[5, 5] = mu_t
    if np.abs(C - ref).max() > rtol * np.abs(C).max():
        return None
    return {"lam": lam, "mu_t": mu_t, "alpha": alpha, "mu_l": mu_l, "beta": beta}


def transversely_isotropic_stress(k: dict, n, e):
    """Spencer form of ``transverse_isotropy`` for the axis n (UFL vector) and strain e."""
    I, M = ufl.Identity(3), ufl.outer(n, n)
    tr_e, nen = ufl.tr(e), ufl.dot(n, ufl.dot(e, n))
    return (k["lam"] * tr_e * I + 2.0 * k["mu_t"] * e + k["alpha"] * (nen * I + tr_e * M)
            + 2.0 * (k["mu_l"] - k["mu_t"]) * (M * e + e * M) + k["beta"] * nen * M)


def local_stress_potential(material, x, T):
    """Stress potential of a fully constrained point, -Omega:C:eps_ch/(c_max R T) (UFL).

    Rotation-invariant (both tensors are diagonal in the crystal frame), so no orientation
    enters.  In a free sphere with isotropic expansion the true potential is exactly
    ``beta`` times this up to a spatial constant, beta = 2(1-2 nu)/(3(1-nu)); the two-way
    coupling treats that part implicitly (solver/coupling.py).
    """
    m = ufl_namespace()
    xv = ufl.variable(x)
    ea = material.lattice_a(xv, m) / material.a_ref - 1.0
    ec = material.lattice_c(xv, m) / material.c_ref - 1.0
    eps = [ea, ea, ec]
    om = [ufl.diff(ea, xv), ufl.diff(ea, xv), ufl.diff(ec, xv)]
    C = material.stiffness_voigt()
    energy = sum(float(C[i, j]) * om[i] * eps[j] for i in range(3) for j in range(3))
    return -energy / (material.c_max * GAS_CONSTANT * T)


def implicit_fraction(material) -> float:
    """beta = 2(1 - 2 nu)/(3(1 - nu)) with the basal-plane Poisson ratio (see above)."""
    nu = material.nu_ab
    return 2.0 * (1.0 - 2.0 * nu) / (3.0 * (1.0 - nu))


class Elasticity:
    """Quasi-static elasticity of the particle driven by the Li field of ``transport``."""

    def __init__(self, transport, *, degree: int = 1, quadrature_degree: int = 2,
                 linear_solver: str = "iterative", petsc_options: dict | None = None,
                 residual_eigenstrain: bool = False):
        """Spaces, forms (compiled once), the stiffness matrix and its solver.

        Args:
            transport: the solver.transport.LiTransport whose Li field drives the strain.
            degree: Lagrange degree of u.
            quadrature_degree: quadrature degree of every integral.
            linear_solver: "iterative" (CG + GAMG) or "direct" (MUMPS).
            petsc_options: overrides of the elasticity solver's PETSc options.
            residual_eigenstrain: carry the residual (defect) eigenstrain as a field
                (``eps_res``) in every form; otherwise it is the exact zero and
                ``eps_res`` is None.
        """
        tr = self.tr = transport
        mesh = tr.mesh
        self.comm: MPI.Comm = mesh.comm
        mat = self.material = tr.material
        m = ufl_namespace()
        self.U = fem.functionspace(mesh, ("Lagrange", degree, (3,)))
        self.u = fem.Function(self.U, name="u")  # um
        self.u_old = fem.Function(self.U)
        # residual eigenstrain, sample frame, dimensionless: a symmetric DG0 tensor (6
        # values per cell instead of 9, in storage and in the coefficient packing of every
        # form that carries the stress; set it with ``interpolate``, the stored order is
        # basix's).  Zero unless a protocol evolves it (none does yet, DESIGN.md §3:
        # cycling damage, annealing), and then not stored at all: the field costs 48 B per
        # cell, 34 MB or 2 % of the two-way peak memory at 5.1e5 unknowns (measured).
        self.eps_res: fem.Function | None = None
        eps_res = ufl.zero(3, 3)  # UFL zero: drops out of the forms
        if residual_eigenstrain:
            T0 = fem.functionspace(mesh, basix.ufl.element("DG", mesh.basix_cell(), 0,
                                                           shape=(3, 3), symmetry=True))
            self.eps_res = eps_res = fem.Function(T0, name="eps_res")
        dx = tr.dx
        R = tr.R
        C = mat.stiffness_voigt() / GPA

        xv = ufl.variable(tr.x_expr)
        ea = mat.lattice_a(xv, m) / mat.a_ref - 1.0
        ec = mat.lattice_c(xv, m) / mat.c_ref - 1.0
        # Sample-frame tensors through the c-axis n = R e_z alone: a diagonal crystal-frame
        # tensor diag(p, p, q) is p I + (q - p) n (x) n.  For a transversely isotropic
        # stiffness (every material here) the stress is Spencer's invariant form in n too,
        # so no rotation products appear in the forms: the same tensors as R (.) R^T with
        # fewer operations per quadrature point (the coupled Jacobian blocks of
        # solver/monolithic.py measured 5-10 % faster to assemble).
        n = ufl.as_vector([R[0, 2], R[1, 2], R[2, 2]])
        Mn = ufl.outer(n, n)
        I3 = ufl.Identity(3)
        k_ti = transverse_isotropy(C)

        def stress(eps_sample):
            if k_ti is not None:
                return transversely_isotropic_stress(k_ti, n, eps_sample)  # GPa
            return R * voigt_stress(C, R.T * eps_sample * R) * R.T  # GPa

        eps_u = ufl.sym(ufl.grad(self.u))
        self.eps_ch = ea * I3 + (ec - ea) * Mn
        omega = ufl.diff(ea, xv) * I3 + (ufl.diff(ec, xv) - ufl.diff(ea, xv)) * Mn
        # Omega : C : Omega / (c_max R T) >= 0 (dimensionless): the stress-potential
        # change per unit Li fraction of a fully constrained point (solver/monolithic.py)
        self.omega_c_omega = (GPA * ufl.inner(stress(omega), omega)
                              / (mat.c_max * GAS_CONSTANT * tr.T))
        self.eps_el = eps_u - self.eps_ch - eps_res
        self.sigma = stress(self.eps_el)  # GPa
        self.sigma_c = R.T * self.sigma * R  # crystal frame, GPa
        # stress potential s = sigma : Omega / (c_max R T), dimensionless (sample frame:
        # both tensors rotate alike, so the contraction is frame-independent)
        self.s_expr = GPA * ufl.inner(self.sigma, omega) / (mat.c_max * GAS_CONSTANT * tr.T)
        c_rel = mat.lattice_c(tr.x_expr, m) / mat.c_ref
        self.strain_003 = c_rel * (1.0 + ufl.dot(n, ufl.dot(self.eps_el, n))) - 1.0
        dev = self.sigma - ufl.tr(self.sigma) / 3.0 * ufl.Identity(3)
        self.von_mises = ufl.sqrt(1.5 * ufl.inner(dev, dev))  # GPa
        self.hydrostatic = ufl.tr(self.sigma) / 3.0  # GPa
        self.energy_density = 0.5 * ufl.inner(self.sigma, self.eps_el)  # GPa = GJ/m^3

        du, v = ufl.TrialFunction(self.U), ufl.TestFunction(self.U)
        a = ufl.inner(stress(ufl.sym(ufl.grad(du))), ufl.sym(ufl.grad(v))) * dx
        L = ufl.inner(stress(self.eps_ch + eps_res), ufl.sym(ufl.grad(v))) * dx
        self.a_form, self.L_form = jit.form(a), jit.form(L)
        self.K = fem_petsc.assemble_matrix(self.a_form)
        self.K.assemble()
        # rigid_modes: (6, owned dofs) orthonormal basis, the memory of the nullspace vectors
        self.nullspace, self.rigid_modes = rigid_body_modes(self.U)
        self.K.setNullSpace(self.nullspace)
        self.K.setNearNullSpace(self.nullspace)
        self.K.setOption(PETSc.Mat.Option.SPD, True)
        self.b = fem_petsc.create_vector(self.U)
        self.ksp = PETSc.KSP().create(self.comm)
        self.ksp.setOperators(self.K)
        self._petsc_keys = set_prefixed_options(self.ksp, "elasticity_",
                                                DEFAULT_PETSC[linear_solver], petsc_options)
        self.ksp.setFromOptions()
        # Krylov solves start from the last displacement: between time steps (and
        # coupling passes) the right-hand side changes by a small fraction, so fewer CG
        # iterations reach the same tolerance (relative to |b|, as from zero)
        if self.ksp.getType() != "preonly":
            self.ksp.setInitialGuessNonzero(True)
        self.ksp_iterations = 0
        self.setup_done = False
        self.setup_s = 0.0  # s, wall time of the preconditioner set-up (setup_solver)
        self.galerkin_products = ""  # GAMG's product algorithm (setup_solver)
        # after the set-up, K in symmetric block storage (see _to_symmetric_storage)
        self.compact_stiffness = linear_solver == "iterative"
        if self.ksp.getPC().getType() == "gamg":
            # GAMG's set-up now, while little else is allocated: its Galerkin products
            # hold ~2x K of intermediate data for a moment, the largest allocation of a
            # run on 2 ranks.  Set up lazily (at the first solve), it came after the
            # monolithic solver's blocks in a case run: 3,591 instead of 3,164 B per
            # unknown at 5.1e5 on 2 ranks (measured).  A factorisation (MUMPS) stays
            # lazy, since the monolithic direct solver never uses this one.
            self.setup_solver()

        # L2 projection of the stress potential onto the Li space (mass matrix once)
        W = tr.V_space
        p, q = ufl.TrialFunction(W), ufl.TestFunction(W)
        self.Mmass = fem_petsc.assemble_matrix(jit.form(p * q * dx))
        self.Mmass.assemble()
        self.s_rhs_form = jit.form(self.s_expr * q * dx)
        self.s_rhs = fem_petsc.create_vector(W)
        self.s_new = fem.Function(W)
        self.proj = PETSc.KSP().create(self.comm)
        self.proj.setOperators(self.Mmass)
        self.proj.setType("cg")
        self.proj.getPC().setType("jacobi")
        # numerical settings: mass-matrix CG converges in ~30 iterations
        self.proj.setTolerances(rtol=1e-12, atol=1e-30, max_it=500)  # numerical setting

        # von Mises and hydrostatic stress at the cell midpoints, for their extrema:
        # evaluated chunk by chunk of cells when asked for, not stored as DG0 fields
        # (8 B per cell each, 11 MB at 5.1e5 unknowns)
        self._vm_hyd_expr = jit.expression(ufl.as_vector([self.von_mises, self.hydrostatic]),
                                           cell_midpoint(mesh))
        self._s003_form = jit.form(self.strain_003 * dx)
        self._s003_mean = fem.Constant(mesh, PETSc.ScalarType(0.0))
        self._s003_var_form = jit.form((self.strain_003 - self._s003_mean) ** 2 * dx)
        self._energy_form = jit.form(self.energy_density * dx)

    # ------------------------------------------------------------------ solves
    def setup_solver(self) -> None:
        """Set up the preconditioner (GAMG hierarchy or factorisation) of K, once per run.

        K never changes, so GAMG's Galerkin products (the coarse operators P^T A P and the
        smoothed prolongators A P) are never recomputed with new values.  PETSc keeps the
        symbolic data of every product for such a recomputation unless told otherwise; in
        parallel (MPIAIJ) that data outweighed the hierarchy itself: ~400 MB per rank for
        the 5.1e5-unknown bench particle on 2 ranks (peak memory 5,185 -> 3,513 B per
        unknown, measured; serial products keep none).  ``-mat_product_clear`` drops it,
        scoped to this set-up so that preconditioners rebuilt every Newton iteration (the
        Li block's) keep theirs.

        On more than one rank, for large local problems, the products use PETSc's
        ``allatonce`` algorithm: the option ``matptap_via`` of this solver's options,
        default "auto" = "allatonce" from :data:`ALLATONCE_MIN_ROWS_PER_RANK` rows of K
        per rank up, else PETSc's default ("scalable"); a process-wide ``-matptap_via``
        wins, and PETSc's serial products have no allatonce.  The finest level's product
        is the largest allocation of a parallel run: measured at 5.1e5 unknowns on 2
        ranks (1.9e5 rows per rank), with the default algorithm the set-up peaked at 763 /
        752 MB per rank (the time steps after it at 712 / 703), with allatonce at 554 /
        562 MB, for a set-up of 59 s instead of 9.3 s, once per run; the hierarchy, the
        Krylov iterations and the steps are the same.  At 7.4e4 unknowns (2.8e4 rows per
        rank) allatonce took 6.9 s against 1.8 s, for a transient that is small next to
        a process's fixed memory.

        With GAMG it runs in the constructor, right after K is assembled (see there);
        ``setup_s`` is its wall time (s)."""
        if self.setup_done:
            return
        t0 = time.perf_counter()
        opts = PETSc.Options()
        scoped = {}
        if not opts.hasName("mat_product_clear"):
            scoped["mat_product_clear"] = True
        via = opts.getString(f"{self.ksp.getOptionsPrefix() or ''}matptap_via", "")
        if via == "auto":  # the same choice on every rank: the products are collective
            rows_per_rank = self.K.getSize()[0] / self.comm.size
            via = "allatonce" if rows_per_rank >= ALLATONCE_MIN_ROWS_PER_RANK else ""
        if via and self.comm.size > 1 and not opts.hasName("matptap_via"):
            scoped["matptap_via"] = via
        for key, value in scoped.items():
            opts[key] = value
        # the Galerkin products' algorithm of this set-up ("" = PETSc's default)
        self.galerkin_products = (opts.getString("matptap_via", "") if self.comm.size > 1
                                  else "")
        try:
            self.ksp.setUp()
        finally:
            for key in scoped:
                opts.delValue(key)
        self.setup_done = True
        if self.compact_stiffness:
            self._to_symmetric_storage()
        self.setup_s = time.perf_counter() - t0

    def _to_symmetric_storage(self) -> None:
        """Keep K and GAMG's coarse operators in symmetric block storage once set up.

        GAMG builds its hierarchy from an AIJ matrix (PETSc has no graph of a (S)BAIJ
        matrix), but afterwards K is only multiplied with: by CG, by the finest-level
        Chebyshev smoother and in the monolithic Jacobian.  The upper triangle in 3x3
        blocks stores ~24 instead of 45 values per row and one column index per block
        instead of per value: measured at 5.1e5 unknowns, K takes 127 MB less (62 MB per
        rank on 2) and a product with it is ~40 % faster (13.0 -> 7.6 ms on 1 rank,
        6.9 -> 4.1 ms on 2).  The Galerkin coarse operators P^T A P are symmetric too
        and, with the six rigid-body modes per aggregate, dense in 6x6 blocks (~260 and
        ~850 values per row on the two intermediate levels of the 5.1e5-unknown bench
        particle); in SBAIJ with 6x6 blocks they take 35-39 MB per rank less on 2 ranks
        and a CG solve is ~17 % faster (2.17 -> 1.78 s), same iterations (measured).  The
        coarsest operator keeps its storage: it is factorised, and small.  Conversions
        are in place, so every holder of a matrix (the KSP, the level smoothers, the
        monolithic nest) sees the new storage; the preconditioner is marked for reuse so
        that nothing rebuilds GAMG on it.  Only GAMG is known to be safe (a PC that
        factorises or re-reads K at set-up may not take SBAIJ); with any other
        preconditioner K stays AIJ."""
        pc = self.ksp.getPC()
        if pc.getType() != "gamg" or self.K.getType().endswith("sbaij"):
            return
        pc.setReusePreconditioner(True)
        self.K.convert("sbaij")
        # MatConvert keeps neither nullspace
        self.K.setNullSpace(self.nullspace)
        self.K.setNearNullSpace(self.nullspace)
        # PCMG numbers its levels from the coarsest (0) to the finest (K itself)
        for level in range(1, pc.getMGLevels() - 1):
            A = pc.getMGSmoother(level).getOperators()[0]
            if A.getType() in ("seqaij", "mpiaij"):
                A.convert("sbaij")

    def keep_aij_stiffness(self) -> None:
        """Keep (or put back) K in AIJ storage, for a caller that sets up its own
        preconditioner on K (the monolithic u split with its own options)."""
        self.compact_stiffness = False
        if self.K.getType().endswith("sbaij"):
            self.K.convert("aij")
            self.K.setNullSpace(self.nullspace)
            self.K.setNearNullSpace(self.nullspace)
            self.K.setOption(PETSc.Mat.Option.SPD, True)

    def solve(self) -> int:
        """Solve for u with the current Li field; return the Krylov iterations."""
        self.setup_solver()
        with self.b.localForm() as loc:
            loc.set(0.0)
        fem_petsc.assemble_vector(self.b, self.L_form)
        self.b.ghostUpdate(PETSc.InsertMode.ADD, PETSc.ScatterMode.REVERSE)
        self.nullspace.remove(self.b)
        self.ksp.solve(self.b, self.u.x.petsc_vec)
        reason = self.ksp.getConvergedReason()
        if reason < 0:
            raise RuntimeError(f"elasticity solve failed (KSP reason {reason})")
        self.nullspace.remove(self.u.x.petsc_vec)
        self.u.x.scatter_forward()
        its = self.ksp.getIterationNumber()
        self.ksp_iterations += its
        return its

    def update_potential(self, s: fem.Function) -> float:
        """Project sigma:Omega/(c_max R T) into ``s``; return max |change| (all ranks)."""
        with self.s_rhs.localForm() as loc:
            loc.set(0.0)
        fem_petsc.assemble_vector(self.s_rhs, self.s_rhs_form)
        self.s_rhs.ghostUpdate(PETSc.InsertMode.ADD, PETSc.ScatterMode.REVERSE)
        self.proj.solve(self.s_rhs, self.s_new.x.petsc_vec)
        self.s_new.x.scatter_forward()
        n = s.function_space.dofmap.index_map.size_local
        change = float(np.abs(self.s_new.x.array[:n] - s.x.array[:n]).max()) if n else 0.0
        s.x.array[:] = self.s_new.x.array
        return self.comm.allreduce(change, op=MPI.MAX)

    def accept(self) -> None:
        self.u_old.x.array[:] = self.u.x.array

    def reject(self) -> None:
        self.u.x.array[:] = self.u_old.x.array

    # ------------------------------------------------------------------ diagnostics
    def diagnostics(self) -> dict[str, float]:
        """Stress and strain statistics of the current state (SI)."""
        tr = self.tr
        vm_max, hyd_min, hyd_max = self._stress_extrema()
        s003 = tr.scalar(self._s003_form) / tr.volume
        self._s003_mean.value = s003
        s003_var = tr.scalar(self._s003_var_form) / tr.volume
        return {
            "strain_003_mean": s003,
            "strain_003_std": float(np.sqrt(max(s003_var, 0.0))),
            "vm_stress_max_Pa": vm_max * GPA,
            "hydrostatic_stress_min_Pa": hyd_min * GPA,
            "hydrostatic_stress_max_Pa": hyd_max * GPA,
            "elastic_energy_J": tr.scalar(self._energy_form) * GPA * LENGTH_UNIT**3,
        }

    def _stress_extrema(self) -> tuple[float, float, float]:
        """max von Mises, min and max hydrostatic stress at cell midpoints (GPa, all
        ranks; a rank without cells adds nothing)."""
        mesh = self.tr.mesh
        ncells = mesh.topology.index_map(mesh.topology.dim).size_local
        vm_max, hyd_min, hyd_max = -np.inf, np.inf, -np.inf
        for sl in cell_chunks(ncells):  # no transient of ncells values
            vals = eval_cells(self._vm_hyd_expr, mesh, np.arange(sl.start, sl.stop))
            vm_max = max(vm_max, vals[:, 0].max())
            hyd_min, hyd_max = min(hyd_min, vals[:, 1].min()), max(hyd_max, vals[:, 1].max())
        comm = self.comm
        return (comm.allreduce(float(vm_max), op=MPI.MAX),
                comm.allreduce(float(hyd_min), op=MPI.MIN),
                comm.allreduce(float(hyd_max), op=MPI.MAX))

    def destroy(self) -> None:
        opts = PETSc.Options()
        for k in self._petsc_keys:
            opts.delValue(k)
        for obj in (self.ksp, self.proj, self.K, self.Mmass, self.b, self.s_rhs):
            obj.destroy()
