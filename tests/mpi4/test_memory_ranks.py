"""Under `mpiexec -n 4` (oversubscribed on a 2-core machine: memory, not time): rank 0's
peak resident memory stays within 20 % of the mean of the other ranks over a run that
reads its mesh (meshed beforehand by CTest's mpi4_mesh, memory_case.toml), steps, writes
fields and distributed checkpoints and restarts from one."""

from pathlib import Path

import pytest
from mpi4py import MPI

from solver import checkpoint as ck
from solver.bench import rank_memory
from solver.config import load_case
from solver.output import create_output_dir
from solver.simulation import run_simulation

needs4 = pytest.mark.skipif(MPI.COMM_WORLD.size < 4, reason="needs mpiexec -n 4")


@needs4
def test_rank0_peak_memory_within_20_percent_of_the_others(tmp_path):
    comm = MPI.COMM_WORLD
    case = load_case(Path(__file__).with_name("memory_case.toml"))
    out = Path(comm.bcast(str(tmp_path) if comm.rank == 0 else None)) / "run"
    if comm.rank == 0:
        create_output_dir(out, False)
    comm.barrier()
    first = run_simulation(case, out, comm, max_steps=2)
    assert first.status == "max_steps" and first.unknowns > 1.5e4
    path = ck.find_checkpoint(out) if comm.rank == 0 else None
    path = comm.bcast(path, root=0)
    assert ck.load_checkpoint(path)[0]["parts"] == 4
    again = run_simulation(case, out, comm, max_steps=3, restart=path)
    assert again.status == "max_steps" and again.steps == 3
    mem = comm.bcast(rank_memory(comm), root=0)
    peaks = mem["rank_peak_bytes"]
    if comm.rank == 0:
        print(f"peak MiB per rank: {[round(p / 2**20) for p in peaks]}, rank 0 / mean of "
              f"the others {mem['rank0_over_others']:.3f}")
    assert mem["rank0_over_others"] <= 1.2, peaks
