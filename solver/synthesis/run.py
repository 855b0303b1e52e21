"""One synthesis run: mesh, calcination problem, recorder and the shared protocol driver.

The same driver (solver/driver.py) and protocol steps (solver/protocol/) as the
electrochemical run; the mesh comes from the same generator and cache
(solver/simulation.py's ``build_mesh``).  At the end (rank 0): ``synthesis_end.npz``
(the end state at cell midpoints, read by ``conditions.from_synthesis`` of an
electrochemical case; solver/synthesis/carryover.py), ``xrd_refinement.csv`` and
``figures/synthesis.png`` (solver/synthesis/report.py).
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



def run_synthesis(case, outdir: Path | None, comm: MPI.Comm, max_steps: int | None = None):
    """Run a validated synthesis case; outputs to ``outdir`` (prepared by the caller)."""
    from solver.driver import Driver
    from solver.simulation import RunResult, build_mesh
    from solver.synthesis.problem import SynthesisProblem
    from solver.synthesis.recorder import SynthesisRecorder

    wall0 = time.perf_counter()
    pm = build_mesh(case, comm)
    problem = SynthesisProblem(case, pm)
    state = RunState(dt_next_s=case["numerics"]["dt_initial"])
    rec = SynthesisRecorder(case, problem, comm, outdir, wall0)
    try:
        status = Driver(case, problem, rec, comm, max_steps).run(state, False)
        end = problem.end_state()  # collective
    finally:
        rec.close(state)
        problem.destroy()
    if comm.rank == 0 and outdir is not None:
        finish_outputs(case, outdir, rec.rows, end, problem.params)
    return RunResult(status, state.step, state.time_s, float("nan"), 0.0, problem.unknowns,
                     time.perf_counter() - wall0, state.step_ends, rec.rows)


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
