"""What every protocol step shares: its record in SI units and the controller interface.

A :class:`ProtocolStep` is the validated, frozen description of one step (from the case
file; solver/protocol/parse.py).  A :class:`StepController` is what the time-loop driver
(solver/driver.py) asks, step after step: which controls to apply for a trial dt, how far
dt may go before an event (end of the step's time, capacity, a temperature breakpoint,
a voltage or current limit), and whether a solved trial is accepted, ends the step or must
be retried with a shorter dt (event location).  Each step kind lives in its own module and
registers itself in solver/protocol/__init__.py; the driver knows none of them by name.

Sign convention: current > 0 on charge (Li leaves the particle).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np


@dataclass(frozen=True)
class ProtocolStep:
    """One protocol step in SI units (A/kg, C/kg, s, V, K)."""

    kind: str  # charge | discharge | hold | rest | temperature | anneal
    current: float  # A/kg, magnitude (constant-current steps)
    until_voltage: float | None  # V
    until_capacity: float | None  # C/kg
    until_time: float | None  # s, duration of the step (anneal: ramps and hold)
    temperature: float  # K: the step's (hold) temperature
    voltage: float | None = None  # V, constant-voltage hold
    until_current: float | None = None  # A/kg, magnitude: a hold ends below it
    # piecewise-linear temperature program ((time in the step s, T K), ...); () = constant
    temperature_program: tuple = ()
    after_temperature: float | None = None  # K after the step, if not the program's end
    cycle: int = 0  # 1-based cycle number inside a [[protocol]] cycle block; 0 outside
    entry: int = 0  # index of the [[protocol]] entry the step comes from
    key: str = ""  # its case key, e.g. "protocol[1].steps[0]"
    dt_max: float | None = None  # s, largest time step in the step (None: numerics.dt_max)
    max_dx: float | None = None  # -, target largest x change per step (None: numerics')

    @property
    def sign(self) -> int:
        """+1 charge, -1 discharge, 0 for every step without an imposed current."""
        return {"charge": 1, "discharge": -1}.get(self.kind, 0)

    def temperature_at(self, tau: float) -> float:
        """Temperature [K] at time ``tau`` [s] into the step."""
        if not self.temperature_program:
            return self.temperature
        times, temps = zip(*self.temperature_program, strict=True)
        return float(np.interp(tau, times, temps))

    @property
    def end_temperature(self) -> float:
        """Temperature [K] after the step: the default temperature of the next one."""
        if self.after_temperature is not None:
            return self.after_temperature
        return self.temperature_program[-1][1] if self.temperature_program else self.temperature


@dataclass
class Segment:
    """Progress inside the current protocol step (checkpointed)."""

    time_s: float = 0.0  # s since the step began
    charge_C: float = 0.0  # C passed in the step (charge positive)
    slope: float | None = None  # rate of the step's event quantity in the last step


@dataclass(frozen=True)
class Controls:
    """What the physics problem is driven with during one trial step."""

    dt: float  # s
    temperature: float  # K, at the end of the step (backward Euler)
    current: float = 0.0  # A, total, > 0 on charge (galvanostatic)
    voltage: float | None = None  # V: potentiostatic when set


@dataclass(frozen=True)
class Verdict:
    """The controller's judgement of a converged trial step."""

    retry_dt: float | None = None  # reject the trial and retry with this dt
    end: str | None = None  # accept, and the protocol step ends for this reason


@dataclass
class Tolerances:
    """Numerical settings the controllers need (from [numerics])."""

    voltage: float  # V, cut-off location
    current: float  # -, relative, current-limit location of holds
    dt_min: float  # s
    dt_initial: float = 1.0  # s, first trial dt of a run (and of a voltage hold)
    temperature_step: float = 5.0  # K per time step at most along a ramp (numerical setting)
    log_current_step: float = 0.5  # largest change of ln|I| per step of a hold (numerical)


@dataclass
class StepController:
    """Base controller: time, capacity and temperature-program events.

    Subclasses override :meth:`controls` (what drives the step), :meth:`judge` (their own
    events) and :meth:`ends_at_start` as needed.
    """

    ps: ProtocolStep
    mass: float  # kg of active material
    tol: Tolerances
    _tiny: float = field(default=1e-12, init=False)  # relative slack of exact ends

    # ---- what drives the step
    def current(self) -> float:
        """Imposed total current [A] (0 unless the step is galvanostatic)."""
        return self.ps.sign * self.ps.current * self.mass

    def controls(self, dt: float, seg: Segment) -> Controls:
        return Controls(dt, self.ps.temperature_at(seg.time_s + dt), self.current())

    # ---- events
    def ends_at_start(self, voltage: float) -> str | None:
        """A reason if the step has nothing to do from this state (e.g. cut-off reached)."""
        return None

    def limit_dt(self, dt: float, seg: Segment, voltage: float,
                 current: float) -> float:
        """Largest trial dt that does not step over a time, capacity or breakpoint end;
        ``voltage`` [V] and ``current`` [A] are those of the last accepted state."""
        ps = self.ps
        if ps.until_time is not None:
            dt = min(dt, ps.until_time - seg.time_s)
        I = abs(self.current())
        if ps.until_capacity is not None and I > 0.0:
            dt = min(dt, (ps.until_capacity * self.mass - abs(seg.charge_C)) / I)
        prog = ps.temperature_program
        tau = seg.time_s
        # land on the next breakpoint, changing T by at most tol.temperature_step per dt
        for (t0, T0), (t1, T1) in zip(prog[:-1], prog[1:], strict=True):
            if tau < t1 - 1e-9 * max(1.0, t1):  # s, round-off slack of the summed dt
                dt = min(dt, t1 - tau)
                if t1 > t0 and T1 != T0:
                    dt = min(dt, self.tol.temperature_step * (t1 - t0) / abs(T1 - T0))
                break
        return dt

    def judge(self, seg: Segment, dt: float, v_new: float, v_old: float,
              i_new: float, i_old: float) -> Verdict:
        """Accept (possibly ending the step) or ask for a retry with a smaller dt."""
        return Verdict()

    def slope(self, dt: float, v_new: float, v_old: float, i_new: float,
              i_old: float) -> float | None:
        """Rate of the quantity this step aims at (for :meth:`limit_dt`)."""
        return None

    def ended(self, seg: Segment) -> str | None:
        """Time or capacity end reached by the accepted state ``seg``."""
        ps = self.ps
        if ps.until_time is not None and seg.time_s >= ps.until_time * (1 - self._tiny):
            return "time"
        if ps.until_capacity is not None and abs(seg.charge_C) >= (
                ps.until_capacity * self.mass * (1 - self._tiny)):
            return "capacity"
        return None

    def describe(self) -> str:
        """One log line about the step."""
        ps = self.ps
        where = f" (cycle {ps.cycle})" if ps.cycle else ""
        return f"{ps.kind}{where}, T = {ps.temperature:.2f} K"


def secant_fraction(target: float, old: float, new: float) -> float:
    """Fraction of the last trial dt at which a linear interpolation meets ``target``,
    kept in [0.02, 0.98] so that a retry always moves."""
    frac = (target - old) / (new - old) if new != old else 0.5
    return float(np.clip(frac, 0.02, 0.98)) if math.isfinite(frac) else 0.5
