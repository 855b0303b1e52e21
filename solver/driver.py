"""The time-loop driver: protocol steps, adaptive time stepping, events, checkpoints.

The driver walks the protocol's steps (solver/protocol/) and advances a physics problem
(the electrochemical one, solver/problem.py, or the calcination, solver/synthesis/) by
backward-Euler steps whose size it controls.  What it asks of a problem: ``solve``,
``accept``, ``reject``, ``voltage``, ``voltage_accepted``, ``surface_current``,
``li_out_rate``, ``max_x_change``, ``mass``, ``coupling_max_it``, ``progress_text`` and
``step_summary`` (the last two: its one-line texts), optionally ``checks_petsc_options``;
of the recorder: ``row``, ``fields_now``, ``checkpoint``, ``cycles``, ``every``, ``rows``.

* dt grows when a step changes x by less than ``numerics.max_dx`` and converges easily,
  and is cut in half when the nonlinear solve fails (the run gives up below ``dt_min``);
* each step's controller clips dt so that the step lands on its events (time, capacity,
  temperature breakpoints exactly; a voltage cut-off or a current limit by aiming and,
  where a trial overshoots, by rejecting it and retrying with the secant estimate);
* checkpoints every ``output.checkpoint_every`` accepted steps, at protocol-step
  boundaries and at ``max_steps``; rows, fields and the cycle table through the recorder
  (solver/recorder.py).

Every decision uses globally reduced numbers, so all ranks take the same steps.  The
state of the loop is one :class:`solver.protocol.state.RunState`.
"""

from __future__ import annotations

import logging
import sys
from dataclasses import dataclass, replace

import numpy as np
from mpi4py import MPI

from solver.protocol import Segment, Tolerances, controller_for
from solver.protocol.state import RunState

log = logging.getLogger("chemomech")


class SimulationError(RuntimeError):
    """The run cannot continue (e.g. the time step fell below dt_min)."""


class UnusedOptionsError(SimulationError):
    """Case PETSc options that PETSc did not read in the first solve (bad input).

    ``keys``: their key paths, e.g. ``numerics.petsc.ksp_rtoll`` (solver/petsc_check.py)."""

    def __init__(self, keys: list[str]):
        self.keys = keys
        super().__init__(f"PETSc did not read {', '.join(keys)} in the first time step")


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


@dataclass
class StepControl:
    """Time-step adaptation settings (from [numerics] and [mechanics])."""

    dt_min: float  # s
    dt_max: float  # s
    max_dx: float  # -, target largest change of x per step
    coupling_max_it: int

    def for_step(self, ps) -> StepControl:
        """These settings with the protocol step's own dt_max and max_dx, where it has them."""
        return replace(self, dt_max=self.dt_max if ps.dt_max is None else ps.dt_max,
                       max_dx=self.max_dx if ps.max_dx is None else ps.max_dx)

    def grow(self, x_change: float, res) -> float:
        """Factor for the next dt after an accepted step."""
        grow = 2.0 if x_change <= 0 else min(2.0, 0.9 * self.max_dx / x_change)
        # Newton iterations per Li solve (a two-way step has one per coupling pass)
        if res.iterations / max(1, res.coupling_iterations) > 6:
            grow = min(grow, 0.7)
        # two-way: the staggered iteration contracts more slowly the larger dt, so many
        # passes mean dt is near the largest that converges (numerical setting; a step
        # that cannot converge is given up early and halved, so a larger dt is cheap)
        if res.coupling_iterations > 0.5 * self.coupling_max_it:
            grow = min(grow, 0.7)
        elif res.coupling_iterations > 0.3 * self.coupling_max_it:
            grow = min(grow, 1.0)
        return grow


