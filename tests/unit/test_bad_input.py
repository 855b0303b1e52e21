"""Bad input as a new user makes it: every case exits 2 naming the file or key, creates nothing.

Issue 22, item 4: binary / non-UTF-8 files (case, study, files a case refers to),
temperatures outside the materials' data range, PETSc options that cannot work.
"""

import subprocess
import sys
from pathlib import Path

import pytest
from helpers import case_dict

from solver.config import CaseError, load_case, validate

ROOT = Path(__file__).resolve().parents[2]
CHEMOMECH = [sys.executable, "-m", "solver.cli"]
BINARY = b"\x89PNG\r\n\x1a\n\x00\x00\xff\xfe binary"  # the start of a PNG image
LATIN1 = "# Temp\xe9rature\n[material]\nname = 'NM91'\n".encode("latin-1")


def _cli(*args, cwd=ROOT):
    return subprocess.run([*CHEMOMECH, *args], capture_output=True, text=True, cwd=cwd)


def _assert_input_error(res, *expected: str) -> None:
    assert res.returncode == 2, res.stderr[-2000:]
    assert "Traceback" not in res.stderr, res.stderr[-2000:]
    assert "\nerror: " in "\n" + res.stderr, res.stderr  # a line of its own (after the log)
    for text in expected:
        assert text in res.stderr, res.stderr


# ------------------------------------------------------------------ 1. files that are not text
@pytest.mark.parametrize("content", [BINARY, LATIN1], ids=["binary", "latin-1"])
def test_a_binary_case_file_is_named_not_a_traceback(tmp_path, content):
    case = tmp_path / "case.toml"
    case.write_bytes(content)
    with pytest.raises(CaseError) as err:
        load_case(case)
    assert err.value.source == str(case) and "not a UTF-8 text file" in err.value.message
    _assert_input_error(_cli("validate", str(case)), f"error: {case}: not a UTF-8 text file")
    out = tmp_path / "never"
    _assert_input_error(_cli("run", str(case), "--output", str(out)), f"{case}: ")
    assert not out.exists()


def test_a_byte_order_mark_is_no_error(tmp_path):
    case = tmp_path / "bom.toml"
    case.write_bytes(b"\xef\xbb\xbf" + (ROOT / "cases/demo.toml").read_bytes())
    assert load_case(case)["material"]["name"] == "NM91"


def test_a_binary_study_file_and_base_case_are_named(tmp_path):
    study = tmp_path / "study.toml"
    study.write_bytes(BINARY)
    _assert_input_error(_cli("study", str(study), "--dry-run"),
                        f"error: {study}: not a UTF-8 text file")
    base = tmp_path / "base.toml"
    base.write_bytes(BINARY)
    study.write_text('base = "base.toml"\n[sweep]\n"material.name" = ["NM91", "NC91"]\n')
    _assert_input_error(_cli("study", str(study), "--local", "--output", str(tmp_path / "o")),
                        f"error: {study}: base: {base}: not a UTF-8 text file")
    assert not (tmp_path / "o").exists()


@pytest.mark.parametrize("section, key", [("grains", "centres_file"),
                                          ("orientation", "file")])
def test_a_binary_file_the_case_refers_to_is_named(tmp_path, section, key):
    data = tmp_path / "data.txt"
    data.write_bytes(BINARY)
    other = {"grains": {"count": 3}} if section == "orientation" else {}
    raw = case_dict(geometry={"radius": "3 um", "mesh_size": "0.5 um",
                              "surface_mesh_size": "0.3 um"},
                    **({"orientation": {"mode": "file", "file": "data.txt"}}
                       if section == "orientation" else {"grains": {"centres_file": "data.txt"}}),
                    **other)
    with pytest.raises(CaseError) as err:
        validate(raw, "c.toml", base_dir=tmp_path)
    assert err.value.key == f"{section}.{key}"
    assert f"{data}: not a UTF-8 text file" in err.value.message


# ------------------------------------------------------------------ 2. temperatures without data
@pytest.mark.parametrize("sections, key, shown", [
    ({"conditions": {"temperature": "5000 K"}}, "conditions.temperature", "5000 K is outside"),
    ({"conditions": {"temperature": "-60 degC"}}, "conditions.temperature",
     "'-60 degC' = 213.15 K is outside"),
    ({"protocol": [{"type": "rest", "until_time": "1 h", "temperature": "300 degC"}]},
     "protocol[0].temperature", "'300 degC' = 573.15 K is outside"),
])
def test_a_temperature_outside_the_material_data_is_refused(sections, key, shown):
    with pytest.raises(CaseError) as err:
        validate(case_dict(**sections), "c.toml")
    assert err.value.key == key
    assert shown in err.value.message and "data range of NMC811 (253.15-473.15 K" in str(err.value)


