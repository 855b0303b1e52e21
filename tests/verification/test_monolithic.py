"""Verification of the monolithic Newton step of the two-way coupling (solver/monolithic.py)."""

import numpy as np
import pytest
from mpi4py import MPI

from meshes import build_particle_mesh
from solver.coupling import CoupledSolver
from solver.crystal import rotation_from_euler
from solver.materials import get_material
from solver.mechanics import Elasticity, implicit_fraction, local_stress_potential
from solver.monolithic import MonolithicSolver
from solver.scaling import FARADAY
from solver.transport import LiTransport

COMM = MPI.COMM_WORLD
SPECIFIC_CURRENT = 200.0  # A/kg = 200 mA/g, the demo charge rate (cases/demo.toml)


@pytest.fixture(scope="module")
def problem():
    """NM91 sphere (1 um radius), c axis tilted, two-way coupling, both schemes."""
    pm = build_particle_mesh(COMM, [1e-6] * 3, 0.3e-6, 0.15e-6, 0.3e-6)
    mat = get_material("NM91")
    tr = LiTransport(pm, mat, rotation_from_euler(20.0, 50.0, 10.0),
                     local_stress_potential=lambda x, T: local_stress_potential(mat, x, T))
    tr.beta.value = implicit_fraction(mat)
    mech = Elasticity(tr, linear_solver="direct")
    staggered = CoupledSolver(tr, mech, "two-way", tol=1e-11, max_it=200)
    mono = MonolithicSolver(tr, mech, linear_solver="direct", tol=1e-10)
    yield tr, mech, staggered, mono
    mono.destroy()
    mech.destroy()
    tr.destroy()


def _start(problem, x0, dt):
    tr, mech, staggered, _ = problem
    tr.set_uniform(x0)
    staggered.initialise()
    current = SPECIFIC_CURRENT * tr.material.density * tr.volume_m3  # A
    control = {"dt": dt, "current": current, "temperature": tr.material.T_ref}
    tr.set_state(control)
    return control, tr.diagnostics()["li_total_mol"]


def _max(a: np.ndarray) -> float:
    return COMM.allreduce(float(np.abs(a).max()) if a.size else 0.0, op=MPI.MAX)


def test_monolithic_step_reproduces_converged_staggered_step_and_conserves_li(problem):
    tr, mech, staggered, mono = problem
    control, li0 = _start(problem, 0.95, 2.0)
    res = staggered.solve()
    assert res.converged, res
    ref = tr.w.x.array.copy(), tr.s.x.array.copy(), mech.u.x.array.copy(), float(tr.V.value)
    staggered.reject()
    tr.set_state(control)
    m = mono.solve()
    assert m.converged, m
    assert _max(tr.w.x.array - ref[0]) < 1e-8
    assert _max(tr.s.x.array - ref[1]) < 1e-8
    assert _max(mech.u.x.array - ref[2]) < 1e-8 * _max(ref[2])
    assert abs(float(tr.V.value) - ref[3]) < 1e-9
    # galvanostatic: exactly I dt / F of Li left the particle
    out = control["current"] * control["dt"] / FARADAY
    assert abs(tr.diagnostics()["li_total_mol"] - li0 + out) < 1e-9 * out
    staggered.reject()


