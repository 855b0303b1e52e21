"""The lattice-defect model (solver/defects.py) against its own laws.

* storage order of the symmetric DG0 tensor;
* a uniform residual strain in a discharged particle relaxes exponentially at the
  Arrhenius rate, at two temperatures;
* relaxation never increases the stored elastic energy in a recoverable region;
* where the Li content is not recoverable an anneal transforms the lattice at the
  first-order rate, with the in-plane strain and the loss of mobility;
* residual strain grows only where the von Mises stress passes the yield stress.
"""

import dataclasses
import math

import numpy as np
import pytest
from helpers import case_dict
from mpi4py import MPI

from solver.config import validate
from solver.materials.data import R_GAS
from solver.materials.defects import DEFAULTS

SMALL = {"radius": "0.6 um", "mesh_size": "0.2 um", "surface_mesh_size": "0.15 um"}


def _problem(case):
    from solver.problem import ElectrochemicalProblem
    from solver.simulation import (
        build_mesh,
        facet_activity,
        grain_rotations_for,
        material_from_case,
    )

    pm = build_mesh(case, MPI.COMM_WORLD)
    return ElectrochemicalProblem(case, pm, material_from_case(case),
                                  grain_rotations_for(case, pm), facet_activity(case, pm))


def _run(case, seed_strain):
    """Run ``case`` with the defect strain set by ``seed_strain(midpoints) -> (n, 3, 3)``
    after the initial state; return the rows."""
    from solver.defects import full_to_sym
    from solver.driver import Driver
    from solver.protocol.state import RunState
    from solver.recorder import RunRecorder

    p = _problem(case)
    p.initialise(case["conditions"]["initial_x"])
    d = p.defects
    mesh = p.tr.mesh
    n = mesh.topology.index_map(3).size_local + mesh.topology.index_map(3).num_ghosts
    from dolfinx.mesh import compute_midpoints

    mid = compute_midpoints(mesh, 3, np.arange(n, dtype=np.int32))
    d.f.eps_def.x.array.reshape(-1, 6)[d.f.tensor_cells[:n]] = full_to_sym(seed_strain(mid))
    d.f.eps_def.x.scatter_forward()
    d.set_total()
    p.stepper.initialise()  # the elastic state of the seeded residual strain
    rec = RunRecorder(case, p, MPI.COMM_WORLD, None, None, 0.0)
    state = RunState(dt_next_s=case["numerics"]["dt_initial"])
    try:
        Driver(case, p, rec, MPI.COMM_WORLD).run(state, False)
    finally:
        p.destroy()
    return rec.rows


def _anneal_case(T, x0=0.98, hours=1.0, **defects):
    return validate(case_dict(
        geometry=SMALL, conditions={"initial_x": x0}, mechanics={"coupling": "one-way"},
        defects={"model": "lattice", **defects},
        protocol=[{"type": "anneal", "temperature": T, "until_time": f"{hours} h"}],
        numerics={"dt_max": "300 s", "dt_initial": "10 s"}))


def test_symmetric_storage_order():
    import basix.ufl
    import ufl
    from dolfinx import fem
    from dolfinx.mesh import create_unit_cube

    from solver.defects import full_to_sym, sym_to_full

    mesh = create_unit_cube(MPI.COMM_WORLD, 1, 1, 1)
    T0 = fem.functionspace(mesh, basix.ufl.element("DG", mesh.basix_cell(), 0, shape=(3, 3),
                                                   symmetry=True))
    f = fem.Function(T0)
    A = np.array([[1.0, 2.0, 3.0], [2.0, 4.0, 5.0], [3.0, 5.0, 6.0]])
    f.x.array.reshape(-1, 6)[:] = full_to_sym(A[None])
    e = fem.Expression(ufl.as_vector([f[i, j] for i in range(3) for j in range(3)]),
                       np.array([[0.25, 0.25, 0.25]]))
    assert np.array_equal(e.eval(mesh, np.array([0], dtype=np.int32)).reshape(3, 3), A)
    assert np.array_equal(sym_to_full(full_to_sym(A[None]))[0], A)


def _uniform(mid):
    e = 2e-3 * np.diag([1.0, -0.5, -0.5])
    return np.broadcast_to(e, (mid.shape[0], 3, 3)).copy()


