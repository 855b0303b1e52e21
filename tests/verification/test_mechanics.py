"""Verification of the anisotropic elasticity and its coupling to Li transport."""

import numpy as np
import pytest
import ufl
from analytic import crank_sphere_constant_flux, sphere_intercalation_stress
from dolfinx import fem, mesh
from dolfinx.fem import petsc as fem_petsc
from mpi4py import MPI
from petsc4py import PETSc

from meshes import build_particle_mesh
from solver.crystal import rotation_from_c_axis, rotation_from_euler
from solver.materials import get_material
from solver.mechanics import GPA, Elasticity, voigt_stress
from solver.transport import LiTransport

COMM = MPI.COMM_WORLD


def _isotropic(E=200e9, nu=0.3, theta=0.02, **extra):
    """A material with isotropic stiffness and isotropic linear (Vegard) expansion."""
    return get_material("NMC811", {"E_ab": E, "E_c": E, "nu_ab": nu, "nu_c": nu,
                                   "G_c": E / (2 * (1 + nu)), "vegard_a": theta,
                                   "vegard_c": theta, "D_c_over_D_ab": 1.0, **extra})


def _mean_tensor(tr, expr):
    return np.array([[tr.scalar(fem.form(expr[i, j] * tr.dx)) / tr.volume for j in range(3)]
                     for i in range(3)])


def test_uniform_li_is_stress_free_and_c_axis_along_x_expands_along_x():
    pm = build_particle_mesh(COMM, [1e-6, 0.8e-6, 0.6e-6], 0.3e-6, 0.3e-6, 0.3e-6)
    mat = get_material("NM91", {"vegard_a": 0.0, "vegard_c": -0.05})  # c grows as Li leaves
    tr = LiTransport(pm, mat, rotation_from_c_axis([1, 0, 0]))
    mech = Elasticity(tr)
    tr.set_uniform(0.5)  # c/c_ref - 1 = -0.05 (0.5 - 1) = +2.5 %
    assert mech.eps_res is None  # default: the exact zero, no field
    mech.solve()
    # the set-up's "drop the product data" option is scoped to the set-up
    assert not PETSc.Options().hasName("mat_product_clear")
    d = mech.diagnostics()
    C11 = mat.stiffness_voigt()[0, 0]
    assert d["vm_stress_max_Pa"] < 1e-8 * C11
    assert max(abs(d["hydrostatic_stress_min_Pa"]), abs(d["hydrostatic_stress_max_Pa"])) < (
        1e-8 * C11)
    strain = _mean_tensor(tr, ufl.sym(ufl.grad(mech.u)))
    assert strain == pytest.approx(np.diag([0.025, 0.0, 0.0]), abs=1e-10)
    assert d["strain_003_mean"] == pytest.approx(0.025, rel=1e-9)  # stress-free: chemical
    mech.destroy()
    tr.destroy()


@pytest.mark.parametrize("degree, sizes, min_rate", [(1, (4, 8, 16), 1.9), (2, (2, 4, 8), 2.9)])
def test_manufactured_rotated_anisotropic_elasticity(degree, sizes, min_rate):
    """div C_R:(eps(u) - eps0) = f with a manufactured u: optimal L2 rates."""
    mat = get_material("NMC811")
    C = mat.stiffness_voigt() / GPA
    R_np = rotation_from_euler(30.0, 50.0, 70.0)
    errors = []
    for n in sizes:
        msh = mesh.create_unit_cube(COMM, n, n, n, mesh.CellType.tetrahedron)
        V = fem.functionspace(msh, ("Lagrange", degree, (3,)))
        X = ufl.SpatialCoordinate(msh)
        R = ufl.as_matrix(R_np.tolist())
        u_ex = ufl.as_vector([ufl.sin(2 * X[1]) * X[2], ufl.cos(X[0] + X[2]) * 0.5,
                              X[0] * X[1] * ufl.exp(X[2]) * 0.3])
        eps0 = ufl.as_matrix([[0.01 * X[0], 0, 0], [0, -0.02 * X[1], 0],
                              [0, 0, 0.03 * X[2] * X[0]]])  # crystal-frame eigenstrain

        def stress(e, R=R):
            return R * voigt_stress(C, R.T * e * R) * R.T

        def total_stress(w, R=R, eps0=eps0):
            return stress(ufl.sym(ufl.grad(w)) - R * eps0 * R.T)

        f = -ufl.div(total_stress(u_ex))
        u, v = ufl.TrialFunction(V), ufl.TestFunction(V)
        dx = ufl.Measure("dx", msh, metadata={"quadrature_degree": 2 * degree + 3})
        a = ufl.inner(stress(ufl.sym(ufl.grad(u))), ufl.sym(ufl.grad(v))) * dx
        L = (ufl.inner(f, v) + ufl.inner(stress(R * eps0 * R.T), ufl.sym(ufl.grad(v)))) * dx
        msh.topology.create_connectivity(2, 3)
        facets = mesh.exterior_facet_indices(msh.topology)
        uD = fem.Function(V)
        uD.interpolate(fem.Expression(u_ex, V.element.interpolation_points))
        bc = fem.dirichletbc(uD, fem.locate_dofs_topological(V, 2, facets))
        problem = fem_petsc.LinearProblem(
            a, L, bcs=[bc], petsc_options_prefix=f"mms{degree}{n}_",
            petsc_options={"ksp_type": "preonly", "pc_type": "lu",
                           "pc_factor_mat_solver_type": "mumps"})
        uh = problem.solve()
        err = fem.assemble_scalar(fem.form(ufl.inner(uh - u_ex, uh - u_ex) * dx))
        errors.append(np.sqrt(COMM.allreduce(err, op=MPI.SUM)))
    rates = np.log2(np.array(errors[:-1]) / np.array(errors[1:]))
    assert rates.min() >= min_rate, (errors, rates)


