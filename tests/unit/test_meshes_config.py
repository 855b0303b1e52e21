"""Case validation of particle geometry: impossible geometry is refused naming the key."""

import pytest
from helpers import case_dict

from solver.config import CaseError, validate


def _pc(**sections):
    base = {"geometry": {"radius": "3 um", "mesh_size": "0.5 um",
                         "surface_mesh_size": "0.3 um"},
            "grains": {"count": 10}}
    for k, v in sections.items():
        base.setdefault(k, {}).update(v)
    return case_dict(**base)


@pytest.mark.parametrize("sections, key, text", [
    ({"grains": {"count": 0}}, "grains.count", "must be >= 1"),
    ({"grains": {"count": 5000}}, "grains.count", "less than two elements"),
    ({"voids": {"volume_fraction": 0.1, "radius": "4 um"}}, "voids.radius",
     "larger than the particle"),
    ({"voids": {"volume_fraction": 0.3, "radius": "0.8 um", "placement": "core",
                "core_fraction": 0.3}}, "voids.volume_fraction", "without overlap"),
    ({"voids": {"volume_fraction": 0.05}}, "voids.radius", "need a radius"),
    ({"voids": {"volume_fraction": 0.001, "radius": "0.1 um"}}, "voids.radius",
     "cannot be resolved"),
    ({"geometry": {"mesh_size": "4 um"}}, "geometry.mesh_size", "not smaller"),
    ({"orientation": {"mode": "file"}}, "orientation.file", "needs a file"),
    ({"orientation": {"mode": "random", "c_axis": [1, 0, 0]}}, "orientation.c_axis",
     "only for mode = 'fixed'"),
    ({"geometry": {"shape": "platelet", "radius": None}}, "geometry.equivalent_diameter",
     "needs"),
])
def test_impossible_geometry_names_the_key(sections, key, text):
    raw = _pc(**sections)
    raw["geometry"] = {k: v for k, v in raw["geometry"].items() if v is not None}
    with pytest.raises(CaseError) as err:
        validate(raw, "case.toml")
    assert err.value.key == key
    assert text in err.value.message


def test_valid_polycrystal_with_voids_and_texture():
    case = validate(_pc(voids={"volume_fraction": 0.05, "radius": "0.6 um",
                               "placement": "intergranular"},
                        orientation={"mode": "radial", "spread_deg": 15.0}), "case.toml")
    assert case["grains"]["count"] == 10 and case["voids"]["placement"] == "intergranular"


def test_faceted_platelet_sizes_and_files(tmp_path):
    case = validate(case_dict(geometry={"shape": "platelet", "radius": None,
                                        "equivalent_diameter": "3 um", "aspect_ratio": 0.3,
                                        "mesh_size": "0.3 um", "surface_mesh_size": "0.2 um"}
                              ) | {"geometry": {"shape": "platelet",
                                                "equivalent_diameter": "3 um",
                                                "aspect_ratio": 0.3, "mesh_size": "0.3 um",
                                                "surface_mesh_size": "0.2 um"}}, "c.toml")
    assert case["geometry"]["shape"] == "platelet"
    with pytest.raises(CaseError) as err:  # too thin for the mesh
        validate(case_dict() | {"geometry": {"shape": "platelet", "width": "3 um",
                                             "thickness": "0.2 um", "mesh_size": "0.3 um"}},
                 "c.toml")
    assert err.value.key == "geometry.mesh_size"
    centres = tmp_path / "centres.txt"
    centres.write_text("# x y z in um\n0 0 0\n1 0 0\n0 1 0\n")
    euler = tmp_path / "euler.txt"
    euler.write_text("1 0 0 0\n2 10 20 30\n")
    raw = _pc(grains={"count": 1, "centres_file": "centres.txt"},
              orientation={"mode": "file", "file": "euler.txt"})
    with pytest.raises(CaseError) as err:  # three grains, two rows of angles
        validate(raw, "c.toml", base_dir=tmp_path)
    assert err.value.key == "orientation.file" and "grain(s) [3]" in err.value.message
    euler.write_text("1 0 0 0\n2 10 20 30\n3 0 90 0\n")
    case = validate(raw, "c.toml", base_dir=tmp_path)
    assert case["grains"]["centres_file"] == str((tmp_path / "centres.txt").resolve())
    # the resolved case names the files absolutely, so it validates from anywhere
    assert case.resolved["orientation"]["file"] == str(euler.resolve())
