"""chemomech sxdm / xrd / txm / compare on a tiny real run folder (coarse demo, 2 steps)."""

import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[2]
CHEMOMECH = [sys.executable, "-m", "solver.cli"]


def _run(args):
    return subprocess.run(args, capture_output=True, text=True, cwd=ROOT)


def _mpiexec() -> str:
    path = Path(sys.executable).parent / "mpiexec"
    return str(path) if path.exists() else shutil.which("mpiexec")


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("obs") / "run"
    res = _run([*CHEMOMECH, "run", "cases/demo.toml", "--output", str(out), "--max-steps", "2",
                "--set", "geometry.mesh_size=0.5 um", "--set", "geometry.surface_mesh_size=0.3 um",
                "--set", "output.figures=false", "--set", "output.vtx=false",
                # an override with a unit: the observables must read the resolved case in SI
                "--set", "material.E_ab=240 GPa"])
    assert res.returncode == 0, res.stderr[-3000:]
    return out


def test_run_folder_reader(run_dir):
    from postprocess.reader import open_run

    run = open_run(run_dir)
    assert run.material.name == "NM91" and run.material.E_ab == 240e9
    assert run.initial_x == 0.98 and len(run.times) == 2
    snap = run.read(-1 % 2)
    assert snap.tet_volumes().sum() == pytest.approx(4 / 3 * np.pi * 8, rel=0.05)  # um^3
    for name in ("x", "elastic_strain", "rotation_vector"):
        assert name in snap.point_data
    assert snap.rotations().shape == (len(snap.tets), 3, 3)


def test_sxdm_serial_and_two_ranks_agree(run_dir):
    res = _run([*CHEMOMECH, "sxdm", str(run_dir)])
    assert res.returncode == 0, res.stderr[-3000:]
    out = Path(res.stdout.strip().splitlines()[-1])
    assert out == run_dir / "sxdm" / "out0001_003"  # the last of two field outputs, (003)
    for f in ("sxdm_maps.npz", "sxdm_maps.png", "metrics.json"):
        assert (out / f).exists(), f
    meta = json.loads((out / "metrics.json").read_text())
    maps = np.load(out / "sxdm_maps.npz")
    # a 4 um particle at 50 nm steps: ~80 pixels across, 4 um thick at the centre
    assert 75 <= maps["mask"].sum(axis=1).max() <= 85
    assert 3.5 < maps["intensity_um"].max() < 4.05
    # two steps of charge from x = 0.98: a tiny contraction of d(003) versus the pristine
    # lattice is not expected; the lattice expands with delithiation near x = 1 (c(x))
    assert abs(meta["maps"]["dd_mean"]["mean"]) < 1e-5
    assert 0 < meta["maps"]["dd_ref"]["std"] < 1e-3
    assert meta["fraction_in_rocking_window"] == pytest.approx(1.0)
    # again without --force: refused, nothing changed
    again = _run([*CHEMOMECH, "sxdm", str(run_dir)])
    assert again.returncode == 2 and "--force" in again.stderr
    # two ranks give the same maps
    out2 = run_dir / "sxdm_mpi"
    res2 = _run([_mpiexec(), "-n", "2", *CHEMOMECH, "sxdm", str(run_dir), "--output", str(out2)])
    assert res2.returncode == 0, res2.stderr[-3000:]
    maps2 = np.load(out2 / "sxdm_maps.npz")
    np.testing.assert_allclose(maps2["dd_ref"], maps["dd_ref"], atol=1e-12)
    np.testing.assert_allclose(maps2["intensity_um"], maps["intensity_um"], rtol=1e-10)
    # refused on every rank alike (no rank left waiting in a collective)
    res3 = subprocess.run([_mpiexec(), "-n", "2", *CHEMOMECH, "sxdm", str(run_dir), "--output",
                           str(out2)], capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert res3.returncode == 2 and "--force" in res3.stderr


def test_xrd_txm_compare(run_dir):
    res = _run([*CHEMOMECH, "xrd", str(run_dir)])
    assert res.returncode == 0, res.stderr[-3000:]
    lines = (run_dir / "xrd" / "fits.csv").read_text().strip().splitlines()
    assert len(lines) == 1 + 2  # header + two field outputs (start, end)
    c_single = [float(r.split(",")[3]) for r in lines[1:]]
    assert all(14.1 < c < 14.3 for c in c_single)  # Angstrom, NM91 near x = 1
    assert (run_dir / "xrd" / "xrd_003.png").exists()
    assert (run_dir / "xrd" / "profiles_003.csv").exists()

    res = _run([*CHEMOMECH, "txm", str(run_dir), "--step", "-1"])
    assert res.returncode == 0, res.stderr[-3000:]
    out = next((run_dir / "txm").iterdir())
    meta = json.loads((out / "metrics.json").read_text())
    st = meta["ni_oxidation_state_volume_weighted"]
    assert 2.89 < st["mean"] < 2.95 and st["std"] >= 0  # NM91: 2.889 at x = 1
    for f in ("ni_oxidation.vtu", "ni_oxidation.png"):
        assert (out / f).exists()

    sim = run_dir / "sxdm" / "out0001_003" / "sxdm_maps.npz"
    res = _run([*CHEMOMECH, "compare", str(sim), str(sim), "--output", str(run_dir / "cmp"),
                "--no-flip"])
    assert res.returncode == 0, res.stderr[-3000:]
    m = json.loads((run_dir / "cmp" / "metrics.json").read_text())
    assert m["wasserstein"] == 0.0
    assert m["pearson_after_registration"] > 0.999
    assert abs(m["registration"]["rotation_deg"]) < 0.1 or m["registration"]["rotation_deg"] > 359.9
    bad = _run([*CHEMOMECH, "compare", str(sim), str(run_dir / "missing.tif"), "--output",
                str(run_dir / "cmp2")])
    assert bad.returncode == 2 and "missing.tif" in bad.stderr
