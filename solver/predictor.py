"""Newton start of the staggered Li solve: an extrapolation of the last accepted step.

The monolithic two-way Newton has its own (solver/monolithic.py ``_predict``); this one
serves the Li solve of the staggered scheme (one-way coupling, Li only, staggered two-way):
(w, V)_guess = (w, V)_n + f ((w, V)_n - (w, V)_{n-1}) with the factor f of
:func:`solver.monolithic.extrapolation_factor` (exact for y ~ a + b sqrt(t - t0) just after
a protocol step begins, the linear dt / dt_n once the step has run for a while).  Only
within one protocol step (same current, temperature and voltage control, to 1e-9
relative); the first step of a run and of every protocol step starts from y_n.

Why: in long galvanostatic stretches the Li field moves nearly linearly in time, so from
y_n Newton has the whole increment to find (measured on the 4 um NM91 cycling case with
max_dx = 0.15: 5-7 iterations per step from y_n); the extrapolation leaves it the
curvature only.  The converged solution does not depend on the start beyond the Newton
tolerance.  A checkpoint holds the predictor's history (:meth:`state`), so a restart takes
the same Newton iterations, hence the same time steps, as the uninterrupted run.
"""

from __future__ import annotations

import math

import numpy as np
from dolfinx import fem

from solver.monolithic import extrapolation_factor


class LiPredictor:
    """Extrapolating start for ``transport`` (a solver.transport.LiTransport)."""

    def __init__(self, transport):
        self.tr = transport
        self._start: tuple[np.ndarray, float] | None = None  # (w, V) at the solve's start
        # the last accepted step: (increment of w, increment of V, dt [s], control)
        self._last: tuple[np.ndarray, float, float, tuple] | None = None
        self._tau = 0.0  # s, time from the protocol step's start to the last accepted state

    def _control(self) -> tuple[float, float, float, float]:
        tr = self.tr
        vc = float(tr.voltage_control.value)
        return (float(tr.I_total.value), float(tr.T.value), vc,
                float(tr.V_set.value) if vc else 0.0)

    def _same_segment(self) -> bool:
        # to 1e-9 relative: the current comes from an assembled volume whose last bits
        # depend on the rank count (a restart on other ranks sees a few ulp difference)
        return all(math.isclose(a, b, rel_tol=1e-9, abs_tol=0.0)  # numerical tolerance
                   for a, b in zip(self._last[3], self._control(), strict=True))

    def predict(self) -> None:
        """Record the start (the accepted state) and move (w, V) to the extrapolation."""
        tr = self.tr
        self._start = (tr.w.x.array.copy(), float(tr.V.value))
        dt = float(tr.dt.value)
        if self._last is None or dt <= 0 or not self._same_segment():
            return
        inc, inc_V, dt_n, _ = self._last
        f = extrapolation_factor(self._tau, dt_n, dt)
        tr.w.x.array[:] += f * inc  # local and ghost entries alike: stays consistent
        tr.V.value = self._start[1] + f * inc_V

    def accept(self) -> None:
        """Record the increment of the step being accepted (before the transport's
        accept, which overwrites the old state)."""
        if self._start is None:
            return
        tr = self.tr
        new_segment = self._last is None or not self._same_segment()
        w0, V0 = self._start
        dt = float(tr.dt.value)
        self._tau = (0.0 if new_segment else self._tau) + dt
        self._last = (tr.w.x.array - w0, float(tr.V.value) - V0, dt, self._control())
        self._start = None

    def reset(self) -> None:
        """Forget the history (the next solve starts from y_n)."""
        self._start, self._last, self._tau = None, None, 0.0

    # ------------------------------------------------------------------ checkpoints
    def functions(self) -> dict[str, fem.Function]:
        """An empty function that holds the increment of w in a checkpoint."""
        return {"predictor_li_w": fem.Function(self.tr.V_space, name="predictor_li_w")}

    def state(self) -> tuple[dict[str, fem.Function], dict] | None:
        """(the increment of w as a function, the scalars), None before any step."""
        if self._last is None:
            return None
        inc, inc_V, dt_n, control = self._last
        funcs = self.functions()
        funcs["predictor_li_w"].x.array[:] = inc
        return funcs, {"dV": inc_V, "dt_s": dt_n, "current_A": control[0],
                       "temperature_K": control[1], "voltage_control": control[2],
                       "V_set_V": control[3], "tau_s": self._tau}

    def restore(self, funcs: dict[str, fem.Function], meta: dict) -> None:
        """The history from :meth:`state`'s output (read back into :meth:`functions`)."""
        f = funcs["predictor_li_w"]
        f.x.scatter_forward()
        self._last = (f.x.array.copy(), float(meta["dV"]), float(meta["dt_s"]),
                      (float(meta["current_A"]), float(meta["temperature_K"]),
                       float(meta["voltage_control"]), float(meta["V_set_V"])))
        self._tau = float(meta["tau_s"])
