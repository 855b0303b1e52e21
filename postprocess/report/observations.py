"""Observations are data: the observation file, checked and judged.

One ``[[observation]]`` table per measured fact::

    [[observation]]
    id = "W25-sxdm-dd-200-rested"      # unique
    paper = "W25"                       # the source's key (../shared/PARAMETERS.md)
    quantity = "std of the SXDM Δd/d map, SC, 200 mA/g, ex situ"
    statement = "SC-NM91 shows a larger (003) d-spacing heterogeneity than SC-NC91"
    compare = "ordering"                # ordering | value | range
    metric = "sxdm_std(sc_nm91_200mAg, dd, rested)"
    relation = ">"                      # ordering: metric RELATION versus
    versus = "sxdm_std(sc_nc91_200mAg, dd, rested)"
    # value: measured = 6.0, tolerance = 1.0 (absolute, in unit); range: range = [lo, hi]
    unit = ""
    fitted = ""    # non-empty: the parameter fitted to this observation (then "fitted")
    note = ""

Marks: ``agree``, ``disagree``, ``not computed`` (a case missing or not run, a quantity
not in the outputs), ``fitted`` (a parameter was fitted to this observation: the values
are shown, but the row is not a prediction).  Ordering: agree when the difference has the
stated sign and exceeds ``tolerance`` (default 0) in magnitude.

Every row is checked before any run: unknown or missing keys, a wrong type, an unknown
metric or case, a missing ``versus``/``measured``/``range`` give an ``ObservationError``
naming the file and the row (exit 2 in the CLI).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from postprocess.report import metrics as mx
from solver.config import CaseError, load_toml

KEYS = ("id", "paper", "quantity", "statement", "compare", "metric", "relation", "versus",
        "measured", "tolerance", "range", "unit", "fitted", "note")
REQUIRED = ("id", "paper", "quantity", "compare", "metric")
COMPARES = ("ordering", "value", "range")
RELATIONS = (">", "<")
MARKS = ("agree", "disagree", "not computed", "fitted")


class ObservationError(CaseError):
    """A malformed observation file or row (names the file and the row)."""


@dataclass
class Observation:
    """One checked observation."""

    id: str
    paper: str
    quantity: str
    statement: str
    compare: str
    metric: mx.Call
    relation: str = ">"
    versus: mx.Call | None = None
    measured: float | None = None
    tolerance: float = 0.0
    range: tuple[float, float] | None = None
    unit: str = ""
    fitted: str = ""
    note: str = ""

    def measured_text(self) -> str:
        """What was measured, as the report prints it."""
        if self.compare == "ordering":
            return f"{self.metric} {self.relation} {self.versus}"
        if self.compare == "range":
            lo, hi = self.range or (math.nan, math.nan)
            return f"{lo:g} to {hi:g} {self.unit}".strip()
        return f"{self.measured:g} ± {self.tolerance:g} {self.unit}".strip()


@dataclass
class Result:
    """An observation with its simulated value(s) and its mark."""

    obs: Observation
    mark: str
    simulated: str
    detail: str = ""


def _number(src: str, where: str, key: str, v: Any) -> float:
    if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
        raise ObservationError(src, f"{where}: {key}", f"expected a finite number; got {v!r}")
    return float(v)


def _text(src: str, where: str, key: str, v: Any, required: bool) -> str:
    if v is None and not required:
        return ""
    if not isinstance(v, str) or (required and not v.strip()):
        raise ObservationError(src, f"{where}: {key}", f"expected a non-empty string; got "
                               f"{v!r}")
    return v


def parse_rows(src: str, data: dict[str, Any], case_ids: list[str]) -> list[Observation]:
    """Check every row of an observation file's contents (ObservationError)."""
    bad = sorted(set(data) - {"observation"})
    if bad:
        raise ObservationError(src, bad[0], "unknown key (expected [[observation]] tables)")
    rows = data.get("observation")
    if not isinstance(rows, list) or not rows:
        raise ObservationError(src, "observation", "expected one or more [[observation]] "
                               "tables")
    out: list[Observation] = []
    for i, row in enumerate(rows):
        where = f"observation[{i}]"
        if not isinstance(row, dict):
            raise ObservationError(src, where, "expected a table")
        if isinstance(row.get("id"), str):
            where = f"observation[{i}] (id {row['id']!r})"
        unknown = sorted(set(row) - set(KEYS))
        if unknown:
            raise ObservationError(src, f"{where}: {unknown[0]}",
                                   f"unknown key (valid: {', '.join(KEYS)})")
        for k in REQUIRED:
            if k not in row:
                raise ObservationError(src, f"{where}: {k}", "missing (required: "
                                       f"{', '.join(REQUIRED)})")
        oid = _text(src, where, "id", row["id"], True)
        if oid in (o.id for o in out):
            raise ObservationError(src, f"{where}: id", "duplicate id")
        compare = _text(src, where, "compare", row["compare"], True)
        if compare not in COMPARES:
            raise ObservationError(src, f"{where}: compare", f"expected one of "
                                   f"{', '.join(COMPARES)}; got {compare!r}")

        def call(key: str, row: dict[str, Any] = row, where: str = where) -> mx.Call:
            try:
                return mx.parse(row.get(key), case_ids)
            except mx.MetricError as exc:
                raise ObservationError(src, f"{where}: {key}", str(exc)) from None

        obs = Observation(
            id=oid, paper=_text(src, where, "paper", row["paper"], True),
            quantity=_text(src, where, "quantity", row["quantity"], True),
            statement=_text(src, where, "statement", row.get("statement"), False),
            compare=compare, metric=call("metric"),
            unit=_text(src, where, "unit", row.get("unit"), False),
            fitted=_text(src, where, "fitted", row.get("fitted"), False),
            note=_text(src, where, "note", row.get("note"), False))
        if "tolerance" in row:
            obs.tolerance = _number(src, where, "tolerance", row["tolerance"])
            if obs.tolerance < 0:
                raise ObservationError(src, f"{where}: tolerance", "must not be negative")
        if compare == "ordering":
            if "versus" not in row:
                raise ObservationError(src, f"{where}: versus", "an ordering needs the "
                                       "metric it is compared with")
            obs.versus = call("versus")
            rel = row.get("relation", ">")
            if rel not in RELATIONS:
                raise ObservationError(src, f"{where}: relation", f"expected '>' or '<'; "
                                       f"got {rel!r}")
            obs.relation = rel
        elif compare == "value":
            if "measured" not in row:
                raise ObservationError(src, f"{where}: measured", "a value comparison needs "
                                       "the measured value (and a tolerance)")
            obs.measured = _number(src, where, "measured", row["measured"])
        else:
            rng = row.get("range")
            if not (isinstance(rng, list) and len(rng) == 2):
                raise ObservationError(src, f"{where}: range", f"expected [low, high]; got "
                                       f"{rng!r}")
            lo, hi = (_number(src, where, "range", v) for v in rng)
            if lo > hi:
                raise ObservationError(src, f"{where}: range", "low > high")
            obs.range = (lo, hi)
        for key in ("versus", "relation") if compare != "ordering" else ():
            if key in row:
                raise ObservationError(src, f"{where}: {key}", f"only for compare = "
                                       f"'ordering' (this row: {compare!r})")
        out.append(obs)
    return out


