"""Constant current (galvanostatic charge or discharge) with a voltage cut-off.

Ends at ``until_voltage`` (located within ``numerics.voltage_tol``: a trial that
overshoots the cut-off by more is rejected and retried with the secant estimate of the
crossing time, and the approach aims half a tolerance past the cut-off so that it is not
Zeno-like), ``until_capacity`` or ``until_time`` (hit exactly: the charge is linear in
time), whichever comes first.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from solver.protocol.step import Segment, StepController, Verdict, secant_fraction


@dataclass
class ConstantCurrent(StepController):
    """Galvanostatic step: the total current is imposed, the voltage follows."""

    def _over(self, voltage: float) -> float:
        """How far past the cut-off ``voltage`` is [V] (> 0: beyond it)."""
        return (voltage - self.ps.until_voltage) * self.ps.sign

    def ends_at_start(self, voltage: float) -> str | None:
        if self.ps.until_voltage is not None and self._over(voltage) >= -self.tol.voltage:
            return "voltage"
        return None

    def limit_dt(self, dt: float, seg: Segment, voltage: float,
                 current: float) -> float:
        dt = super().limit_dt(dt, seg, voltage, current)
        if self.ps.until_voltage is not None and seg.slope:
            gap = self.ps.until_voltage - voltage
            gap += 0.5 * self.tol.voltage * np.sign(gap)
            if gap * seg.slope > 0:  # heading for the cut-off: aim at it
                dt = min(dt, max(gap / seg.slope, self.tol.dt_min))
        return dt

    def judge(self, seg: Segment, dt: float, v_new: float, v_old: float,
              i_new: float, i_old: float) -> Verdict:
        if self.ps.until_voltage is None:
            return Verdict()
        over = self._over(v_new)
        if over > self.tol.voltage and dt > self.tol.dt_min * 1.000001:
            frac = secant_fraction(self.ps.until_voltage, v_old, v_new)
            return Verdict(retry_dt=max(dt * frac, self.tol.dt_min))
        if abs(over) <= self.tol.voltage or over > 0:
            return Verdict(end="voltage")
        return Verdict()

    def slope(self, dt: float, v_new: float, v_old: float, i_new: float,
              i_old: float) -> float | None:
        return (v_new - v_old) / dt

    def describe(self) -> str:
        return (f"{super().describe()}, {self.ps.current:.4g} mA/g "
                f"({self.current():.4g} A)")
