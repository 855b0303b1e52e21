"""The two-phase free energy (solver/materials/phase.py): numpy only, no DOLFINx."""

import subprocess
import sys

import numpy as np
import pytest

from solver.materials import MATERIAL_NAMES, get_material
from solver.materials.phase import common_tangent, spinodal_overshoot, two_phase_free_energy


def test_importable_without_dolfinx():
    code = ("import sys, solver.materials.phase as p; "
            "p.two_phase_free_energy(__import__('solver.materials', fromlist=['x'])"
            ".get_material('NC91')); "
            "assert 'dolfinx' not in sys.modules and 'ufl' not in sys.modules")
    subprocess.run([sys.executable, "-c", code], check=True)


@pytest.mark.parametrize("name", MATERIAL_NAMES)
def test_equilibrium_ocv_has_the_plateau_and_is_continuous(name):
    mat = get_material(name)
    fe = two_phase_free_energy(mat)
    x = np.linspace(1e-3, 0.999, 20001)
    u = fe.ocv_eq(x)
    assert np.all(np.diff(u) <= 1e-12)  # non-increasing
    assert np.abs(np.diff(u)).max() < 0.05  # no jump (grid step 5e-5)
    inside = (x >= fe.x_H3) & (x <= fe.x_H2)
    assert np.allclose(u[inside], fe.plateau_voltage, atol=1e-12)
    above = x >= fe.x_hi
    assert np.allclose(u[above], mat.ocv(x[above]), atol=1e-12)
    assert fe.bump(fe.x_H3) == fe.bump(fe.x_H2) == 0.0
    assert fe.dbump(fe.x_H3) == fe.dbump(fe.x_H2) == 0.0
    assert fe.bump(0.5 * (fe.x_H3 + fe.x_H2)) == pytest.approx(1.0)


def test_parameters_and_common_tangent():
    mat = get_material("NMC811")
    fe = two_phase_free_energy(mat, 0.5e-6, 0.2)
    assert fe.barrier == pytest.approx(3 * 0.2 / (4 * mat.c_max * 0.5e-6))
    assert fe.kappa == pytest.approx(2 * fe.barrier * 0.25e-12 / fe.delta**2)
    # gamma from the profile: c_max * integral of kappa x'^2 = (4/3) c_max W lambda
    z = np.linspace(-5e-6, 5e-6, 200001)
    dxdz = np.gradient(fe.profile(z), z)
    gamma = mat.c_max * np.trapezoid(fe.kappa * dxdz**2, z)
    assert gamma == pytest.approx(0.2, rel=1e-4)
    # width = Delta / max |dx/dz|
    assert fe.delta / dxdz.max() == pytest.approx(0.5e-6, rel=1e-4)
    x1, x2, _ = common_tangent(fe.mu_hom, 0.01, 0.5, (0.1, 0.2))
    assert (x1, x2) == pytest.approx((fe.x_H3, fe.x_H2), rel=1e-8)
    assert spinodal_overshoot(fe) == pytest.approx(
        fe.barrier * 1.5396 * 2 / fe.delta / 96485.33212, rel=1e-3)


def test_ufl_namespace_gives_the_same_law():
    ufl = pytest.importorskip("ufl")
    from solver.mathns import ufl_namespace

    fe = two_phase_free_energy(get_material("NM91"))
    for x0 in (0.05, 0.1, 0.2, 0.25, 0.6):
        expr = fe.mu_hom(ufl.as_ufl(x0), ufl_namespace())
        assert float(expr) == pytest.approx(float(fe.mu_hom(x0)), rel=1e-12)
