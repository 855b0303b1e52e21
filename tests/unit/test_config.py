"""Case validation: units, schema, overrides, physical checks (no DOLFINx needed)."""

import math
import subprocess
import sys
from pathlib import Path

import pytest
from helpers import case_dict

from solver.config import CaseError, apply_overrides, load_case, validate
from solver.units import UnitError, parse_quantity

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("text, dim, si", [
    ("2 um", "length", 2e-6), ("2 µm", "length", 2e-6), ("50 nm", "length", 5e-8),
    ("200 mA/g", "specific_current", 200.0), ("0.2 A/g", "specific_current", 200.0),
    ("4.5 V", "voltage", 4.5), ("1 mV", "voltage", 1e-3), ("25 degC", "temperature", 298.15),
    ("300 K", "temperature", 300.0), ("1 h", "time", 3600.0),
    ("150 mAh/g", "specific_capacity", 540000.0), ("1e-14 m^2/s", "diffusivity", 1e-14),
    ("1e-10 cm^2/s", "diffusivity", 1e-14), ("12 kJ/mol", "molar_energy", 12000.0),
    ("4.8 g/cm^3", "density", 4800.0),
])
def test_units_convert_to_si(text, dim, si):
    assert math.isclose(parse_quantity(text, dim), si, rel_tol=1e-12)


@pytest.mark.parametrize("value, dim", [("2", "length"), (2.0, "length"), ("2 V", "length"),
                                        ("-300 degC", "temperature"), ("abc um", "length")])
def test_bad_units_are_refused(value, dim):
    with pytest.raises(UnitError):
        parse_quantity(value, dim)


def test_defaults_and_si():
    case = validate(case_dict(), "t.toml", "t")
    assert case["geometry"]["semi_axes"] == [1e-6] * 3
    assert case["conditions"]["temperature"] == pytest.approx(298.15)
    assert case.protocol[0].current == pytest.approx(500.0)
    assert case.protocol[0].until_time == 60.0
    assert case.name == "t" and case["run"]["output"] == "results/t"
    assert case.resolved["numerics"]["voltage_tol"] == "1 mV"


@pytest.mark.parametrize("sections, key", [
    ({"geometry": {"radius": "-2 um"}}, "geometry.radius"),
    ({"geometry": {"radius": "2"}}, "geometry.radius"),
    ({"geometry": {"colour": "red"}}, "geometry.colour"),
    ({"geometry": {"mesh_size": "5 um"}}, "geometry.mesh_size"),
    ({"conditions": {"initial_x": 1.2}}, "conditions.initial_x"),
    ({"material": {"name": "unobtainium"}}, "material.name"),
    ({"material": {"D_ab_const": "1e-14 m"}}, "material.D_ab_const"),
    ({"protocol": [{"type": "charge", "current": "200 mA/g", "until_voltage": "3.0 V"}]},
     "protocol[0].until_voltage"),
    ({"protocol": [{"type": "charge", "until_voltage": "4.5 V"}]}, "protocol[0].current"),
    ({"protocol": [{"type": "charge", "current": "1 mA/g"}]}, "protocol[0]"),
    ({"protocol": [{"type": "rest", "until_time": "1 h", "current": "1 mA/g"}]},
     "protocol[0].current"),
    ({"protocol": [{"type": "fly", "until_time": "1 h"}]}, "protocol[0].type"),
    ({"kinetics": {"distribution": "magic"}}, "kinetics.distribution"),
])
def test_bad_input_names_the_key(sections, key):
    with pytest.raises(CaseError) as err:
        validate(case_dict(**sections), "bad.toml", "bad")
    assert err.value.key == key
    assert str(err.value).startswith(f"bad.toml: {key}: ")


def test_unknown_section():
    d = case_dict()
    d["geometri"] = {}
    with pytest.raises(CaseError, match="geometri"):
        validate(d, "x.toml")


def test_set_overrides_are_validated():
    d = apply_overrides(case_dict(), ['geometry.radius="3 um"', "protocol.0.current='1 A/g'",
                                      "numerics.max_dx=0.05"], "x")
    case = validate(d, "x.toml")
    assert case["geometry"]["radius"] == pytest.approx(3e-6)
    assert case.protocol[0].current == pytest.approx(1000.0)
    assert case["numerics"]["max_dx"] == 0.05
    d = apply_overrides(case_dict(), ["geometry.radius=-1 um"], "x")
    with pytest.raises(CaseError, match="geometry.radius"):
        validate(d, "x.toml")


def test_every_case_file_validates():
    # study files (study_*.toml: a base case and swept keys) are checked in test_study.py
    files = sorted(f for f in (ROOT / "cases").glob("*.toml") if not f.name.startswith("study_"))
    assert files, "no case files"
    for f in files:
        try:
            load_case(f)
        except CaseError as exc:
            # a follow-up case needs its synthesis run folder (results/...) to exist
            if exc.key != "conditions.from_synthesis" or "no such folder" not in exc.message:
                raise


def test_cli_validate_is_instant_and_mpi_free(tmp_path):
    """`chemomech validate` imports neither DOLFINx nor mpi4py and names the key on errors."""
    code = ("import sys; from solver.cli import main; rc = main(sys.argv[1:]); "
            "bad = [m for m in ('dolfinx', 'mpi4py', 'ufl', 'petsc4py') if m in sys.modules]; "
            "print('IMPORTED', bad); sys.exit(rc)")
    ok = subprocess.run([sys.executable, "-c", code, "validate", str(ROOT / "cases/demo.toml")],
                        capture_output=True, text=True, cwd=ROOT)
    assert ok.returncode == 0, ok.stderr
    assert "IMPORTED []" in ok.stdout
    bad = tmp_path / "bad.toml"
    bad.write_text((ROOT / "cases/demo.toml").read_text().replace('radius = "2 um"',
                                                                 'radius = "-2 um"'))
    res = subprocess.run([sys.executable, "-c", code, "validate", str(bad)],
                         capture_output=True, text=True, cwd=ROOT)
    assert res.returncode == 2
    assert f"{bad}: geometry.radius:" in res.stderr


def test_readme_case_reference_is_current():
    """The README's case-file reference is generated from the schema: keep them equal."""
    from solver.config import schema_markdown

    assert schema_markdown() in (ROOT / "README.md").read_text()
