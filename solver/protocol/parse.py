"""Reading ``[[protocol]]`` entries of a case file into :class:`ProtocolStep` records.

No DOLFINx: ``chemomech validate`` reads protocols instantly.  Each step kind names the
keys it requires and allows (``KIND_KEYS``); a ``type = "cycle"`` entry repeats its
``[[protocol.steps]]`` ``repeat`` times and is expanded here into plain steps that carry
their cycle number, so the driver, restarts and checkpoints see one flat list.

Checks made here, each naming its key: required keys per kind, keys that do not belong to
the kind, non-positive durations/currents, a voltage cut-off on the wrong side of the
voltage the previous step ends at (the starting open-circuit potential for the first
step, the cut-off or hold voltage of a preceding step that ends only there), a
constant-voltage hold without a current limit or with a uniform current distribution,
and step temperatures outside the material's data range.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import Any

from solver.protocol.step import ProtocolStep

STEP_KINDS = ("charge", "discharge", "hold", "rest", "temperature", "anneal")
BLOCK_KINDS = ("cycle",)

# kind -> (required keys, allowed keys); "type" is always allowed
KIND_KEYS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "charge": (("current",), ("current", "until_voltage", "until_capacity", "until_time",
                              "temperature")),
    "discharge": (("current",), ("current", "until_voltage", "until_capacity", "until_time",
                                 "temperature")),
    "hold": (("voltage", "until_current"), ("voltage", "until_current", "until_time",
                                            "temperature")),
    "rest": (("until_time",), ("until_time", "temperature")),
    "temperature": (("temperature",), ("temperature", "ramp_rate", "until_time")),
    "anneal": (("temperature", "until_time"), ("temperature", "until_time", "ramp_rate",
                                               "cool_to")),
    "cycle": (("repeat", "steps"), ("repeat", "steps")),
}
# time-step settings every step kind and a cycle block take (a block's go to its steps)
STEP_NUMERICS = ("dt_max", "max_dx")
KIND_KEYS = {kind: (req, allowed + STEP_NUMERICS) for kind, (req, allowed) in KIND_KEYS.items()}

HINT = {
    "charge": "e.g. current = '200 mA/g', until_voltage = '4.5 V'",
    "discharge": "e.g. current = '100 mA/g', until_voltage = '2.7 V'",
    "hold": "e.g. voltage = '4.3 V', until_current = '10 mA/g' (a constant-voltage hold "
            "ends at a current limit)",
    "rest": "e.g. until_time = '1 h'",
    "temperature": "e.g. temperature = '150 degC', ramp_rate = '5 K/min'",
    "anneal": "e.g. temperature = '150 degC', until_time = '2 h' (the hold), "
              "ramp_rate = '5 K/min'",
    "cycle": "e.g. repeat = 10 and [[protocol.steps]] tables",
}


class ProtocolError(ValueError):
    """A protocol entry is invalid: ``key`` names it, the message says what was expected."""

    def __init__(self, key: str, message: str):
        super().__init__(message)
        self.key, self.message = key, message


def parse_protocol(entries: Any, read_section: Callable, schema: dict, *,
                   conditions_temperature: float, open_circuit_voltage: float,
                   material, distribution: str,
                   check_temperature: Callable[[str, float, Any], None]
                   ) -> tuple[tuple[ProtocolStep, ...], list[dict[str, Any]]]:
    """Validate the ``protocol`` array; return (flat steps in SI, resolved entries).

    ``read_section(key, schema, raw) -> (values, resolved)`` reads one table with units
    (solver/config.py); ``check_temperature(key, T, given)`` refuses a temperature [K]
    outside the material's data range (``given``: the case's text of it, or None).
    """
    if not isinstance(entries, list) or not entries:
        raise ProtocolError("protocol", "expected at least one [[protocol]] step (type = "
                            + " | ".join(repr(k) for k in STEP_KINDS + BLOCK_KINDS) + ")")
    ctx = _Context(conditions_temperature, open_circuit_voltage, distribution,
                   check_temperature)
    steps: list[ProtocolStep] = []
    resolved: list[dict[str, Any]] = []
    for i, raw in enumerate(entries):
        key = f"protocol[{i}]"
        kind = raw.get("type") if isinstance(raw, dict) else None
        if kind == "cycle":
            resolved.append(_parse_cycle(raw, key, i, read_section, schema, ctx, steps))
        else:
            step, rep = _parse_step(raw, key, i, 0, read_section, schema, ctx)
            steps.append(step)
            resolved.append(rep)
    return tuple(steps), resolved


class _Context:
    """What a step needs to know about the steps before it."""

    def __init__(self, temperature: float, voltage: float, distribution: str,
                 check_temperature: Callable[[str, float, Any], None]):
        self.temperature = temperature  # K after the previous step
        self.voltage: float | None = voltage  # V after the previous step, if known
        self.first = True
        self.cycle = 0  # cycles so far
        self.distribution = distribution
        self.check_temperature = check_temperature


def _parse_cycle(raw: dict, key: str, entry: int, read_section, schema, ctx: _Context,
                 steps: list[ProtocolStep]) -> dict[str, Any]:
    unknown = sorted(set(raw) - {"type", "repeat", "steps", *STEP_NUMERICS})
    if unknown:
        raise ProtocolError(f"{key}.{unknown[0]}", "a cycle block takes only repeat, "
                            "[[protocol.steps]], dt_max and max_dx (put step keys into its "
                            "steps)")
    block_values, block_resolved = read_section(
        key, {k: schema[k] for k in STEP_NUMERICS},
        {k: raw[k] for k in STEP_NUMERICS if k in raw})
    inherit = {k: v for k, v in block_values.items() if v is not None}
    repeat = raw.get("repeat")
    if isinstance(repeat, bool) or not isinstance(repeat, int) or repeat < 1:
        raise ProtocolError(f"{key}.repeat", f"expected a whole number >= 1; got {repeat!r}")
    sub = raw.get("steps")
    if not isinstance(sub, list) or not sub or not all(isinstance(s, dict) for s in sub):
        raise ProtocolError(f"{key}.steps", "expected at least one [[protocol.steps]] table")
    reps: list[dict[str, Any]] = []
    for c in range(repeat):
        ctx.cycle += 1
        for j, st in enumerate(sub):
            skey = f"{key}.steps[{j}]"
            if st.get("type") in BLOCK_KINDS:
                raise ProtocolError(f"{skey}.type", "cycle blocks do not nest")
            step, rep = _parse_step(st, skey, entry, ctx.cycle, read_section, schema, ctx)
            steps.append(replace(step, **{k: v for k, v in inherit.items()
                                          if getattr(step, k) is None}))
            if c == 0:
                reps.append(rep)
    return {"type": "cycle", "repeat": repeat, "steps": reps,
            **{k: block_resolved[k] for k in inherit}}


def _parse_step(raw: Any, key: str, entry: int, cycle: int, read_section, schema,
                ctx: _Context) -> tuple[ProtocolStep, dict[str, Any]]:
    if not isinstance(raw, dict):
        raise ProtocolError(key, f"expected a table; got {raw!r}")
    kind = raw.get("type")
    if kind not in STEP_KINDS:
        raise ProtocolError(f"{key}.type", "expected one of " + ", ".join(
            repr(k) for k in STEP_KINDS + BLOCK_KINDS) + f"; got {kind!r}")
    required, allowed = KIND_KEYS[kind]
    for k in raw:
        if k != "type" and k in schema and k not in allowed:
            raise ProtocolError(f"{key}.{k}", f"not a key of a {kind} step (its keys: "
                                f"{', '.join(allowed)})")
    sv, sr = read_section(key, {k: v for k, v in schema.items() if k != "steps"}, raw)
    for k in required:
        if sv[k] is None:
            raise ProtocolError(f"{key}.{k}", f"a {kind} step needs {k} ({HINT[kind]})")
    T_before = ctx.temperature
    T = sv["temperature"] if sv["temperature"] is not None else T_before
    program: tuple = ()
    after = None
    duration = sv["until_time"]
    if kind in ("charge", "discharge"):
        if all(sv[k] is None for k in ("until_voltage", "until_capacity", "until_time")):
            raise ProtocolError(key, "needs an end condition: until_voltage, until_capacity "
                                "or until_time")
        _check_cutoff(key, kind, sv["until_voltage"], ctx)
    elif kind == "hold":
        if ctx.distribution != "butler-volmer":
            raise ProtocolError(f"{key}.type", "a constant-voltage hold needs "
                                "kinetics.distribution = 'butler-volmer' (a uniform flux "
                                "needs a given current)")
    elif kind == "temperature":
        rate = sv["ramp_rate"]
        if (rate is None) == (duration is None):
            raise ProtocolError(key, "a temperature step needs exactly one of ramp_rate "
                                "(e.g. '5 K/min') and until_time (the ramp's duration)")
        if duration is None:
            duration = abs(T - T_before) / rate
            if duration == 0.0:
                raise ProtocolError(f"{key}.temperature", f"{T:.2f} K is the temperature "
                                    "already: the step would do nothing")
        program = ((0.0, T_before), (duration, T))
    elif kind == "anneal":
        hold, rate = sv["until_time"], sv["ramp_rate"]
        cool = sv["cool_to"] if sv["cool_to"] is not None else T_before
        if cool != sv["cool_to"]:
            sr["cool_to"] = f"{cool:.12g} K"
        if rate is None:
            program, after = ((0.0, T), (hold, T)), cool
            duration = hold
        else:
            up, down = abs(T - T_before) / rate, abs(T - cool) / rate
            points = [(0.0, T_before), (up, T), (up + hold, T), (up + hold + down, cool)]
            # drop zero-length ramps (already at the anneal temperature)
            program = tuple(p for n, p in enumerate(points)
                            if n == 0 or p[0] > points[n - 1][0])
            duration = up + hold + down
        ctx.check_temperature(f"{key}.cool_to", cool, sr.get("cool_to"))
    if sv["temperature"] is not None:  # an inherited one was checked where it was set
        ctx.check_temperature(f"{key}.temperature", T, sr.get("temperature"))
    step = ProtocolStep(kind, sv["current"] or 0.0, sv["until_voltage"],
                        sv["until_capacity"], duration, T, voltage=sv["voltage"],
                        until_current=sv["until_current"], temperature_program=program,
                        after_temperature=after, cycle=cycle, entry=entry, key=key,
                        dt_max=sv["dt_max"], max_dx=sv["max_dx"])
    ctx.temperature = step.end_temperature
    ctx.first = False
    if kind in ("charge", "discharge"):
        only_voltage = sv["until_capacity"] is None and sv["until_time"] is None
        ctx.voltage = sv["until_voltage"] if only_voltage else None
    elif kind == "hold":
        ctx.voltage = sv["voltage"]
    else:
        ctx.voltage = None  # relaxes: not known without solving
    return step, sr


def _check_cutoff(key: str, kind: str, cutoff: float | None, ctx: _Context) -> None:
    """Refuse a cut-off on the wrong side of the step's start.  After a preceding step
    that ends exactly there, a cut-off equal to that voltage is allowed: the step ends at
    once (a study over target voltages may include the one the protocol is at)."""
    if cutoff is None or ctx.voltage is None:
        return
    v0 = ctx.voltage
    where = ("the starting open-circuit potential" if ctx.first
             else "the voltage the previous step ends at")
    at_start = not ctx.first and cutoff == v0
    if kind == "charge" and cutoff <= v0 and not at_start:
        raise ProtocolError(f"{key}.until_voltage", f"charge cut-off {cutoff:.4g} V is not "
                            f"above {where} {v0:.4g} V")
    if kind == "discharge" and cutoff >= v0 and not at_start:
        raise ProtocolError(f"{key}.until_voltage", f"discharge cut-off {cutoff:.4g} V is "
                            f"not below {where} {v0:.4g} V")
