"""Collect a study: one table of every run's end-of-run metrics and a summary figure.

``results.csv`` (and ``results.parquet`` when pyarrow is installed) has one row per run of
``manifest.csv``, in manifest order: run id, folder, the swept parameters, ``status``
(completed, max_steps, failed, unfinished, not started) and the metrics below.  A run
that did not complete keeps its row, with its status, the error of a failed run and how
far it got (steps, time), and empty end metrics: nothing is dropped silently.

Metrics (SI unless the name says otherwise), from ``timeseries.csv`` and ``status.json``:

* ``capacity_mAh_g``: net specific charge passed at the end (charge positive);
* ``voltage_V``: final voltage; ``time_s``, ``steps``: simulated time and accepted steps;
* ``x_std_end``, ``x_range_end`` (x_max - x_min): Li heterogeneity at the end;
* ``strain_003_std_end``, ``strain_003_std_max``: spread of the d(003) strain;
* ``vm_stress_max_Pa``: largest von Mises stress over the whole run;
  ``hydrostatic_stress_min_Pa``/``_max_Pa``: most compressive/tensile over the run;
* ``wall_s`` (wall time of the run), ``ranks``.
"""

from __future__ import annotations

import csv
import json
import math
import re
from pathlib import Path
from typing import Any

import numpy as np

from solver.output import read_timeseries
from solver.study import read_manifest, sanitise

METRICS = ["capacity_mAh_g", "voltage_V", "time_s", "steps", "x_std_end", "x_range_end",
           "strain_003_std_end", "strain_003_std_max", "vm_stress_max_Pa",
           "hydrostatic_stress_min_Pa", "hydrostatic_stress_max_Pa", "wall_s", "ranks"]


def _status(run_dir: Path) -> tuple[str, dict[str, Any]]:
    if not run_dir.exists():
        return "not started", {}
    try:
        status = json.loads((run_dir / "status.json").read_text())
    except (OSError, ValueError):
        return "unfinished", {}
    s = status.get("status", "unfinished")
    if s == "running" or ((run_dir / "INCOMPLETE").exists() and s != "failed"):
        s = "unfinished"  # still running, or killed: status.json says running
    return s, status


def _finite_or_nan(values: np.ndarray, fn) -> float:
    v = values[np.isfinite(values)]
    return float(fn(v)) if v.size else float("nan")


def run_metrics(run_dir: Path) -> dict[str, Any]:
    """Status and end-of-run metrics of one run folder."""
    status, info = _status(run_dir)
    row: dict[str, Any] = {"status": status, "error": info.get("error", "")}
    ts_path = run_dir / "timeseries.csv"
    ts = read_timeseries(ts_path) if ts_path.exists() else {}
    if ts and ts["step"].size:
        row["steps"] = int(ts["step"][-1])
        row["time_s"] = float(ts["time_s"][-1])
    if status not in ("completed", "max_steps") or not ts or not ts["step"].size:
        return row  # no end state to report
    row.update({
        "capacity_mAh_g": float(ts["capacity_mAh_g"][-1]),
        "voltage_V": float(ts["voltage_V"][-1]),
        "x_std_end": float(ts["x_std"][-1]),
        "x_range_end": float(ts["x_max"][-1] - ts["x_min"][-1]),
        "strain_003_std_end": float(ts["strain_003_std"][-1]),
        "strain_003_std_max": _finite_or_nan(ts["strain_003_std"], np.max),
        "vm_stress_max_Pa": _finite_or_nan(ts["vm_stress_max_Pa"], np.max),
        "hydrostatic_stress_min_Pa": _finite_or_nan(ts["hydrostatic_stress_min_Pa"], np.min),
        "hydrostatic_stress_max_Pa": _finite_or_nan(ts["hydrostatic_stress_max_Pa"], np.max),
        "wall_s": info.get("wall_s", float(ts["wall_s"][-1])),
        "ranks": info.get("ranks", ""),
    })
    return row


