"""One run of a case: mesh, physics problem, recorder and the protocol driver.

The pieces: the particle mesh (meshes/, cached), the electrochemical problem
(solver/problem.py), the writers of the run folder (solver/recorder.py), the time-loop
state (solver/protocol/state.py) and the driver that walks the protocol steps with
adaptive time steps and events (solver/driver.py).
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from mpi4py import MPI

from meshes import build_spec_mesh
from solver.config import Case
from solver.crystal import rotation_from_case
from solver.driver import SimulationError, UnusedOptionsError
from solver.materials import get_material
from solver.protocol.state import RunState
from solver.scaling import LENGTH_UNIT

__all__ = ["RunResult", "SimulationError", "UnusedOptionsError", "build_mesh",
           "run_simulation"]

log = logging.getLogger("chemomech")


@dataclass
class RunResult:
    """End state of a run."""

    status: str  # "completed" or "max_steps"
    steps: int
    time_s: float
    voltage_V: float
    capacity_mAh_g: float
    unknowns: int
    wall_s: float
    step_ends: list
    rows: list  # every timeseries row this process wrote, also kept in memory (tests)


def material_from_case(case: Case):
    """The Material with the case's overrides applied."""
    mat = case["material"]
    return get_material(mat["name"], {k: v for k, v in mat.items()
                                      if k != "name" and v is not None})


def mesh_spec(case: Case):
    """The case's MeshSpec (model units); faceted crystals are turned by the orientation."""
    from meshes.spec import FACETED, spec_from_case

    rotation = (rotation_from_case(case["orientation"])
                if case["geometry"]["shape"] in FACETED else None)
    return spec_from_case(case.values, LENGTH_UNIT, rotation)


def build_mesh(case: Case, comm: MPI.Comm):
    """Mesh the case's particle (Gmsh on rank 0, or the mesh cache); log hit/miss and time."""
    from meshes.cache import cache_dir

    spec = mesh_spec(case)
    pm = build_spec_mesh(comm, spec, LENGTH_UNIT, cache_dir(case["geometry"]["mesh_cache"]))
    pm.info["spec"] = spec
    if comm.rank == 0:
        info = pm.info
        log.info("mesh: %s; cache %s%s, %.2f s on rank 0", spec.describe(), info["cache"],
                 f" ({info['cache_file']})" if "cache_file" in info else "",
                 info.get("mesh_s", float("nan")))
    return pm


def grain_rotations_for(case: Case, pm) -> np.ndarray:
    """Crystal -> sample rotation per grain (num_grains, 3, 3)."""
    from solver.orientations import grain_rotations

    spec = pm.info.get("spec") or mesh_spec(case)
    return grain_rotations(case["orientation"], spec.grain_centres)


def facet_activity(case: Case, pm) -> dict[int, float]:
    """Facet tag -> relative exchange factor of the groups that exchange Li.

    From ``kinetics.surface_activity`` by group name (solver/config.py); void surfaces are
    blocked unless the case opens them, and blocked groups are left out of the surface
    integrals (area, surface means) altogether.
    """
    from solver.config import surface_activity

    act: dict[int, float] = {}
    for name, factor in surface_activity(case.values).items():
        for tag in pm.facet_ids(name):
            if factor > 0.0:
                act[tag] = factor
    if not act:
        raise SimulationError("no facet of the mesh exchanges Li "
                              "(kinetics.surface_activity blocks every facet group present)")
    return act


def run_simulation(case: Case, outdir: Path | None, comm: MPI.Comm,
                   max_steps: int | None = None, restart: Path | None = None) -> RunResult:
    """Run a validated case; write outputs to ``outdir`` (prepared by the caller).

    ``max_steps`` counts the accepted steps of the whole run, those before a restart
    included.  ``restart``: a checkpoint (a folder, or a format-1 file; solver/checkpoint.py)
    to continue from, on any number of ranks; the caller checked it belongs to this case.
    The continuation truncates ``timeseries.csv`` to the checkpoint's step and appends to
    it; fields go to
    ``fields_restart_<step>.bp`` and ``vtk/fields_restart_<step>.pvd``, and
    ``vtk/fields.pvd`` lists the earlier outputs (up to the checkpoint) and the new ones.
    """
    from solver import checkpoint as ck
    from solver.driver import Driver
    from solver.problem import ElectrochemicalProblem
    from solver.recorder import RunRecorder

    wall0 = time.perf_counter()
    material = material_from_case(case)
    pm = build_mesh(case, comm)
    problem = ElectrochemicalProblem(case, pm, material, grain_rotations_for(case, pm),
                                     facet_activity(case, pm))
    x0 = case["conditions"]["initial_x"]
    if restart is None:
        problem.initialise(x0)
        state = RunState(dt_next_s=case["numerics"]["dt_initial"])
    else:
        with ck.CheckpointReader(restart, comm) as reader:
            problem.restore(reader, x0)
            meta = reader.meta
        state = RunState.from_meta(meta)
        wall0 -= meta["wall_s"]  # wall_s keeps counting from the original start
        if comm.rank == 0:
            log.info("restart from %s: step %d, t = %.6g s, protocol step %d (written on "
                     "%d rank(s))", restart, meta["step"], meta["time_s"],
                     meta["protocol_index"], meta["ranks"])
    rec = RunRecorder(case, problem, comm, outdir, None if restart is None else state.step,
                      wall0)
    status = "completed"
    try:
        status = Driver(case, problem, rec, comm, max_steps).run(state, restart is not None)
    finally:
        rec.close(state, restart is not None)
        problem.destroy()
    last = rec.rows[-1] if rec.rows else {}
    return RunResult(status, state.step, state.time_s,
                     float(last.get("voltage_V", problem.voltage_accepted)),
                     state.charge_C / (3.6 * problem.mass * 1e3), problem.unknowns,
                     time.perf_counter() - wall0, state.step_ends, rec.rows)
