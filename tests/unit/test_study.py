"""Study expansion, folder names, validation, Slurm script and the physics hash (no MPI)."""

import re
import subprocess
import sys
from pathlib import Path

import pytest
import tomli_w
from helpers import case_dict

from solver import study as st
from solver.checkpoint import physics_hash
from solver.config import CaseError, validate

ROOT = Path(__file__).resolve().parents[2]


def _study(tmp_path: Path, sweep: dict, **extra) -> Path:
    (tmp_path / "base.toml").write_text(tomli_w.dumps(case_dict()))
    path = tmp_path / "s.toml"
    path.write_text(tomli_w.dumps({"base": "base.toml", "sweep": sweep, **extra}))
    return path


def test_product_and_zip_give_every_combination_once(tmp_path):
    path = _study(tmp_path, {
        "product": {"material.name": ["NC91", "NM91"],
                    "protocol.0.current": ["20 mA/g", "100 mA/g", "200 mA/g"]},
        "zip": {"geometry.radius": ["1.5 um", "2.5 um"],
                "geometry.mesh_size": ["0.3 um", "0.4 um"]}})
    study = st.load_study(path)
    assert len(study.runs) == 2 * 3 * 2
    combos = {tuple(r.params.values()) for r in study.runs}
    assert len(combos) == 12
    # zipped keys move together
    assert {(r.params["geometry.radius"], r.params["geometry.mesh_size"])
            for r in study.runs} == {("1.5 um", "0.3 um"), ("2.5 um", "0.4 um")}
    assert study.runs[0].folder == "name_NC91__current_20mA_g__radius_1.5um__mesh_size_0.3um"
    assert study.runs[-1].folder == "name_NM91__current_200mA_g__radius_2.5um__mesh_size_0.4um"
    assert len({r.folder for r in study.runs}) == 12
    # every run's case carries its values (validated; SI after validation)
    run = study.runs[5]
    case = validate(run.raw, "x", run.folder)
    assert case.protocol[0].current == pytest.approx(float(
        run.params["protocol.0.current"].split()[0]))  # mA/g = A/kg
    assert case["material"]["name"] == run.params["material.name"]
    assert case.name == run.folder


@pytest.mark.parametrize("spec, expected", [
    ({"start": 20, "stop": 200, "num": 3, "unit": "mA/g"}, ["20 mA/g", "110 mA/g", "200 mA/g"]),
    ({"start": 1, "stop": 5, "step": 2}, [1, 3, 5]),
    ({"start": 1, "stop": 6, "step": 2}, [1, 3, 5]),
    ({"start": 0.1, "stop": 0.5, "step": 0.1}, [0.1, 0.2, 0.3, 0.4, 0.5]),
    ({"start": 0.5, "stop": 0.1, "step": -0.2}, [0.5, 0.3, 0.1]),
    ({"start": 1e-15, "stop": 1e-13, "num": 3, "scale": "log", "unit": "m^2/s"},
     ["1e-15 m^2/s", "1e-14 m^2/s", "1e-13 m^2/s"]),
    ({"start": 2, "stop": 2, "num": 1}, [2]),
])
def test_ranges(spec, expected):
    assert st._values("s.toml", "k", spec) == expected


@pytest.mark.parametrize("spec, key", [
    ({"start": 1, "stop": 5}, "k"),
    ({"start": 1, "stop": 5, "num": 2, "step": 1}, "k"),
    ({"start": 1, "stop": 5, "step": -1}, "k.step"),
    ({"start": 0, "stop": 5, "num": 3, "scale": "log"}, "k"),
    ({"start": "a", "stop": 5, "num": 3}, "k.start"),
    ({"start": 1, "stop": 5, "num": 3, "colour": 1}, "k.colour"),
    ([], "k"),
])
def test_bad_ranges_name_the_key(spec, key):
    with pytest.raises(CaseError) as err:
        st._values("s.toml", "k", spec)
    assert err.value.key == key and err.value.source == "s.toml"


