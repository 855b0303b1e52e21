"""The time loop: protocol steps, adaptive time stepping and end events.

Backward Euler steps of :class:`solver.transport.LiTransport`.  ``dt`` grows when a
step changes x by less than ``numerics.max_dx`` and converges easily, and is cut in half
when Newton fails.  A step ends at

* a voltage cut-off: a step that overshoots it by more than ``voltage_tol`` is rejected
  and retried with the secant estimate of the crossing time, so the last accepted
  voltage lies within ``voltage_tol`` of the cut-off;
* a capacity or a duration: dt is clipped to land on them exactly (galvanostatic charge
  is linear in time).

Every decision uses globally reduced numbers, so all ranks take the same steps.
"""

from __future__ import annotations

import logging
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from mpi4py import MPI

from meshes import build_spec_mesh
from solver.config import Case
from solver.crystal import rotation_from_case
from solver.materials import get_material
from solver.output import MECHANICS_COLUMNS, TimeSeries, truncate_timeseries, write_pvd
from solver.scaling import LENGTH_UNIT

log = logging.getLogger("chemomech")


class SimulationError(RuntimeError):
    """The run cannot continue (e.g. the time step fell below dt_min)."""


class UnusedOptionsError(SimulationError):
    """Case PETSc options that PETSc did not read in the first solve (bad input).

    ``keys``: their key paths, e.g. ``numerics.petsc.ksp_rtoll`` (solver/petsc_check.py)."""

    def __init__(self, keys: list[str]):
        self.keys = keys
        super().__init__(f"PETSc did not read {', '.join(keys)} in the first time step")


@dataclass
class RunResult:
    """End state of a run."""

    status: str  # "completed" or "max_steps"
    steps: int
    time_s: float
    voltage_V: float
    capacity_mAh_g: float
    unknowns: int
    wall_s: float
    step_ends: list
    rows: list  # every timeseries row this process wrote, also kept in memory (tests)


def material_from_case(case: Case):
    """The Material with the case's overrides applied."""
    mat = case["material"]
    return get_material(mat["name"], {k: v for k, v in mat.items()
                                      if k != "name" and v is not None})


def mesh_spec(case: Case):
    """The case's MeshSpec (model units); faceted crystals are turned by the orientation."""
    from meshes.spec import FACETED, spec_from_case

    rotation = (rotation_from_case(case["orientation"])
                if case["geometry"]["shape"] in FACETED else None)
    return spec_from_case(case.values, LENGTH_UNIT, rotation)


def build_mesh(case: Case, comm: MPI.Comm):
    """Mesh the case's particle (Gmsh on rank 0, or the mesh cache); log hit/miss and time."""
    from meshes.cache import cache_dir

    spec = mesh_spec(case)
    pm = build_spec_mesh(comm, spec, LENGTH_UNIT, cache_dir(case["geometry"]["mesh_cache"]))
    pm.info["spec"] = spec
    if comm.rank == 0:
        info = pm.info
        log.info("mesh: %s; cache %s%s, %.2f s on rank 0", spec.describe(), info["cache"],
                 f" ({info['cache_file']})" if "cache_file" in info else "",
                 info.get("mesh_s", float("nan")))
    return pm


def grain_rotations_for(case: Case, pm) -> np.ndarray:
    """Crystal -> sample rotation per grain (num_grains, 3, 3)."""
    from solver.orientations import grain_rotations

    spec = pm.info.get("spec") or mesh_spec(case)
    return grain_rotations(case["orientation"], spec.grain_centres)


# MUMPS on the monolithic (w, s, u) matrix up to this many unknowns (numerical setting).
# Measured (field split with the shared elasticity GAMG, inexact Newton, predictor):
# whole two-way demo (2.7e4 unknowns, 2 ranks) field split 105 s vs MUMPS 189 s, same
# time series to 1e-11; one step from x = 0.9 (chemomech bench, 1 rank) split 0.26 s vs
# MUMPS 0.53 s at 4.9e3 unknowns and 2.5 s vs 11.6 s at 3.2e4.  MUMPS is kept only for
# the smallest meshes, where both take well under a second and a direct solve cannot
# stagnate.
AUTO_DIRECT_MAX_UNKNOWNS = 5e3  # unknowns (numerical setting, measured above)


