"""A real local study: one unfinished run resumed from its checkpoint, one deliberately
failed run, `collect` over all of them, and re-running the study (idempotence)."""

import csv
import json
import subprocess
import sys
from pathlib import Path

import pytest
import tomli_w
from helpers import case_dict

ROOT = Path(__file__).resolve().parents[2]
CHEMOMECH = [sys.executable, "-m", "solver.cli"]
UNTIL = 30.0  # s of charge


def _run(args):
    return subprocess.run([*CHEMOMECH, *args], capture_output=True, text=True, cwd=ROOT)


@pytest.fixture
def study_file(tmp_path):
    base = case_dict(
        geometry={"mesh_size": "0.3 um", "surface_mesh_size": "0.2 um"},
        material={"name": "NM91"}, conditions={"initial_x": 0.6},
        mechanics={"coupling": "one-way"},
        protocol=[{"type": "charge", "current": "200 mA/g", "until_time": f"{UNTIL} s"}],
        output={"checkpoint_every": 2})
    (tmp_path / "base.toml").write_text(tomli_w.dumps(base))
    path = tmp_path / "study.toml"
    # newton_max_it = 1 cannot converge (a step needs several Newton iterations), so the
    # time step is halved down to dt_min and that run fails: the deliberate failure
    path.write_text(tomli_w.dumps({"base": "base.toml", "sweep": {"zip": {
        "protocol.0.current": ["200 mA/g", "400 mA/g", "400 mA/g"],
        "numerics.newton_max_it": [12, 12, 1]}}}))
    return path


def test_local_study_resume_fail_collect_and_rerun(study_file, tmp_path):
    out = tmp_path / "study"
    res = _run(["study", str(study_file), "--slurm", "--output", str(out)])  # cases only
    assert res.returncode == 0, res.stderr
    names = ["current_200mA_g__newton_max_it_12", "current_400mA_g__newton_max_it_12",
             "current_400mA_g__newton_max_it_1"]
    with open(out / "manifest.csv", newline="") as fh:
        assert [r["folder"] for r in csv.DictReader(fh)] == names
    # an unfinished run (stopped after 3 steps, with a checkpoint) ...
    first = out / "runs" / names[0]
    res = _run(["run", str(out / "cases" / f"{names[0]}.toml"), "--output", str(first),
                "--max-steps", "3"])
    assert res.returncode == 0, res.stderr[-2000:]
    dry = _run(["study", str(study_file), "--dry-run", "--output", str(out)])
    assert dry.returncode == 0
    assert [line.split()[1:3] for line in dry.stdout.splitlines()[2:5]] == [
        ["unfinished", "restart"], ["new", "run"], ["new", "run"]]
    # ... is resumed, the others start; the failing one makes the study exit 1
    res = _run(["study", str(study_file), "--local", "--output", str(out)])
    assert res.returncode == 1, res.stdout + res.stderr
    assert "failed: " + names[2] in res.stdout
    assert "--restart" in (out / "logs" / f"{names[0]}.log").read_text()

    res = _run(["collect", str(out), "--metric", "vm_stress_max_Pa",
                "--versus", "protocol.0.current"])
    assert res.returncode == 0, res.stderr
    assert f"failed: {names[2]}" in res.stderr and "dt_min" in res.stderr
    with open(out / "results.csv", newline="") as fh:
        rows = {r["folder"]: r for r in csv.DictReader(fh)}
    assert list(rows) == names  # failed runs are listed, never dropped
    assert [rows[n]["status"] for n in names] == ["completed", "completed", "failed"]
    assert "dt_min" in rows[names[2]]["error"] and rows[names[2]]["capacity_mAh_g"] == ""
    for n, current in ((names[0], 200.0), (names[1], 400.0)):
        r = rows[n]
        # galvanostatic: capacity = i t exactly (mA/g * s / 3600 s/h = mAh/g)
        assert float(r["capacity_mAh_g"]) == pytest.approx(current * UNTIL / 3600, rel=1e-9)
        assert float(r["time_s"]) == pytest.approx(UNTIL)
        assert float(r["vm_stress_max_Pa"]) > 1e6 and float(r["x_range_end"]) > 0
        assert float(r["hydrostatic_stress_min_Pa"]) < 0 < float(r["hydrostatic_stress_max_Pa"])
    # higher current, steeper Li gradient: larger spread of x at the same time
    assert float(rows[names[1]]["x_std_end"]) > float(rows[names[0]]["x_std_end"])
    assert (out / "summary_vm_stress_max_Pa_vs_protocol.0.current.png").stat().st_size > 0
    # the resumed run is continuous (no repeated or missing steps)
    with open(first / "timeseries.csv", newline="") as fh:
        steps = [int(r["step"]) for r in csv.DictReader(fh)]
    assert steps == list(range(len(steps))) and len(steps) > 4
    assert json.loads((first / "status.json").read_text())["status"] == "completed"

    # idempotent: nothing to do again; failed runs only with --rerun-failed
    again = _run(["study", str(study_file), "--local", "--output", str(out)])
    assert again.returncode == 0 and "0 to run" in again.stdout
    mtime = (first / "timeseries.csv").stat().st_mtime_ns
    rerun = _run(["study", str(study_file), "--local", "--output", str(out), "--rerun-failed"])
    assert "1 to run" in rerun.stdout and rerun.returncode == 1
    assert (first / "timeseries.csv").stat().st_mtime_ns == mtime


def test_collect_refuses_non_study_and_bad_metric(study_file, tmp_path):
    res = _run(["collect", str(tmp_path)])
    assert res.returncode == 2 and "manifest.csv" in res.stderr
    out = tmp_path / "study"
    assert _run(["study", str(study_file), "--slurm", "--output", str(out)]).returncode == 0
    res = _run(["collect", str(out), "--metric", "colour"])
    assert res.returncode == 2 and "capacity_mAh_g" in res.stderr
    # nothing ran yet: every run is listed as not started
    res = _run(["collect", str(out)])
    assert res.returncode == 0 and res.stderr.count("not started") == 3