def test_ranges_expand_in_a_study(tmp_path):
    path = _study(tmp_path, {"product": {
        "protocol.0.current": {"start": 100, "stop": 300, "step": 100, "unit": "mA/g"},
        "numerics.max_dx": {"start": 0.01, "stop": 0.04, "num": 2, "scale": "log"}}})
    study = st.load_study(path)
    assert [r.folder for r in study.runs] == [
        "current_100mA_g__max_dx_0.01", "current_100mA_g__max_dx_0.04",
        "current_200mA_g__max_dx_0.01", "current_200mA_g__max_dx_0.04",
        "current_300mA_g__max_dx_0.01", "current_300mA_g__max_dx_0.04"]


def test_labels_disambiguate_and_collisions_get_a_hash():
    keys = ["protocol.0.current", "protocol.1.current"]
    names = st.folder_names(keys, [{keys[0]: "1 mA/g", keys[1]: "2 mA/g"}])
    assert names == ["protocol-0-current_1mA_g__protocol-1-current_2mA_g"]
    # "1.5 um" and "1.5um" sanitise alike: both get a (stable) hash suffix
    combos = [{"geometry.radius": "1.5 um"}, {"geometry.radius": "1.5um"}]
    a, b = st.folder_names(["geometry.radius"], combos)
    assert a != b and a.startswith("radius_1.5um_") and b.startswith("radius_1.5um_")
    assert (a, b) == tuple(st.folder_names(["geometry.radius"], combos))
    assert st.sanitise("200 µm/s") == "200um_s"
    long = st.folder_names(["run.description"], [{"run.description": "x" * 300}])[0]
    assert len(long) <= st.MAX_NAME


@pytest.mark.parametrize("sweep, key", [
    ({"product": {"material.name": ["NC91", "XYZ"]}}, "material.name"),
    ({"product": {"material.nmae": ["NC91"]}}, "material.nmae"),
    ({"product": {"protocol.0.current": ["-5 mA/g"]}}, "protocol[0].current"),
    ({"product": {"protocol.3.current": ["5 mA/g"]}}, "protocol.3.current"),
    ({"zip": {"geometry.radius": ["1 um", "2 um"], "material.name": ["NC91"]}}, "sweep.zip"),
    ({"product": {"material.name": ["NC91"]}, "zip": {"material.name": ["NM91"]}},
     "sweep: material.name"),
    ({"products": {}}, "sweep.products"),
])
def test_bad_study_names_the_study_file_and_key(tmp_path, sweep, key):
    path = _study(tmp_path, sweep)
    with pytest.raises(CaseError) as err:
        st.load_study(path)
    assert err.value.key == key
    assert str(path) in err.value.source


def test_cli_bad_study_exits_2_before_anything(tmp_path):
    path = _study(tmp_path, {"product": {"geometry.radius": ["1 um", "-1 um"]}})
    out = tmp_path / "out"
    res = subprocess.run([sys.executable, "-m", "solver.cli", "study", str(path), "--local",
                          "--output", str(out)], capture_output=True, text=True, cwd=ROOT)
    assert res.returncode == 2
    assert f"{path} (run radius_-1um): geometry.radius:" in res.stderr
    assert not out.exists()


def test_shipped_study_files_validate():
    files = sorted((ROOT / "cases").glob("study_*.toml"))
    assert files
    for f in files:
        assert st.load_study(f).runs
    study = st.load_study(ROOT / "cases" / "study_rate_composition.toml")
    assert len(study.runs) == 2 * 3 * 2
    assert {r.params["material.name"] for r in study.runs} == {"NC91", "NM91"}
    assert {r.params["protocol.0.current"] for r in study.runs} == {
        "20 mA/g", "100 mA/g", "200 mA/g"}


