"""Grain-boundary stresses on a laguerre polycrystal (grain id per element, docs/meshes.md).

As for the fragment mesh (test_polycrystal.py): a uniform Li field leaves a
one-orientation polycrystal stress-free (free expansion), and random orientations give
GPa-level grain-boundary stresses.  The normal traction uses the tessellation's boundary
normals (meshes/laguerre.py), not the staircase facets' (about 50 deg off on average):
on the same state it differs from the facet-normal value.
"""

import numpy as np
import pytest
from mpi4py import MPI

from meshes import build_spec_mesh
from meshes.spec import spec_from_case
from solver.crystal import rotation_from_euler
from solver.grains import GrainDiagnostics, cell_rotations
from solver.materials import get_material
from solver.mechanics import Elasticity
from solver.orientations import random_rotations
from solver.transport import LiTransport
from tests.unit.test_meshes_laguerre import UM, laguerre_values

COMM = MPI.COMM_WORLD


@pytest.fixture(scope="module")
def poly():
    spec = spec_from_case(laguerre_values(R=1.5, h=0.25, count=12, spread=0.2,
                                          aspect=2.0), UM)
    return build_spec_mesh(COMM, spec)


def test_laguerre_grain_boundary_stress_needs_misorientation(poly):
    mat = get_material("NM91")
    C11 = mat.stiffness_voigt()[0, 0]
    n = poly.num_grains
    assert n == 12 and poly.tessellation is not None
    results = {}
    for label, rots in (("one", np.repeat(rotation_from_euler(0, 30, 0)[None], n, 0)),
                        ("random", random_rotations(n, 5))):
        tr = LiTransport(poly, mat, cell_rotations(poly, rots), quadrature_degree=2)
        mech = Elasticity(tr, degree=1, quadrature_degree=2)
        tr.set_uniform(0.5)
        mech.solve()
        diag = GrainDiagnostics(tr, mech, rots[:, :, 2])
        results[label] = diag.grain_boundary_stress()
        if label == "random":
            # the same state with the staircase facet normals: a different number
            tess, poly.tessellation = poly.tessellation, None
            try:
                results["facet"] = GrainDiagnostics(tr, mech).grain_boundary_stress()
            finally:
                poly.tessellation = tess
        mech.destroy()
        tr.destroy()
    assert results["one"]["gb_stress_max_Pa"] < 1e-8 * C11
    assert abs(results["one"]["gb_normal_stress_max_Pa"]) < 1e-8 * C11
    rand = results["random"]
    assert rand["gb_stress_max_Pa"] > 1e9
    assert rand["gb_normal_stress_max_Pa"] > 1e8
    assert rand["gb_normal_stress_max_Pa"] != results["facet"]["gb_normal_stress_max_Pa"]