@pytest.mark.parametrize("dt", [16.0, 60.0])
def test_hard_step_converges_quadratically_to_a_fixed_point_of_the_staggered_map(problem, dt):
    """x = 0.86 (stress coupling ~ 14 RT against 1/(x(1-x)) ~ 8): Newton converges in a few
    quadratic iterations, and the result is a fixed point of the staggered map (a Li
    solve and an elasticity solve at the result change nothing)."""
    tr, mech, staggered, mono = problem
    control, li0 = _start(problem, 0.86, dt)
    m = mono.solve()
    assert m.converged and m.iterations <= 7, m
    e = m.history
    # quadratic once close (e_k < 0.02), down to the round-off floor of the update
    close = [(a, b) for a, b in zip(e[:-1], e[1:], strict=True) if a < 0.02]
    assert len(close) >= 2 and all(b < max(10.0 * a**2, 1e-12) for a, b in close), e
    out = control["current"] * control["dt"] / FARADAY
    assert abs(tr.diagnostics()["li_total_mol"] - li0 + out) < 1e-9 * out
    w, u, V = tr.w.x.array.copy(), mech.u.x.array.copy(), float(tr.V.value)
    tr.w_lag.x.array[:] = w
    assert tr.solve().converged
    assert _max(tr.w.x.array - w) < 1e-8 and abs(float(tr.V.value) - V) < 1e-9
    mech.solve()
    assert _max(mech.u.x.array - u) < 1e-8 * _max(u)
    assert mech.update_potential(tr.s) < 1e-8
    staggered.reject()


def test_fieldsplit_gmres_gives_the_direct_solution(problem):
    tr, mech, staggered, mono = problem
    control, _ = _start(problem, 0.86, 16.0)
    assert mono.solve().converged
    ref = tr.w.x.array.copy(), mech.u.x.array.copy()
    staggered.reject()
    tr.set_state(control)
    it = MonolithicSolver(tr, mech, linear_solver="iterative", tol=1e-10)
    m = it.solve()
    assert m.converged and m.iterations <= 7, m
    assert m.ksp_iterations < 200 * 2 * m.iterations  # the preconditioner works
    assert _max(tr.w.x.array - ref[0]) < 1e-8
    assert _max(mech.u.x.array - ref[1]) < 1e-7 * _max(ref[1])
    it.destroy()
    staggered.reject()


def test_predictor_changes_the_start_not_the_solution(problem):
    """Steps 1-3 of a charge from x = 0.9 with the sqrt(tau) predictor: the third step
    started from y_n (no predictor) reaches the same state, in more Newton iterations."""
    tr, mech, staggered, mono = problem
    control, li0 = _start(problem, 0.9, 8.0)
    try:
        for _ in range(2):
            tr.set_state(control)
            assert mono.solve().converged
            mono.accept()
            staggered.accept()  # transport and mechanics (staggered.monolithic is None)
        assert mono._tau == pytest.approx(16.0)
        tr.set_state(control)
        predicted = mono.solve()
        assert predicted.converged, predicted
        ref = tr.w.x.array.copy(), mech.u.x.array.copy(), float(tr.V.value)
        staggered.reject()
        tr.set_state(control)
        mono._last = None  # no history: Newton starts from the last accepted state
        plain = mono.solve()
        assert plain.converged, plain
        assert _max(tr.w.x.array - ref[0]) < 1e-8
        assert _max(mech.u.x.array - ref[1]) < 1e-8 * _max(ref[1])
        assert abs(float(tr.V.value) - ref[2]) < 1e-9
        assert predicted.history[0] < 0.5 * plain.history[0], (predicted, plain)
        assert predicted.iterations <= plain.iterations
        out = 3 * control["current"] * control["dt"] / FARADAY
        assert abs(tr.diagnostics()["li_total_mol"] - li0 + out) < 1e-9 * out
    finally:
        mono._last = None
        staggered.reject()


@pytest.mark.parametrize("p", [0.5, 0.73, 1.0])
def test_extrapolation_is_exact_on_power_law_data(p):
    from solver.monolithic import extrapolation_factor

    # y = a + b tau^p sampled with irregular steps from the segment start: the
    # extrapolation of the last increment hits the next sample
    times = np.array([0.0, 3.0, 4.5, 9.0, 30.0, 31.0])
    y = 2.0 + 5.0 * times**p
    for k in range(1, len(times) - 1):
        f = extrapolation_factor(times[k], times[k] - times[k - 1], times[k + 1] - times[k], p)
        assert y[k] + f * (y[k] - y[k - 1]) == pytest.approx(y[k + 1], rel=1e-12)


