"""The time loop's own state: one object, checkpointed whole.

Together with the fields of the physics problem (solver/checkpoint.py) this is everything
a restarted run needs to take the same decisions as an uninterrupted one.  Stored in the
checkpoint's JSON metadata under the key names below (those of the earlier time loop,
so checkpoints of that format keep loading).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from solver.protocol.step import Segment


@dataclass
class RunState:
    """Where the run is: time, counters, integrated quantities, the protocol position."""

    time_s: float = 0.0
    step: int = 0  # accepted time steps
    charge_C: float = 0.0  # net charge passed since the start (charge positive)
    li_out_mol: float = 0.0  # Li that left through the surface, integrated
    dt_next_s: float = 1.0  # next trial dt
    current_A: float = 0.0  # total current of the last accepted state
    protocol_index: int = 0
    at_step_start: bool = True  # the protocol step protocol_index has not begun
    segment: Segment = field(default_factory=Segment)
    step_ends: list = field(default_factory=list)  # one record per finished protocol step
    pvd_entries: list = field(default_factory=list)  # (time, file) of every field output

    def meta(self) -> dict[str, Any]:
        """JSON-ready record of the state (checkpoint metadata)."""
        return {"time_s": self.time_s, "step": self.step, "charge_C": self.charge_C,
                "li_out_mol": self.li_out_mol, "dt_next_s": self.dt_next_s,
                "current_A": self.current_A, "protocol_index": self.protocol_index,
                "at_step_start": self.at_step_start, "step_time_s": self.segment.time_s,
                "step_charge_C": self.segment.charge_C,
                "last_slope_V_s": self.segment.slope, "step_ends": list(self.step_ends),
                "pvd_entries": [list(e) for e in self.pvd_entries]}

    @classmethod
    def from_meta(cls, meta: dict[str, Any]) -> RunState:
        """The state a checkpoint's metadata describes."""
        seg = Segment(meta["step_time_s"], meta["step_charge_C"], meta["last_slope_V_s"])
        return cls(meta["time_s"], meta["step"], meta["charge_C"], meta["li_out_mol"],
                   meta["dt_next_s"], meta.get("current_A", 0.0), meta["protocol_index"],
                   meta["at_step_start"], seg, list(meta["step_ends"]),
                   [tuple(e) for e in meta.get("pvd_entries", [])])
