"""A polycrystal whose grains share one orientation is mechanically the single crystal.

Grains are perfectly bonded (one continuous displacement field), so the tessellation must
not change the stress field when every grain has the same orientation: the stresses of a
prescribed Li field x(r) on the 12-grain mesh and on the single-crystal mesh of the same
sphere agree to discretisation error.  With random grain orientations the same Li field
gives a clearly different stress field (the check has power).
"""

import numpy as np
import pytest
import ufl
from dolfinx import fem
from mpi4py import MPI

from meshes import build_particle_mesh, build_spec_mesh
from meshes.polyhedra import random_points_in_ellipsoid
from meshes.spec import MeshSpec
from solver.crystal import rotation_from_euler
from solver.grains import GrainDiagnostics, cell_rotations
from solver.materials import get_material
from solver.mechanics import GPA, Elasticity
from solver.orientations import random_rotations
from solver.transport import LiTransport

COMM = MPI.COMM_WORLD
R = 1.5  # um
H, HS = 0.3, 0.15  # um


def _x_field(X):
    """Li fraction falling from 0.9 in the centre to 0.5 at the surface (delithiation)."""
    r2 = (X[0] ** 2 + X[1] ** 2 + X[2] ** 2) / R**2
    x = 0.9 - 0.4 * r2 + 0.05 * X[0] / R
    return np.log(x / (1 - x))


def _stress_measures(pm, rotations):
    mat = get_material("NM91")
    tr = LiTransport(pm, mat, rotations, quadrature_degree=4)
    mech = Elasticity(tr, degree=2, quadrature_degree=4, linear_solver="direct")
    tr.w.interpolate(_x_field)
    tr.accept()
    mech.solve()
    s = mech.sigma * GPA
    X = ufl.SpatialCoordinate(pm.mesh)
    core = ufl.exp(-ufl.dot(X, X) / (0.5 * R) ** 2)  # smooth weight: exact quadrature
    wc = tr.scalar(fem.form(core * tr.dx))
    measures = {
        "s_zz_z2": tr.scalar(fem.form(s[2, 2] * X[2] ** 2 * tr.dx)) / (tr.volume * R**2),
        "s_norm": np.sqrt(tr.scalar(fem.form(ufl.inner(s, s) * tr.dx)) / tr.volume),
        "s_xx_core": tr.scalar(fem.form(s[0, 0] * core * tr.dx)) / wc,
        "s_zz_core": tr.scalar(fem.form(s[2, 2] * core * tr.dx)) / wc,
        "s_xy_core": tr.scalar(fem.form(s[0, 1] * core * tr.dx)) / wc,
        "s_xz_xz": tr.scalar(fem.form(s[0, 2] * X[0] * X[2] * tr.dx)) / (tr.volume * R**2),
    }
    diag = GrainDiagnostics(tr, mech)
    gb = diag.grain_boundary_stress()
    mech.destroy()
    tr.destroy()
    return measures, gb


@pytest.fixture(scope="module")
def meshes():
    single = build_particle_mesh(COMM, [R * 1e-6] * 3, H * 1e-6, HS * 1e-6, 0.4e-6)
    semi = np.array([R] * 3)
    spec = MeshSpec("sphere", semi, H, HS, 0.4,
                    seeds=random_points_in_ellipsoid(12, semi, seed=11))
    return single, build_spec_mesh(COMM, spec)


def test_polycrystal_with_one_orientation_is_the_single_crystal(meshes):
    single, poly = meshes
    Rot = rotation_from_euler(20.0, 50.0, 10.0)
    ref, gb_single = _stress_measures(single, Rot)
    same, gb_same = _stress_measures(poly, cell_rotations(poly, np.repeat(Rot[None], 12, 0)))
    scale = ref["s_norm"]
    assert scale > 1e8  # a real stress field (hundreds of MPa)
    for k in ref:  # measured: within 0.5 % of the stress norm (P2 displacement)
        assert same[k] == pytest.approx(ref[k], abs=0.01 * scale), k
    assert np.isnan(gb_single["gb_stress_max_Pa"])  # no grain boundaries
    assert np.isfinite(gb_same["gb_normal_stress_max_Pa"])
    rand, _ = _stress_measures(poly, cell_rotations(poly, random_rotations(12, 5)))
    worst = max(abs(rand[k] - ref[k]) for k in ref)
    assert worst > 0.1 * scale


def test_grain_boundary_stress_needs_misorientation_and_grain_table_is_consistent(meshes):
    """Uniform Li: no stress in a one-orientation polycrystal (free expansion), GPa-level
    grain-boundary stress with random orientations (anisotropic misfit).  The grain table's
    volumes and volume-weighted mean x add up to the particle's."""
    _, poly = meshes
    mat = get_material("NM91")
    C11 = mat.stiffness_voigt()[0, 0]
    results = {}
    for label, rots in (("one", np.repeat(rotation_from_euler(0, 30, 0)[None], 12, 0)),
                        ("random", random_rotations(12, 5))):
        tr = LiTransport(poly, mat, cell_rotations(poly, rots), quadrature_degree=2)
        mech = Elasticity(tr, degree=1, quadrature_degree=2)
        tr.set_uniform(0.5)
        mech.solve()
        diag = GrainDiagnostics(tr, mech, rots[:, :, 2])
        results[label] = diag.grain_boundary_stress()
        table = diag.grain_table()
        vol = sum(r["volume_m3"] for r in table)
        assert vol == pytest.approx(tr.volume_m3, rel=1e-12)
        assert sum(r["x_mean"] * r["volume_m3"] for r in table) / vol == pytest.approx(0.5)
        assert all(r["x_std"] < 1e-12 for r in table)
        assert np.allclose([[r["c_axis_x"], r["c_axis_y"], r["c_axis_z"]] for r in table],
                           rots[:, :, 2])
        mech.destroy()
        tr.destroy()
    assert results["one"]["gb_stress_max_Pa"] < 1e-8 * C11
    assert abs(results["one"]["gb_normal_stress_max_Pa"]) < 1e-8 * C11
    assert results["random"]["gb_stress_max_Pa"] > 1e9
    assert results["random"]["gb_normal_stress_max_Pa"] > 1e8
