"""Checkpoint and restart as users drive them: `run --max-steps`, `run --restart`, SIGKILL.

A restarted run must end where an uninterrupted one ends: the same timeseries.csv to
solver tolerance (tests/compare.py), also when the rank count changes (1 -> 2, 2 -> 1, 2 -> 3),
and a run killed while writing a checkpoint must keep the previous one usable.
"""

import csv
import json
import os
import signal
import subprocess
import sys
import time
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
import tomli_w
from compare import assert_rows_match
from helpers import case_dict

ROOT = Path(__file__).resolve().parents[2]
CHEMOMECH = [sys.executable, "-m", "solver.cli"]
sys.path.insert(0, str(Path(__file__).parent))
from test_cli_runs import _mpiexec  # noqa: E402

# Small but complete: one-way mechanics, a rotated crystal, a charge to a voltage cut-off
# (its approach uses the last voltage slope, part of the restored state: steps 6 -> 7) and
# a rest step (the restart crosses a protocol-step boundary), a checkpoint every 3 steps.
CASE = case_dict(
    geometry={"mesh_size": "0.3 um", "surface_mesh_size": "0.2 um"},
    orientation={"euler_deg": [20, 50, 10]},
    material={"name": "NM91"},
    conditions={"initial_x": 0.6},
    mechanics={"coupling": "one-way"},
    protocol=[{"type": "charge", "current": "400 mA/g", "until_voltage": "3.86 V"},
              {"type": "rest", "until_time": "20 s"}],
    output={"vtx": True, "pvd": True, "field_every": 3, "checkpoint_every": 3},
)


def _run(args, ranks=1, env=None):
    cmd = ([_mpiexec(), "-n", str(ranks)] if ranks > 1 else []) + CHEMOMECH + args
    return subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT, env=env)


def _rows(out: Path, name: str = "timeseries.csv") -> list[dict]:
    with open(out / name, newline="") as fh:
        return list(csv.DictReader(fh))


@pytest.fixture(scope="module")
def case_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("restart") / "tiny.toml"
    path.write_text(tomli_w.dumps(CASE))
    return path


@pytest.fixture(scope="module")
def reference(case_file):
    """The uninterrupted run (1 rank)."""
    out = case_file.parent / "full"
    res = _run(["run", str(case_file), "--output", str(out)])
    assert res.returncode == 0, res.stderr[-3000:]
    rows = _rows(out)
    assert len(rows) > 8 and {r["protocol_step"] for r in rows} == {"0", "1"}
    ends = json.loads((out / "status.json").read_text())["protocol_steps"]
    assert [e["reason"] for e in ends] == ["voltage", "time"]
    return rows


def _status(out: Path) -> dict:
    return json.loads((out / "status.json").read_text())


def _check_pvd(out: Path, end_time: float) -> None:
    """vtk/fields.pvd lists existing files at non-decreasing times (earlier + restarted)."""
    entries = ET.parse(out / "vtk" / "fields.pvd").getroot().iter("DataSet")
    times = []
    for e in entries:
        assert (out / "vtk" / e.get("file")).exists(), e.get("file")
        times.append(float(e.get("timestep")))
    assert times == sorted(times) and times[0] == 0.0
    assert times[-1] == pytest.approx(end_time, rel=1e-12)


def test_restart_2_to_1_ranks_matches_uninterrupted(case_file, reference, tmp_path):
    out = tmp_path / "run"
    res = _run(["run", str(case_file), "--output", str(out), "--max-steps", "4"], ranks=2)
    assert res.returncode == 0, res.stderr[-3000:]
    assert _status(out)["status"] == "max_steps" and len(_rows(out)) == 5
    res = _run(["run", str(case_file), "--output", str(out), "--restart"])
    assert res.returncode == 0, res.stderr[-3000:]
    assert _status(out)["status"] == "completed" and not (out / "INCOMPLETE").exists()
    rows = _rows(out)
    assert_rows_match(reference, rows)
    assert [int(r["step"]) for r in rows] == list(range(len(rows)))  # no gap, no repeat
    _check_pvd(out, float(reference[-1]["time_s"]))
    assert (out / "fields_restart_000004.bp").exists()
    # grains.csv (written at field outputs) is cut back and continued like the time series;
    # the interrupted job also wrote an output where it stopped (step 4), nothing else differs
    ref_g, got_g = _rows(case_file.parent / "full", "grains.csv"), _rows(out, "grains.csv")
    got_g = [r for r in got_g if r["step"] != "4"]
    assert [(r["step"], r["grain"]) for r in got_g] == [(r["step"], r["grain"]) for r in ref_g]
    for a, b in zip(ref_g, got_g, strict=True):
        assert float(b["x_mean"]) == pytest.approx(float(a["x_mean"]), rel=1e-6, abs=1e-9)


