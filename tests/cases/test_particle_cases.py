"""The PC and faceted SC cases run under mpiexec -n 2 (coarse mesh, --max-steps 2);
impossible geometry is refused by ``chemomech validate`` naming the key."""

import csv
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from compare import assert_rows_match
from test_cli_runs import _mpiexec

ROOT = Path(__file__).resolve().parents[2]
CHEMOMECH = [sys.executable, "-m", "solver.cli"]
COARSE = {
    "pc_nc91_20mAg": ["geometry.mesh_size=1 um", "geometry.surface_mesh_size=0.7 um",
                      "grains.count=6"],
    "pc_nm91_20mAg": ["geometry.mesh_size=1 um", "geometry.surface_mesh_size=0.7 um",
                      "grains.count=6", "voids.volume_fraction=0.02",
                      "voids.radius=0.7 um", "voids.placement=intergranular",
                      "voids.gap=0.3 um"],
    # 6 laguerre grains: the count follows from the median diameter (and size_spread 0.3)
    "pc_nm91_realistic": ["geometry.mesh_size=1 um", "geometry.surface_mesh_size=0.7 um",
                          "grains.diameter=3.1 um", "voids.radius=0.7 um",
                          "voids.gap=0.3 um"],
    "sc_faceted_nm91_200mAg": ["geometry.mesh_size=0.5 um",
                               "geometry.surface_mesh_size=0.3 um"],
    "nmc622_abuse_anneal_4p9V": ["geometry.mesh_size=0.5 um",
                                 "geometry.surface_mesh_size=0.3 um"],
    "sc_nm91_cycling_100mAg": ["geometry.mesh_size=0.6 um",
                               "geometry.surface_mesh_size=0.4 um"],
}


def _run(args, env=None):
    return subprocess.run(args, capture_output=True, text=True, cwd=ROOT, env=env)


@pytest.mark.parametrize("name", sorted(COARSE))
def test_particle_case_runs_on_two_ranks(tmp_path, name):
    env = {**os.environ, "CHEMOMECH_MESH_CACHE": str(tmp_path / "cache")}
    sets = [a for s in COARSE[name] + ["output.figures=false", "output.vtx=false"]
            for a in ("--set", s)]
    out = tmp_path / name
    res = _run([_mpiexec(), "-n", "2", *CHEMOMECH, "run", f"cases/{name}.toml", "--output",
                str(out), "--max-steps", "2", *sets], env)
    assert res.returncode == 0, res.stderr[-3000:]
    assert json.loads((out / "status.json").read_text())["status"] == "max_steps"
    with open(out / "timeseries.csv") as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == 3
    log = (out / "run.log").read_text()
    assert "cache miss" in log
    with open(out / "grains.csv") as fh:
        grains = list(csv.DictReader(fh))
    keys = [(g["step"], g["grain"]) for g in grains]
    assert len(set(keys)) == len(keys) and {k[0] for k in keys} == {"0", "2"}
    if name.startswith("pc_"):
        assert all(float(r["gb_stress_max_Pa"]) > 0 for r in rows)
        assert all(float(r["gb_normal_stress_max_Pa"]) == float(r["gb_normal_stress_max_Pa"])
                   for r in rows)  # not NaN
        first = [g for g in grains if g["step"] == "0"]
        assert len(first) == 6
        vol = sum(float(g["volume_m3"]) for g in first)
        assert vol == pytest.approx(4 / 3 * 3.141592653589793 * (3.25e-6) ** 3,
                                    rel=0.03 if name == "pc_nc91_20mAg" else 0.08)
        assert all(float(g["x_mean"]) == pytest.approx(0.98) for g in first)
    else:
        assert all(r["gb_stress_max_Pa"] == "nan" for r in rows)
        assert len([g for g in grains if g["step"] == "0"]) == 1
    if name == "pc_nc91_20mAg":  # one rank, mesh from the cache: the same numbers
        out1 = tmp_path / "serial"
        res = _run([*CHEMOMECH, "run", f"cases/{name}.toml", "--output", str(out1),
                    "--max-steps", "2", *sets], env)
        assert res.returncode == 0, res.stderr[-3000:]
        assert "cache hit" in (out1 / "run.log").read_text()
        with open(out1 / "timeseries.csv") as fh:
            assert_rows_match(list(csv.DictReader(fh)), rows)
        with open(out1 / "grains.csv") as fh:
            serial = list(csv.DictReader(fh))
        for a, b in zip(serial, grains, strict=True):
            for k in ("volume_m3", "x_mean", "vm_mean_Pa", "vm_max_Pa", "c_axis_z"):
                assert float(a[k]) == pytest.approx(float(b[k]), rel=1e-6, abs=1e3), k
    # the second mesh of the same geometry comes from the cache
    mesh_out = tmp_path / "mesh"
    res = _run([*CHEMOMECH, "mesh", f"cases/{name}.toml", "--output", str(mesh_out), *sets],
               env)
    assert res.returncode == 0, res.stderr[-2000:]
    report = json.loads((mesh_out / "mesh_report.json").read_text())
    assert report["cache"] == "hit"
    assert abs(report["volume_relative_error"]) < 0.03


@pytest.mark.parametrize("override, key", [
    ("grains.count=0", "grains.count"),
    ("grains.count=100000", "grains.count"),
    ("voids.volume_fraction=0.1", "voids.radius"),
    ("geometry.mesh_size=7 um", "geometry.mesh_size"),
])
def test_validate_refuses_impossible_geometry(override, key):
    res = _run([*CHEMOMECH, "validate", "cases/pc_nc91_20mAg.toml", "--set", override])
    assert res.returncode == 2
    assert f"cases/pc_nc91_20mAg.toml with --set: {key}:" in res.stderr
    assert "Traceback" not in res.stderr


def test_gmsh_failure_names_the_parameters_on_two_ranks(tmp_path):
    """A fillet wider than the tiny {111} facets of a nearly cubic crystal: OCC fails."""
    out = tmp_path / "mesh"
    env = {**os.environ, "CHEMOMECH_MESH_CACHE": "off"}
    sets = ["geometry.truncation=0.66", "geometry.edge_radius=0.75 um",
            "geometry.mesh_size=0.5 um", "geometry.surface_mesh_size=0.4 um"]
    res = _run([_mpiexec(), "-n", "2", *CHEMOMECH, "mesh", "cases/sc_faceted_nm91_200mAg.toml",
                "--output", str(out), *[a for s in sets for a in ("--set", s)]], env)
    assert res.returncode == 1
    assert "Gmsh failed for shape=octahedron" in res.stderr
    assert "edge_radius=0.75 um" in res.stderr and "Traceback" not in res.stderr
    assert json.loads((out / "status.json").read_text())["status"] == "failed"
    assert (out / "INCOMPLETE").exists()