class Driver:
    """Runs the protocol of a case on a problem; see the module docstring."""

    def __init__(self, case, problem, recorder, comm: MPI.Comm,
                 max_steps: int | None = None):
        num = case["numerics"]
        self.case, self.problem, self.rec, self.comm = case, problem, recorder, comm
        self.rank0 = comm.rank == 0
        self.max_steps = max_steps
        # a problem without an electrode (synthesis) has no voltage or current limits
        self.tol = Tolerances(voltage=num.get("voltage_tol", 1e-3),
                              current=num.get("current_tol", 0.01),
                              dt_min=num["dt_min"], dt_initial=num["dt_initial"])
        self.control = StepControl(num["dt_min"], num["dt_max"], num["max_dx"],
                                   problem.coupling_max_it)
        self.field_every = case["output"]["field_every"]
        self.cap_scale = 1.0 / (3.6 * problem.mass * 1e3)  # C -> mAh/g
        self.progress = Progress(comm)
        # the case's PETSc options all read (first solve); a problem without PETSc tables
        # in its case (synthesis) says so with checks_petsc_options = False
        self._options_checked = not getattr(problem, "checks_petsc_options", True)

    def run(self, state: RunState, resumed: bool) -> str:
        """Run from ``state`` to the end of the protocol; 'completed' or 'max_steps'.

        ``resumed``: ``state`` comes from a checkpoint (its first row and fields exist).
        """
        protocol = self.case.protocol
        if not resumed:
            self.rec.row(state, protocol[0], 0.0, 0.0, None)
            self.rec.fields_now(state)
        try:
            for index in range(state.protocol_index, len(protocol)):
                fresh = state.at_step_start or index != state.protocol_index
                state.protocol_index = index
                if fresh:
                    state.segment = Segment()
                state.at_step_start = False
                reason = self._protocol_step(state, protocol[index], resume=not fresh)
                if reason == "max_steps":
                    return "max_steps"
                if self.rec.every and index + 1 < len(protocol):
                    state.protocol_index, state.at_step_start = index + 1, True
                    state.segment = Segment()
                    self.rec.checkpoint(state, "protocol step boundary")
        finally:
            self.progress.close()
        return "completed"

    # ------------------------------------------------------------------ one step
    def _protocol_step(self, state: RunState, ps, resume: bool) -> str:
        p, tol, ctl = self.problem, self.tol, controller_for(ps, self.problem.mass, self.tol)
        seg = state.segment
        control = self.control.for_step(ps)
        # a step with a smaller dt_max than the one before starts within it
        state.dt_next_s = min(state.dt_next_s, control.dt_max)
        if self.rank0:
            log.info("protocol step %d: %s%s", state.protocol_index, ctl.describe(),
                     " (resumed)" if resume else "")
        reason = None if resume else ctl.ends_at_start(p.voltage_accepted)
        while reason is None:
            if self.max_steps is not None and state.step >= self.max_steps:
                if self.rec.every:  # so that `run --restart` can go on from here
                    self.rec.checkpoint(state, "max_steps")
                return self._end(state, ps, "max_steps")
            dt = ctl.limit_dt(state.dt_next_s, seg, p.voltage_accepted, state.current_A)
            controls = ctl.controls(dt, seg)
            res = p.solve(controls)
            if not self._options_checked:  # every solver has now read its options
                self._check_options()
            if not res.converged:
                p.reject()
                state.dt_next_s = dt / 2.0
                if self.rank0:
                    log.debug("step rejected (%s); dt -> %.3g s", res.reason, state.dt_next_s)
                if state.dt_next_s < tol.dt_min:
                    raise SimulationError(
                        f"time step fell below dt_min = {tol.dt_min:.3g} s at t = "
                        f"{state.time_s:.6g} s in protocol step {state.protocol_index} "
                        f"({ps.kind}): {res.reason}. The current may be unsustainable "
                        "(surface depleted/saturated); lower the current or add a voltage "
                        "cut-off.")
                continue
            v_new, v_old = p.voltage, p.voltage_accepted
            current = controls.current if controls.voltage is None else p.surface_current()
            verdict = ctl.judge(seg, dt, v_new, v_old, current, state.current_A)
            if verdict.retry_dt is not None:
                p.reject()
                state.dt_next_s = verdict.retry_dt
                seg.slope = None
                continue
            # accept
            x_change = p.max_x_change()
            li_rate = p.li_out_rate()
            p.accept()
            seg.slope = ctl.slope(dt, v_new, v_old, current, state.current_A)
            state.time_s += dt
            state.step += 1
            seg.time_s += dt
            seg.charge_C += current * dt
            state.charge_C += current * dt
            state.li_out_mol += li_rate * dt
            state.current_A = current
            row = self.rec.row(state, ps, dt, current, res)
            reason = verdict.end or ctl.ended(seg)
            state.dt_next_s = float(np.clip(max(state.dt_next_s, dt)
                                            * control.grow(x_change, res),
                                            control.dt_min, control.dt_max))
            if state.step % self.field_every == 0 or reason:
                self.rec.fields_now(state)
            self.progress.update(state.step, p.progress_text(state, row))
            if self.rec.every and reason is None and state.step % self.rec.every == 0:
                self.rec.checkpoint(state, "every")
        return self._end(state, ps, reason)

    def _check_options(self) -> None:
        from solver.petsc_check import unused_options

        self._options_checked = True
        unused = self.comm.bcast(unused_options(self.case.values) if self.rank0 else None,
                                 root=0)
        if unused:
            raise UnusedOptionsError(unused)

    def _end(self, state: RunState, ps, reason: str) -> str:
        """Record the end of a protocol step (fields, step record, cycle table)."""
        p, seg = self.problem, state.segment
        last = self.rec.rows[-1] if self.rec.rows else {}
        state.step_ends.append({
            "protocol_step": state.protocol_index, "type": ps.kind, "cycle": ps.cycle,
            "reason": reason, "time_s": state.time_s, "voltage_V": p.voltage_accepted,
            "step_capacity_mAh_g": abs(seg.charge_C) * self.cap_scale,
            "step_charge_mAh_g": seg.charge_C * self.cap_scale,
            **{k: float(last.get(k, float("nan"))) for k in (
                "strain_003_std", "residual_strain_mean", "residual_strain_std",
                "inactive_fraction", "li_barrier_shift_mean_eV")}})
        if self.rank0:
            log.info("protocol step %d ended by %s at t = %.6g s, %s", state.protocol_index,
                     reason, state.time_s, p.step_summary(seg, last))
        if state.step % self.field_every != 0:
            self.rec.fields_now(state)
        if ps.cycle and reason != "max_steps":
            protocol = self.case.protocol
            nxt = state.protocol_index + 1
            if nxt >= len(protocol) or protocol[nxt].cycle != ps.cycle:
                table = self.rec.cycles(state)
                if self.rank0 and table:
                    r = table[-1]
                    log.info("cycle %d: charge %.3f, discharge %.3f mAh/g, CE %.4f, "
                             "retention %.4f", r["cycle"], r["charge_capacity_mAh_g"],
                             r["discharge_capacity_mAh_g"], r["coulombic_efficiency"],
                             r["retention"])
        return reason
