"""One synthesis run: mesh, calcination problem, recorder and the shared protocol driver.

The same driver (solver/driver.py) and protocol steps (solver/protocol/) as the
electrochemical run; the mesh comes from the same generator and cache
(solver/simulation.py's ``build_mesh``).  At the end (rank 0): ``synthesis_end.npz``
(the end state at cell midpoints, read by ``conditions.from_synthesis`` of an
electrochemical case; solver/synthesis/carryover.py), ``xrd_refinement.csv`` and
``figures/synthesis.png`` (solver/synthesis/report.py), once the program has completed
(not after ``--max-steps``; a restart that completes it writes them).
"""

from __future__ import annotations

import logging
import time
from pathlib import Path

import numpy as np
from mpi4py import MPI

from solver.protocol.state import RunState
from solver.synthesis.config import END_FILE

log = logging.getLogger("chemomech")



def run_synthesis(case, outdir: Path | None, comm: MPI.Comm, max_steps: int | None = None,
                  restart: Path | None = None):
    """Run a validated synthesis case; outputs to ``outdir`` (prepared by the caller).

    ``max_steps`` counts the accepted steps of the whole run; ``restart``: a checkpoint
    (solver/checkpoint.py) of this case to continue from, on any number of ranks."""
    from solver import checkpoint as ck
    from solver.driver import Driver
    from solver.simulation import RunResult, build_mesh
    from solver.synthesis.problem import SynthesisProblem
    from solver.synthesis.recorder import SynthesisRecorder

    wall0 = time.perf_counter()
    pm = build_mesh(case, comm)
    problem = SynthesisProblem(case, pm)
    if restart is None:
        state = RunState(dt_next_s=case["numerics"]["dt_initial"])
        rec = SynthesisRecorder(case, problem, comm, outdir, wall0)
    else:
        meta, arrays = ck.load_checkpoint(restart)
        problem.restore(arrays, meta, restart)
        del arrays
        state = RunState.from_meta(meta)
        wall0 -= meta["wall_s"]
        if comm.rank == 0:
            log.info("restart from %s: step %d, t = %.6g s, protocol step %d (written on "
                     "%d rank(s))", restart, meta["step"], meta["time_s"],
                     meta["protocol_index"], meta["ranks"])
        rec = SynthesisRecorder(case, problem, comm, outdir, wall0, restart_step=state.step,
                                tm0=meta.get("tm0_mol"))
    end = None
    try:
        status = Driver(case, problem, rec, comm, max_steps).run(state, restart is not None)
        if status == "completed":
            end = problem.end_state()  # collective
    finally:
        rec.close(state, restart is not None)
        problem.destroy()
    if comm.rank == 0 and outdir is not None and status == "completed":
        finish_outputs(case, outdir, read_rows(outdir / "timeseries.csv"), end,
                       problem.params)
    return RunResult(status, state.step, state.time_s, float("nan"), 0.0, problem.unknowns,
                     time.perf_counter() - wall0, state.step_ends, rec.rows)


def read_rows(path: Path) -> list[dict]:
    """The rows of a synthesis timeseries.csv (numbers as floats), the whole run's."""
    import csv

    with open(path, newline="") as fh:
        return [{k: (v if k == "step_type" else float(v)) for k, v in r.items()}
                for r in csv.DictReader(fh)]


def finish_outputs(case, outdir: Path, rows: list[dict], end: dict, params) -> None:
    """End state, refinement table and figure (rank 0)."""
    from solver.synthesis import report

    phi_l = 1.0 - (1.0 - params.porosity_precursor) * params.V_layered / params.V_precursor
    np.savez(outdir / END_FILE, **end,
             disorder_inactive=params.disorder_inactive, mismatch_a=params.mismatch_a,
             mismatch_c=params.mismatch_c, porosity_layered=phi_l)
    table = report.refinement(rows, case["synthesis"]["report_temperatures"], params)
    log.info("refinement: %s", report.write_refinement(outdir, table))
    for r in table:
        log.info("  %-22s precursor %.4f  layered %.4f  rock salt %.4f  porosity %.4f",
                 r["label"], r["precursor"], r["layered"], r["rock_salt"], r["porosity"])
    if case["output"]["figures"]:
        try:
            log.info("figure: %s", report.figure(outdir, rows, table))
        except Exception as exc:  # a figure must not make a finished run look failed
            log.warning("figure failed: %r", exc)