def test_uniform_residual_strain_relaxes_exponentially_at_the_arrhenius_rate():
    rates = {}
    for T in (423.15, 393.15):
        rows = _run(_anneal_case(f"{T} K"), _uniform)
        t = np.array([r["time_s"] for r in rows])
        e = np.array([r["residual_strain_mean"] for r in rows])
        # uniform: no stress, no growth, no gradient (x uniform): e(t) = e0 exp(-k t)
        assert rows[0]["residual_strain_std"] < 1e-12
        assert max(r["vm_stress_max_Pa"] for r in rows) < 1e-3 * DEFAULTS.yield_stress
        k = np.log(e[0] / e[1:]) / t[1:]
        assert np.allclose(k, k[-1], rtol=1e-7)
        rates[T] = k[-1]
        mat = validate(case_dict()).values["material"]["name"]
        from solver.materials import get_material

        x_rec = get_material(mat).x_at_voltage(DEFAULTS.recovery_voltage)
        r = 0.5 * (1 + math.tanh((0.98 - x_rec) / DEFAULTS.recovery_width))
        assert k[-1] == pytest.approx(DEFAULTS.relax_rate(T) * r, rel=1e-6)
    ratio = rates[423.15] / rates[393.15]
    expected = math.exp(-DEFAULTS.relax_Ea / R_GAS * (1 / 423.15 - 1 / 393.15))
    assert ratio == pytest.approx(expected, rel=1e-6)


def test_relaxation_never_increases_the_elastic_energy_where_recoverable():
    def graded(mid):  # a deviatoric residual strain that varies across the particle
        s = np.tanh(mid[:, 0] / 0.3)[:, None, None]
        return s * 3e-3 * np.array([[0.0, 1.0, 0.0], [1.0, 0.0, 0.0], [0.0, 0.0, 0.0]])

    rows = _run(_anneal_case("150 degC", hours=0.5), graded)
    energy = np.array([r["elastic_energy_J"] for r in rows])
    assert energy[0] > 0 and rows[0]["residual_strain_std"] > 1e-4
    assert np.all(np.diff(energy) <= 1e-12 * energy[0])
    assert energy[-1] < 0.5 * energy[0]


def test_deep_delithiation_transforms_at_the_first_order_rate():
    rows = _run(_anneal_case("150 degC", x0=0.15, hours=1.0),
                lambda m: np.zeros((len(m), 3, 3)))
    t = np.array([r["time_s"] for r in rows])
    phi = np.array([r["inactive_fraction"] for r in rows])
    from solver.materials import get_material

    x_rec = get_material("NMC811").x_at_voltage(DEFAULTS.recovery_voltage)
    r = 0.5 * (1 + math.tanh((0.15 - x_rec) / DEFAULTS.recovery_width))
    k = DEFAULTS.decomposition_rate(423.15) * (1 - r)
    assert phi[1:] == pytest.approx(1 - np.exp(-k * t[1:]), rel=1e-6)
    assert 0.05 < phi[-1] < 0.5
    # the transformed part carries its in-plane strain: e_tr phi (I - n n), whose
    # equivalent strain sqrt(2/3 dev:dev) is 2/3 e_tr phi
    eq = rows[-1]["residual_strain_mean"]
    assert eq == pytest.approx(2 / 3 * DEFAULTS.transformation_strain * phi[-1], rel=1e-6)


def test_residual_strain_grows_only_past_the_yield_stress():
    base = dict(geometry=SMALL, conditions={"initial_x": 0.9},
                mechanics={"coupling": "one-way"},
                protocol=[{"type": "charge", "current": "2000 mA/g", "until_voltage": "4.1 V"}],
                numerics={"dt_max": "30 s"})
    low = validate(case_dict(**base, defects={"model": "lattice", "yield_stress": "20 MPa"}))
    rows = _run(low, lambda m: np.zeros((len(m), 3, 3)))
    vm = np.array([r["vm_stress_max_Pa"] for r in rows])
    e = np.array([r["residual_strain_mean"] for r in rows])
    assert vm.max() > 20e6 and e[-1] > 1e-6
    grew = np.diff(e) > 1e-12
    # growth in a step needs the overstress at its start (explicit in the stress)
    assert np.all(vm[:-1][grew] > 20e6)
    # growth is not healing (25 degC: no healing): the Li barrier stays that of the
    # cycled lattice
    # bound: all strain healed at the 25 degC rate over the whole run
    shift = max(abs(r["li_barrier_shift_mean_eV"]) for r in rows)
    bound = (0.13 * DEFAULTS.relax_rate(298.15) * rows[-1]["time_s"]
             * max(r["residual_strain_mean"] + 3 * r["residual_strain_std"] for r in rows)
             / DEFAULTS.distortion_ref)
    assert 0.0 <= shift < bound < 1e-4
    high = validate(case_dict(**base, defects={"model": "lattice", "yield_stress": "10 GPa"}))
    rows = _run(high, lambda m: np.zeros((len(m), 3, 3)))
    assert max(r["residual_strain_mean"] for r in rows) < 1e-9


def test_defaults_are_the_documented_values():
    # the parameter set's derived rates (docs/theory.md section 7)
    assert DEFAULTS.relax_rate(423.15) == pytest.approx(1 / 3600.0)
    kp = DEFAULTS.dsc_rate * DEFAULTS.decomposition_Ea / (R_GAS * 512.15**2)
    assert DEFAULTS.decomposition_rate(512.15) == pytest.approx(kp)
    assert dataclasses.replace(DEFAULTS, relax_time=7200.0).relax_rate(423.15) == \
        pytest.approx(1 / 7200.0)


