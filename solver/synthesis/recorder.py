"""What a synthesis run writes while it goes: timeseries.csv (global and radial phase
fractions, balances) and the phase-fraction/porosity fields (VTX ``fields.bp``, VTK
``vtk/fields.pvd``: the writers of the electrochemical run's format).

The same interface as solver/recorder.py's RunRecorder for the driver (``row``,
``fields_now``, ``checkpoint``, ``cycles``, ``every``, ``rows``); only rank 0 writes the
CSV, the field writers are collective.  Checkpoints (``output.checkpoint_every``, at
protocol-step boundaries and at ``--max-steps``) hold the Li activity and the phase
fractions keyed by vertex coordinates plus the loop state (solver/checkpoint.py), so
``run --restart`` continues on any number of ranks; the continuation truncates
``timeseries.csv`` to the checkpoint's step and appends, and writes its fields to
``fields_restart_<step>.bp`` and ``vtk/fields_restart_<step>.pvd`` (``vtk/fields.pvd``
lists all outputs), as the electrochemical run does.
"""

from __future__ import annotations

import csv
import time
from pathlib import Path

from mpi4py import MPI

from solver.output import truncate_timeseries, write_pvd
from solver.protocol.state import RunState
from solver.synthesis.kinetics import radial_columns

COLUMNS = ["step", "time_s", "dt_s", "protocol_step", "step_type", "temperature_K",
           "temperature_C", "precursor", "layered", "rock_salt", "layered_via_rock_salt",
           "porosity", "water_released", "li_activity_mean", "li_activity_min",
           "li_activity_max", "li_total_mol", "li_supplied_mol", "li_balance_error_mol",
           "tm_total_mol", "tm_balance_error_mol", "newton_its", "ksp_its", "wall_s",
           *radial_columns()]


class SynthesisRecorder:
    """Writers of one synthesis run folder (``outdir`` None: rows in memory only)."""

    def __init__(self, case, problem, comm: MPI.Comm, outdir: Path | None, wall0: float,
                 restart_step: int | None = None, tm0: float | None = None):
        """``restart_step``: continue the folder of a run restarted at that step;
        ``tm0``: the particle's TM amount [mol] at the start (the TM balance)."""
        from solver import checkpoint as ck

        self.case, self.problem, self.comm, self.outdir = case, problem, comm, outdir
        self.wall0 = wall0
        self.every = case["output"]["checkpoint_every"] if outdir is not None else 0
        self.phash = ck.physics_hash(case)
        self.rows: list[dict] = []
        self._file = None
        restarted = restart_step is not None
        if comm.rank == 0 and outdir is not None:
            path = outdir / "timeseries.csv"
            if restarted:
                truncate_timeseries(path, restart_step)
            self._file = open(path, "a" if restarted else "w", newline="")
            self._csv = csv.DictWriter(self._file, fieldnames=COLUMNS)
            if not restarted:
                self._csv.writeheader()
        self.stem = "fields" if not restarted else f"fields_restart_{restart_step:06d}"
        self.fields = problem.field_writer(outdir, case["output"], self.stem)
        self._own_writes = 0
        self._last = None
        self._tm0 = tm0

    def row(self, state: RunState, ps, dt_used: float, current: float, res) -> dict:
        d = self.problem.diagnostics()
        if self._tm0 is None:
            self._tm0 = d["tm_total_mol"]
        T = ps.temperature_at(state.segment.time_s)
        supplied = -state.li_out_mol
        row = {"step": state.step, "time_s": state.time_s, "dt_s": dt_used,
               "protocol_step": state.protocol_index, "step_type": ps.kind,
               "temperature_K": T, "temperature_C": T - 273.15, **d,
               "li_supplied_mol": supplied,
               "li_balance_error_mol": d["li_total_mol"] - supplied,
               "tm_balance_error_mol": d["tm_total_mol"] - self._tm0,
               "newton_its": res.iterations if res else 0,
               "ksp_its": res.ksp_iterations if res else 0,
               "wall_s": time.perf_counter() - self.wall0}
        row = {k: row[k] for k in COLUMNS}
        if self._file is not None:
            self._csv.writerow({k: f"{v:.12g}" if isinstance(v, float) else v
                                for k, v in row.items()})
            self._file.flush()
        self.rows.append(row)
        return row

    def fields_now(self, state: RunState) -> None:
        key = (state.step, state.time_s)
        if self._last == key:
            return
        self._last = key
        if self.fields is not None:
            self.fields.write(state.time_s)
            state.pvd_entries.append((state.time_s, f"{self.stem}{self._own_writes:06d}.pvtu"))
            self._own_writes += 1

    def checkpoint(self, state: RunState, why: str) -> None:
        """Write the whole state (collective; rank 0 writes)."""
        from solver import checkpoint as ck

        arrays, extra = self.problem.checkpoint_state()
        if self.comm.rank == 0:
            meta = {**state.meta(), **extra, "wall_s": time.perf_counter() - self.wall0,
                    "ranks": self.comm.size, "physics_hash": self.phash,
                    "case_source": self.case.source, "reason": why, "tm0_mol": self._tm0}
            ck.write_checkpoint(self.outdir, arrays, meta)
            if self.case["output"]["pvd"]:
                write_pvd(self.outdir / "vtk" / "fields.pvd", state.pvd_entries)

    def cycles(self, state: RunState) -> list[dict]:
        return []  # a temperature program has no cycle blocks

    def close(self, state: RunState, restarted: bool = False) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None
        if self.fields is not None:
            self.fields.close()
            self.fields = None
            if restarted and self.case["output"]["pvd"] and self.comm.rank == 0:
                write_pvd(self.outdir / "vtk" / "fields.pvd", state.pvd_entries)
