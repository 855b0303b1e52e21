"""The synthesis cases run through the command line (coarse mesh), write their outputs,
and a follow-up electrochemical case runs from the synthesis folder."""

import csv
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[2]
CHEMOMECH = [sys.executable, "-m", "solver.cli"]
COARSE = ["geometry.radius=2 um", "geometry.mesh_size=0.6 um", "grains.count=1"]


def _run(args, env):
    return subprocess.run(args, capture_output=True, text=True, cwd=ROOT, env=env)


@pytest.mark.parametrize("route", ["conventional", "two_step"])
def test_synthesis_case_and_its_follow_up_run(tmp_path, route):
    env = {**os.environ, "CHEMOMECH_MESH_CACHE": str(tmp_path / "cache")}
    syn = tmp_path / "syn"
    sets = [a for s in COARSE for a in ("--set", s)]
    res = _run([*CHEMOMECH, "run", f"cases/synthesis_{route}.toml", "--output", str(syn),
                *sets], env)
    assert res.returncode == 0, res.stderr
    assert json.loads((syn / "status.json").read_text())["status"] == "completed"
    for name in ("timeseries.csv", "xrd_refinement.csv", "synthesis_end.npz",
                 "figures/synthesis.png", "vtk/fields.pvd", "fields.bp"):
        assert (syn / name).exists(), name
    with open(syn / "xrd_refinement.csv") as fh:
        table = list(csv.DictReader(fh))
    assert [r["label"] for r in table][-1] == "end"
    assert any(r["label"] == "300 degC" for r in table)
    ec = tmp_path / "ec"
    res = _run([*CHEMOMECH, "run", f"cases/pc_nmc622_from_synthesis_{route}.toml",
                "--output", str(ec), "--max-steps", "3", "--set",
                f"conditions.from_synthesis={syn}", *sets, "--set", "output.figures=false"],
               env)
    assert res.returncode == 0, res.stderr
    with open(ec / "timeseries.csv") as fh:
        rows = list(csv.DictReader(fh))
    assert float(rows[-1]["inactive_fraction"]) > 0.0


def test_synthesis_run_restarts_on_another_rank_count(tmp_path):
    """Stopped by --max-steps on 2 ranks, continued with --restart on 1: the same time
    series and end state as the uninterrupted run."""
    from test_cli_runs import _mpiexec

    env = {**os.environ, "CHEMOMECH_MESH_CACHE": str(tmp_path / "cache")}
    sets = [a for s in COARSE + ["output.figures=false"] for a in ("--set", s)]
    case = "cases/synthesis_two_step.toml"
    full, part = tmp_path / "full", tmp_path / "part"
    res = _run([*CHEMOMECH, "run", case, "--output", str(full), *sets], env)
    assert res.returncode == 0, res.stderr
    res = _run([_mpiexec(), "-n", "2", *CHEMOMECH, "run", case, "--output", str(part),
                "--max-steps", "70", *sets], env)
    assert res.returncode == 0, res.stderr
    assert json.loads((part / "status.json").read_text())["status"] == "max_steps"
    assert not (part / "synthesis_end.npz").exists()
    res = _run([*CHEMOMECH, "run", case, "--output", str(part), "--restart", *sets], env)
    assert res.returncode == 0, res.stderr
    assert json.loads((part / "status.json").read_text())["status"] == "completed"

    def rows(d):
        with open(d / "timeseries.csv") as fh:
            return list(csv.DictReader(fh))

    a, b = rows(full), rows(part)
    assert len(a) == len(b) > 100
    for ra, rb in zip(a, b, strict=True):
        for k, v in ra.items():
            if k in ("wall_s", "ksp_its", "step_type"):
                continue
            x, y = float(v), float(rb[k])
            if x != x and y != y:  # NaN: a shell without vertices on this coarse mesh
                continue
            assert abs(x - y) <= 1e-7 * max(1.0, abs(x)) + 1e-20, (k, ra["step"], x, y)
    with np.load(full / "synthesis_end.npz") as z1, np.load(part / "synthesis_end.npz") as z2:
        for k in z1.files:
            assert np.allclose(z1[k], z2[k], rtol=1e-7, atol=1e-12), k
    assert (part / "xrd_refinement.csv").read_text() == (full / "xrd_refinement.csv"
                                                         ).read_text()