def test_the_transformed_fraction_takes_its_capacity_with_it():
    """Anneal a deeply delithiated particle (x = 0.15: transforms) at 150 degC and at
    25 degC (nothing happens), then discharge both slowly: the capacity scales with the
    active fraction 1 - phi."""
    def case(T):
        return validate(case_dict(
            geometry=SMALL, conditions={"initial_x": 0.15},
            mechanics={"coupling": "one-way"}, defects={"model": "lattice"},
            protocol=[{"type": "anneal", "temperature": T, "until_time": "1 h"},
                      {"type": "discharge", "current": "50 mA/g", "until_voltage": "3.6 V"}],
            numerics={"dt_max": "120 s", "dt_initial": "10 s"}))

    zero = lambda m: np.zeros((len(m), 3, 3))  # noqa: E731
    hot, cold = _run(case("150 degC"), zero), _run(case("25 degC"), zero)
    phi = hot[-1]["inactive_fraction"]
    assert 0.05 < phi < 0.5 and cold[-1]["inactive_fraction"] < 1e-6
    q_hot, q_cold = hot[-1]["step_capacity_mAh_g"], cold[-1]["step_capacity_mAh_g"]
    # the Li fraction of the active sites reaches the same end state in both
    assert hot[-1]["x_mean"] == pytest.approx(cold[-1]["x_mean"], abs=0.02)
    assert q_hot / q_cold == pytest.approx(1 - phi, rel=0.03)


def _seeded(case, e_eq, healed):
    """A problem whose lattice carries a uniform deviatoric residual strain of equivalent
    strain ``e_eq`` after healing removed ``healed`` (not run)."""
    from solver.defects import full_to_sym

    p = _problem(case)
    p.initialise(case["conditions"]["initial_x"])
    d = p.defects
    eps = e_eq * np.diag([1.0, -0.5, -0.5])  # von Mises equivalent strain = e_eq
    d.f.eps_def.x.array.reshape(-1, 6)[:] = full_to_sym(eps[None])[0]
    d.f.eps_healed.x.array[:] = healed
    d.set_total()
    return p


def test_the_healed_lattice_lowers_the_li_barrier_by_the_documented_law():
    from solver import jit

    ref_strain = DEFAULTS.distortion_ref
    case = _anneal_case("25 degC")
    off = _anneal_case("25 degC", barrier_shift="0 eV")
    p0 = _seeded(off, 0.0, 0.0)  # the same particle, law 4 off
    ref = jit.form(p0.tr.mobility * p0.tr.dx)
    # (present strain, healed strain) -> healed fraction: half healed, fully healed
    # (saturates), never healed
    for e_eq, healed, h in ((0.5 * ref_strain, 0.5 * ref_strain, 0.5), (0.1 * ref_strain,
                            3.0 * ref_strain, 1.0), (2.0 * ref_strain, 0.0, 0.0)):
        p = _seeded(case, e_eq, healed)
        assert np.allclose(p.defects.f.healed.x.array, h, rtol=1e-12, atol=1e-15)
        mob = jit.form(p.tr.mobility * p.tr.dx)
        for T in (298.15, 423.15):
            p.tr.T.value = p0.tr.T.value = T
            expected = math.exp(h * DEFAULTS.barrier_shift / (R_GAS * T))
            assert p.tr.scalar(mob) / p0.tr.scalar(ref) == pytest.approx(expected, rel=1e-10)
        assert p.defects.diagnostics()["li_barrier_shift_mean_eV"] == pytest.approx(
            -0.13 * h, rel=1e-10, abs=1e-14)
        p.destroy()
    # [TH]'s room-temperature ratio of the healed to the cycled crystal's D: x 152
    assert math.exp(DEFAULTS.barrier_shift / (R_GAS * 298.15)) == pytest.approx(152, rel=0.05)
    p0.destroy()


def test_healing_lowers_the_li_barrier_with_the_relaxed_strain():
    e0 = 0.5 * DEFAULTS.distortion_ref

    def seed(mid):
        return np.broadcast_to(e0 * np.diag([1.0, -0.5, -0.5]), (len(mid), 3, 3)).copy()

    rows = _run(_anneal_case("150 degC", hours=1.0), seed)
    barrier = np.array([r["li_barrier_shift_mean_eV"] for r in rows])
    e = np.array([r["residual_strain_mean"] for r in rows])
    assert barrier[0] == 0.0 and e[-1] < 0.5 * e0
    # below distortion_ref the barrier falls with the relaxed strain e0 - e
    assert np.allclose(barrier, -0.13 * (e0 - e) / DEFAULTS.distortion_ref, rtol=1e-9,
                       atol=1e-15)
