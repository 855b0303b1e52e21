"""Parameter studies: a base case, swept case keys, one run folder per combination.

A study file (TOML) names a base case and the keys to vary, by the ``--set`` paths of
solver/config.py (``material.name``, ``protocol.0.current``, ...)::

    base = "demo.toml"                 # relative to the study file
    [sweep.product]                    # every combination
    "material.name" = ["NC91", "NM91"]
    "protocol.0.current" = { start = 20, stop = 200, num = 3, unit = "mA/g" }
    [[sweep.zip]]                      # lists advanced together (one axis)
    "geometry.radius" = ["1.5 um", "2.5 um"]
    "geometry.refinement_depth" = ["0.4 um", "0.6 um"]
    [run]
    ranks = 2                          # mpiexec -n 2 per run (default 1)
    [slurm]
    time = "04:00:00"
    mem = "8G"

A value list is a TOML array or a range table: ``{start, stop, num}`` (evenly spaced,
both ends included), ``{start, stop, step}`` (stop included when a step lands on it),
``scale = "log"`` with ``num`` (geometric spacing); ``unit = "mA/g"`` turns the numbers
into quantities.  The runs are the product of all ``product`` axes and ``zip`` groups.

The study folder holds ``manifest.csv`` (run id, folder, swept values), ``cases/<run>.toml``
(the complete case of every run), ``runs/<run>/`` (each run's output folder),
``logs/`` and, with ``--slurm``, ``study.slurm``.  Run folders are named from their
parameters (``name_NM91__current_200mA_g``): stable when the study grows, unique (a short
hash is appended if two names would collide after sanitising).

This module imports no DOLFINx or MPI: expanding, validating and launching are instant;
every run is a separate ``chemomech run`` process (under ``mpiexec -n R`` when R > 1), so
a crashing run cannot take the study down and every run gets a fresh MPI.
"""

from __future__ import annotations

import copy
import csv
import hashlib
import itertools
import json
import math
import re
import shlex
import shutil
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import tomli_w

from solver.config import CaseError, apply_overrides, load_toml, validate

STUDY_KEYS = ("base", "name", "description", "output", "sweep", "run", "slurm")
RUN_KEYS = ("ranks", "max_steps", "mpiexec")
SLURM_KEYS = ("time", "mem", "partition", "account", "setup", "command", "options")
MAX_NAME = 120  # characters of a run folder name before it is shortened with a hash


@dataclass
class Run:
    """One combination of the swept parameters."""

    index: int
    folder: str
    params: dict[str, Any]  # key path -> value, as in the study file
    raw: dict[str, Any] = field(repr=False)  # the complete case (base + overrides)

    @property
    def run_id(self) -> str:
        return f"{self.index:04d}"


@dataclass
class Study:
    """An expanded, validated study."""

    path: Path
    name: str
    base: Path
    keys: list[str]
    runs: list[Run]
    ranks: int = 1
    max_steps: int | None = None
    mpiexec: str | None = None
    slurm: dict[str, Any] = field(default_factory=dict)
    output: str | None = None


# --------------------------------------------------------------------------- expansion
def _values(src: str, key: str, spec: Any) -> list[Any]:
    """The list of values of one swept key (array or range table)."""
    if isinstance(spec, list):
        if not spec:
            raise CaseError(src, key, "expected a non-empty list of values")
        return list(spec)
    if not isinstance(spec, dict):
        raise CaseError(src, key, f"expected a list or a range table {{start, stop, num}} / "
                        f"{{start, stop, step}}; got {spec!r}")
    allowed = {"start", "stop", "num", "step", "scale", "unit"}
    unknown = sorted(set(spec) - allowed)
    if unknown:
        raise CaseError(src, f"{key}.{unknown[0]}", f"unknown range key (valid: "
                        f"{', '.join(sorted(allowed))})")
    for k in ("start", "stop"):
        if isinstance(spec.get(k), bool) or not isinstance(spec.get(k), (int, float)):
            raise CaseError(src, f"{key}.{k}", f"expected a number; got {spec.get(k)!r}")
    start, stop = spec["start"], spec["stop"]
    scale = spec.get("scale", "linear")
    if scale not in ("linear", "log"):
        raise CaseError(src, f"{key}.scale", f"expected 'linear' or 'log'; got {scale!r}")
    if ("num" in spec) == ("step" in spec):
        raise CaseError(src, key, "a range needs exactly one of num and step")
    if "num" in spec:
        num = spec["num"]
        if isinstance(num, bool) or not isinstance(num, int) or num < 1:
            raise CaseError(src, f"{key}.num", f"expected a positive integer; got {num!r}")
        if scale == "log":
            if start <= 0 or stop <= 0:
                raise CaseError(src, key, "a log range needs positive start and stop")
            vals = [start * (stop / start) ** (i / (num - 1)) if num > 1 else start
                    for i in range(num)]
        else:
            vals = [start + (stop - start) * i / (num - 1) if num > 1 else start
                    for i in range(num)]
    else:
        step = spec["step"]
        if isinstance(step, bool) or not isinstance(step, (int, float)) or step == 0 or (
                (stop - start) / step < 0):
            raise CaseError(src, f"{key}.step", f"expected a non-zero number leading from "
                            f"start to stop; got {step!r}")
        if scale == "log":
            raise CaseError(src, f"{key}.scale", "a log range takes num, not step")
        count = math.floor((stop - start) / step + 1e-9) + 1
        if count > 10000:
            raise CaseError(src, key, f"{count} values: expected at most 10000")
        vals = [start + i * step for i in range(count)]
    all_int = all(isinstance(spec.get(k, 0), int) for k in ("start", "stop", "step")) and (
        scale == "linear") and all(float(v).is_integer() for v in vals)
    vals = [int(round(v)) if all_int else float(f"{v:.12g}") for v in vals]
    unit = spec.get("unit")
    if unit is not None:
        if not isinstance(unit, str):
            raise CaseError(src, f"{key}.unit", f"expected a unit string; got {unit!r}")
        vals = [f"{v:.12g} {unit}" for v in vals]
    return vals


