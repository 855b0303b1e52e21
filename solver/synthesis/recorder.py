"""What a synthesis run writes while it goes: timeseries.csv (global and radial phase
fractions, balances) and the phase-fraction/porosity fields (VTX ``fields.bp``, VTK
``vtk/fields.pvd``: the writers of the electrochemical run's format).

The same interface as solver/recorder.py's RunRecorder for the driver (``row``,
``fields_now``, ``checkpoint``, ``cycles``, ``every``, ``rows``); only rank 0 writes the
CSV, the field writers are collective.  No checkpoints (``every`` = 0).
"""

from __future__ import annotations

import csv
import time
from pathlib import Path

from mpi4py import MPI

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

    every = 0  # no checkpoints

    def __init__(self, case, problem, comm: MPI.Comm, outdir: Path | None, wall0: float):
        self.case, self.problem, self.comm, self.outdir = case, problem, comm, outdir
        self.wall0 = wall0
        self.rows: list[dict] = []
        self._file = None
        if comm.rank == 0 and outdir is not None:
            self._file = open(outdir / "timeseries.csv", "w", newline="")
            self._csv = csv.DictWriter(self._file, fieldnames=COLUMNS)
            self._csv.writeheader()
        self.fields = problem.field_writer(outdir, case["output"])
        self._last = None
        self.pvd_times: list[float] = []
        self._tm0 = None

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
            self.pvd_times.append(state.time_s)

    def checkpoint(self, state: RunState, why: str) -> None:  # pragma: no cover
        raise NotImplementedError("synthesis runs write no checkpoints")

    def cycles(self, state: RunState) -> list[dict]:
        return []  # a temperature program has no cycle blocks

    def close(self, state: RunState, restarted: bool = False) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None
        if self.fields is not None:
            self.fields.close()
            self.fields = None