def test_sphere_intercalation_stress_against_analytical():
    """Isotropic, constant-D sphere under galvanostatic charge: radial and hoop stress
    against Cheng & Verbrugge, J. Power Sources 190, 453 (2009), within 2 % of the peak."""
    a, D, x0, theta, E, nu = 1e-6, 1e-15, 0.8, 0.02, 200e9, 0.3
    pm = build_particle_mesh(COMM, [a] * 3, 0.2e-6, 0.08e-6, 0.4e-6)
    mat = _isotropic(E, nu, theta, D_ab_const=D)
    tr = LiTransport(pm, mat, np.eye(3), distribution="uniform")
    mech = Elasticity(tr, degree=2)
    tr.set_uniform(x0)
    N = 1.6e-5  # mol m^-2 s^-1 out of the particle
    I = N * 96485.33212 * tr.area_m2
    t, dt = 0.0, 0.5
    while t < 100.0 - 1e-9:
        tr.set_state({"dt": dt, "current": I, "temperature": mat.T_ref})
        assert tr.solve().converged
        tr.accept()
        t += dt
        dt = min(2.0, dt * 1.5, 100.0 - t)
    mech.solve()
    # cell-midpoint stresses, split into radial and hoop parts
    Q = fem.functionspace(pm.mesh, ("DG", 0, (3, 3)))
    sig = fem.Function(Q)
    sig.interpolate(fem.Expression(mech.sigma * GPA, Q.element.interpolation_points))
    ncell = pm.mesh.topology.index_map(3).size_local
    mid = mesh.compute_midpoints(pm.mesh, 3, np.arange(ncell, dtype=np.int32)) * 1e-6
    r = np.linalg.norm(mid, axis=1)
    keep = r > 0.05 * a
    n = mid[keep] / r[keep, None]
    S = sig.x.array.reshape(-1, 3, 3)[:ncell][keep]
    s_rr = np.einsum("ci,cij,cj->c", n, S, n)
    s_tt = 0.5 * (np.trace(S, axis1=1, axis2=2) - s_rr)
    N_eff = N * (4 * np.pi * a**2) / (tr.area_m2)  # same total Li rate on the exact sphere
    profile = lambda rr: x0 + crank_sphere_constant_flux(rr, t, a, D, -N_eff / mat.c_max)  # noqa: E731
    ref_rr, ref_tt = sphere_intercalation_stress(r[keep], a, profile, E, nu, theta)
    peak = max(np.abs(ref_rr).max(), np.abs(ref_tt).max())
    assert peak > 1e8  # a real stress state (~GPa)
    # profiles: cell values averaged in radial shells (the faceted surface perturbs single
    # cells next to it by a few per cent; the profile is what the analytical solution gives)
    edges = np.linspace(0.05 * a, a, 21)
    which = np.digitize(r[keep], edges) - 1
    worst = 0.0
    for k in range(20):
        sel = which == k
        sums = COMM.allreduce(np.array([sel.sum(), s_rr[sel].sum(), ref_rr[sel].sum(),
                                        s_tt[sel].sum(), ref_tt[sel].sum()]), op=MPI.SUM)
        if sums[0] == 0:
            continue
        fe_rr, an_rr, fe_tt, an_tt = sums[1:] / sums[0]
        worst = max(worst, abs(fe_rr - an_rr) / peak, abs(fe_tt - an_tt) / peak)
    assert worst < 0.02, worst
    mech.destroy()
    tr.destroy()


