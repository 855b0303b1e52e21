"""Verification of the two-phase (Cahn-Hilliard H2-H3) Li transport, solver/phasefield.py.

Thin bars (n x 1 x 1 boxes) make the problems one-dimensional along the bar; the free
energy is solver/materials/phase.py (docs/theory.md section 9).
"""

import numpy as np
import pytest
from mpi4py import MPI
from scipy.optimize import curve_fit
from two_phase_helpers import (
    ENERGY_TEST,
    WIDTH_TEST,
    bar_particle,
    fast_material,
    make_transport,
    relax,
    set_profile,
)

from solver.config import CaseError, validate
from solver.materials import get_material
from solver.materials.phase import common_tangent, spinodal_overshoot, two_phase_free_energy
from solver.phasefield import CahnHilliardTransport, transport_class
from solver.scaling import FARADAY
from solver.transport import LiTransport

COMM = MPI.COMM_WORLD


def test_free_energy_common_tangent_is_the_window():
    """The numerical common tangent of f_hom = f_eq + W b is (x_H3, x_H2) at U_p, for
    any barrier; f_hom lies above the tangent line; mu_hom is non-monotonic."""
    mat = get_material("NMC811")
    for width, energy in ((1e-6, 0.1), (WIDTH_TEST, ENERGY_TEST)):
        fe = two_phase_free_energy(mat, width, energy)
        x1, x2, mu_t = common_tangent(fe.mu_hom, 0.01, 0.5, (0.07, 0.23))
        assert x1 == pytest.approx(fe.x_H3, rel=1e-8)
        assert x2 == pytest.approx(fe.x_H2, rel=1e-8)
        assert -mu_t / FARADAY == pytest.approx(fe.plateau_voltage, abs=1e-9)
        x = np.linspace(0.02, 0.6, 3001)
        f = fe.f_hom(x, x_ref=fe.x_H3)
        assert np.all(f - mu_t * (x - fe.x_H3) >= -1e-6 * abs(mu_t))
        mu = fe.mu_hom(np.linspace(fe.x_H3, fe.x_H2, 501))
        assert np.any(np.diff(mu) > 0) and np.any(np.diff(mu) < 0)
    # the equilibrium OCV is the material's above x_hi (the sourced Chen2020 window)
    x = np.linspace(fe.x_hi, 0.95, 50)
    assert np.allclose(fe.ocv_eq(x), mat.ocv(x), atol=1e-12)
    # window from the Maerker c collapse: H3 and H2 differ in c by > 0.4 A (NMC811)
    assert (mat.lattice_c(fe.x_H2) - mat.lattice_c(fe.x_H3)) * 1e10 > 0.4


def test_coexistence_reaches_common_tangent_and_conserves_li():
    """Zero current, composition at the window centre with a small perturbation: the bar
    splits into H3 and H2 whose compositions equal the common tangent within 1 %
    (measured 2e-4 / 4e-4 at h = lambda/8); total Li stays constant to round-off."""
    mat = fast_material()
    pm = bar_particle(4.0, 64, COMM)
    tr, fe = make_transport(pm, mat)
    xc = 0.5 * (fe.x_H3 + fe.x_H2)
    tr.set_uniform(xc)
    set_profile(tr, lambda z: xc + 0.01 * np.cos(np.pi * z / 4.0))
    li0 = tr.diagnostics()["li_total_mol"]
    li = []
    relax(tr, mat, t_end=1e6, record=lambda t, dt: li.append(tr.diagnostics()["li_total_mol"]))
    d = tr.diagnostics()
    x1, x2, _ = common_tangent(fe.mu_hom, 0.01, 0.5, (0.07, 0.23))
    err_lo, err_hi = abs(d["x_min"] - x1) / x1, abs(d["x_max"] - x2) / x2
    assert err_lo < 0.01 and err_hi < 0.01, (err_lo, err_hi)
    assert tr.phase_diagnostics()["h3_fraction"] == pytest.approx(0.5, abs=0.05)
    assert max(abs(v - li0) for v in li) <= 1e-12 * li0
    # restart: a Li field written into w from outside is taken over with its chemical
    # potential (the equilibrium stays put in a long step)
    tr2, _ = make_transport(pm, mat)
    tr2.set_uniform(xc)
    tr2.w.x.array[:] = tr.w.x.array
    tr2.accept()
    tr2.set_state({"dt": 1e5, "current": 0.0, "temperature": mat.T_ref})
    assert tr2.solve().converged
    assert np.abs(tr2.w.x.array - tr.w.x.array).max() < 1e-6
    tr2.destroy()
    tr.destroy()


