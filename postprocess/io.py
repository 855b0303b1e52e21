"""Safe writing of postprocessing results: no silent overwrite, no half-written files.

Every file is written under a temporary name in the same folder and renamed when complete,
so an interrupted command never leaves a file that looks finished.  A result folder that
exists and is not empty is refused unless ``force``.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import numpy as np


class OutputExists(RuntimeError):
    """The result folder exists, is not empty and --force was not given."""


def prepare_dir(path: Path, force: bool) -> Path:
    """Create ``path``; refuse an existing non-empty folder unless ``force``."""
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise OutputExists(f"{path}: exists and is not a folder")
    if path.exists() and any(path.iterdir()) and not force:
        raise OutputExists(f"{path}: result folder exists and is not empty; use --force to "
                           "replace its files or --output to choose another")
    path.mkdir(parents=True, exist_ok=True)
    return path


def prepare_dir_on_rank0(path: Path, force: bool, comm=None) -> None:
    """:func:`prepare_dir` on rank 0 of ``comm`` (None: serial); every rank raises the
    same OutputExists, so none is left waiting in a later collective."""
    problem = None
    if comm is None or comm.rank == 0:
        try:
            prepare_dir(path, force)
        except OutputExists as exc:
            problem = str(exc)
    if comm is not None and comm.size > 1:
        problem = comm.bcast(problem, root=0)
    if problem:
        raise OutputExists(problem)


def _tmp(path: Path) -> Path:
    # keep the extension: some writers choose the format from it
    return path.with_name(f".{path.stem}.tmp{os.getpid()}{path.suffix}")


def write_json(path: Path, data: dict[str, Any]) -> Path:
    tmp = _tmp(path)
    tmp.write_text(json.dumps(_jsonable(data), indent=2) + "\n")
    tmp.replace(path)
    return path


def write_npz(path: Path, **arrays: Any) -> Path:
    tmp = _tmp(path)
    with open(tmp, "wb") as fh:
        np.savez_compressed(fh, **arrays)
    tmp.replace(path)
    return path


def write_text(path: Path, text: str) -> Path:
    tmp = _tmp(path)
    tmp.write_text(text)
    tmp.replace(path)
    return path


def save_figure(fig, path: Path, dpi: int = 130) -> Path:
    import matplotlib.pyplot as plt

    tmp = _tmp(path)
    fig.savefig(tmp, dpi=dpi)
    plt.close(fig)
    tmp.replace(path)
    return path


def save_mesh(mesh, path: Path) -> Path:
    """PyVista dataset to .vtu (format from the extension)."""
    tmp = _tmp(path)
    mesh.save(str(tmp))
    tmp.replace(path)
    return path


def _jsonable(obj: Any) -> Any:
    if isinstance(obj, dict):
        return {str(k): _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_jsonable(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return _jsonable(obj.tolist())
    if isinstance(obj, (np.floating, float)):
        v = float(obj)
        return v if np.isfinite(v) else None
    if isinstance(obj, (np.integer,)):
        return int(obj)
    if isinstance(obj, Path):
        return str(obj)
    return obj


def stats(values: np.ndarray, weights: np.ndarray | None = None) -> dict[str, float]:
    """Mean, standard deviation, min/max and 5/25/50/75/95 % quantiles of finite values."""
    v = np.asarray(values, dtype=float).ravel()
    ok = np.isfinite(v)
    if weights is not None:
        w = np.asarray(weights, dtype=float).ravel()[ok]
    v = v[ok]
    if v.size == 0:
        return {"n": 0}
    if weights is None:
        mean, std = float(v.mean()), float(v.std())
        qs = np.quantile(v, [0.05, 0.25, 0.5, 0.75, 0.95])
    else:
        mean = float(np.average(v, weights=w))
        std = float(np.sqrt(np.average((v - mean) ** 2, weights=w)))
        order = np.argsort(v)
        cw = np.cumsum(w[order])
        cw /= cw[-1]
        qs = np.interp([0.05, 0.25, 0.5, 0.75, 0.95], cw, v[order])
    return {"n": int(v.size), "mean": mean, "std": std, "min": float(v.min()),
            "max": float(v.max()), "q05": float(qs[0]), "q25": float(qs[1]),
            "median": float(qs[2]), "q75": float(qs[3]), "q95": float(qs[4])}
