"""Small synthesis cases and run folders for the synthesis tests."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

SYNTHESIS_CASE: dict[str, Any] = {
    "geometry": {"shape": "sphere", "radius": "2 um", "mesh_size": "0.5 um"},
    "synthesis": {"material": "NCM622", "report_temperatures": ["300 degC"]},
    "numerics": {"dt_max": "120 s"},
    "output": {"vtx": False, "pvd": False, "figures": False},
    "protocol": [{"type": "temperature", "temperature": "400 degC", "ramp_rate": "10 K/min"}],
}


def synthesis_dict(protocol: list | None = None, **sections: dict) -> dict:
    """SYNTHESIS_CASE with sections updated key by key (``protocol`` replaced)."""
    d = copy.deepcopy(SYNTHESIS_CASE)
    for name, values in sections.items():
        d.setdefault(name, {}).update(values)
    if protocol is not None:
        d["protocol"] = protocol
    return d


def synthesis_run_folder(raw: dict, outdir: Path, comm) -> list[dict]:
    """Run a synthesis case into ``outdir`` as ``chemomech run`` does (resolved case,
    status.json, end state); the rows."""
    from solver import output as out
    from solver.config import validate
    from solver.synthesis.run import run_synthesis

    case = validate(raw, "synthesis_test.toml", "synthesis_test")
    if comm.rank == 0:
        out.create_output_dir(outdir, True)
        out.write_resolved_case(outdir, case.resolved)
    comm.barrier()
    result = run_synthesis(case, outdir, comm)
    if comm.rank == 0:
        out.finish(outdir, result.status, steps=result.steps)
    comm.barrier()
    return result.rows
