"""What a run writes while it goes: time series, fields, grain table, cycles, checkpoints.

One object owns every writer of the run folder, so the driver (solver/driver.py) says
only *when* (a row per accepted step, fields every ``output.field_every`` steps and at the
end of every protocol step, a checkpoint every ``output.checkpoint_every`` steps and at
step boundaries) and this module says *how*.  Only rank 0 touches files except for the
collective field writers and the checkpoint gather.

``cycles.csv``: one row per cycle of the protocol's cycle blocks (solver/protocol/parse.py)
with the charge and discharge capacity of the cycle (the capacities of its charge-side
steps, constant current and holds, and of its discharge-side steps), the coulombic
efficiency (discharge/charge), the retention (discharge capacity against that of the
first cycle), and, at the cycle's end, the strain heterogeneity (std of the (003) strain),
the residual strain (mean, std) and the inactive fraction of the defect model.
It is rewritten from the protocol-step records at every cycle end, so a restart leaves it
consistent.
"""

from __future__ import annotations

import csv
import logging
import time
from pathlib import Path

from mpi4py import MPI

from solver import checkpoint as ck
from solver.output import TIMESERIES_COLUMNS, TimeSeries, truncate_timeseries, write_pvd
from solver.protocol.state import RunState

log = logging.getLogger("chemomech")

CYCLE_COLUMNS = ["cycle", "charge_capacity_mAh_g", "discharge_capacity_mAh_g",
                 "coulombic_efficiency", "retention", "end_time_s", "end_voltage_V",
                 "strain_003_std", "residual_strain_mean", "residual_strain_std",
                 "inactive_fraction", "li_barrier_shift_mean_eV"]