def _front_width(n: int) -> tuple[float, float]:
    """Relaxed planar front on a 4 um bar with n elements: (fitted width / lambda - 1,
    max |x - tanh fit| / Delta)."""
    mat = fast_material()
    pm = bar_particle(4.0, n, COMM)
    tr, fe = make_transport(pm, mat)
    xc = 0.5 * (fe.x_H3 + fe.x_H2)
    tr.set_uniform(xc)
    # start from a front twice as wide as the equilibrium one, centred
    set_profile(tr, lambda z: fe.profile((z - 2.0) * 1e-6 / 2.0))
    relax(tr, mat, t_end=2e5)
    z = tr.V_space.tabulate_dof_coordinates()[:, 0]
    x = 1.0 / (1.0 + np.exp(-tr.w.x.array))
    z, x = (np.concatenate(COMM.allgather(a)) for a in (z, x))

    def model(zz, z0, lam):
        return xc + 0.5 * fe.delta * np.tanh(2.0 * (zz - z0) / lam)

    (z0, lam), _ = curve_fit(model, z, x, p0=(2.0, 1e6 * fe.interface_width))
    tr.destroy()
    width_err = lam / (1e6 * fe.interface_width) - 1.0
    shape_err = np.abs(x - model(z, z0, lam)).max() / fe.delta
    return width_err, shape_err


def test_planar_front_is_tanh_with_the_model_width_and_converges():
    """The relaxed front is the analytic tanh (max deviation < 1 % of the gap) with the
    width lambda within 5 % from h = lambda/4 on; the width error falls under refinement
    (measured: h = lambda/2, /4, /8, /16: -3.6 %, -0.94 %, -0.24 %, -0.06 %; the max
    deviation from the fitted tanh 1.0, 0.50, 0.25, 0.12 % of the gap)."""
    errs = {n: _front_width(n) for n in (16, 32, 64)}  # h = lambda/2, lambda/4, lambda/8
    w16, w32, w64 = (abs(errs[n][0]) for n in (16, 32, 64))
    assert w32 < 0.05 and w64 < 0.05, errs
    assert w64 < w32 < w16, errs
    assert np.log2(w32 / w64) > 1.5, errs  # second order (P1)
    assert errs[64][1] < 0.01 and errs[32][1] < 0.02, errs


def test_slow_charge_follows_the_equilibrium_ocv_and_conserves_li():
    """A slow charge (1 mA/g) of a bar exchanging Li through one end, with the default
    two-phase parameters (lambda = 1 um, gamma = 0.1 J/m^2): an H3 domain grows from the
    surface across the plateau and V stays within 5 mV of U_eq(x_mean) over the whole
    charge 0.30 -> 0.06 (measured 0.6 mV); the Li change equals the time integral of the
    surface flux and of the current."""
    mat = fast_material()
    pm = bar_particle(4.0, 32, COMM, active="end")
    fe = two_phase_free_energy(mat)  # the documented defaults
    tr = CahnHilliardTransport(pm, mat, np.eye(3), linear_solver="direct", phase=fe)
    tr.set_uniform(0.30)
    rate = 1.0  # A/kg = mA/g
    current = rate * mat.density * tr.volume_m3  # A
    dxdt = rate / (mat.capacity_theoretical * 3600.0)  # 1/s
    li0 = tr.diagnostics()["li_total_mol"]
    worst, out, h3 = [0.0], [0.0], []

    def record(t, dt):
        d = tr.diagnostics()
        worst[0] = max(worst[0], abs(float(tr.V.value) - float(fe.ocv_eq(d["x_mean"]))))
        out[0] += tr.li_out_rate() * dt
        h3.append(tr.phase_diagnostics()["h3_fraction"])

    t_end = (0.30 - 0.06) / dxdt
    # time step limited to a change of x of 0.002
    relax(tr, mat, t_end=t_end, dt0=10.0, current=current, dt_max=0.002 / dxdt,
          max_steps=2000, record=record)
    d = tr.diagnostics()
    assert d["x_mean"] == pytest.approx(0.06, abs=1e-6)
    assert worst[0] < 5e-3, worst[0]
    assert 0.3 < max(h for h in h3 if h < 1.0)  # two phases coexisted
    change = li0 - d["li_total_mol"]
    assert change == pytest.approx(out[0], rel=1e-9)
    assert change == pytest.approx(current * t_end / FARADAY, rel=1e-9)
    assert spinodal_overshoot(fe) < 1e-3  # the default barrier: no visible hysteresis
    tr.destroy()