@pytest.mark.parametrize("temperature", ["-20 degC", "25 degC", "150 degC", "473.15 K"])
def test_room_temperature_and_a_mild_anneal_stay_allowed(temperature):
    case = validate(case_dict(protocol=[
        {"type": "charge", "current": "500 mA/g", "until_time": "60 s"},
        {"type": "rest", "until_time": "1 h", "temperature": temperature}]), "c.toml")
    assert case.protocol[1].temperature == pytest.approx(
        float(temperature.split()[0]) + (273.15 if "degC" in temperature else 0.0))


def test_every_material_states_its_temperature_range_and_basis():
    from solver.materials import MATERIAL_NAMES, get_material

    for name in MATERIAL_NAMES:
        mat = get_material(name)
        lo, hi = mat.temperature_range_K
        assert lo < mat.T_ref < 423.15 < hi  # room temperature and the 150 degC anneal
        assert "Arrhenius" in mat.temperature_range_source
        assert mat.temperature_problem(5000.0) and mat.temperature_problem(298.15) is None


def test_the_case_reference_states_the_library_temperature_range():
    from solver.config import SCHEMA
    from solver.materials import MATERIAL_NAMES, get_material

    doc = SCHEMA["conditions"]["temperature"].doc
    for name in MATERIAL_NAMES:
        lo, hi = get_material(name).temperature_range_K
        assert f"{lo - 273.15:.0f} to {hi - 273.15:.0f} degC" in doc, name


def test_cli_run_refuses_a_temperature_before_making_a_folder(tmp_path):
    out = tmp_path / "never"
    res = _cli("run", "cases/demo.toml", "--output", str(out), "--set",
               "conditions.temperature=5000 K")
    _assert_input_error(res, "error: cases/demo.toml with --set: conditions.temperature: 5000 K "
                        "is outside the data range of NM91")
    assert not out.exists()


# ------------------------------------------------------------------ 3. PETSc options
TWO_WAY = {"coupling": "two-way", "scheme": "monolithic"}


@pytest.mark.parametrize("sections, key, text", [
    ({"numerics": {"petsc": {"ksp_type": "nonsense"}}}, "numerics.petsc.ksp_type",
     "unknown KSP type 'nonsense' (PETSc 3.25 knows: bcgs"),
    ({"numerics": {"petsc": {"ksp_type": "gmress"}}}, "numerics.petsc.ksp_type",
     "unknown KSP type 'gmress' (did you mean 'gmres'? PETSc"),
    ({"numerics": {"petsc": {"ksp_type": "CG"}}}, "numerics.petsc.ksp_type",
     "unknown KSP type 'CG' (did you mean 'cg'? PETSc"),
    ({"numerics": {"petsc": {"fieldsplit_w_pc_type": "gamgg"}}},
     "numerics.petsc.fieldsplit_w_pc_type", "unknown PC type 'gamgg'"),
    ({"mechanics": {"coupling": "one-way", "petsc": {"pc_factor_mat_solver_type": "mumsp"}}},
     "mechanics.petsc.pc_factor_mat_solver_type", "unknown factorisation package"),
    ({"mechanics": {"coupling": "one-way", "petsc": {"matptap_via": "fast"}}},
     "mechanics.petsc.matptap_via", "expected one of auto, scalable"),
    ({"numerics": {"petsc": {"matptap_via": "allatonce"}}}, "numerics.petsc.matptap_via",
     "elasticity solver only"),
    ({"numerics": {"petsc": {"ksp_rtol": 2}}}, "numerics.petsc.ksp_rtol",
     "strictly between 0 and 1; got 2"),
    ({"numerics": {"petsc": {"ksp_atol": "tiny"}}}, "numerics.petsc.ksp_atol",
     "an absolute tolerance >= 0; got 'tiny'"),
    ({"numerics": {"petsc": {"ksp_max_it": 0}}}, "numerics.petsc.ksp_max_it",
     "an iteration count >= 1"),
    ({"numerics": {"petsc": {"ksp_max_it": 2.5}}}, "numerics.petsc.ksp_max_it",
     "an iteration count >= 1"),
    ({"numerics": {"petsc": {"ksp_initial_guess_nonzero": 3}}},
     "numerics.petsc.ksp_initial_guess_nonzero", "expected true or false"),
    ({"numerics": {"petsc": {"mat_mumps_icntl_14": "lots"}}},
     "numerics.petsc.mat_mumps_icntl_14", "expected an integer"),
    ({"numerics": {"petsc": {"-ksp_rtol": 1e-9}}}, "numerics.petsc.-ksp_rtol",
     "without the leading '-'"),
    ({"numerics": {"petsc": {"li_ksp_rtol": 1e-9}}}, "numerics.petsc.li_ksp_rtol",
     "without the solver prefix 'li_'"),
    ({"mechanics": {"coupling": "none", "petsc": {"ksp_rtol": 1e-9}}}, "mechanics.petsc",
     "no effect with mechanics.coupling = 'none'"),
    ({"mechanics": {"coupling": "one-way", "monolithic_petsc": {"ksp_rtol": 1e-9}}},
     "mechanics.monolithic_petsc", "no effect"),
    ({"mechanics": TWO_WAY, "numerics": {"petsc": {"ksp_rtol": 1e-9}}}, "numerics.petsc",
     "mechanics.monolithic_petsc"),
])
def test_bad_petsc_options_are_refused_by_validate(sections, key, text):
    with pytest.raises(CaseError) as err:
        validate(case_dict(**sections), "c.toml")
    assert err.value.key == key and text in err.value.message, str(err.value)


