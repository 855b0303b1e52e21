"""The run folder: safe creation, status markers, resolved case, time series, fields.

Safety rules: an existing non-empty folder is refused unless ``force``; while a run is
going (or after it died) the folder holds ``INCOMPLETE`` and ``status.json`` says
``running``/``failed``; only a run that reached its end removes ``INCOMPLETE``.  Only
rank 0 touches the file system except for the collective field writers.
"""

from __future__ import annotations

import csv
import json
import shutil
import time
from pathlib import Path
from typing import Any

import numpy as np

INCOMPLETE = "INCOMPLETE"
STATUS = "status.json"

TIMESERIES_COLUMNS = [
    "step", "time_s", "dt_s", "protocol_step", "step_type", "cycle", "temperature_K",
    "voltage_V", "current_A", "specific_current_A_kg", "soc", "capacity_mAh_g",
    "step_capacity_mAh_g", "x_mean", "x_min", "x_max", "x_std", "x_surface_mean",
    "x_surface_std", "eta_surface_mean_V", "li_total_mol", "li_out_mol",
    "newton_its", "ksp_its", "coupling_its", "elasticity_ksp_its", "strain_003_mean",
    "strain_003_std", "vm_stress_max_Pa", "hydrostatic_stress_min_Pa",
    "hydrostatic_stress_max_Pa", "elastic_energy_J", "residual_strain_mean",
    "residual_strain_std", "inactive_fraction", "li_barrier_shift_mean_eV", "wall_s",
    "gb_stress_max_Pa", "gb_normal_stress_max_Pa",
]
MECHANICS_COLUMNS = ["strain_003_mean", "strain_003_std", "vm_stress_max_Pa",
                     "hydrostatic_stress_min_Pa", "hydrostatic_stress_max_Pa",
                     "elastic_energy_J"]
DEFECT_COLUMNS = ["residual_strain_mean", "residual_strain_std", "inactive_fraction",
                  "li_barrier_shift_mean_eV"]


class OutputExistsError(RuntimeError):
    """The output folder exists and --force was not given."""


def check_output_dir(path: Path, force: bool) -> str | None:
    """Return an error message if ``path`` may not be used (rank 0, before heavy work)."""
    if path.exists() and not path.is_dir():
        return f"{path}: exists and is not a folder"
    if path.exists() and any(path.iterdir()) and not force:
        return (f"{path}: output folder exists and is not empty; use --force to replace it "
                "or --output to choose another")
    return None


def create_output_dir(path: Path, force: bool) -> None:
    """Create (or, with force, empty and re-create) the folder and mark it incomplete."""
    if path.exists() and force:
        shutil.rmtree(path)
    path.mkdir(parents=True, exist_ok=True)
    (path / INCOMPLETE).write_text(
        "This run has not finished (still running, killed or failed). See status.json and "
        "run.log.\n")
    write_status(path, "running")


def mark_running(path: Path, **extra: Any) -> None:
    """Mark an existing run folder as running again (a restart)."""
    (path / INCOMPLETE).write_text(
        "This run has not finished (still running, killed or failed). See status.json and "
        "run.log.\n")
    write_status(path, "running", **extra)


def write_status(path: Path, status: str, **extra: Any) -> None:
    """Atomically write status.json."""
    tmp = path / (STATUS + ".tmp")
    tmp.write_text(json.dumps({"status": status, "time": time.strftime("%Y-%m-%dT%H:%M:%S"),
                               **extra}, indent=2) + "\n")
    tmp.replace(path / STATUS)


def finish(path: Path, status: str, **extra: Any) -> None:
    """Mark the run finished: status.json, then remove INCOMPLETE."""
    write_status(path, status, **extra)
    (path / INCOMPLETE).unlink(missing_ok=True)


def write_resolved_case(path: Path, resolved: dict[str, Any]) -> None:
    """Write case.resolved.toml (every key with its default filled)."""
    import tomli_w

    def clean(obj: Any) -> Any:
        if isinstance(obj, dict):
            return {k: clean(v) for k, v in obj.items() if v is not None}
        if isinstance(obj, list):
            return [clean(v) for v in obj]
        return obj

    (path / "case.resolved.toml").write_text(tomli_w.dumps(clean(resolved)))


class TimeSeries:
    """timeseries.csv, one row per accepted step, flushed at every row (rank 0 only).

    ``append``: continue an existing file (a restart, after truncate_timeseries).
    """

    def __init__(self, path: Path | None, append: bool = False):
        self._file = None
        if path is not None:
            self._file = open(path, "a" if append else "w", newline="")
            self._writer = csv.DictWriter(self._file, fieldnames=TIMESERIES_COLUMNS)
            if not append:
                self._writer.writeheader()
            self._file.flush()

    def write(self, row: dict[str, Any]) -> None:
        if self._file is None:
            return
        out = {}
        for k in TIMESERIES_COLUMNS:
            v = row[k]
            out[k] = f"{v:.12g}" if isinstance(v, (float, np.floating)) else v
        self._writer.writerow(out)
        self._file.flush()

    def close(self) -> None:
        if self._file is not None:
            self._file.close()


def truncate_timeseries(path: Path, last_step: int, require_row: bool = True) -> None:
    """Keep the header and the rows up to accepted step ``last_step`` (atomically).

    A run killed after its last checkpoint wrote rows past it (possibly a half row); the
    restart recomputes those steps, so they are dropped before it appends.  Any CSV whose
    first column is the step works (``grains.csv`` too, with ``require_row=False``: it
    has rows only at field outputs).
    """
    with open(path, newline="") as fh:
        lines = fh.read().splitlines(keepends=True)
    header, kept = lines[0], []
    for line in lines[1:]:
        first = line.split(",", 1)[0]
        if not line.endswith("\n") or not first.isdigit() or int(first) > last_step:
            break
        kept.append(line)
    if require_row and (not kept or int(kept[-1].split(",", 1)[0]) != last_step):
        raise RuntimeError(f"{path}: no row for step {last_step} (the checkpoint's step); "
                           "the time series does not belong to this checkpoint")
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(header + "".join(kept))
    tmp.replace(path)


def write_pvd(path: Path, entries: list) -> None:
    """Write a ParaView collection (.pvd) listing (time, file) entries, atomically."""
    lines = ['<?xml version="1.0"?>', '<VTKFile type="Collection" version="1.0">',
             "  <Collection>"]
    lines += [f'    <DataSet timestep="{t:.17g}" part="0" file="{f}" />' for t, f in entries]
    lines += ["  </Collection>", "</VTKFile>", ""]
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text("\n".join(lines))
    tmp.replace(path)


def read_timeseries(path: str | Path) -> dict[str, np.ndarray]:
    """Read a timeseries.csv into columns (numbers as float arrays)."""
    with open(path, newline="") as fh:
        rows = list(csv.DictReader(fh))
    cols: dict[str, np.ndarray] = {}
    for key in rows[0] if rows else TIMESERIES_COLUMNS:
        vals = [r[key] for r in rows]
        try:
            cols[key] = np.array([float(v) for v in vals])
        except ValueError:
            cols[key] = np.array(vals)
    return cols