def _axes(src: str, sweep: Any) -> list[list[dict[str, Any]]]:
    """Axes of the run grid: each a list of {key: value} assignments."""
    if not isinstance(sweep, dict) or not sweep:
        raise CaseError(src, "sweep", "expected a [sweep] table with product and/or zip")
    unknown = sorted(set(sweep) - {"product", "zip"})
    if unknown:
        raise CaseError(src, f"sweep.{unknown[0]}", "unknown key (valid: product, zip)")
    axes: list[list[dict[str, Any]]] = []
    product = sweep.get("product", {})
    if not isinstance(product, dict):
        raise CaseError(src, "sweep.product", "expected a table of key = values")
    for key, spec in product.items():
        axes.append([{key: v} for v in _values(src, f"sweep.product.{key}", spec)])
    groups = sweep.get("zip", [])
    groups = [groups] if isinstance(groups, dict) else groups
    if not isinstance(groups, list):
        raise CaseError(src, "sweep.zip", "expected a table or an array of tables")
    for gi, group in enumerate(groups):
        where = f"sweep.zip[{gi}]" if len(groups) > 1 else "sweep.zip"
        if not isinstance(group, dict) or not group:
            raise CaseError(src, where, "expected a non-empty table of key = values")
        lists = {k: _values(src, f"{where}.{k}", v) for k, v in group.items()}
        lengths = {k: len(v) for k, v in lists.items()}
        if len(set(lengths.values())) != 1:
            raise CaseError(src, where, f"zipped lists differ in length: {lengths}")
        n = next(iter(lengths.values()))
        axes.append([{k: lists[k][i] for k in lists} for i in range(n)])
    seen: set[str] = set()
    for axis in axes:
        for key in axis[0]:
            if key in seen:
                raise CaseError(src, f"sweep: {key}", "swept twice (in product and zip?)")
            seen.add(key)
    if not axes:
        raise CaseError(src, "sweep", "no swept keys")
    return axes


def _label(key: str, keys: list[str]) -> str:
    """Short label of a key: its last named part unless another key shares it."""
    def last(k: str) -> str:
        parts = [p for p in k.split(".") if not p.isdigit()]
        return parts[-1] if parts else k

    if sum(last(k) == last(key) for k in keys) == 1:
        return last(key)
    return key.replace(".", "-")


def sanitise(value: Any) -> str:
    """A value as a folder-name fragment: '200 mA/g' -> '200mA_g', '1.5 um' -> '1.5um'."""
    text = f"{value:.12g}" if isinstance(value, float) else str(value)
    text = text.replace("µ", "u").replace("/", "_").replace(" ", "")
    return re.sub(r"[^A-Za-z0-9._+-]", "-", text) or "empty"


def _short_hash(params: dict[str, Any]) -> str:
    return hashlib.sha1(json.dumps(params, sort_keys=True).encode()).hexdigest()[:8]


