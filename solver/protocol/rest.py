"""Open-circuit steps: rest, temperature change (ramp) and anneal.

All three impose zero current and end by time; the temperature follows the step's
piecewise-linear program (solver/protocol/step.py), with breakpoints hit exactly and at
most ``Tolerances.temperature_step`` per time step along a ramp, so D(T) and i0(T) follow
the ramp.  An anneal is a hold at an elevated temperature between optional heating and
cooling ramps; Li redistributes with the diffusivity at the anneal temperature.
"""

from __future__ import annotations

from dataclasses import dataclass

from solver.protocol.step import StepController


@dataclass
class OpenCircuit(StepController):
    """Rest, temperature change or anneal: no current, ends by time."""

    def describe(self) -> str:
        ps = self.ps
        text = super().describe()
        if ps.temperature_program:
            temps = " -> ".join(f"{T:.1f} K" for _, T in ps.temperature_program)
            text += f", program {temps} over {ps.until_time:.6g} s"
        else:
            text += f", {ps.until_time:.6g} s"
        return text