def _residual_strain_case(coupling_two_way: bool):
    pm = build_particle_mesh(COMM, [1e-6] * 3, 0.25e-6, 0.2e-6, 0.3e-6)
    mat = _isotropic(theta=0.02, D_ab_const=1e-15)
    from solver.mechanics import implicit_fraction, local_stress_potential

    tr = LiTransport(pm, mat, np.eye(3), distribution="uniform",
                     local_stress_potential=(lambda x, T: local_stress_potential(mat, x, T))
                     if coupling_two_way else None)
    mech = Elasticity(tr, residual_eigenstrain=True)
    # the half x < 0 wants to shrink by 0.5 %: the other half holds it in tension
    # isotropic residual eigenstrain -0.005 in the half x < 0 (DG0: at cell midpoints)
    mech.eps_res.interpolate(lambda p: np.where(p[0] < 0, -0.005, 0.0)
                             * np.eye(3).reshape(9, 1))
    from solver.coupling import CoupledSolver

    if coupling_two_way:
        tr.beta.value = implicit_fraction(mat)
    stepper = CoupledSolver(tr, mech, "two-way" if coupling_two_way else "one-way")
    tr.set_uniform(0.5)
    stepper.initialise()
    li0 = tr.diagnostics()["li_total_mol"]
    for _ in range(6):
        tr.set_state({"dt": 100.0, "current": 0.0, "temperature": mat.T_ref})
        res = stepper.solve()
        assert res.converged, res
        stepper.accept()
    # volume averages of the Li change in the two halves (nodes are surface-biased)
    X = ufl.SpatialCoordinate(pm.mesh)
    left = ufl.conditional(ufl.lt(X[0], 0.0), 1.0, 0.0)
    halves = [tr.scalar(fem.form((tr.x_expr - 0.5) * h * tr.dx)) / tr.scalar(fem.form(h * tr.dx))
              for h in (left, 1.0 - left)]
    out = halves, tr.nodal_x_range(), tr.diagnostics()["li_total_mol"] / li0 - 1
    stepper = None
    mech.destroy()
    tr.destroy()
    return out


def test_two_way_coupling_drives_li_to_tension_and_conserves_li():
    """The half that wants to shrink (eps_res < 0) is held in tension by the other half;
    with a lattice that expands with Li, Li must flow into it, conserving the total."""
    (tension, compression), _, mass_error = _residual_strain_case(True)
    assert abs(mass_error) < 1e-10
    assert tension > 1e-3 and compression < -1e-3, (tension, compression)
    _, (x_lo, x_hi), mass_error1 = _residual_strain_case(False)
    assert x_hi - x_lo < 1e-9 and abs(mass_error1) < 1e-12  # one-way: no feedback


def test_stiffness_goes_to_symmetric_storage_after_the_gamg_set_up_and_solves_alike():
    """GAMG is set up in the constructor, after which K is kept in SBAIJ (3x3 blocks), and
    so are GAMG's intermediate coarse operators (6x6 blocks): the same operator (products
    equal to round-off), its nullspaces re-attached, and solves (several Li fields) give
    the displacement of the AIJ operator without a new set-up."""
    pm = build_particle_mesh(COMM, [1e-6, 0.8e-6, 0.7e-6], 0.25e-6, 0.2e-6, 0.3e-6)
    tr = LiTransport(pm, get_material("NM91"), rotation_from_euler(30.0, 40.0, 0.0))
    # a small coarse-grid limit: this small mesh then gets intermediate levels too
    mech = Elasticity(tr, petsc_options={"pc_gamg_coarse_eq_limit": 100})
    assert mech.setup_done and mech.setup_s > 0.0
    K_aij = fem_petsc.assemble_matrix(mech.a_form)  # the same form, AIJ, for reference
    K_aij.assemble()
    pc = mech.ksp.getPC()
    levels = [pc.getMGSmoother(k).getOperators()[0] for k in range(pc.getMGLevels())]
    assert len(levels) >= 3  # a hierarchy with intermediate levels to convert
    assert levels[-1].handle == mech.K.handle  # the finest level is K itself
    assert all(A.getType().endswith("sbaij") for A in levels[1:])
    assert all(A.getBlockSize() == 6 for A in levels[1:-1])
    assert not levels[0].getType().endswith("sbaij")  # the factorised coarsest level
    X = tr.V_space.tabulate_dof_coordinates()
    u_prev = None
    for k, slope in enumerate((0.1, -0.05, 0.2)):  # Li fraction linear in x (mesh in um)
        x_li = 0.5 + slope * X[:, 0]
        tr.w.x.array[:] = np.log(x_li / (1.0 - x_li))  # lattice-gas potential of x
        its = mech.solve()
        assert mech.K.getType().endswith("sbaij")
        assert mech.K.getBlockSize() == 3
        # the operator is unchanged
        x = K_aij.createVecRight()
        x.setRandom()
        y_ref, y = K_aij.createVecLeft(), K_aij.createVecLeft()
        K_aij.mult(x, y_ref)
        mech.K.mult(x, y)
        y.axpy(-1.0, y_ref)
        assert y.norm() <= 1e-13 * y_ref.norm()
        # the displacement solves the AIJ system to the solver tolerance
        r = mech.b.duplicate()
        K_aij.mult(mech.u.x.petsc_vec, r)
        r.axpy(-1.0, mech.b)
        assert r.norm() <= 1e-8 * mech.b.norm(), (k, its)
        u_prev = mech.u.x.array.copy()
    assert u_prev is not None
    # nullspace (the solution is orthogonal to the rigid modes) and near-nullspace kept
    assert mech.K.getNullSpace().getVecs() and mech.K.getNearNullSpace().getVecs()
    for v in mech.K.getNullSpace().getVecs():
        assert abs(v.dot(mech.u.x.petsc_vec)) <= 1e-10 * mech.u.x.petsc_vec.norm() * v.norm()
    mech.keep_aij_stiffness()
    assert not mech.K.getType().endswith("sbaij")
    assert mech.K.getNullSpace().getVecs()
    K_aij.destroy()
    mech.destroy()
    tr.destroy()
