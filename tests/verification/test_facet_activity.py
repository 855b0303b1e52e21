"""Basal (003) facets of faceted crystals: tagged by their normal, and their Li exchange
set by name from the case (kinetics.surface_activity)."""

from __future__ import annotations

import numpy as np
import pytest
from helpers import case_dict
from mpi4py import MPI

from solver.config import CaseError, validate

COMM = MPI.COMM_WORLD

# c-axis along sample x; the platelet is built in the crystal frame and turned with it
PLATELET = {"shape": "platelet", "width": "2 um", "thickness": "0.8 um",
            "mesh_size": "0.3 um", "surface_mesh_size": "0.2 um",
            "refinement_depth": "0.2 um"}


def _case(activity: dict | None = None, **geometry):
    d = case_dict(geometry={**PLATELET, **geometry}, orientation={"c_axis": [1, 0, 0]},
                  kinetics={"distribution": "uniform",
                            **({"surface_activity": activity} if activity else {})},
                  protocol=[{"type": "charge", "current": "2000 mA/g",
                             "until_time": "20 s"}])
    d["geometry"].pop("radius", None)
    d["geometry"]["mesh_cache"] = "off"
    return validate(d, "platelet.toml")


def _face_areas(poly) -> tuple[float, float]:
    """(basal, side) areas of the exact polyhedron (um^2), basal = normal along c."""
    basal = side = 0.0
    for face, n in zip(poly.faces, poly.normals, strict=True):
        p = poly.vertices[face]
        area = 0.5 * np.linalg.norm(sum(np.cross(p[0] - p[i], p[0] - p[i + 1])
                                        for i in range(1, len(face) - 1)))
        if abs(abs(n[0]) - 1.0) < 1e-9:
            basal += area
        else:
            side += area
    return basal, side


def test_basal_facets_are_tagged_and_blocked_by_name():
    import ufl
    from dolfinx import fem

    from meshes import BASAL_SURFACE_TAG, SURFACE_TAG
    from solver.crystal import rotation_from_case
    from solver.simulation import build_mesh, facet_activity, material_from_case
    from solver.transport import LiTransport

    case = _case({"basal_surface": 0.0})
    pm = build_mesh(case, COMM)
    basal_exact, side_exact = _face_areas(pm.info["spec"].polyhedron)
    ds = ufl.Measure("ds", pm.mesh, subdomain_data=pm.facet_tags,
                     metadata={"quadrature_degree": 1})
    one = fem.Constant(pm.mesh, 1.0)
    n = ufl.FacetNormal(pm.mesh)

    def total(form):
        return COMM.allreduce(fem.assemble_scalar(fem.form(form)), op=MPI.SUM)

    # the planar facets normal to c, and only those, form basal_surface (both basal faces)
    assert total(one * ds(BASAL_SURFACE_TAG)) == pytest.approx(basal_exact, rel=1e-9)
    assert total(one * ds(SURFACE_TAG)) == pytest.approx(side_exact, rel=1e-9)
    assert total(abs(n[0]) * ds(BASAL_SURFACE_TAG)) == pytest.approx(basal_exact, rel=1e-9)
    assert total(abs(n[0]) * ds(SURFACE_TAG)) < 1e-9 * side_exact

    # blocked by name: the Li exchange area is the side area only, and a charge drains the
    # region under the side facets while the basal facets pass nothing
    act = facet_activity(case, pm)
    assert act == {SURFACE_TAG: 1.0}
    material = material_from_case(case)
    R = rotation_from_case(case["orientation"])
    assert np.allclose(R[:, 2], [1, 0, 0])
    tr = LiTransport(pm, material, R, distribution="uniform",
                     facet_activity=act)
    assert tr.area == pytest.approx(side_exact, rel=1e-9)
    tr.set_uniform(0.9)
    li0 = tr.diagnostics()["li_total_mol"]
    current = 2000.0 * material.density * tr.volume_m3  # A (2000 A/kg = 2000 mA/g)
    for _ in range(4):
        tr.set_state({"dt": 5.0, "current": current, "temperature": material.T_ref})
        assert tr.solve().converged
        tr.accept()
    li1 = tr.diagnostics()["li_total_mol"]
    # Li balance: all of the charge left through the side facets
    assert li0 - li1 == pytest.approx(current * 20.0 / 96485.33212, rel=1e-8)
    x = fem.Function(tr.V_space)
    tr.x_function(x)
    xb = total(x * ds(BASAL_SURFACE_TAG)) / basal_exact
    xs = total(x * ds(SURFACE_TAG)) / side_exact
    # the surface under blocked basal facets keeps markedly more Li than the side facets
    assert xb - xs > 0.1 * (0.9 - xs), (xb, xs)
    tr.destroy()

    # default: every outer facet exchanges Li, basal ones included
    assert facet_activity(_case(), pm) == {SURFACE_TAG: 1.0, BASAL_SURFACE_TAG: 1.0}


@pytest.mark.parametrize("activity, key", [
    ({"basal_surface": -1.0}, "kinetics.surface_activity.basal_surface"),
    ({"edges": 1.0}, "kinetics.surface_activity.edges"),
    ({"surface": 0.0, "basal_surface": 0.0}, "kinetics.surface_activity"),
    ({"void_surface": 1.0}, "kinetics.surface_activity.void_surface"),
])
def test_bad_surface_activity_names_the_key(activity, key):
    with pytest.raises(CaseError) as err:
        _case(activity)
    assert err.value.key == key


def test_basal_activity_needs_a_faceted_shape():
    d = case_dict(kinetics={"surface_activity": {"basal_surface": 0.1}})
    with pytest.raises(CaseError) as err:
        validate(d, "sphere.toml")
    assert err.value.key == "kinetics.surface_activity.basal_surface"