def folder_names(keys: list[str], combos: list[dict[str, Any]]) -> list[str]:
    """Stable, unique folder names from the parameter values."""
    names = []
    for params in combos:
        name = "__".join(f"{_label(k, keys)}_{sanitise(params[k])}" for k in keys)
        if len(name) > MAX_NAME:
            name = name[: MAX_NAME - 9] + "_" + _short_hash(params)
        names.append(name)
    counts: dict[str, int] = {}
    for n in names:
        counts[n] = counts.get(n, 0) + 1
    return [n if counts[n] == 1 else f"{n}_{_short_hash(p)}" for n, p in zip(names, combos,
                                                                              strict=True)]


def toml_literal(value: Any) -> str:
    """A value in TOML syntax, as ``--set key=value`` expects it."""
    return tomli_w.dumps({"v": value}).split("=", 1)[1].strip()


def load_study(path: str | Path) -> Study:
    """Read, expand and validate a study: every run's case is validated (CaseError)."""
    path = Path(path)
    src = str(path)
    data = load_toml(path)
    unknown = sorted(set(data) - set(STUDY_KEYS))
    if unknown:
        raise CaseError(src, unknown[0], f"unknown key (valid: {', '.join(STUDY_KEYS)})")
    if not isinstance(data.get("base"), str):
        raise CaseError(src, "base", "expected the base case file, relative to the study file")
    base = (path.parent / data["base"]).resolve()
    try:
        base_raw = load_toml(base)
    except CaseError as exc:
        raise CaseError(src, "base", f"{base}: {exc.message}") from None
    run = data.get("run", {})
    slurm = data.get("slurm", {})
    for section, allowed, table in (("run", RUN_KEYS, run), ("slurm", SLURM_KEYS, slurm)):
        if not isinstance(table, dict):
            raise CaseError(src, section, "expected a table")
        bad = sorted(set(table) - set(allowed))
        if bad:
            raise CaseError(src, f"{section}.{bad[0]}", f"unknown key (valid: "
                            f"{', '.join(allowed)})")
    ranks = run.get("ranks", 1)
    if isinstance(ranks, bool) or not isinstance(ranks, int) or ranks < 1:
        raise CaseError(src, "run.ranks", f"expected a positive integer; got {ranks!r}")
    max_steps = run.get("max_steps")
    if max_steps is not None and (isinstance(max_steps, bool) or not isinstance(max_steps, int)
                                  or max_steps < 0):
        raise CaseError(src, "run.max_steps", f"expected a non-negative integer; got "
                        f"{max_steps!r}")
    _check_slurm(src, slurm)

    axes = _axes(src, data.get("sweep"))
    keys = [k for axis in axes for k in axis[0]]
    combos = [{k: v for part in parts for k, v in part.items()}
              for parts in itertools.product(*axes)]
    folders = folder_names(keys, combos)
    runs = []
    for i, (params, folder) in enumerate(zip(combos, folders, strict=True)):
        where = f"{src} (run {folder})"
        sets = [f"{k}={toml_literal(v)}" for k, v in params.items()]
        try:
            raw = apply_overrides(base_raw, sets, where)
            raw.setdefault("run", {})["name"] = folder
            raw["run"].pop("output", None)  # the study decides where runs go (--output)
            validate(copy.deepcopy(raw), where, folder)
        except CaseError as exc:
            raise CaseError(where, exc.key, exc.message) from None
        runs.append(Run(i, folder, params, raw))
    return Study(path, data.get("name", path.stem), base, keys, runs, ranks, max_steps,
                 run.get("mpiexec"), slurm, data.get("output"))


def _check_slurm(src: str, slurm: dict[str, Any]) -> None:
    time_re = r"^(\d+-)?\d+(:\d\d){0,2}$"
    if "time" in slurm and not (isinstance(slurm["time"], str)
                                and re.match(time_re, slurm["time"])):
        raise CaseError(src, "slurm.time", f"expected a Slurm time such as '02:00:00' or "
                        f"'1-12:00:00'; got {slurm['time']!r}")
    if "mem" in slurm and not (isinstance(slurm["mem"], str)
                               and re.match(r"^\d+[KMGT]?$", slurm["mem"])):
        raise CaseError(src, "slurm.mem", f"expected a Slurm memory such as '4G'; got "
                        f"{slurm['mem']!r}")
    for key in ("partition", "account", "command"):
        if key in slurm and not (isinstance(slurm[key], str) and slurm[key].strip()
                                 and "\n" not in slurm[key]):
            raise CaseError(src, f"slurm.{key}", "expected a one-line string")
    for key in ("setup", "options"):
        if key in slurm and not (isinstance(slurm[key], list)
                                 and all(isinstance(s, str) for s in slurm[key])):
            raise CaseError(src, f"slurm.{key}", "expected a list of strings")


# --------------------------------------------------------------------------- run states
FINISHED = ("completed",)