def test_good_petsc_options_validate():
    case = validate(case_dict(
        numerics={"petsc": {"ksp_type": "cg", "ksp_rtol": "1e-9", "ksp_max_it": 200,
                            "mg_levels_pc_sor_its": 3, "ksp_initial_guess_nonzero": True,
                            "pc_gamg_threshold": -1, "some_option_we_do_not_know": 1}},
        mechanics={"coupling": "one-way", "petsc": {"matptap_via": "auto",
                                                    "mat_mumps_icntl_24": 1,
                                                    "mat_mumps_cntl_3": 1e-10}}), "c.toml")
    assert case["numerics"]["petsc"]["ksp_type"] == "cg"
    two_way = validate(case_dict(mechanics={**TWO_WAY, "monolithic_petsc": {
        "ksp_rtol": 1e-8, "fieldsplit_u_pc_type": "gamg"}}), "c.toml")
    assert two_way["mechanics"]["monolithic_petsc"]["ksp_rtol"] == 1e-8


def test_the_type_lists_hold_every_type_petsc4py_knows():
    """A PETSc upgrade with new type names must extend the lists, not refuse them."""
    import dolfinx  # noqa: F401  (loads the wheel's PETSc)
    from petsc4py import PETSc

    from solver import petsc_check as pc

    def names(enum):
        return {v for k, v in vars(enum).items() if not k.startswith("_") and isinstance(v, str)}

    assert names(PETSc.KSP.Type) <= set(pc.KSP_TYPES)
    assert names(PETSc.PC.Type) <= set(pc.PC_TYPES)
    assert names(PETSc.Mat.SolverType) <= set(pc.SOLVER_TYPES)
    assert pc.runtime_problems(validate(case_dict(
        numerics={"petsc": {"ksp_type": "bcgs", "pc_type": "lu",
                            "pc_factor_mat_solver_type": "mumps"}}), "c.toml").values) is None


def test_cli_validate_checks_petsc_options_without_petsc(tmp_path):
    code = ("import sys; from solver.cli import main; rc = main(sys.argv[1:]); "
            "print('IMPORTED', [m for m in ('dolfinx', 'petsc4py') if m in sys.modules]); "
            "sys.exit(rc)")
    res = subprocess.run([sys.executable, "-c", code, "validate", "cases/demo.toml", "--set",
                          'numerics.petsc={ksp_type="nonsense"}'],
                         capture_output=True, text=True, cwd=ROOT)
    _assert_input_error(res, "error: cases/demo.toml with --set: numerics.petsc.ksp_type: "
                        "unknown KSP type 'nonsense'")
    assert "IMPORTED []" in res.stdout


@pytest.mark.parametrize("option, key, text", [
    ('numerics.petsc={pc_type="hypre"}', "numerics.petsc.pc_type",
     "PC type 'hypre' is not available in this PETSc build"),
    ('mechanics.petsc={pc_type="lu", pc_factor_mat_solver_type="umfpack"}',
     "mechanics.petsc.pc_factor_mat_solver_type",
     "factorisation package 'umfpack' cannot do a lu factorisation in this PETSc build"),
])
def test_cli_run_refuses_petsc_types_this_build_lacks_before_making_a_folder(
        tmp_path, option, key, text):
    """Optional PETSc packages (hypre, UMFPACK) are not in the DOLFINx wheel's build."""
    out = tmp_path / "never"
    res = _cli("run", "cases/demo.toml", "--output", str(out), "--set", option)
    _assert_input_error(res, f"error: cases/demo.toml with --set: {key}: {text}")
    assert not out.exists()


def test_a_petsc_option_no_solver_reads_stops_the_run_after_its_first_solve(tmp_path):
    """A misspelt name passes validate; the first solve shows PETSc never read it."""
    import tomli_w

    case = tmp_path / "small.toml"
    case.write_text(tomli_w.dumps(case_dict(numerics={"petsc": {"ksp_rtoll": 1e-9}})))
    out = tmp_path / "run"
    res = _cli("run", str(case), "--output", str(out))
    _assert_input_error(res, f"error: {case}: numerics.petsc.ksp_rtoll: PETSc did not read "
                        "this option", f"{out} is left as a failed run")
    status = (out / "status.json").read_text()
    assert '"failed"' in status and "ksp_rtoll" in status and (out / "INCOMPLETE").exists()
    # spelt right, the same case runs
    case.write_text(tomli_w.dumps(case_dict(numerics={"petsc": {"ksp_rtol": 1e-9}})))
    res = _cli("run", str(case), "--output", str(out), "--force", "--max-steps", "2")
    assert res.returncode == 0, res.stderr[-2000:]
