"""Spencer's invariant form of the transversely isotropic stress equals the rotated Voigt form.

solver/mechanics.py writes sigma = C_g : eps through the c-axis n = R e_z only; this checks
it against the rotate-apply-rotate-back form R voigt(C, R^T eps R) R^T for random
orientations and strains, with the NM91 stiffness and with a strongly anisotropic one.
"""

from __future__ import annotations

import numpy as np
import pytest
import ufl
from dolfinx import fem, mesh
from mpi4py import MPI

from solver.materials import get_material
from solver.mechanics import transverse_isotropy, transversely_isotropic_stress, voigt_stress
from solver.orientations import random_rotations


def _ti_stiffness(c11, c12, c13, c33, c44):
    C = np.zeros((6, 6))
    C[:3, :3] = [[c11, c12, c13], [c12, c11, c13], [c13, c13, c33]]
    C[3, 3] = C[4, 4] = c44
    C[5, 5] = 0.5 * (c11 - c12)
    return C


# NM91 (the code's data) and an arbitrary strongly anisotropic set (GPa, test values only)
STIFFNESSES = [get_material("NM91").stiffness_voigt() / 1e9,
               _ti_stiffness(300.0, 90.0, 40.0, 120.0, 25.0)]


@pytest.mark.parametrize("C", STIFFNESSES)
def test_spencer_form_equals_rotated_voigt_form(C):
    k = transverse_isotropy(C)
    assert k is not None
    domain = mesh.create_unit_cube(MPI.COMM_SELF, 1, 1, 1)
    rng = np.random.default_rng(7)
    R_c = fem.Constant(domain, np.eye(3))
    e_c = fem.Constant(domain, np.zeros((3, 3)))
    R, e = R_c, e_c
    n = ufl.as_vector([R[0, 2], R[1, 2], R[2, 2]])
    diff = transversely_isotropic_stress(k, n, e) - R * voigt_stress(C, R.T * e * R) * R.T
    ref = R * voigt_stress(C, R.T * e * R) * R.T
    err_form = fem.form(ufl.inner(diff, diff) * ufl.dx)
    ref_form = fem.form(ufl.inner(ref, ref) * ufl.dx)
    for R_np in random_rotations(20, 7):
        a = rng.normal(size=(3, 3))
        R_c.value[:] = R_np
        e_c.value[:] = 0.5 * (a + a.T) * 1e-2
        err = fem.assemble_scalar(err_form)
        scale = fem.assemble_scalar(ref_form)
        assert np.sqrt(err) <= 1e-12 * np.sqrt(scale)


def test_non_transversely_isotropic_stiffness_is_refused():
    C = _ti_stiffness(300.0, 90.0, 40.0, 120.0, 25.0)
    C_trig = C.copy()
    C_trig[0, 3] = C_trig[3, 0] = 10.0  # a trigonal C14
    C_trig[1, 3] = C_trig[3, 1] = -10.0
    C_ortho = C.copy()
    C_ortho[5, 5] *= 1.2  # C66 != (C11 - C12)/2
    assert transverse_isotropy(C_trig) is None
    assert transverse_isotropy(C_ortho) is None


@pytest.mark.parametrize("key, entries", [
    ("C11_scale", ((0, 0), (1, 1))), ("C33_scale", ((2, 2),)),
    ("C13_scale", ((0, 2), (2, 0), (1, 2), (2, 1))), ("C44_scale", ((3, 3), (4, 4)))])
def test_stiffness_scales_change_one_constant_and_keep_transverse_isotropy(key, entries):
    """The sensitivity overrides (cases/study_stiffness_sensitivity.toml) scale exactly the
    named components; C66 follows C11; the tensor stays transversely isotropic."""
    base = get_material("NM91").stiffness_voigt()
    C = get_material("NM91", {key: 1.2}).stiffness_voigt()
    changed = set(entries) | ({(5, 5)} if key == "C11_scale" else set())
    for i in range(6):
        for j in range(6):
            if (i, j) in entries:
                assert C[i, j] == pytest.approx(1.2 * base[i, j], rel=1e-14)
            elif (i, j) not in changed:
                assert C[i, j] == base[i, j]
    assert C[5, 5] == pytest.approx(0.5 * (C[0, 0] - C[0, 1]), rel=1e-12)
    assert transverse_isotropy(C / 1e9) is not None
    with pytest.raises(ValueError, match="positive definite"):
        get_material("NM91", {"C13_scale": 3.0})