def monolithic_solver(mech_case: dict, tr, mech) -> str:
    """'direct' or 'iterative' for the monolithic two-way Newton ('auto' by size)."""
    choice = mech_case["monolithic_linear_solver"]
    if choice != "auto" or mech is None:
        return "direct" if choice == "auto" else choice
    n = (2 * tr.V_space.dofmap.index_map.size_global
         + 3 * mech.U.dofmap.index_map.size_global)
    return "direct" if n <= AUTO_DIRECT_MAX_UNKNOWNS else "iterative"


def facet_activity(case: Case, pm) -> dict[int, float]:
    """Facet tag -> relative exchange factor of the groups that exchange Li.

    From ``kinetics.surface_activity`` by group name (solver/config.py); void surfaces are
    blocked unless the case opens them, and blocked groups are left out of the surface
    integrals (area, surface means) altogether.
    """
    from solver.config import surface_activity

    act: dict[int, float] = {}
    for name, factor in surface_activity(case.values).items():
        for tag in pm.facet_ids(name):
            if factor > 0.0:
                act[tag] = factor
    if not act:
        raise SimulationError("no facet of the mesh exchanges Li "
                              "(kinetics.surface_activity blocks every facet group present)")
    return act


class Progress:
    """A one-line progress bar on a terminal, periodic log lines otherwise (rank 0)."""

    def __init__(self, comm: MPI.Comm, every: int = 20):
        self.on = comm.rank == 0
        self.tty = self.on and sys.stderr.isatty()
        self.every = every

    def update(self, step: int, text: str) -> None:
        if not self.on:
            return
        if self.tty:
            sys.stderr.write("\r" + text[:150].ljust(150))
            sys.stderr.flush()
        elif step % self.every == 0:
            log.info(text)

    def close(self) -> None:
        if self.tty:
            sys.stderr.write("\n")