def test_extrapolation_factor_limits_and_bad_input():
    from solver.monolithic import extrapolation_factor

    assert extrapolation_factor(30.0, 30.0, 30.0) == pytest.approx(np.sqrt(2.0) - 1.0)
    # long after the jump the sqrt law gives the linear dt / dt_n, without cancellation
    assert extrapolation_factor(1e12, 30.0, 60.0) == pytest.approx(2.0, rel=1e-9)
    assert extrapolation_factor(60.0, 30.0, 45.0, 1.0) == pytest.approx(1.5, rel=1e-14)
    with pytest.raises(ValueError, match="dt_n <= tau"):
        extrapolation_factor(10.0, 20.0, 5.0)
    with pytest.raises(ValueError, match="0 < p <= 1"):
        extrapolation_factor(10.0, 5.0, 5.0, 1.5)


def test_two_way_defaults_to_the_monolithic_scheme_with_size_based_solver():
    from helpers import case_dict

    from solver.config import validate
    from solver.problem import monolithic_solver

    case = validate(case_dict(mechanics={"coupling": "two-way"}))
    assert case["mechanics"]["scheme"] == "monolithic"
    assert case["mechanics"]["monolithic_linear_solver"] == "auto"
    # the scheme only concerns two-way coupling: a one-way case with it is valid
    validate(case_dict(mechanics={"coupling": "one-way", "scheme": "monolithic"}))

    class _Map:
        def __init__(self, n):
            self.size_global = n

    class _Space:
        def __init__(self, n):
            self.dofmap = type("D", (), {"index_map": _Map(n)})()

    tr, mech = type("T", (), {"V_space": _Space(200)})(), type("M", (), {"U": _Space(500)})()
    assert monolithic_solver(case["mechanics"], tr, mech) == "direct"  # 1,900 unknowns
    mech.U = _Space(20_000)  # 60,400 unknowns > 5e3
    assert monolithic_solver(case["mechanics"], tr, mech) == "iterative"


def test_iterative_path_with_symmetric_stiffness_and_with_an_own_u_preconditioner():
    """Default iterative path: the elasticity solver's GAMG is shared and K is multiplied
    in SBAIJ storage.  A case that gives the u split its own preconditioner gets K back
    in AIJ storage (GAMG cannot be set up on SBAIJ) and reaches the same state."""
    pm = build_particle_mesh(COMM, [1e-6] * 3, 0.3e-6, 0.15e-6, 0.3e-6)
    mat = get_material("NM91")
    tr = LiTransport(pm, mat, rotation_from_euler(20.0, 50.0, 10.0), linear_solver="iterative",
                     local_stress_potential=lambda x, T: local_stress_potential(mat, x, T))
    mech = Elasticity(tr)
    tr.set_uniform(0.86)
    mech.solve()
    current = SPECIFIC_CURRENT * mat.density * tr.volume_m3
    control = {"dt": 16.0, "current": current, "temperature": mat.T_ref}
    li0 = tr.diagnostics()["li_total_mol"]
    states = []
    for options in (None, {"fieldsplit_u_pc_type": "gamg"}):
        tr.set_uniform(0.86)
        mech.u.x.array[:] = 0.0
        mono = MonolithicSolver(tr, mech, linear_solver="iterative", tol=1e-10,
                                petsc_options=options)
        assert mech.K.getType().endswith("sbaij") == (options is None)
        tr.set_state(control)
        m = mono.solve()
        assert m.converged and m.iterations <= 7, m
        states.append((tr.w.x.array.copy(), mech.u.x.array.copy()))
        out = control["current"] * control["dt"] / FARADAY
        assert abs(tr.diagnostics()["li_total_mol"] - li0 + out) < 1e-9 * out
        mono.destroy()
    assert _max(states[0][0] - states[1][0]) < 1e-8
    assert _max(states[0][1] - states[1][1]) < 1e-7 * _max(states[0][1])
    mech.destroy()
    tr.destroy()