def test_configuration_and_class_choice():
    """phase_model picks the class; two-phase keys are validated."""
    from helpers import case_dict

    base = case_dict(geometry={"radius": "1 um", "mesh_size": "0.25 um",
                               "surface_mesh_size": "0.15 um"})
    assert transport_class(validate(base)) is LiTransport
    two = case_dict(geometry={"radius": "1 um", "mesh_size": "0.25 um",
                              "surface_mesh_size": "0.15 um"},
                    material={"name": "NMC811", "phase_model": "two-phase"})
    case = validate(two)
    cls = transport_class(case)
    assert issubclass(cls, CahnHilliardTransport)
    assert cls.phase_parameters == {"interface_width": 1e-6, "interface_energy": 0.1}
    with pytest.raises(CaseError, match="interface"):  # mesh too coarse for lambda
        validate(case_dict(material={"name": "NMC811", "phase_model": "two-phase",
                                     "interface_width": "0.5 um"}))
    with pytest.raises(CaseError, match="only used"):
        validate(case_dict(material={"name": "NMC811", "interface_width": "1 um"}))
    with pytest.raises(CaseError, match="staggered"):
        validate(case_dict(geometry={"mesh_size": "0.25 um", "surface_mesh_size": "0.15 um"},
                           material={"name": "NMC811", "phase_model": "two-phase"},
                           mechanics={"coupling": "two-way"}))


def _coexistence(two_way: bool) -> tuple[float, float, dict]:
    """Relaxed front on a free 4 um bar (c along the bar's thin z side), with or without
    the two-way coupling (staggered): (x_min, x_max, elasticity diagnostics)."""
    from solver.coupling import CoupledSolver
    from solver.mechanics import Elasticity, implicit_fraction, local_stress_potential

    mat = fast_material()
    pm = bar_particle(4.0, 32, COMM)
    tr, fe = make_transport(pm, mat, local_stress_potential=(
        (lambda x, T: local_stress_potential(mat, x, T)) if two_way else None))
    tr.beta.value = implicit_fraction(mat) if two_way else 0.0
    mech = Elasticity(tr, linear_solver="direct")
    cs = CoupledSolver(tr, mech, "two-way" if two_way else "one-way", 1e-6, 50, 5,
                       "staggered")
    tr.set_uniform(0.15)
    set_profile(tr, lambda z: fe.profile((z - 2.0) * 1e-6))
    cs.initialise()
    t, dt = 0.0, 1.0
    while t < 1e5:
        tr.set_state({"dt": dt, "current": 0.0, "temperature": mat.T_ref})
        r = cs.solve()
        if not r.converged:
            cs.reject()
            dt /= 2.0
            assert dt > 1e-3, r.reason
            continue
        cs.accept()
        t += dt
        if r.coupling_iterations < 8:
            dt *= 2.0
    d = tr.diagnostics()
    e = mech.diagnostics()
    mech.destroy()
    tr.destroy()
    return d["x_min"], d["x_max"], e


def test_coherency_strain_in_a_free_thin_bar_leaves_the_coexistence_unshifted():
    """Model prediction with the coherency strain of the c collapse (two-way coupling,
    staggered scheme, the Elasticity class unchanged): in a free bar whose cross-section
    (0.1 um) is much thinner than its phases, the misfit stress is confined to about one
    cross-section around the interface (Saint-Venant), so the far-field coexisting
    compositions are those of the stress-free common tangent (measured shift -4e-6 at
    x_H3, -2.4e-5 at x_H2, both towards lower x, against 1e-3 discretisation error of the
    compositions at this h = lambda/4), while the interface carries a large stress
    (measured von Mises 0.82 GPa)."""
    lo0, hi0, e0 = _coexistence(two_way=False)
    lo, hi, e = _coexistence(two_way=True)
    assert abs(lo - lo0) < 1e-4 and abs(hi - hi0) < 1e-4, (lo, lo0, hi, hi0)
    fe = two_phase_free_energy(fast_material(), WIDTH_TEST, ENERGY_TEST)
    assert abs(lo - fe.x_H3) / fe.x_H3 < 0.01 and abs(hi - fe.x_H2) / fe.x_H2 < 0.01
    assert e["vm_stress_max_Pa"] > 1e8 and e0["vm_stress_max_Pa"] > 1e8