def collect(study_dir: Path) -> tuple[list[str], list[dict[str, Any]]]:
    """(swept keys, one row per run) of a study folder."""
    keys, manifest = read_manifest(study_dir)
    rows = []
    for m in manifest:
        row = {"run_id": m["run_id"], "folder": m["folder"], **{k: m[k] for k in keys}}
        row.update(run_metrics(study_dir / "runs" / m["folder"]))
        rows.append(row)
    return keys, rows


def write_table(study_dir: Path, keys: list[str], rows: list[dict[str, Any]]) -> list[Path]:
    """results.csv (+ results.parquet with pyarrow), each written to a temp name first."""
    columns = ["run_id", "folder", *keys, "status", *METRICS, "error"]
    path = study_dir / "results.csv"
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=columns, extrasaction="ignore")
        w.writeheader()
        for r in rows:
            w.writerow({c: (f"{v:.10g}" if isinstance(v, float) else v)
                        for c, v in r.items()})
    tmp.replace(path)
    written = [path]
    try:
        import pyarrow as pa
        import pyarrow.parquet as pq
    except ImportError:
        return written
    table = {c: [r.get(c) for r in rows] for c in columns}
    for c in METRICS:
        table[c] = [float(v) if v not in (None, "") else None for v in table[c]]
    for c in ("run_id", "folder", *keys, "status", "error"):
        table[c] = [None if v is None else str(v) for v in table[c]]
    ppath = study_dir / "results.parquet"
    ptmp = ppath.with_name(ppath.name + ".tmp")
    pq.write_table(pa.table(table), str(ptmp))
    ptmp.replace(ppath)
    written.append(ppath)
    return written


_QUANTITY = re.compile(r"^\s*([-+0-9.eE]+)\s*(\S.*)?$")


def _numeric(values: list[str]) -> tuple[list[float], str] | None:
    """Numbers and a common unit if every value is '<number> [unit]'; else None."""
    nums, units = [], set()
    for v in values:
        m = _QUANTITY.match(str(v))
        if not m:
            return None
        try:
            nums.append(float(m.group(1)))
        except ValueError:
            return None
        units.add(m.group(2) or "")
    return (nums, units.pop()) if len(units) == 1 else None


def summary_figure(study_dir: Path, keys: list[str], rows: list[dict[str, Any]],
                   metric: str, versus: str) -> Path:
    """``metric`` against the swept parameter ``versus``, one line per combination of the
    other swept parameters; runs without an end state are counted in the title."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    done = [r for r in rows if r["status"] in ("completed", "max_steps")
            and r.get(metric) not in (None, "") and math.isfinite(float(r[metric]))]
    others = [k for k in keys if k != versus]
    xs_all = [r[versus] for r in rows]
    numeric = _numeric(xs_all)
    categories = list(dict.fromkeys(xs_all))
    fig, ax = plt.subplots(figsize=(6.4, 4.4), constrained_layout=True)
    groups: dict[tuple, list[dict[str, Any]]] = {}
    for r in done:
        groups.setdefault(tuple(r[k] for k in others), []).append(r)
    for label, members in groups.items():
        if numeric:
            xs = [_numeric([r[versus]])[0][0] for r in members]
        else:
            xs = [categories.index(r[versus]) for r in members]
        order = np.argsort(xs)
        ys = [float(members[i][metric]) for i in order]
        ax.plot(np.asarray(xs)[order], ys, "o-",
                label=", ".join(f"{k}={v}" for k, v in zip(others, label, strict=True)) or None)
    if numeric:
        ax.set_xlabel(f"{versus} [{numeric[1]}]" if numeric[1] else versus)
    else:
        ax.set_xticks(range(len(categories)), categories)
        ax.set_xlabel(versus)
    ax.set_ylabel(metric)
    missing = len(rows) - len(done)
    ax.set_title(f"{study_dir.name}: {len(done)} runs" + (
        f" ({missing} without an end state: see results.csv)" if missing else ""), fontsize=9)
    if others:
        ax.legend(fontsize=7)
    ax.grid(alpha=0.3)
    path = study_dir / f"summary_{sanitise(metric)}_vs_{sanitise(versus)}.png"
    tmp = path.with_name(path.stem + ".tmp.png")
    fig.savefig(tmp, dpi=130)
    plt.close(fig)
    tmp.replace(path)
    return path