def test_restart_2_to_3_ranks_matches_uninterrupted(case_file, reference, tmp_path):
    """A distributed checkpoint of 2 ranks (2 parts) read by 3 (oversubscribed here)."""
    from solver import checkpoint as ck

    out = tmp_path / "run"
    res = _run(["run", str(case_file), "--output", str(out), "--max-steps", "4"], ranks=2)
    assert res.returncode == 0, res.stderr[-3000:]
    ckpt = ck.find_checkpoint(out)
    assert ckpt.is_dir() and ck.load_checkpoint(ckpt)[0]["parts"] == 2
    res = _run(["run", str(case_file), "--output", str(out), "--restart"], ranks=3)
    assert res.returncode == 0, res.stderr[-3000:]
    assert "written on 2 rank(s)" in (out / "run.log").read_text()
    assert _status(out)["status"] == "completed"
    assert_rows_match(reference, _rows(out))


def test_restart_1_to_2_ranks_and_max_steps_counts_whole_run(case_file, reference, tmp_path):
    """`--max-steps 3` then `--restart --max-steps 6` ends where `--max-steps 6` ends."""
    out = tmp_path / "run"
    res = _run(["run", str(case_file), "--output", str(out), "--max-steps", "3"])
    assert res.returncode == 0, res.stderr[-3000:]
    res = _run(["run", str(case_file), "--output", str(out), "--restart", "--max-steps", "6"],
               ranks=2)
    assert res.returncode == 0, res.stderr[-3000:]
    assert _status(out)["status"] == "max_steps" and _status(out)["steps"] == 6
    assert_rows_match(reference[:7], _rows(out))
    res = _run(["run", str(case_file), "--output", str(out), "--restart"], ranks=2)
    assert res.returncode == 0, res.stderr[-3000:]
    assert_rows_match(reference, _rows(out))
    _check_pvd(out, float(reference[-1]["time_s"]))
    # nothing left to do: a completed run is not restarted
    again = _run(["run", str(case_file), "--output", str(out), "--restart"])
    assert again.returncode == 0 and "completed" in again.stderr
    assert_rows_match(reference, _rows(out))


def test_sigkill_during_checkpoint_write_keeps_previous(case_file, reference, tmp_path):
    """Killed on 2 ranks after every part of checkpoint 6 is written, before the switch."""
    from solver import checkpoint as ck

    out = tmp_path / "killed"
    env = {**os.environ, ck.STALL_ENV: "6"}  # stall between writing and switching
    proc = subprocess.Popen([_mpiexec(), "-n", "2", *CHEMOMECH, "run", str(case_file),
                             "--output", str(out)],
                            cwd=ROOT, env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, start_new_session=True)
    marker = out / ck.CHECKPOINT_DIR / "STALLED"
    deadline = time.time() + 180
    while time.time() < deadline and not marker.exists() and proc.poll() is None:
        time.sleep(0.1)
    assert marker.exists(), "the run never reached the stalled checkpoint write"
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    d = out / ck.CHECKPOINT_DIR
    tmp = d / "ckpt_000006.tmp"
    assert {p.name for p in tmp.iterdir()} >= {"part_00000.npz", "part_00001.npz"}
    assert not (d / "ckpt_000006").exists()
    latest = ck.find_checkpoint(out)
    assert latest == d / "ckpt_000003"
    meta, _ = ck.load_checkpoint(latest)
    assert meta["step"] == 3 and meta["parts"] == 2 and meta["fields"]["w"]["size"] > 0
    assert (out / "INCOMPLETE").exists() and _status(out)["status"] == "running"
    assert len(_rows(out)) == 7  # rows up to step 6 were written before the kill
    res = _run(["run", str(case_file), "--output", str(out), "--restart"])
    assert res.returncode == 0, res.stderr[-3000:]
    assert_rows_match(reference, _rows(out))
    assert not (out / "INCOMPLETE").exists()
    assert not tmp.exists()  # the leftover was removed when step 6 was written again


def test_restart_refuses_other_case_and_missing_checkpoint(case_file, reference, tmp_path):
    out = tmp_path / "run"
    res = _run(["run", str(case_file), "--output", str(out), "--max-steps", "2"])
    assert res.returncode == 0, res.stderr[-3000:]
    before = (out / "timeseries.csv").read_text()
    bad = _run(["run", str(case_file), "--output", str(out), "--restart",
                "--set", 'protocol.0.current="300 mA/g"'])
    assert bad.returncode == 2 and "different case" in bad.stderr
    assert "Traceback" not in bad.stderr
    assert (out / "timeseries.csv").read_text() == before
    assert _status(out)["status"] == "max_steps"  # untouched
    both = _run(["run", str(case_file), "--output", str(out), "--restart", "--force"])
    assert both.returncode == 2 and "--force" in both.stderr
    # output settings are not physics: a restart may change them
    ok = _run(["run", str(case_file), "--output", str(out), "--restart",
               "--set", "output.field_every=5"])
    assert ok.returncode == 0, ok.stderr[-3000:]
    assert_rows_match(reference, _rows(out))
    empty = tmp_path / "never_ran"
    empty.mkdir()
    none = _run(["run", str(case_file), "--output", str(empty), "--restart"])
    assert none.returncode == 2 and "no complete checkpoint" in none.stderr
