"""Checkpoint files and the time-series cut-back of a restart (numpy only, no MPI)."""

import json

import numpy as np
import pytest

from solver import checkpoint as ck
from solver.output import TIMESERIES_COLUMNS, TimeSeries, truncate_timeseries, write_pvd


def _meta(step: int) -> dict:
    return {"step": step, "time_s": float(step), "physics_hash": "abc"}


def _fields(value: float, n: int = 3) -> dict:
    keys = np.stack([np.arange(n), *[np.full(n, -1)] * 3], axis=1)
    return {"w": (keys, np.full((n, 1), value))}


def _write(tmp_path, step: int):
    from mpi4py import MPI

    return ck.write_checkpoint(tmp_path, MPI.COMM_SELF, _fields(step), _meta(step))


def test_latest_pointer_and_pruning(tmp_path):
    for step in (2, 4, 6):
        _write(tmp_path, step)
    d = tmp_path / ck.CHECKPOINT_DIR
    assert (d / ck.LATEST).read_text().strip() == "ckpt_000006"
    assert sorted(p.name for p in d.glob("ckpt_*")) == ["ckpt_000004", "ckpt_000006"]
    assert not list(d.glob("*.tmp"))
    path = ck.find_checkpoint(tmp_path)
    meta, _ = ck.load_checkpoint(path)
    assert meta["step"] == 6 and meta["format"] == ck.FORMAT and meta["parts"] == 1
    assert meta["fields"]["w"] == {"size": 3, "bs": 1}
    with np.load(path / "part_00000.npz") as z:
        assert np.all(z["w__values"] == 6)
    assert json.loads((path / ck.META).read_text())["time_s"] == 6.0
    # the same step checkpointed again (max_steps, then a restart that stops at once)
    again = _write(tmp_path, 6)
    assert again.name == "ckpt_000006-1" and ck.find_checkpoint(tmp_path) == again


def test_unreadable_newest_falls_back_to_previous(tmp_path):
    for step in (2, 4):
        _write(tmp_path, step)
    d = tmp_path / ck.CHECKPOINT_DIR
    (d / "ckpt_000004" / "part_00000.npz").unlink()  # e.g. a damaged disk
    assert ck.find_checkpoint(tmp_path) == d / "ckpt_000002"
    (d / ck.LATEST).unlink()  # no pointer: the newest readable one
    assert ck.find_checkpoint(tmp_path) == d / "ckpt_000002"
    assert ck.find_checkpoint(tmp_path / "nowhere") is None
    with pytest.raises(ck.CheckpointError, match="ckpt_000004: incomplete"):
        ck.load_checkpoint(d / "ckpt_000004")


def test_format_1_file_is_read_or_refused_by_name(tmp_path):
    d = tmp_path / ck.CHECKPOINT_DIR
    d.mkdir()
    np.savez(d / "ckpt_000005.npz", __meta__=np.array(json.dumps({"format": 1, "step": 5})),
             w__values=np.zeros((2, 1)), w__coords=np.zeros((2, 3)))
    assert ck.find_checkpoint(tmp_path) == d / "ckpt_000005.npz"
    meta, arrays = ck.load_checkpoint(d / "ckpt_000005.npz", with_arrays=True)
    assert meta["step"] == 5 and arrays["w__values"].shape == (2, 1)
    (d / "ckpt_000006.npz").write_bytes(b"PK\x03\x04 truncated")
    with pytest.raises(ck.CheckpointError, match="ckpt_000006.npz: unreadable"):
        ck.load_checkpoint(d / "ckpt_000006.npz")
    assert ck.find_checkpoint(tmp_path) == d / "ckpt_000005.npz"
    # a newer run in the same folder supersedes the old file, which is pruned in time
    _write(tmp_path, 7)
    _write(tmp_path, 8)
    assert ck.find_checkpoint(tmp_path) == d / "ckpt_000008"
    assert not (d / "ckpt_000005.npz").exists()


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


def test_failed_write_is_raised_and_keeps_the_previous(tmp_path, monkeypatch):
    first = _write(tmp_path, 2)

    def full_disk(path, arrays):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(ck, "_write_npz", full_disk)
    with pytest.raises(ck.CheckpointWriteError, match="part_00000.npz.*No space left"):
        _write(tmp_path, 4)
    assert ck.find_checkpoint(tmp_path) == first
    monkeypatch.undo()
    assert _write(tmp_path, 4).name == "ckpt_000004"  # the leftover .tmp is replaced
    assert not list((tmp_path / ck.CHECKPOINT_DIR).glob("*.tmp"))