def load(path: str | Path, case_ids: list[str]) -> list[Observation]:
    """Read and check an observation file."""
    path = Path(path)
    if not path.is_file():
        raise ObservationError(str(path), "", "no such observation file")
    try:
        data = load_toml(path)
    except CaseError as exc:
        raise ObservationError(exc.source, exc.key, exc.message) from None
    return parse_rows(str(path), data, case_ids)


def _fmt(v: float) -> str:
    return f"{v:.4g}"


def judge(ctx: mx.Context, obs: Observation) -> Result:
    """Evaluate an observation's metric(s) and mark it."""
    try:
        a = mx.evaluate(ctx, obs.metric)
        b = mx.evaluate(ctx, obs.versus) if obs.versus is not None else None
    except mx.NotComputed as exc:
        return Result(obs, "not computed", "–", str(exc))
    if obs.compare == "ordering":
        diff = a - b if obs.relation == ">" else b - a
        ok = diff > obs.tolerance
        simulated = f"{_fmt(a)} vs {_fmt(b)}"
        detail = (f"{obs.metric} = {_fmt(a)}, {obs.versus} = {_fmt(b)}: "
                  + ("the stated order" if ok else "the reverse order" if diff < 0 else
                     "no difference beyond the tolerance"))
    elif obs.compare == "value":
        ok = abs(a - obs.measured) <= obs.tolerance
        simulated = f"{_fmt(a)} {obs.unit}".strip()
        detail = f"{obs.metric} = {_fmt(a)}; measured {obs.measured_text()}"
    else:
        lo, hi = obs.range
        ok = lo <= a <= hi
        simulated = f"{_fmt(a)} {obs.unit}".strip()
        detail = f"{obs.metric} = {_fmt(a)}; measured {obs.measured_text()}"
    if obs.fitted:
        return Result(obs, "fitted", simulated, f"{detail} ({'reproduced' if ok else 'NOT '
                      'reproduced'} by the fit: {obs.fitted})")
    return Result(obs, "agree" if ok else "disagree", simulated, detail)


def judge_all(ctx: mx.Context, observations: list[Observation]) -> list[Result]:
    return [judge(ctx, o) for o in observations]