def run_state(run_dir: Path, max_steps: int | None = None) -> str:
    """'new', 'completed', 'failed' or 'unfinished' (running, killed, stopped early)."""
    if not run_dir.exists():
        return "new"
    try:
        status = json.loads((run_dir / "status.json").read_text())
    except (OSError, ValueError):
        return "unfinished"
    s = status.get("status")
    if s == "completed" and not (run_dir / "INCOMPLETE").exists():
        return "completed"
    if s == "max_steps" and max_steps is not None and status.get("steps", -1) >= max_steps:
        return "completed"  # the study asked for this many steps only
    if s == "failed":
        return "failed"
    return "unfinished"


def has_checkpoint(run_dir: Path) -> bool:
    from solver.checkpoint import find_checkpoint

    return find_checkpoint(run_dir) is not None


# --------------------------------------------------------------------------- preparation
def _write_atomic(path: Path, text: str) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text)
    tmp.replace(path)


def prepare(study: Study, outdir: Path) -> None:
    """Write manifest.csv, the study file copy and every run's case file.

    Refuses (CaseError) when a run folder exists but was made from a different case (the
    base case or the study changed under the same folder name).
    """
    (outdir / "cases").mkdir(parents=True, exist_ok=True)
    (outdir / "logs").mkdir(exist_ok=True)
    for run in study.runs:
        case_path = outdir / "cases" / f"{run.folder}.toml"
        text = (f"# generated by chemomech study from {study.path} (base {study.base}); "
                f"run {run.run_id}\n" + tomli_w.dumps(run.raw))
        if case_path.exists() and (outdir / "runs" / run.folder).exists():
            old = case_path.read_text().split("\n", 1)[1]
            if old != text.split("\n", 1)[1]:
                raise CaseError(str(study.path), f"run {run.folder}",
                                f"{outdir / 'runs' / run.folder} was made from a different "
                                f"case than the study now gives ({case_path}); use another "
                                "--output or remove that run folder")
        _write_atomic(case_path, text)
    shutil.copyfile(study.path, outdir / "study.toml")
    header = ["run_id", "folder", *study.keys, "case"]
    tmp = outdir / "manifest.csv.tmp"
    with open(tmp, "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(header)
        for run in study.runs:
            w.writerow([run.run_id, run.folder, *(run.params[k] for k in study.keys),
                        f"cases/{run.folder}.toml"])
    tmp.replace(outdir / "manifest.csv")


def read_manifest(study_dir: Path) -> tuple[list[str], list[dict[str, str]]]:
    """(swept keys, rows) of a study folder's manifest.csv."""
    with open(study_dir / "manifest.csv", newline="") as fh:
        reader = csv.DictReader(fh)
        rows = list(reader)
        keys = [k for k in reader.fieldnames or [] if k not in ("run_id", "folder", "case")]
    return keys, rows


# --------------------------------------------------------------------------- local runs
def _mpiexec(study: Study) -> str:
    if study.mpiexec:
        return study.mpiexec
    local = Path(sys.executable).parent / "mpiexec"
    return str(local) if local.exists() else (shutil.which("mpiexec") or "mpiexec")


def plan(study: Study, outdir: Path, rerun_failed: bool) -> list[tuple[Run, str, str]]:
    """(run, state, action) with action 'skip', 'run', 'restart' or 'rerun'."""
    out = []
    for run in study.runs:
        d = outdir / "runs" / run.folder
        state = run_state(d, study.max_steps)
        if state == "completed":
            action = "skip"
        elif state == "failed":
            action = "rerun" if rerun_failed else "skip"
        elif state == "unfinished":
            action = "restart" if has_checkpoint(d) else "rerun"
        else:
            action = "run"
        out.append((run, state, action))
    return out


def run_command(study: Study, outdir: Path, run: Run, action: str) -> list[str]:
    """The command line of one run (local execution)."""
    cmd = [sys.executable, "-m", "solver.cli", "run", str(outdir / "cases" / f"{run.folder}.toml"),
           "--output", str(outdir / "runs" / run.folder)]
    if action == "restart":
        cmd.append("--restart")
    elif action == "rerun":
        cmd.append("--force")
    if study.max_steps is not None:
        cmd += ["--max-steps", str(study.max_steps)]
    if study.ranks > 1:
        cmd = [_mpiexec(study), "-n", str(study.ranks), *cmd]
    return cmd


def run_local(study: Study, outdir: Path, jobs: int, rerun_failed: bool,
              echo=print) -> dict[str, int]:
    """Run every run that is not finished, ``jobs`` at a time; return {folder: exit code}."""
    todo = [(r, a) for r, _, a in plan(study, outdir, rerun_failed) if a != "skip"]
    skipped = len(study.runs) - len(todo)
    echo(f"{study.name}: {len(study.runs)} runs, {skipped} skipped (finished, or failed "
         f"without --rerun-failed), {len(todo)} to run, {jobs} at a time")

    def one(item: tuple[Run, str]) -> tuple[str, int]:
        run, action = item
        cmd = run_command(study, outdir, run, action)
        t0 = time.perf_counter()
        with open(outdir / "logs" / f"{run.folder}.log", "a") as log:
            log.write(f"$ {shlex.join(cmd)}\n")
            log.flush()
            rc = subprocess.run(cmd, stdout=log, stderr=subprocess.STDOUT).returncode
        echo(f"  [{run.run_id}] {run.folder}: {action} -> exit {rc} "
             f"({time.perf_counter() - t0:.1f} s)")
        return run.folder, rc

    with ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
        return dict(pool.map(one, todo))


# --------------------------------------------------------------------------- Slurm
def slurm_script(study: Study, outdir: Path, rerun_failed: bool = False) -> str:
    """A job-array script: array index i runs the i-th run of manifest.csv (runs nothing)."""
    s = study.slurm
    q = shlex.quote
    outdir = outdir.resolve()
    lines = [
        "#!/bin/bash",
        f"# Generated by `chemomech study --slurm` from {study.path}: {len(study.runs)} runs,",
        "# one array task each.  Submit with `sbatch study.slurm`; a task skips a completed",
        "# run, restarts an unfinished one from its last checkpoint, starts a new one; failed",
        "# runs are started again only with CHEMOMECH_RERUN_FAILED=1.  Then: chemomech collect.",
        f"#SBATCH --job-name={re.sub(r'[^A-Za-z0-9_.-]', '_', study.name)}",
        f"#SBATCH --array=0-{len(study.runs) - 1}",
        f"#SBATCH --ntasks={study.ranks}",
        f"#SBATCH --time={s.get('time', '01:00:00')}",
    ]
    if "mem" in s:
        lines.append(f"#SBATCH --mem={s['mem']}")
    for key in ("partition", "account"):
        if key in s:
            lines.append(f"#SBATCH --{key}={s[key]}")
    lines += [f"#SBATCH {o}" for o in s.get("options", [])]
    lines += [f"#SBATCH --output={outdir}/logs/slurm_%A_%a.out", "set -euo pipefail", ""]
    lines += list(s.get("setup", []))
    lines += [f"STUDY_DIR={q(str(outdir))}",
              'case "${SLURM_ARRAY_TASK_ID:?submit this script with sbatch}" in']
    lines += [f"  {run.index}) RUN={q(run.folder)} ;;" for run in study.runs]
    lines += ['  *) echo "no run for array index $SLURM_ARRAY_TASK_ID" >&2; exit 2 ;;', "esac",
              'CASE="$STUDY_DIR/cases/$RUN.toml"', 'OUT="$STUDY_DIR/runs/$RUN"', "MODE=()",
              f'RERUN_FAILED="${{CHEMOMECH_RERUN_FAILED:-{int(rerun_failed)}}}"',
              'if [ -f "$OUT/status.json" ] && grep -q \'"status": "completed"\' '
              '"$OUT/status.json" && [ ! -e "$OUT/INCOMPLETE" ]; then',
              '  echo "$RUN: completed already"; exit 0',
              'elif [ -f "$OUT/status.json" ] && grep -q \'"status": "failed"\' '
              '"$OUT/status.json"; then',
              '  if [ "$RERUN_FAILED" != 1 ]; then',
              '    echo "$RUN: failed before (see $OUT/run.log); CHEMOMECH_RERUN_FAILED=1 '
              're-runs it" >&2; exit 1',
              "  fi",
              "  MODE=(--force)",
              'elif [ -f "$OUT/checkpoints/latest" ]; then',
              "  MODE=(--restart)",
              'elif [ -e "$OUT" ]; then',
              "  MODE=(--force)  # started, but stopped before its first checkpoint",
              "fi"]
    extra = f" --max-steps {study.max_steps}" if study.max_steps is not None else ""
    command = s.get("command", "chemomech")
    lines += [f'srun {command} run "$CASE" --output "$OUT" ${{MODE[@]+"${{MODE[@]}}"}}{extra}',
              ""]
    return "\n".join(lines)


def write_slurm(study: Study, outdir: Path, rerun_failed: bool = False) -> Path:
    path = outdir / "study.slurm"
    _write_atomic(path, slurm_script(study, outdir, rerun_failed))
    path.chmod(0o755)
    return path
