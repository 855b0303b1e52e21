"""The run-folder reader: .pvd collections with repeated times, pieces, CLI errors."""

import shutil
from pathlib import Path

import numpy as np
import pytest

from postprocess.reader import open_run
from postprocess.synthetic import box_snapshot
from solver.config import CaseError

ROOT = Path(__file__).resolve().parents[2]


def _write_run(tmp_path: Path, times, files) -> Path:
    import pyvista as pv

    run = tmp_path / "run"
    (run / "vtk").mkdir(parents=True)
    shutil.copy(ROOT / "cases" / "demo.toml", run / "case.resolved.toml")
    snap = box_snapshot([0, 0, 0], [0.4, 0.3, 0.2], [4, 3, 2], x=0.9)
    cells = np.hstack([np.full((len(snap.tets), 1), 4), snap.tets]).ravel()
    for k, name in enumerate(sorted(set(files))):
        g = pv.UnstructuredGrid(cells, np.full(len(snap.tets), pv.CellType.TETRA), snap.points)
        g.point_data["x"] = snap.point_data["x"] - 0.1 * k  # files differ
        for key, val in snap.cell_data.items():
            g.cell_data[key] = val
        g.save(str(run / "vtk" / name))
    entries = "\n".join(f'    <DataSet timestep="{t}" part="0" file="{f}" />'
                        for t, f in zip(times, files, strict=True))
    (run / "vtk" / "fields.pvd").write_text(
        f'<?xml version="1.0"?>\n<VTKFile type="Collection" version="1.0">\n  <Collection>\n'
        f"{entries}\n  </Collection>\n</VTKFile>\n")
    return run


def test_repeated_output_time_is_one_mesh(tmp_path):
    """End of one protocol step and start of the next share a time: listed once (the
    last file), never two copies of the mesh (which would double every intensity)."""
    run = open_run(_write_run(tmp_path, [0.0, 5.0, 5.0], ["a.vtu", "b.vtu", "c.vtu"]))
    assert run.times == [0.0, 5.0] and run.files == ["a.vtu", "c.vtu"]
    snap = run.read(1)
    assert snap.tet_volumes().sum() == pytest.approx(0.4 * 0.3 * 0.2)
    np.testing.assert_allclose(snap.point_data["x"], 0.9 - 0.2)  # c.vtu
    assert run.select(time=4.0) == 1 and run.select(step=-2) == 0 and run.select() == 1
    with pytest.raises(CaseError, match="--step"):
        run.select(step=2)
    np.testing.assert_allclose(snap.rotations(), np.broadcast_to(np.eye(3), (24 * 6, 3, 3)))


def test_not_a_run_folder(tmp_path):
    with pytest.raises(CaseError, match="fields.pvd"):
        open_run(tmp_path)
