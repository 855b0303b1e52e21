"""Under `mpiexec -n 2`: a run stopped inside a cycle block or inside an anneal and
restarted on 1 rank ends where the uninterrupted 2-rank run ends (every step kind's
state is in the checkpoint: segment time and charge, last slope, last current, and the
defect fields of solver/defects.py)."""

import csv
from pathlib import Path

import pytest
from compare import assert_rows_match
from helpers import case_dict
from mpi4py import MPI

from solver import checkpoint as ck
from solver.config import validate
from solver.output import create_output_dir
from solver.simulation import run_simulation

needs2 = pytest.mark.skipif(MPI.COMM_WORLD.size < 2, reason="needs mpiexec -n 2")

CASE = case_dict(
    geometry={"radius": "0.6 um", "mesh_size": "0.2 um", "surface_mesh_size": "0.15 um"},
    conditions={"initial_x": 0.9}, mechanics={"coupling": "one-way"},
    # defect fields in the state: a low yield stress makes the residual strain grow
    defects={"model": "lattice", "yield_stress": "30 MPa"},
    protocol=[
        {"type": "cycle", "repeat": 2, "steps": [
            {"type": "charge", "current": "2000 mA/g", "until_voltage": "4.0 V"},
            {"type": "hold", "voltage": "4.0 V", "until_current": "400 mA/g"},
            {"type": "discharge", "current": "2000 mA/g", "until_voltage": "3.75 V"}]},
        {"type": "anneal", "temperature": "150 degC", "until_time": "2 min",
         "ramp_rate": "50 K/min"},
        {"type": "rest", "until_time": "30 s"}],
    numerics={"dt_max": "20 s"}, output={"checkpoint_every": 1})


def _csv(path: Path) -> list[dict]:
    with open(path, newline="") as fh:
        return list(csv.DictReader(fh))


@needs2
@pytest.mark.parametrize("where", ["cycle 2 hold", "anneal"])
def test_restart_inside_cycle_block_and_anneal(tmp_path, where):
    comm = MPI.COMM_WORLD
    case = validate(CASE)
    full = run_simulation(case, None, comm)
    ends = [e["reason"] for e in full.step_ends]
    assert ends == ["voltage", "current", "voltage"] * 2 + ["time", "time"]
    rows = full.rows
    if where == "anneal":
        inside = [r["step"] for r in rows if r["step_type"] == "anneal"]
    else:
        inside = [r["step"] for r in rows if r["cycle"] == 2 and r["step_type"] == "hold"]
    assert len(inside) >= 3
    stop = inside[len(inside) // 2]
    out = Path(comm.bcast(str(tmp_path) if comm.rank == 0 else None)) / "run"
    if comm.rank == 0:
        create_output_dir(out, False)
    comm.barrier()
    first = run_simulation(case, out, comm, max_steps=stop)
    assert first.status == "max_steps"
    got = info = None
    if comm.rank == 0:
        ckpt = ck.find_checkpoint(out)
        meta = ck.load_checkpoint(ckpt, with_arrays=False)[0]
        assert meta["step"] == stop and not meta["at_step_start"]
        second = run_simulation(case, out, MPI.COMM_SELF, restart=ckpt)
        info = (meta["ranks"], second.status, [e["reason"] for e in second.step_ends])
        got = _csv(out / "timeseries.csv")
        cycles = _csv(out / "cycles.csv")
        info += ([c["cycle"] for c in cycles],)
    got, info = comm.bcast((got, info), root=0)
    assert info[:2] == (2, "completed")
    # the step records of the interrupted part are carried over, plus the max_steps end
    assert [r for r in info[2] if r != "max_steps"] == ends
    assert info[3] == ["1", "2"]
    assert_rows_match(rows, got)
    assert float(got[-1]["residual_strain_mean"]) > 1e-6