def run_simulation(case: Case, outdir: Path | None, comm: MPI.Comm,
                   max_steps: int | None = None, restart: Path | None = None) -> RunResult:
    """Run a validated case; write outputs to ``outdir`` (prepared by the caller).

    ``max_steps`` counts the accepted steps of the whole run, those before a restart
    included.  ``restart``: a checkpoint file (solver/checkpoint.py) to continue from, on
    any number of ranks; the caller checked it belongs to this case.  The continuation
    truncates ``timeseries.csv`` to the checkpoint's step and appends to it; fields go to
    ``fields_restart_<step>.bp`` and ``vtk/fields_restart_<step>.pvd``, and
    ``vtk/fields.pvd`` lists the earlier outputs (up to the checkpoint) and the new ones.
    """
    from solver import checkpoint as ck
    from solver.coupling import CoupledSolver, StepResult  # noqa: F401 (annotation)
    from solver.fields import FieldWriter
    from solver.mechanics import Elasticity, implicit_fraction, local_stress_potential
    from solver.transport import LiTransport

    wall0 = time.perf_counter()
    rank0 = comm.rank == 0
    num, out, cond = case["numerics"], case["output"], case["conditions"]
    material = material_from_case(case)

    t_mesh = time.perf_counter()
    pm = build_mesh(case, comm)
    from solver.grains import GrainDiagnostics, GrainTable, cell_rotations

    grain_rot = grain_rotations_for(case, pm)
    rotation = grain_rot[0] if pm.num_grains == 1 else cell_rotations(pm, grain_rot)
    activity = facet_activity(case, pm)
    mech_case = case["mechanics"]
    two_way = mech_case["coupling"] == "two-way"
    tr = LiTransport(pm, material, rotation, degree=case["geometry"]["degree"],
                     facet_activity=activity,
                     local_stress_potential=(
                         (lambda x, T: local_stress_potential(material, x, T)) if two_way
                         else None),
                     quadrature_degree=num["quadrature_degree"],
                     distribution=case["kinetics"]["distribution"],
                     linear_solver=num["linear_solver"], petsc_options=num["petsc"],
                     newton_tol=num["newton_tol"], newton_max_it=num["newton_max_it"])
    if two_way:
        tr.beta.value = implicit_fraction(material)
    mech = None
    if mech_case["coupling"] != "none":
        mech = Elasticity(tr, degree=mech_case["degree"],
                          quadrature_degree=num["quadrature_degree"],
                          linear_solver=mech_case["linear_solver"],
                          petsc_options=mech_case["petsc"])
    scheme = mech_case["scheme"] if two_way else "staggered"
    stepper = CoupledSolver(tr, mech, mech_case["coupling"], mech_case["coupling_tol"],
                            mech_case["coupling_max_it"], mech_case["coupling_acceleration"],
                            scheme, monolithic_solver(mech_case, tr, mech),
                            mech_case["monolithic_petsc"])
    grains = GrainDiagnostics(tr, mech, grain_rot[:, :, 2])
    unknowns = tr.V_space.dofmap.index_map.size_global + 1
    if mech is not None:
        unknowns += mech.U.dofmap.index_map.size_global * 3
    ncells = comm.allreduce(pm.mesh.topology.index_map(3).size_local)
    if rank0:
        log.info("mesh: %d cells, %d unknowns (Li, voltage%s), %d ranks, coupling %s%s, "
                 "set-up %.2f s", ncells, unknowns, ", displacement" if mech else "",
                 comm.size, mech_case["coupling"],
                 (f" ({scheme}" + (f", {monolithic_solver(mech_case, tr, mech)})"
                                   if scheme == "monolithic" else ")")) if two_way else "",
                 time.perf_counter() - t_mesh)

    x0 = cond["initial_x"]
    tr.set_uniform(x0)
    meta: dict = {}
    if restart is None:
        stepper.initialise()
    else:
        meta, arrays = ck.load_checkpoint(restart)
        ck.restore_state(arrays, tr, mech, restart)
        mono = stepper.monolithic
        if mono is not None and meta.get("predictor") is not None:
            funcs = mono.predictor_functions()
            ck.restore_state(arrays, tr, mech, restart, funcs=funcs)
            mono.restore_predictor(funcs, meta["predictor"])
            del funcs
        del arrays
        tr.V.value = meta["V"]
        tr.accept()  # the restored state is the last accepted one
        stepper.accept_mechanics()
        wall0 -= meta["wall_s"]  # wall_s keeps counting from the original start
        if rank0:
            log.info("restart from %s: step %d, t = %.6g s, protocol step %d (written on "
                     "%d rank(s))", restart, meta["step"], meta["time_s"],
                     meta["protocol_index"], meta["ranks"])
    mass = material.density * tr.volume_m3  # kg
    cap_scale = 1.0 / (3.6 * mass * 1e3)  # C -> mAh/g

    ts_path = outdir / "timeseries.csv" if (rank0 and outdir) else None
    if ts_path is not None and restart is not None:
        truncate_timeseries(ts_path, meta["step"])
    series = TimeSeries(ts_path, append=restart is not None)
    # a restart writes its fields to new files: VTX cannot append to a closed .bp
    stem = "fields" if restart is None else f"fields_restart_{meta['step']:06d}"
    fields = (FieldWriter(outdir, tr, mech, vtx=out["vtx"], pvd=out["pvd"], stem=stem)
              if outdir is not None and (out["vtx"] or out["pvd"]) else None)
    # (time, file) of every field output, for vtk/fields.pvd across restarts
    pvd_entries: list = [tuple(e) for e in meta.get("pvd_entries", [])]
    own_writes = 0
    grains_path = outdir / "grains.csv" if (rank0 and outdir) else None
    if grains_path is not None and restart is not None and grains_path.exists():
        truncate_timeseries(grains_path, meta["step"], require_row=False)
    grain_table = GrainTable(grains_path, append=restart is not None)
    last_write: list = [None]  # (step, t) of the last field output: never twice

    def write_fields(t_now: float) -> None:
        nonlocal own_writes
        if last_write[0] == (step, t_now):
            return
        last_write[0] = (step, t_now)
        if fields is not None:
            fields.write(t_now)
            pvd_entries.append((t_now, f"{stem}{own_writes:06d}.pvtu"))  # VTKFile's naming
            own_writes += 1
        grain_table.write(step, t_now, grains.grain_table())

    t, step, charge = 0.0, 0, 0.0  # s, accepted steps, C passed (charge positive)
    li_out = 0.0  # mol of Li that left through the surface
    dt = num["dt_initial"]
    step_ends: list = []
    if restart is not None:
        t, step, charge, li_out, dt = (meta[k] for k in ("time_s", "step", "charge_C",
                                                          "li_out_mol", "dt_next_s"))
        step_ends = meta["step_ends"]
    progress = Progress(comm)
    rows: list = []
    every = out["checkpoint_every"] if outdir is not None else 0
    phash = ck.physics_hash(case)

    def checkpoint(ps_index: int, at_start: bool, step_t: float, step_q: float,
                   last_slope: float | None, why: str) -> None:
        """Write the time-loop state (collective; rank 0 writes)."""
        t0 = time.perf_counter()
        pred = stepper.monolithic.predictor_state() if stepper.monolithic else None
        arrays = ck.gather_state(tr, mech, extra=pred[0] if pred else None)
        if rank0:
            path = ck.write_checkpoint(outdir, arrays, {
                "step": step, "time_s": t, "protocol_index": ps_index,
                "at_step_start": at_start, "step_time_s": step_t, "step_charge_C": step_q,
                "last_slope_V_s": last_slope, "dt_next_s": dt, "charge_C": charge,
                "li_out_mol": li_out, "V": float(tr.V.value), "step_ends": step_ends,
                "pvd_entries": pvd_entries, "wall_s": time.perf_counter() - wall0,
                "ranks": comm.size, "physics_hash": phash, "case_source": case.source,
                "reason": why, "predictor": pred[1] if pred else None})
            if out["pvd"]:
                write_pvd(outdir / "vtk" / "fields.pvd", pvd_entries)
            log.debug("checkpoint %s (%s), %.3f s", path.name, why, time.perf_counter() - t0)

    def record(ps_index: int, kind: str, temp: float, dt_used: float, current: float,
               step_q: float, res: StepResult | None) -> dict:
        d = tr.diagnostics()
        md = mech.diagnostics() if mech is not None else dict.fromkeys(MECHANICS_COLUMNS,
                                                                         float("nan"))
        row = {
            "step": step, "time_s": t, "dt_s": dt_used, "protocol_step": ps_index,
            "step_type": kind, "temperature_K": temp, "voltage_V": float(tr.V.value),
            "current_A": current, "specific_current_A_kg": current / mass,
            "soc": 1.0 - d["x_mean"], "capacity_mAh_g": charge * cap_scale,
            "step_capacity_mAh_g": abs(step_q) * cap_scale, "x_mean": d["x_mean"],
            "x_min": d["x_min"], "x_max": d["x_max"], "x_std": d["x_std"],
            "x_surface_mean": d["x_surface_mean"], "x_surface_std": d["x_surface_std"],
            "eta_surface_mean_V": d["eta_surface_mean_V"], "li_total_mol": d["li_total_mol"],
            "li_out_mol": li_out, "newton_its": res.iterations if res else 0,
            "ksp_its": res.ksp_iterations if res else 0,
            "coupling_its": res.coupling_iterations if res else 0,
            "elasticity_ksp_its": res.elasticity_ksp_iterations if res else 0,
            "wall_s": time.perf_counter() - wall0, **md, **grains.grain_boundary_stress(),
        }
        series.write(row)
        rows.append(row)
        return row

    first = case.protocol[0]
    if restart is None:
        record(0, first.kind, first.temperature, 0.0, 0.0, 0.0, None)
        write_fields(t)
    status = "completed"
    row: dict = {}
    options_checked = False  # the case's PETSc options all read (after the first solve)
    start_index = meta.get("protocol_index", 0)
    try:
        for ps_index, ps in enumerate(case.protocol):
            if ps_index < start_index:
                continue  # done before the restart
            current = ps.sign * ps.current * mass  # A
            step_t, step_q = 0.0, 0.0
            last_slope = None  # dV/dt of the last accepted step
            resume = restart is not None and ps_index == start_index and not meta[
                "at_step_start"]
            if resume:  # continue inside this protocol step where the checkpoint was
                step_t, step_q, last_slope = (meta[k] for k in (
                    "step_time_s", "step_charge_C", "last_slope_V_s"))
            if rank0:
                log.info("protocol step %d: %s at %.4g mA/g (%.4g A), T = %.2f K%s",
                         ps_index, ps.kind, ps.current, current, ps.temperature,
                         " (resumed)" if resume else "")
            reason = None
            if not resume and ps.until_voltage is not None and _reached(
                    ps, float(tr.V.value), num["voltage_tol"]):
                reason = "voltage"
            while reason is None:
                if max_steps is not None and step >= max_steps:
                    reason, status = "max_steps", "max_steps"
                    if every:  # so that `run --restart` can go on from here
                        checkpoint(ps_index, False, step_t, step_q, last_slope, "max_steps")
                    break
                dt_try = dt
                if ps.until_time is not None:
                    dt_try = min(dt_try, ps.until_time - step_t)
                if ps.until_capacity is not None and current != 0.0:
                    dt_try = min(dt_try, (ps.until_capacity * mass - abs(step_q)) / abs(current))
                if ps.until_voltage is not None and last_slope:
                    # aim half a tolerance past the cut-off so the approach is not Zeno-like
                    gap = ps.until_voltage - float(tr.V.value)
                    gap += 0.5 * num["voltage_tol"] * np.sign(gap)
                    if gap * last_slope > 0:  # heading for the cut-off: aim at it
                        dt_try = min(dt_try, max(gap / last_slope, num["dt_min"]))
                tr.set_state({"dt": dt_try, "current": current, "temperature": ps.temperature})
                res = stepper.solve()
                if not options_checked:  # every solver has now read its options
                    options_checked = True
                    from solver.petsc_check import unused_options

                    unused = comm.bcast(unused_options(case.values) if rank0 else None, root=0)
                    if unused:
                        raise UnusedOptionsError(unused)
                if not res.converged:
                    stepper.reject()
                    dt = dt_try / 2.0
                    if rank0:
                        log.debug("step rejected (%s); dt -> %.3g s", res.reason, dt)
                    if dt < num["dt_min"]:
                        raise SimulationError(
                            f"time step fell below dt_min = {num['dt_min']:.3g} s at t = "
                            f"{t:.6g} s in protocol step {ps_index} ({ps.kind}): {res.reason}. "
                            "The current may be unsustainable (surface depleted/saturated); "
                            "lower the current or add a voltage cut-off.")
                    continue
                V_new, V_old = float(tr.V.value), tr.V_old
                if ps.until_voltage is not None:
                    over = (V_new - ps.until_voltage) * (1 if ps.kind == "charge" else -1)
                    if over > num["voltage_tol"] and dt_try > num["dt_min"] * 1.000001:
                        # Overshot the cut-off: retry with the secant estimate of the crossing.
                        stepper.reject()
                        frac = (ps.until_voltage - V_old) / (V_new - V_old)
                        frac = float(np.clip(frac, 0.02, 0.98)) if np.isfinite(frac) else 0.5
                        dt = max(dt_try * frac, num["dt_min"])
                        last_slope = None
                        continue
                    if abs(over) <= num["voltage_tol"] or over > 0:
                        reason = "voltage"
                # accept
                x_change = _max_x_change(tr)
                stepper.accept()
                t += dt_try
                step_t += dt_try
                step += 1
                step_q += current * dt_try
                charge += current * dt_try
                li_out += tr.li_out_rate() * dt_try
                last_slope = (V_new - V_old) / dt_try
                row = record(ps_index, ps.kind, ps.temperature, dt_try, current, step_q, res)
                if ps.until_time is not None and step_t >= ps.until_time * (1 - 1e-12):
                    reason = reason or "time"
                if ps.until_capacity is not None and abs(step_q) >= ps.until_capacity * mass * (
                        1 - 1e-12):
                    reason = reason or "capacity"
                # adapt dt: aim at max_dx per step, slow down on hard Newton solves
                grow = 2.0 if x_change <= 0 else min(2.0, 0.9 * num["max_dx"] / x_change)
                # Newton iterations per Li solve (a two-way step has one per coupling pass)
                if res.iterations / max(1, res.coupling_iterations) > 6:
                    grow = min(grow, 0.7)
                # two-way: the staggered iteration contracts more slowly the larger dt, so
                # many passes mean dt is near the largest that converges (numerical
                # setting; a step that cannot converge is given up early and halved, so
                # trying a larger dt is cheap)
                if res.coupling_iterations > 0.5 * case["mechanics"]["coupling_max_it"]:
                    grow = min(grow, 0.7)
                elif res.coupling_iterations > 0.3 * case["mechanics"]["coupling_max_it"]:
                    grow = min(grow, 1.0)
                dt = float(np.clip(max(dt, dt_try) * grow, num["dt_min"], num["dt_max"]))
                if step % out["field_every"] == 0 or reason:
                    write_fields(t)
                progress.update(step, f"step {step:5d}  t = {t:9.2f} s  dt = {dt_try:8.3g} s  "
                                f"V = {V_new:.4f} V  Q = {charge * cap_scale:7.2f} mAh/g  "
                                f"x = [{row['x_min']:.3f}, {row['x_max']:.3f}]")
                if every and reason is None and step % every == 0:
                    checkpoint(ps_index, False, step_t, step_q, last_slope, "every")
            step_ends.append({"protocol_step": ps_index, "type": ps.kind, "reason": reason,
                              "time_s": t, "voltage_V": float(tr.V.value),
                              "step_capacity_mAh_g": abs(step_q) * cap_scale})
            if rank0:
                log.info("protocol step %d ended by %s at t = %.6g s, V = %.5f V, "
                         "%.3f mAh/g", ps_index, reason, t, float(tr.V.value),
                         abs(step_q) * cap_scale)
            if step % out["field_every"] != 0:
                write_fields(t)
            if status == "max_steps":
                break
            if every and ps_index + 1 < len(case.protocol):
                checkpoint(ps_index + 1, True, 0.0, 0.0, None, "protocol step boundary")
    finally:
        progress.close()
        series.close()
        grain_table.close()
        if fields is not None:
            fields.close()
            if restart is not None and out["pvd"] and rank0:
                write_pvd(outdir / "vtk" / "fields.pvd", pvd_entries)
        stepper.destroy()
        if mech is not None:
            mech.destroy()
        tr.destroy()
    return RunResult(status, step, t, float(row.get("voltage_V", tr.V_old)),
                     charge * cap_scale, unknowns, time.perf_counter() - wall0, step_ends,
                     rows)


def _reached(ps, V: float, tol: float) -> bool:
    over = (V - ps.until_voltage) * (1 if ps.kind == "charge" else -1)
    return over >= -tol


def _max_x_change(tr) -> float:
    """Largest nodal change of x in the step just solved (all ranks)."""
    n = tr.V_space.dofmap.index_map.size_local
    x_new = 1.0 / (1.0 + np.exp(-tr.w.x.array[:n]))
    x_old = 1.0 / (1.0 + np.exp(-tr.w_old.x.array[:n]))
    local = float(np.abs(x_new - x_old).max()) if n else 0.0
    return tr.comm.allreduce(local, op=MPI.MAX)