def test_time_loop_runs_the_two_phase_class():
    """The time loop picks the class of transport_class(case): a 1 um sphere charged at
    100 mA/g through the window shows coexisting H2/H3 (x spread > 0.1), the voltage near
    the plateau meanwhile, a broadened (003) strain distribution, and Li conservation."""
    from helpers import case_dict

    from solver.simulation import run_simulation

    case = validate(case_dict(
        geometry={"radius": "1 um", "mesh_size": "0.25 um", "surface_mesh_size": "0.15 um",
                  "refinement_depth": "0.3 um"},
        material={"name": "NMC811", "phase_model": "two-phase",
                  "D_ab_const": "1e-14 m^2/s"},
        conditions={"initial_x": 0.25},
        mechanics={"coupling": "one-way"},
        protocol=[{"type": "charge", "current": "100 mA/g", "until_capacity": "45 mAh/g"}],
        numerics={"dt_max": "60 s", "linear_solver": "direct"},
    ))
    rows = run_simulation(case, None, COMM).rows
    fe = two_phase_free_energy(get_material("NMC811"))
    split = [r for r in rows if r["x_max"] - r["x_min"] > 0.1]
    assert split, max(r["x_max"] - r["x_min"] for r in rows)
    assert all(abs(r["voltage_V"] - fe.plateau_voltage) < 0.02 for r in split)
    assert max(r["strain_003_std"] for r in split) > 10 * rows[1]["strain_003_std"]
    r0, r1 = rows[0], rows[-1]
    assert r0["li_total_mol"] - r1["li_total_mol"] == pytest.approx(r1["li_out_mol"],
                                                                     rel=1e-8)


def test_single_phase_transport_refuses_a_two_phase_material():
    """The case's phase model travels with the Material: LiTransport refuses it, so a
    time loop that does not yet choose the class fails loudly instead of running the
    single-phase model."""
    mat = get_material("NMC811", {"phase_model": "two-phase", "interface_width": 1e-6})
    assert mat.phase_model == "two-phase" and mat.interface_width == 1e-6
    with pytest.raises(ValueError, match="transport_class"):
        LiTransport(bar_particle(1.0, 4, COMM), mat, np.eye(3))
    with pytest.raises(ValueError, match="phase_model"):
        get_material("NMC811", {"phase_model": "three-phase"})
    tr = CahnHilliardTransport(bar_particle(1.0, 4, COMM), mat, np.eye(3),
                               linear_solver="direct")
    assert tr.phase.interface_width == 1e-6 and tr.phase.interface_energy == 0.1
    tr.destroy()


@pytest.mark.parametrize("energy, tol", [(0.1, 0.01), (1e-9, 2e-4)])
def test_outside_the_window_the_model_is_the_single_phase_fickian_one(energy, tol):
    """With D* = D_chem/Theta of the material OCV, a profile outside the window (x around
    0.6, measured D(x) of NMC811) relaxes as with LiTransport (Fick with D_chem): within
    1 % of the amplitude with the default lambda = 1 um (measured 0.07 %: the
    gradient-energy term), and to 2e-4 when kappa -> 0 (gamma = 1e-9 J/m^2; measured
    1.8e-4, 9.0e-5, 4.5e-5 at 16, 32, 64 elements: the discretisation difference between
    LiTransport's primal form and the mixed form, which vanishes under refinement)."""
    mat = get_material("NMC811")
    pm = bar_particle(2.0, 32, COMM)
    fe = two_phase_free_energy(mat, 1e-6, energy)
    ch = CahnHilliardTransport(pm, mat, np.eye(3), distribution="uniform",
                               linear_solver="direct", phase=fe)
    li = LiTransport(pm, mat, np.eye(3), distribution="uniform", linear_solver="direct")
    z = li.V_space.tabulate_dof_coordinates()[:, 0]
    x0 = 0.6 + 0.1 * np.cos(np.pi * z / 2.0)
    for tr in (ch, li):
        tr.set_uniform(0.6)
        tr.w.x.array[:] = np.log(x0 / (1.0 - x0))
        tr.accept()
        for _ in range(20):
            tr.set_state({"dt": 10.0, "current": 0.0, "temperature": mat.T_ref})
            assert tr.solve().converged
            tr.accept()
    x_ch = 1.0 / (1.0 + np.exp(-ch.w.x.array))
    x_li = 1.0 / (1.0 + np.exp(-li.w.x.array))
    assert np.abs(x_li - x0).max() > 0.03  # the profile relaxed substantially
    diff = COMM.allreduce(np.abs(x_ch - x_li).max(), op=MPI.MAX) / 0.1
    assert diff < tol, diff
    ch.destroy()
    li.destroy()
