"""The command line as users drive it: the demo under mpiexec, bad input, output safety."""

import csv
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from compare import assert_rows_match

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
CHEMOMECH = [sys.executable, "-m", "solver.cli"]


def _mpiexec() -> str:
    for name in ("mpiexec", "mpirun"):
        path = BIN / name
        if path.exists():
            return str(path)
    found = shutil.which("mpiexec")
    assert found, "mpiexec not found"
    return found


def _run(args, cwd=ROOT, **kw):
    return subprocess.run(args, capture_output=True, text=True, cwd=cwd, **kw)


def test_demo_runs_on_two_ranks_with_max_steps(tmp_path):
    out = tmp_path / "demo"
    res = _run([_mpiexec(), "-n", "2", *CHEMOMECH, "run", "cases/demo.toml", "--output",
                str(out), "--max-steps", "4"])
    assert res.returncode == 0, res.stderr[-3000:]
    with open(out / "timeseries.csv") as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == 5  # initial state + 4 accepted steps
    needed = ["time_s", "dt_s", "step", "voltage_V", "current_A", "soc", "capacity_mAh_g",
              "x_mean", "x_min", "x_max", "x_surface_mean", "newton_its", "ksp_its"]
    assert all(k in rows[0] for k in needed)
    assert float(rows[-1]["x_surface_mean"]) < float(rows[-1]["x_mean"]) < 0.98
    status = json.loads((out / "status.json").read_text())
    assert status["status"] == "max_steps" and status["ranks"] == 2
    assert not (out / "INCOMPLETE").exists()
    for f in ("case.resolved.toml", "run.log", "vtk/fields.pvd", "fields.bp",
              "figures/voltage.png", "figures/section_x.png"):
        assert (out / f).exists(), f
    # the resolved case is itself a valid case
    ok = _run([*CHEMOMECH, "validate", str(out / "case.resolved.toml")])
    assert ok.returncode == 0, ok.stderr
    # the same run on one rank writes the same timeseries.csv (to 1e-6 relative)
    out1 = tmp_path / "demo1"
    res1 = _run([*CHEMOMECH, "run", "cases/demo.toml", "--output", str(out1), "--max-steps", "4"])
    assert res1.returncode == 0, res1.stderr[-3000:]
    with open(out1 / "timeseries.csv") as fh:
        rows1 = list(csv.DictReader(fh))
    assert_rows_match(rows1, rows)


@pytest.mark.parametrize("override, key", [
    ("geometry.radius=-2 um", "geometry.radius"),
    ("material.name=XYZ", "material.name"),
    ("protocol.0.until_voltage=3.0 V", "protocol[0].until_voltage"),
    ("geometry.radius=2", "geometry.radius"),
])
def test_bad_input_exits_2_and_creates_nothing(tmp_path, override, key):
    out = tmp_path / "never"
    res = _run([*CHEMOMECH, "run", "cases/demo.toml", "--output", str(out), "--set", override])
    assert res.returncode == 2
    assert f"cases/demo.toml with --set: {key}:" in res.stderr
    assert "Traceback" not in res.stderr
    assert not out.exists()


def test_petsc_types_are_checked_on_two_ranks_before_a_folder_exists(tmp_path):
    """PETSc is initialised on every rank before rank 0 tries the types (it was a hang)."""
    out = tmp_path / "never"
    res = _run([_mpiexec(), "-n", "2", *CHEMOMECH, "run", "cases/demo.toml", "--output",
                str(out), "--set", 'numerics.petsc={pc_type="ml"}'], timeout=180)
    assert res.returncode == 2, res.stderr[-3000:]
    assert ("cases/demo.toml with --set: numerics.petsc.pc_type: PC type 'ml' is not "
            "available in this PETSc build") in res.stderr
    assert res.stderr.count("error: ") == 1  # rank 0 only
    assert not out.exists()


def test_unreadable_case_file(tmp_path):
    res = _run([*CHEMOMECH, "run", str(tmp_path / "missing.toml")])
    assert res.returncode == 2 and "missing.toml" in res.stderr


def test_existing_output_is_not_overwritten(tmp_path):
    out = tmp_path / "run"
    out.mkdir()
    (out / "precious.txt").write_text("keep me")
    res = _run([*CHEMOMECH, "run", "cases/demo.toml", "--output", str(out), "--max-steps", "1"])
    assert res.returncode == 2 and "--force" in res.stderr
    assert (out / "precious.txt").read_text() == "keep me"


def test_killed_run_is_marked_incomplete(tmp_path):
    out = tmp_path / "killed"
    proc = subprocess.Popen([*CHEMOMECH, "run", "cases/demo.toml", "--output", str(out)],
                            cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)
    deadline = time.time() + 120
    ts = out / "timeseries.csv"
    while time.time() < deadline and not (ts.exists() and ts.read_text().count("\n") >= 3):
        time.sleep(0.2)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    assert (out / "INCOMPLETE").exists()
    assert json.loads((out / "status.json").read_text())["status"] == "running"


