"""Protocol steps: what each kind controls and how it ends (no DOLFINx).

* :mod:`solver.protocol.step`: the step record (:class:`ProtocolStep`) and the controller
  interface the driver (solver/driver.py) uses;
* :mod:`solver.protocol.current`: constant current with a voltage cut-off;
* :mod:`solver.protocol.voltage`: constant-voltage hold ended by a current limit;
* :mod:`solver.protocol.rest`: open circuit: rest, temperature change, anneal;
* :mod:`solver.protocol.parse`: case-file entries (cycle blocks included) -> steps;
* :mod:`solver.protocol.state`: the whole time-loop state, as a checkpoint holds it.

A new step kind: its controller in a module here, its keys in ``parse.KIND_KEYS`` (and
any new key in solver/config.py's ``PROTOCOL_SCHEMA``), one line in ``CONTROLLERS``.
"""

from __future__ import annotations

from solver.protocol.current import ConstantCurrent
from solver.protocol.rest import OpenCircuit
from solver.protocol.step import (
    Controls,
    ProtocolStep,
    Segment,
    StepController,
    Tolerances,
    Verdict,
)
from solver.protocol.voltage import ConstantVoltage

CONTROLLERS: dict[str, type[StepController]] = {
    "charge": ConstantCurrent,
    "discharge": ConstantCurrent,
    "hold": ConstantVoltage,
    "rest": OpenCircuit,
    "temperature": OpenCircuit,
    "anneal": OpenCircuit,
}


def controller_for(ps: ProtocolStep, mass: float, tol: Tolerances) -> StepController:
    """The controller of one protocol step (``mass`` [kg] of active material)."""
    return CONTROLLERS[ps.kind](ps, mass, tol)


__all__ = ["CONTROLLERS", "Controls", "ProtocolStep", "Segment", "StepController",
           "Tolerances", "Verdict", "controller_for"]
