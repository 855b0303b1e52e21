"""Constant-voltage hold (potentiostatic), ended by a current limit.

The electrode potential is imposed (the voltage equation of the Newton system becomes
V = V_set, solver/transport.py) and the current is what the surface draws.  The hold ends
when the magnitude of the current falls to ``until_current`` (located within the relative
``numerics.current_tol``: the current of a hold decays roughly exponentially, so the
crossing is estimated on ln|I| and a trial that undershoots by more is retried), or at
``until_time``.  The charge passed is integrated consistently with backward Euler (the
current of the accepted state times dt), so it equals the change of the Li content.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from solver.protocol.step import Controls, Segment, StepController, Verdict, secant_fraction


@dataclass
class ConstantVoltage(StepController):
    """Potentiostatic hold at ``ps.voltage``."""

    def controls(self, dt: float, seg: Segment) -> Controls:
        return Controls(dt, self.ps.temperature_at(seg.time_s + dt), 0.0, self.ps.voltage)

    def current(self) -> float:
        return 0.0  # not imposed: the driver reads the surface current

    def _limit(self) -> float:
        return self.ps.until_current * self.mass  # A

    def limit_dt(self, dt: float, seg: Segment, voltage: float,
                 current: float) -> float:
        dt = super().limit_dt(dt, seg, voltage, current)
        if seg.time_s == 0.0:
            # the hold starts with a jump of the control: resolve its transient from
            # dt_initial on, as a run starts
            dt = min(dt, self.tol.dt_initial)
        if seg.slope:
            # follow the decay of the current: at most log_current_step in ln|I| per step
            dt = min(dt, max(self.tol.log_current_step / abs(seg.slope), self.tol.dt_min))
        if seg.slope and current:
            # aim half a tolerance below the limit along the log-linear decay
            gap = (math.log(self._limit() * (1 - 0.5 * self.tol.current))
                   - math.log(abs(current)))
            if gap * seg.slope > 0:
                dt = min(dt, max(gap / seg.slope, self.tol.dt_min))
        return dt

    def judge(self, seg: Segment, dt: float, v_new: float, v_old: float,
              i_new: float, i_old: float) -> Verdict:
        lim, now = self._limit(), abs(i_new)
        if now <= lim:
            if now < lim * (1 - self.tol.current) and dt > self.tol.dt_min * 1.000001 and (
                    abs(i_old) > lim):
                frac = secant_fraction(math.log(lim), math.log(abs(i_old)),
                                       math.log(max(now, 1e-300)))
                return Verdict(retry_dt=max(dt * frac, self.tol.dt_min))
            return Verdict(end="current")
        return Verdict()

    def slope(self, dt: float, v_new: float, v_old: float, i_new: float,
              i_old: float) -> float | None:
        if i_new == 0.0 or i_old == 0.0 or (i_new > 0) != (i_old > 0):
            return None
        return (math.log(abs(i_new)) - math.log(abs(i_old))) / dt

    def describe(self) -> str:
        return (f"{super().describe()}, hold at {self.ps.voltage:.4f} V until "
                f"|I| <= {self.ps.until_current:.4g} mA/g")