def test_mesh_command_and_version(tmp_path):
    out = tmp_path / "mesh"
    res = _run([*CHEMOMECH, "mesh", "cases/demo.toml", "--output", str(out)])
    assert res.returncode == 0, res.stderr[-2000:]
    report = json.loads((out / "mesh_report.json").read_text())
    assert abs(report["volume_relative_error"]) < 0.01
    assert report["min_dihedral_angle_deg"] > 5.0
    assert (out / "mesh.pvd").exists() and not (out / "INCOMPLETE").exists()
    ver = _run([*CHEMOMECH, "--version"])
    assert ver.returncode == 0 and ver.stdout.startswith("chemomech ")


def test_bench_smoke_writes_required_fields(tmp_path):
    """The benchmark machinery runs end to end (tiny size; the figures are not judged)."""
    res = _run([*CHEMOMECH, "bench", "--sizes", "0.5", "--ranks", "1", "2", "--steps", "1",
                "--output", str(tmp_path), "--mesh-cache", str(tmp_path / "cache")])
    assert res.returncode == 0, res.stdout + res.stderr
    # meshed once (a miss in the fresh cache), then loaded by every worker
    made = json.loads((tmp_path / "h0.5_mesh.json").read_text())
    assert made["cache"] == "miss" and made["gmsh_s"] > 0
    data = json.loads((tmp_path / "bench.json").read_text())
    needed = {"unknowns", "ranks", "step_s", "newton_its", "ksp_its_per_newton",
              "elasticity_solve_s", "ratio_step_over_elasticity", "mumps_step_s",
              "speedup_vs_mumps", "peak_mem_bytes_per_unknown"}
    serial = [r for r in data["records"] if r["ranks"] == 1]
    assert serial and needed <= set(serial[0])
    assert {r["mesh_cache"] for r in data["records"]} == {"hit"}
    assert all(r["gmsh_s"] > 0 for r in data["records"])
    assert 0 < data["parallel_efficiency_1to2"] < 2


def test_bench_times_the_yardstick_in_its_own_process_after_an_allatonce_set_up(tmp_path):
    """Where the run's GAMG set-up used the memory-lean products (forced here process-wide
    on a tiny mesh), the reference elasticity solve comes from a separate worker."""
    env = {**os.environ, "PETSC_OPTIONS": "-matptap_via allatonce"}
    res = _run([*CHEMOMECH, "bench", "--sizes", "0.5", "--ranks", "2", "--steps", "1",
                "--mumps-max", "0", "--output", str(tmp_path), "--mesh-cache",
                str(tmp_path / "cache")], env=env)
    assert res.returncode == 0, res.stdout + res.stderr
    rec = json.loads((tmp_path / "bench.json").read_text())["records"][0]
    ref = json.loads((tmp_path / "h0.5_n2_reference.json").read_text())
    assert rec["galerkin_products"] == "allatonce"
    assert rec["elasticity_solve_s"] == ref["elasticity_solve_s"] > 0
    assert rec["run_elasticity_solve_s"] > 0 and rec["run_setup_s"] > 0
    assert rec["ratio_step_over_elasticity"] == rec["step_s"] / ref["elasticity_solve_s"]


def test_bench_two_phase_counts_the_chemical_potential_and_runs_on_two_ranks(tmp_path):
    """``--phase-model two-phase`` benchmarks the Cahn-Hilliard transport: its Li unknowns
    are (w, mu), so 5 unknowns per vertex against the single-phase 4, on the same mesh;
    two-way coupling goes through the staggered passes (more than one per step)."""
    common = ["--sizes", "0.5", "--steps", "1", "--mumps-max", "0", "--mesh-cache",
              str(tmp_path / "cache")]
    one = _run([*CHEMOMECH, "bench", *common, "--ranks", "1", "--output", str(tmp_path / "1")])
    two = _run([*CHEMOMECH, "bench", *common, "--ranks", "1", "2", "--phase-model",
                "two-phase", "--output", str(tmp_path / "2")])
    assert one.returncode == 0 and two.returncode == 0, two.stdout + two.stderr
    single = json.loads((tmp_path / "1" / "bench.json").read_text())["records"][0]
    recs = json.loads((tmp_path / "2" / "bench.json").read_text())["records"]
    assert [r["phase_model"] for r in recs] == ["two-phase", "two-phase"]
    assert single["phase_model"] == "single-phase"
    assert all(r["unknowns"] * 4 == single["unknowns"] * 5 for r in recs)
    assert all(r["coupling"] == "two-way" and r["coupling_its"] > 1 for r in recs)
    assert all(r["step_s"] > 0 for r in recs)
