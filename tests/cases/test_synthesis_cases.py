"""The synthesis cases run through the command line (coarse mesh), write their outputs,
and a follow-up electrochemical case runs from the synthesis folder."""

import csv
import json
import os
import subprocess
import sys
from pathlib import Path

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
