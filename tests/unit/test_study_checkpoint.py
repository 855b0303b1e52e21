"""Checkpoint files and the time-series cut-back of a restart (numpy only, no MPI)."""

import json

import numpy as np
import pytest

from solver import checkpoint as ck
from solver.output import TIMESERIES_COLUMNS, TimeSeries, truncate_timeseries, write_pvd


def _meta(step: int) -> dict:
    return {"step": step, "time_s": float(step), "physics_hash": "abc"}


def test_latest_pointer_and_pruning(tmp_path):
    for step in (2, 4, 6):
        ck.write_checkpoint(tmp_path, {"w__values": np.full((3, 1), step)}, _meta(step))
    d = tmp_path / ck.CHECKPOINT_DIR
    assert (d / ck.LATEST).read_text().strip() == "ckpt_000006.npz"
    assert sorted(p.name for p in d.glob("ckpt_*.npz")) == ["ckpt_000004.npz",
                                                            "ckpt_000006.npz"]
    assert not list(d.glob("*.tmp"))
    meta, arrays = ck.load_checkpoint(ck.find_checkpoint(tmp_path))
    assert meta["step"] == 6 and meta["format"] == ck.FORMAT
    assert np.all(arrays["w__values"] == 6)
    assert json.loads((d / "ckpt_000006.json").read_text())["time_s"] == 6.0


def test_unreadable_newest_falls_back_to_previous(tmp_path):
    for step in (2, 4):
        ck.write_checkpoint(tmp_path, {"w__values": np.zeros((2, 1))}, _meta(step))
    d = tmp_path / ck.CHECKPOINT_DIR
    (d / "ckpt_000004.npz").write_bytes(b"PK\x03\x04 truncated")  # e.g. a damaged disk
    assert ck.find_checkpoint(tmp_path) == d / "ckpt_000002.npz"
    (d / ck.LATEST).unlink()  # no pointer: the newest readable file
    assert ck.find_checkpoint(tmp_path) == d / "ckpt_000002.npz"
    assert ck.find_checkpoint(tmp_path / "nowhere") is None
    with pytest.raises(ck.CheckpointError, match="unreadable"):
        ck.load_checkpoint(d / "ckpt_000004.npz")


def _row(step: int) -> dict:
    row = dict.fromkeys(TIMESERIES_COLUMNS, 0.5)
    row.update(step=step, step_type="charge", protocol_step=0)
    return row


def test_truncate_drops_rows_after_the_checkpoint_and_a_half_row(tmp_path):
    path = tmp_path / "timeseries.csv"
    ts = TimeSeries(path)
    for step in range(6):
        ts.write(_row(step))
    ts.close()
    with open(path, "a") as fh:
        fh.write("6,12.5,0.3")  # the killed job's half-written row
    truncate_timeseries(path, 3)
    lines = path.read_text().splitlines()
    assert lines[0].split(",") == TIMESERIES_COLUMNS
    assert [int(line.split(",")[0]) for line in lines[1:]] == [0, 1, 2, 3]
    ts = TimeSeries(path, append=True)  # the restart appends, no second header
    ts.write(_row(4))
    ts.close()
    assert [int(line.split(",")[0]) for line in path.read_text().splitlines()[1:]] == [
        0, 1, 2, 3, 4]
    with pytest.raises(RuntimeError, match="no row for step 9"):
        truncate_timeseries(path, 9)


def test_pvd_lists_entries_in_order(tmp_path):
    import xml.etree.ElementTree as ET

    path = tmp_path / "vtk" / "fields.pvd"
    write_pvd(path, [(0.0, "fields000000.pvtu"), (7.25, "fields_restart_000004000000.pvtu")])
    sets = list(ET.parse(path).getroot().iter("DataSet"))
    assert [(float(e.get("timestep")), e.get("file")) for e in sets] == [
        (0.0, "fields000000.pvtu"), (7.25, "fields_restart_000004000000.pvtu")]