def test_slurm_script_is_valid_bash_and_names_every_run_once(tmp_path):
    path = _study(tmp_path, {"product": {"material.name": ["NC91", "NM91"],
                                         "protocol.0.current": ["20 mA/g", "200 mA/g"]}},
                  run={"ranks": 4, "max_steps": 100},
                  slurm={"time": "1-02:00:00", "mem": "6G", "partition": "cpu",
                         "account": "proj1", "setup": ["module load gcc"]})
    study = st.load_study(path)
    out = tmp_path / "study"
    st.prepare(study, out)
    script = st.write_slurm(study, out)
    check = subprocess.run(["bash", "-n", str(script)], capture_output=True, text=True)
    assert check.returncode == 0, check.stderr
    text = script.read_text()
    for line in ("#SBATCH --array=0-3", "#SBATCH --ntasks=4", "#SBATCH --time=1-02:00:00",
                 "#SBATCH --mem=6G", "#SBATCH --partition=cpu", "#SBATCH --account=proj1",
                 "module load gcc"):
        assert line in text.splitlines(), line
    assert "--max-steps 100" in text
    entries = re.findall(r"^\s+(\d+)\) RUN=(\S+) ;;$", text, flags=re.M)
    assert sorted(int(i) for i, _ in entries) == [0, 1, 2, 3]
    for run in study.runs:  # every run exactly once, at its manifest index
        assert text.count(run.folder) == 1
        assert (str(run.index), run.folder) in entries
        assert (out / "cases" / f"{run.folder}.toml").exists()
    keys, rows = st.read_manifest(out)
    assert keys == ["material.name", "protocol.0.current"]
    assert [r["folder"] for r in rows] == [r.folder for r in study.runs]


def test_slurm_task_skips_completed_and_restarts_unfinished(tmp_path):
    """Execute the generated script with a fake srun for three run states."""
    path = _study(tmp_path, {"product": {"material.name": ["NC91", "NM91", "NMC622"]}})
    study = st.load_study(path)
    out = tmp_path / "study"
    st.prepare(study, out)
    script = st.write_slurm(study, out)
    done, unfinished, new = (out / "runs" / r.folder for r in study.runs)
    done.mkdir(parents=True)
    (done / "status.json").write_text('{"status": "completed"}')
    (unfinished / "checkpoints").mkdir(parents=True)
    (unfinished / "checkpoints" / "latest").write_text("ckpt_000050.npz\n")
    fake = tmp_path / "bin"
    fake.mkdir()
    (fake / "srun").write_text('#!/bin/bash\necho "SRUN $*"\n')
    (fake / "srun").chmod(0o755)
    env = {"PATH": f"{fake}:/usr/bin:/bin"}
    said = []
    for i in range(3):
        res = subprocess.run(["bash", str(script)], capture_output=True, text=True,
                             env={**env, "SLURM_ARRAY_TASK_ID": str(i)})
        assert res.returncode == 0, res.stderr
        said.append(res.stdout)
    assert "completed already" in said[0] and "SRUN" not in said[0]
    assert f"--output {unfinished} --restart" in said[1]
    assert said[2].strip().endswith(f"--output {new}")


def test_prepare_refuses_a_changed_case_under_an_existing_run(tmp_path):
    path = _study(tmp_path, {"product": {"material.name": ["NC91"]}})
    out = tmp_path / "study"
    st.prepare(st.load_study(path), out)
    (out / "runs" / "name_NC91").mkdir(parents=True)
    st.prepare(st.load_study(path), out)  # unchanged: fine
    base = case_dict(conditions={"initial_x": 0.8})
    (tmp_path / "base.toml").write_text(tomli_w.dumps(base))
    with pytest.raises(CaseError, match="different case"):
        st.prepare(st.load_study(path), out)


def test_physics_hash_ignores_output_and_units_not_physics():
    base = validate(case_dict(), "a.toml", "a")
    same = [
        case_dict(run={"name": "other", "output": "elsewhere"}),
        case_dict(output={"field_every": 3, "checkpoint_every": 7, "vtx": True}),
        case_dict(geometry={"radius": "1000 nm"}),
        case_dict(numerics={"linear_solver": "direct", "petsc": {"ksp_rtol": 1e-12}}),
    ]
    for d in same:
        assert physics_hash(validate(d, "b.toml", "b")) == physics_hash(base), d
    different = [
        case_dict(protocol=[{"type": "charge", "current": "400 mA/g", "until_time": "60 s"}]),
        case_dict(numerics={"dt_max": "20 s"}),
        case_dict(material={"name": "NM91"}),
        case_dict(mechanics={"coupling": "one-way"}),
        case_dict(geometry={"mesh_size": "0.2 um"}),
    ]
    for d in different:
        assert physics_hash(validate(d, "b.toml", "b")) != physics_hash(base), d
