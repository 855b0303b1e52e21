"""Named metrics of run folders, the simulated side of an observation.

An observation names a metric as a call, ``sxdm_std(sc_nm91_200mAg, dd, rested)``: the
metric's name, then its arguments, each either a case id of the validation set or one of
the metric's fixed choices.  ``parse`` checks a call against ``REGISTRY`` (unknown name,
wrong number of arguments, unknown case, invalid choice: a ``MetricError``, before any
run); ``evaluate`` computes it from the run and analysis folders, or raises
``NotComputed`` with the reason (case file missing, run not finished, quantity not in the
outputs).

States: ``charged`` is the end of the mapped charge (the last charge step of the run),
``rested`` the end of the run (after the ex situ open-circuit rest).
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from solver.output import read_timeseries

CASE = "case"  # argument kind: a case id of the validation set
STATES = ("charged", "rested")
MAPS = {"dd": "dd_mean", "theta_xy": "theta_xy_deg", "theta_xz": "theta_xz_deg"}


class MetricError(ValueError):
    """A metric call that cannot be evaluated on any run (bad input)."""


class NotComputed(RuntimeError):
    """The metric has no value (yet): the reason is the message."""


@dataclass
class Context:
    """Where the runs and their analyses of one report are."""

    run_dirs: dict[str, Path]  # case id -> run folder (may not exist)
    analysis_dir: Path  # <report>/analysis: synthetic SXDM and XRD per case
    missing: set[str] = field(default_factory=set)  # case ids without a case file
    _ts: dict[str, dict[str, np.ndarray]] = field(default_factory=dict, repr=False)

    def run_dir(self, case: str) -> Path:
        """The folder of a completed run, or NotComputed."""
        if case in self.missing:
            raise NotComputed(f"{case}: case file missing (not merged yet)")
        d = self.run_dirs.get(case)
        if d is None or not d.exists():
            raise NotComputed(f"{case}: not run")
        try:
            status = json.loads((d / "status.json").read_text()).get("status")
        except (OSError, ValueError):
            status = "unfinished"
        if status != "completed" or (d / "INCOMPLETE").exists():
            raise NotComputed(f"{case}: run {status or 'unfinished'} ({d})")
        return d

    def timeseries(self, case: str) -> dict[str, np.ndarray]:
        if case not in self._ts:
            self._ts[case] = read_timeseries(self.run_dir(case) / "timeseries.csv")
        return self._ts[case]

    def analysis(self, case: str) -> Path:
        self.run_dir(case)
        return self.analysis_dir / case


# --------------------------------------------------------------------------- helpers
def step_ends(ts: dict[str, np.ndarray], kind: str) -> list[int]:
    """Row index of the last row of every protocol step of type ``kind``, in order."""
    steps = ts["protocol_step"].astype(int)
    out = []
    for k in np.unique(steps):
        rows = np.flatnonzero(steps == k)
        if str(ts["step_type"][rows[0]]) == kind:
            out.append(int(rows[-1]))
    return out


def step_starts(ts: dict[str, np.ndarray], kind: str) -> list[int]:
    """Row index of the row before the first row of every protocol step of type ``kind``."""
    steps = ts["protocol_step"].astype(int)
    out = []
    for k in np.unique(steps):
        rows = np.flatnonzero(steps == k)
        if str(ts["step_type"][rows[0]]) == kind:
            out.append(max(int(rows[0]) - 1, 0))
    return out


def mapped_charge_end(ts: dict[str, np.ndarray]) -> int:
    """Row of the end of the last charge step: the charge that is mapped."""
    ends = step_ends(ts, "charge")
    if not ends:
        raise NotComputed("no charge step in the run")
    return ends[-1]


def _finite(v: float, what: str) -> float:
    if not math.isfinite(v):
        raise NotComputed(f"{what}: not finite in the outputs")
    return float(v)


def _column(ts: dict[str, np.ndarray], name: str, case: str) -> np.ndarray:
    if name not in ts:
        raise NotComputed(f"{case}: no column {name} in timeseries.csv")
    return ts[name].astype(float)


# --------------------------------------------------------------------------- metrics
def capacity_mAh_g(ctx: Context, case: str) -> float:
    """Specific charge passed in the mapped charge (to the cut-off) [mAh/g]."""
    ts = ctx.timeseries(case)
    return _finite(float(ts["step_capacity_mAh_g"][mapped_charge_end(ts)]), case)


def retest_capacity_mAh_g(ctx: Context, case: str) -> float:
    """Discharge capacity of the last discharge step of the run [mAh/g] (the re-test)."""
    ts = ctx.timeseries(case)
    ends = step_ends(ts, "discharge")
    if not ends:
        raise NotComputed(f"{case}: no discharge step")
    return _finite(abs(float(ts["step_capacity_mAh_g"][ends[-1]])), case)


def pre_anneal_capacity_mAh_g(ctx: Context, case: str) -> float:
    """Discharge capacity of the last discharge step that ends before the anneal [mAh/g]
    (the last abuse cycle)."""
    ts = ctx.timeseries(case)
    starts = step_starts(ts, "anneal")
    if not starts:
        raise NotComputed(f"{case}: no anneal step")
    ends = [e for e in step_ends(ts, "discharge") if e <= starts[0]]
    if not ends:
        raise NotComputed(f"{case}: no discharge before the anneal")
    return _finite(abs(float(ts["step_capacity_mAh_g"][ends[-1]])), case)


def capacity_change_mAh_g(ctx: Context, case: str, reference: str) -> float:
    """Re-test discharge capacity of ``case`` minus that of ``reference`` [mAh/g]."""
    return retest_capacity_mAh_g(ctx, case) - retest_capacity_mAh_g(ctx, reference)


def retention(ctx: Context, case: str) -> float:
    """Discharge capacity of the last cycle / of the first (cycles.csv) [-]."""
    path = ctx.run_dir(case) / "cycles.csv"
    if not path.exists():
        raise NotComputed(f"{case}: no cycles.csv (no cycle blocks)")
    ret = np.atleast_1d(read_timeseries(path)["retention"]).astype(float)
    ret = ret[np.isfinite(ret)]
    if not ret.size:
        raise NotComputed(f"{case}: no finite retention in cycles.csv")
    return float(ret[-1])


def _state_row(ts: dict[str, np.ndarray], state: str) -> int:
    return mapped_charge_end(ts) if state == "charged" else len(ts["time_s"]) - 1


def strain_std(ctx: Context, case: str, state: str) -> float:
    """Volume std of the d(003) strain (timeseries strain_003_std) at ``state`` [-]."""
    ts = ctx.timeseries(case)
    return _finite(float(_column(ts, "strain_003_std", case)[_state_row(ts, state)]), case)


def x_std(ctx: Context, case: str, state: str) -> float:
    """Volume std of the Li fraction at ``state`` [-]."""
    ts = ctx.timeseries(case)
    return _finite(float(ts["x_std"][_state_row(ts, state)]), case)


def gb_stress_max_MPa(ctx: Context, case: str) -> float:
    """Largest grain-boundary von Mises stress over the run [MPa] (polycrystals)."""
    v = _column(ctx.timeseries(case), "gb_stress_max_Pa", case)
    v = v[np.isfinite(v)]
    if not v.size:
        raise NotComputed(f"{case}: no grain boundary (gb_stress_max_Pa empty)")
    return float(v.max()) / 1e6


def vm_stress_max_MPa(ctx: Context, case: str) -> float:
    """Largest von Mises stress anywhere over the run [MPa] (bulk and boundaries)."""
    v = _column(ctx.timeseries(case), "vm_stress_max_Pa", case)
    v = v[np.isfinite(v)]
    if not v.size:
        raise NotComputed(f"{case}: no stress outputs")
    return float(v.max()) / 1e6


def anneal_strain_ratio(ctx: Context, case: str) -> float:
    """strain_003_std after the anneal step / before it [-] (< 1: the distribution narrows)."""
    ts = ctx.timeseries(case)
    ends, starts = step_ends(ts, "anneal"), step_starts(ts, "anneal")
    if not ends:
        raise NotComputed(f"{case}: no anneal step")
    s = _column(ts, "strain_003_std", case)
    before, after = float(s[starts[0]]), float(s[ends[0]])
    if not (math.isfinite(before) and math.isfinite(after)) or before <= 0:
        raise NotComputed(f"{case}: strain_003_std not available around the anneal")
    return after / before


def _sxdm(ctx: Context, case: str, state: str) -> dict[str, Any]:
    path = ctx.analysis(case) / f"sxdm_{state}.json"
    if not path.exists():
        raise NotComputed(f"{case}: no SXDM map of the {state} state ({path})")
    return json.loads(path.read_text())


def sxdm_std(ctx: Context, case: str, map_name: str, state: str) -> float:
    """Standard deviation of a synthetic SXDM map over the particle (dd: Δd/d against the
    map mean [-]; theta_xy, theta_xz: tilts [deg])."""
    return float(_sxdm(ctx, case, state)["maps"][MAPS[map_name]]["std"])


def _xrd_rows(ctx: Context, case: str) -> tuple[list[dict[str, float]], float]:
    """XRD fit rows up to the end of the mapped charge, and that end time."""
    path = ctx.analysis(case) / "xrd" / "fits.csv"
    if not path.exists():
        raise NotComputed(f"{case}: no XRD analysis ({path})")
    cols = read_timeseries(path)
    ts = ctx.timeseries(case)
    t_end = float(ts["time_s"][mapped_charge_end(ts)])
    rows = [{k: float(cols[k][i]) for k in cols} for i in range(len(cols["time_s"]))]
    return [r for r in rows if r["time_s"] <= t_end + 1e-6], t_end


def xrd_two_phase_dc_A(ctx: Context, case: str) -> float:
    """Largest |c2 - c1| of the (003) two-phase fit over the outputs of the mapped charge
    where two phases are detected [Å]; 0 when one phase fits throughout."""
    rows, _ = _xrd_rows(ctx, case)
    dcs = [abs(r["c2_A"] - r["c1_A"]) for r in rows if int(r["phases"]) == 2]
    return float(max(dcs)) if dcs else 0.0


def xrd_c_contraction_pct(ctx: Context, case: str) -> float:
    """c-axis contraction from its maximum during the charge to the end of the charge, from
    the single-peak (003) fit [%]."""
    rows, _ = _xrd_rows(ctx, case)
    if not rows:
        raise NotComputed(f"{case}: no XRD output during the charge")
    c = np.array([r["c_single_A"] for r in rows])
    return float((c.max() - c[-1]) / c.max() * 100.0)


def phase_fraction(ctx: Context, case: str, phase: str, at: str) -> float:
    """Synthesis: volume fraction of ``phase`` at 300 degC (the first row at or above
    573.15 K) or at the end, from the synthesis timeseries (columns precursor, layered,
    rock_salt, layered_via_rock_salt: docs/synthesis.md)."""
    ts = ctx.timeseries(case)
    col = _column(ts, phase if phase in ts else f"{phase}_fraction", case)
    if at == "end":
        return _finite(float(col[-1]), case)
    T = _column(ts, "temperature_K", case)
    hot = np.flatnonzero(T >= 573.15 - 1e-6)
    if not hot.size:
        raise NotComputed(f"{case}: never reaches 300 degC")
    return _finite(float(col[hot[0]]), case)


@dataclass(frozen=True)
class Metric:
    """A registered metric: its function, argument kinds and unit."""

    func: Callable[..., float]
    args: tuple[Any, ...]  # CASE or a tuple of allowed words
    unit: str

    @property
    def doc(self) -> str:
        return " ".join((self.func.__doc__ or "").split())


REGISTRY: dict[str, Metric] = {
    "capacity_mAh_g": Metric(capacity_mAh_g, (CASE,), "mAh/g"),
    "retest_capacity_mAh_g": Metric(retest_capacity_mAh_g, (CASE,), "mAh/g"),
    "pre_anneal_capacity_mAh_g": Metric(pre_anneal_capacity_mAh_g, (CASE,), "mAh/g"),
    "capacity_change_mAh_g": Metric(capacity_change_mAh_g, (CASE, CASE), "mAh/g"),
    "retention": Metric(retention, (CASE,), "-"),
    "strain_std": Metric(strain_std, (CASE, STATES), "-"),
    "x_std": Metric(x_std, (CASE, STATES), "-"),
    "gb_stress_max_MPa": Metric(gb_stress_max_MPa, (CASE,), "MPa"),
    "vm_stress_max_MPa": Metric(vm_stress_max_MPa, (CASE,), "MPa"),
    "anneal_strain_ratio": Metric(anneal_strain_ratio, (CASE,), "-"),
    "sxdm_std": Metric(sxdm_std, (CASE, tuple(MAPS), STATES), "- (dd) / deg (tilts)"),
    "xrd_two_phase_dc_A": Metric(xrd_two_phase_dc_A, (CASE,), "Å"),
    "xrd_c_contraction_pct": Metric(xrd_c_contraction_pct, (CASE,), "%"),
    "phase_fraction": Metric(phase_fraction, (CASE, ("precursor", "layered", "rock_salt",
                                                     "layered_via_rock_salt"),
                                              ("300C", "end")), "-"),
}

_CALL = re.compile(r"^\s*([A-Za-z_][A-Za-z0-9_]*)\s*\((.*)\)\s*$")


@dataclass(frozen=True)
class Call:
    """A parsed metric call."""

    name: str
    args: tuple[str, ...]

    def __str__(self) -> str:
        return f"{self.name}({', '.join(self.args)})"

    def cases(self) -> list[str]:
        return [a for a, kind in zip(self.args, REGISTRY[self.name].args, strict=True)
                if kind == CASE]


def parse(text: Any, case_ids: list[str]) -> Call:
    """Check a metric call against the registry and the validation set (MetricError)."""
    if not isinstance(text, str):
        raise MetricError(f"expected a metric call such as 'capacity_mAh_g(case)'; got "
                          f"{text!r}")
    m = _CALL.match(text)
    if m is None:
        raise MetricError(f"expected a metric call such as 'capacity_mAh_g(case)'; got "
                          f"{text!r}")
    name = m.group(1)
    if name not in REGISTRY:
        raise MetricError(f"unknown metric {name!r} (known: {', '.join(REGISTRY)})")
    args = tuple(a.strip() for a in m.group(2).split(",")) if m.group(2).strip() else ()
    spec = REGISTRY[name].args
    if len(args) != len(spec):
        raise MetricError(f"{name} takes {len(spec)} argument(s) "
                          f"({', '.join('case' if k == CASE else '|'.join(k) for k in spec)}); "
                          f"got {len(args)}")
    for a, kind in zip(args, spec, strict=True):
        if kind == CASE and a not in case_ids:
            raise MetricError(f"{name}: unknown case {a!r} (cases of the validation set: "
                              f"{', '.join(case_ids)})")
        if kind != CASE and a not in kind:
            raise MetricError(f"{name}: expected one of {', '.join(kind)}; got {a!r}")
    return Call(name, args)


def evaluate(ctx: Context, call: Call) -> float:
    """The value of a parsed call, or NotComputed."""
    return float(REGISTRY[call.name].func(ctx, *call.args))


def registry_markdown() -> str:
    """The metric table of docs/validation.md."""
    lines = ["| metric | arguments | unit | meaning |", "|---|---|---|---|"]
    for name, m in REGISTRY.items():
        args = ", ".join("case" if k == CASE else "|".join(k) for k in m.args)
        lines.append(f"| `{name}` | {args} | {m.unit} | {m.doc} |")
    return "\n".join(lines) + "\n"