class RunRecorder:
    """Writers of one run folder (``outdir`` None: keep rows in memory only)."""

    def __init__(self, case, problem, comm: MPI.Comm, outdir: Path | None,
                 restart_step: int | None, wall0: float):
        from solver.grains import GrainTable

        out = case["output"]
        self.case, self.problem, self.comm, self.outdir = case, problem, comm, outdir
        self.rank0 = comm.rank == 0
        self.out = out
        self.wall0 = wall0
        self.every = out["checkpoint_every"] if outdir is not None else 0
        self.phash = ck.physics_hash(case)
        files = self.rank0 and outdir is not None
        restarted = restart_step is not None
        ts_path = outdir / "timeseries.csv" if files else None
        if ts_path is not None and restarted:
            truncate_timeseries(ts_path, restart_step)
        self.series = TimeSeries(ts_path, append=restarted)
        # a restart writes its fields to new files: VTX cannot append to a closed .bp
        self.stem = "fields" if not restarted else f"fields_restart_{restart_step:06d}"
        self.fields = problem.field_writer(outdir, out, self.stem)
        grains_path = outdir / "grains.csv" if files else None
        if grains_path is not None and restarted and grains_path.exists():
            truncate_timeseries(grains_path, restart_step, require_row=False)
        self.grain_table = GrainTable(grains_path, append=restarted)
        self.cycles_path = outdir / "cycles.csv" if files else None
        self._own_writes = 0
        self._last_write: tuple | None = None  # (step, t) of the last field output
        self.rows: list[dict] = []

    # ------------------------------------------------------------------ rows
    def row(self, state: RunState, ps, dt_used: float, current: float, res) -> dict:
        """Write (and keep) the time-series row of the present accepted state."""
        p = self.problem
        cap_scale = 1.0 / (3.6 * p.mass * 1e3)  # C -> mAh/g
        d = p.diagnostics()
        row = {
            "step": state.step, "time_s": state.time_s, "dt_s": dt_used,
            "protocol_step": state.protocol_index, "step_type": ps.kind, "cycle": ps.cycle,
            "temperature_K": ps.temperature_at(state.segment.time_s),
            "voltage_V": p.voltage, "current_A": current,
            "specific_current_A_kg": current / p.mass, "soc": 1.0 - d["x_mean"],
            "capacity_mAh_g": state.charge_C * cap_scale,
            "step_capacity_mAh_g": abs(state.segment.charge_C) * cap_scale,
            "li_out_mol": state.li_out_mol,
            "newton_its": res.iterations if res else 0,
            "ksp_its": res.ksp_iterations if res else 0,
            "coupling_its": res.coupling_iterations if res else 0,
            "elasticity_ksp_its": res.elasticity_ksp_iterations if res else 0,
            "wall_s": time.perf_counter() - self.wall0,
        }
        row = {k: row[k] if k in row else d[k] for k in TIMESERIES_COLUMNS}
        self.series.write(row)
        self.rows.append(row)
        return row

    def fields_now(self, state: RunState) -> None:
        """Write fields and the grain table of the present state (collective), once per
        (step, time)."""
        key = (state.step, state.time_s)
        if self._last_write == key:
            return
        self._last_write = key
        if self.fields is not None:
            self.fields.write(state.time_s)
            state.pvd_entries.append((state.time_s,
                                      f"{self.stem}{self._own_writes:06d}.pvtu"))
            self._own_writes += 1
        self.grain_table.write(state.step, state.time_s, self.problem.grain_table())

    # ------------------------------------------------------------------ checkpoints
    def checkpoint(self, state: RunState, why: str) -> None:
        """Write the whole state (collective; rank 0 writes)."""
        t0 = time.perf_counter()
        arrays, extra = self.problem.checkpoint_state()
        if self.rank0:
            meta = {**state.meta(), **extra, "wall_s": time.perf_counter() - self.wall0,
                    "ranks": self.comm.size, "physics_hash": self.phash,
                    "case_source": self.case.source, "reason": why}
            path = ck.write_checkpoint(self.outdir, arrays, meta)
            if self.out["pvd"]:
                write_pvd(self.outdir / "vtk" / "fields.pvd", state.pvd_entries)
            log.debug("checkpoint %s (%s), %.3f s", path.name, why, time.perf_counter() - t0)

    # ------------------------------------------------------------------ cycles
    def cycles(self, state: RunState) -> list[dict]:
        """Per-cycle table from the protocol-step records (and rewrite cycles.csv)."""
        rows: dict[int, dict] = {}
        for end in state.step_ends:
            c = end.get("cycle", 0)
            if not c:
                continue
            r = rows.setdefault(c, {"cycle": c, "charge_capacity_mAh_g": 0.0,
                                    "discharge_capacity_mAh_g": 0.0})
            q = end["step_charge_mAh_g"]  # signed: > 0 charge
            if q > 0:
                r["charge_capacity_mAh_g"] += q
            else:
                r["discharge_capacity_mAh_g"] -= q
            r.update(end_time_s=end["time_s"], end_voltage_V=end["voltage_V"],
                     **{k: end.get(k, float("nan")) for k in CYCLE_COLUMNS[-5:]})
        table = [rows[c] for c in sorted(rows)]
        first = table[0]["discharge_capacity_mAh_g"] if table else 0.0
        for r in table:
            qc, qd = r["charge_capacity_mAh_g"], r["discharge_capacity_mAh_g"]
            r["coulombic_efficiency"] = qd / qc if qc > 0 else float("nan")
            r["retention"] = qd / first if first > 0 else float("nan")
        if self.cycles_path is not None and table:
            tmp = self.cycles_path.with_suffix(".csv.tmp")
            with tmp.open("w", newline="") as fh:
                w = csv.DictWriter(fh, fieldnames=CYCLE_COLUMNS)
                w.writeheader()
                for r in table:
                    w.writerow({k: r[k] for k in CYCLE_COLUMNS})
            tmp.replace(self.cycles_path)
        return table

    def close(self, state: RunState, restarted: bool) -> None:
        self.series.close()
        self.grain_table.close()
        if self.fields is not None:
            self.fields.close()
            if restarted and self.out["pvd"] and self.rank0:
                write_pvd(self.outdir / "vtk" / "fields.pvd", state.pvd_entries)
