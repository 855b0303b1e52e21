"""The electrochemical problem as the time-loop driver sees it.

Li transport (solver/transport.py), elasticity (solver/mechanics.py) and their coupling
(solver/coupling.py) on one particle mesh, behind the small interface the driver
(solver/driver.py) uses: apply controls, solve a trial step, accept or reject it, report
voltage, current and diagnostics, and hand its fields to a checkpoint.  A second physics
problem plugs into the same driver by offering the same methods.
"""

from __future__ import annotations

import logging
import time

import numpy as np
from mpi4py import MPI

from solver.config import Case
from solver.output import DEFECT_COLUMNS, MECHANICS_COLUMNS
from solver.protocol import Controls

log = logging.getLogger("chemomech")

# MUMPS on the monolithic (w, s, u) matrix up to this many unknowns (numerical setting).
# Measured (field split with the shared elasticity GAMG, inexact Newton, predictor):
# whole two-way demo (2.7e4 unknowns, 2 ranks) field split 105 s vs MUMPS 189 s, same
# time series to 1e-11; one step from x = 0.9 (chemomech bench, 1 rank) split 0.26 s vs
# MUMPS 0.53 s at 4.9e3 unknowns and 2.5 s vs 11.6 s at 3.2e4.  MUMPS is kept only for
# the smallest meshes, where both take well under a second and a direct solve cannot
# stagnate.
AUTO_DIRECT_MAX_UNKNOWNS = 5e3  # unknowns (numerical setting, measured above)


def monolithic_solver(mech_case: dict, tr, mech) -> str:
    """'direct' or 'iterative' for the monolithic two-way Newton ('auto' by size)."""
    choice = mech_case["monolithic_linear_solver"]
    if choice != "auto" or mech is None:
        return "direct" if choice == "auto" else choice
    n = (2 * tr.V_space.dofmap.index_map.size_global
         + 3 * mech.U.dofmap.index_map.size_global)
    return "direct" if n <= AUTO_DIRECT_MAX_UNKNOWNS else "iterative"


def defect_parameters(case: Case):
    """The defect-model parameters: solver/materials/defects.py's, with the case's
    ``[defects]`` overrides."""
    import dataclasses

    from solver.materials.defects import CASE_KEYS, DEFAULTS

    given = {k: v for k, v in case["defects"].items() if k in CASE_KEYS and v is not None}
    return dataclasses.replace(DEFAULTS, **given)


class ElectrochemicalProblem:
    """Li transport [+ elasticity] of one particle under galvanostatic or potentiostatic
    control; see the module docstring."""

    def __init__(self, case: Case, pm, material, grain_rot: np.ndarray,
                 activity: dict[int, float]):
        from solver.coupling import CoupledSolver
        from solver.grains import GrainDiagnostics, cell_rotations
        from solver.mechanics import Elasticity, implicit_fraction, local_stress_potential
        from solver.phasefield import transport_class
        from solver.transport import LiTransport

        t0 = time.perf_counter()
        num, mech_case = case["numerics"], case["mechanics"]
        self.comm: MPI.Comm = pm.mesh.comm
        self.material = material
        rotation = grain_rot[0] if pm.num_grains == 1 else cell_rotations(pm, grain_rot)
        two_way = mech_case["coupling"] == "two-way"
        defect_fields = None
        if case["defects"]["model"] == "lattice":
            from solver.defects import DefectFields

            defect_fields = DefectFields(pm.mesh)
        self.seed = None  # the end state of a synthesis run (solver/synthesis/carryover.py)
        if case["conditions"].get("from_synthesis"):
            from pathlib import Path

            from solver.synthesis.carryover import SynthesisSeed

            self.seed = SynthesisSeed(pm.mesh, Path(case["conditions"]["from_synthesis"]))
        transport = transport_class(case)  # single-phase LiTransport or Cahn-Hilliard
        extra = {}
        if defect_fields is not None:
            from solver.defects import mobility_factor

            extra = {"active_fraction": defect_fields.active,
                     "mobility_factor": mobility_factor(defect_fields,
                                                        defect_parameters(case))}
        if self.seed is not None:  # from_synthesis (refused together with [defects])
            extra = {"active_fraction": self.seed.active}
        tr = transport(pm, material, rotation, degree=case["geometry"]["degree"],
                         facet_activity=activity,
                         local_stress_potential=(
                             (lambda x, T: local_stress_potential(material, x, T))
                             if two_way else None),
                         quadrature_degree=num["quadrature_degree"],
                         distribution=case["kinetics"]["distribution"],
                         linear_solver=num["linear_solver"], petsc_options=num["petsc"],
                         newton_tol=num["newton_tol"], newton_max_it=num["newton_max_it"],
                         **extra)
        if two_way:
            tr.beta.value = implicit_fraction(material)
        mech = None
        if mech_case["coupling"] != "none":
            mech = Elasticity(tr, degree=mech_case["degree"],
                              quadrature_degree=num["quadrature_degree"],
                              linear_solver=mech_case["linear_solver"],
                              petsc_options=mech_case["petsc"],
                              residual_eigenstrain=(defect_fields is not None
                                                    or self.seed is not None))
            if self.seed is not None:
                self.seed.set_eigenstrain(tr, mech)
        self.defects = None
        if defect_fields is not None:
            from solver.defects import DefectModel

            self.defects = DefectModel(defect_fields, tr, mech, defect_parameters(case))
        self.scheme = mech_case["scheme"] if two_way else "staggered"
        self.linear = monolithic_solver(mech_case, tr, mech)
        self.stepper = CoupledSolver(tr, mech, mech_case["coupling"],
                                     mech_case["coupling_tol"], mech_case["coupling_max_it"],
                                     mech_case["coupling_acceleration"], self.scheme,
                                     self.linear, mech_case["monolithic_petsc"],
                                     predictor=num["predictor"] and isinstance(tr, LiTransport))
        self.tr, self.mech = tr, mech
        self.stepper_max_it = mech_case["coupling_max_it"]
        self.grains = GrainDiagnostics(tr, mech, grain_rot[:, :, 2])
        self.mass = material.density * tr.volume_m3  # kg
        self.unknowns = tr.V_space.dofmap.index_map.size_global + 1
        if mech is not None:
            self.unknowns += mech.U.dofmap.index_map.size_global * 3
        ncells = self.comm.allreduce(pm.mesh.topology.index_map(3).size_local)
        if self.comm.rank == 0:
            log.info("mesh: %d cells, %d unknowns (Li, voltage%s), %d ranks, coupling %s%s, "
                     "set-up %.2f s", ncells, self.unknowns, ", displacement" if mech else "",
                     self.comm.size, mech_case["coupling"],
                     (f" ({self.scheme}" + (f", {self.linear})" if self.scheme == "monolithic"
                                            else ")")) if two_way else "",
                     time.perf_counter() - t0)

    # ------------------------------------------------------------------ state
    def initialise(self, x0: float) -> None:
        """Uniform Li fraction ``x0`` at rest, and the elastic state that goes with it."""
        self.tr.set_uniform(x0)
        self.stepper.initialise()

    def restore(self, arrays: dict, meta: dict, path, x0: float) -> None:
        """The state of a checkpoint (its arrays and metadata, solver/checkpoint.py);
        ``x0`` (the case's initial x) only fills what the checkpoint does not hold."""
        from solver import checkpoint as ck

        tr, mech = self.tr, self.mech
        tr.set_uniform(x0)
        ck.restore_state(arrays, tr, mech, path)
        mono = self.stepper.monolithic
        if mono is not None and meta.get("predictor") is not None:
            funcs = mono.predictor_functions()
            ck.restore_state(arrays, tr, mech, path, funcs=funcs)
            mono.restore_predictor(funcs, meta["predictor"])
            del funcs
        li_pred = self.stepper.predictor
        if li_pred is not None and meta.get("li_predictor") is not None:
            funcs = li_pred.functions()
            ck.restore_state(arrays, tr, mech, path, funcs=funcs)
            li_pred.restore(funcs, meta["li_predictor"])
        if self.defects is not None:
            ck.restore_state(arrays, tr, mech, path, funcs=self.defects.functions())
            self.defects.set_total()
        tr.V.value = meta["V"]
        tr.accept()  # the restored state is the last accepted one
        self.stepper.accept_mechanics()

    def checkpoint_state(self) -> tuple[dict, dict]:
        """(arrays gathered on rank 0, extra metadata) of the problem (collective)."""
        from solver import checkpoint as ck

        mono = self.stepper.monolithic
        pred = mono.predictor_state() if mono is not None else None
        extra = dict(pred[0]) if pred else {}
        li = self.stepper.predictor.state() if self.stepper.predictor is not None else None
        if li is not None:
            extra.update(li[0])
        if self.defects is not None:
            extra.update(self.defects.functions())
        arrays = ck.gather_state(self.tr, self.mech, extra=extra)
        return arrays, {"V": float(self.tr.V.value), "predictor": pred[1] if pred else None,
                        "li_predictor": li[1] if li else None}

    # ------------------------------------------------------------------ stepping
    def solve(self, controls: Controls):
        """Solve one backward-Euler trial step under ``controls``; a StepResult."""
        self.tr.set_state({"dt": controls.dt, "current": controls.current,
                           "voltage": controls.voltage, "temperature": controls.temperature})
        if self.defects is not None:  # explicit: from the accepted state
            self.defects.stage(controls.dt, controls.temperature)
        return self.stepper.solve()

    def accept(self) -> None:
        self.stepper.accept()
        if self.defects is not None:
            self.defects.accept()

    def reject(self) -> None:
        self.stepper.reject()
        if self.defects is not None:
            self.defects.reject()

    @property
    def voltage(self) -> float:
        """Electrode potential of the present (trial or accepted) state [V]."""
        return float(self.tr.V.value)

    @property
    def voltage_accepted(self) -> float:
        """Electrode potential of the last accepted state [V]."""
        return self.tr.V_old

    def surface_current(self) -> float:
        """Total current through the surface at the present state [A], > 0 on charge."""
        return self.tr.surface_current()

    def li_out_rate(self) -> float:
        """Li leaving through the surface at the present state [mol/s]."""
        return self.tr.li_out_rate()

    def max_x_change(self) -> float:
        """Largest nodal change of x in the trial step just solved (all ranks)."""
        tr = self.tr
        n = tr.V_space.dofmap.index_map.size_local
        x_new = 1.0 / (1.0 + np.exp(-tr.w.x.array[:n]))
        x_old = 1.0 / (1.0 + np.exp(-tr.w_old.x.array[:n]))
        local = float(np.abs(x_new - x_old).max()) if n else 0.0
        return self.comm.allreduce(local, op=MPI.MAX)

    @property
    def coupling_max_it(self) -> int:
        """Coupling passes before a step is cut back (the driver's dt growth uses it)."""
        return self.stepper_max_it

    def progress_text(self, state, row: dict) -> str:
        """The progress line after an accepted step."""
        q = state.charge_C / (3.6 * self.mass * 1e3)  # mAh/g
        return (f"step {state.step:5d}  t = {state.time_s:9.2f} s  dt = {row['dt_s']:8.3g} s"
                f"  V = {self.voltage:.4f} V  Q = {q:7.2f} mAh/g  x = [{row['x_min']:.3f}, "
                f"{row['x_max']:.3f}]")

    def step_summary(self, seg, row: dict) -> str:
        """End-of-protocol-step text: voltage and the step's capacity."""
        return (f"V = {self.voltage_accepted:.5f} V, "
                f"{abs(seg.charge_C) / (3.6 * self.mass * 1e3):.3f} mAh/g")

    # ------------------------------------------------------------------ reporting
    def diagnostics(self) -> dict:
        """Li, mechanics and grain-boundary statistics of the present state (collective)."""
        d = self.tr.diagnostics()
        md = (self.mech.diagnostics() if self.mech is not None
              else dict.fromkeys(MECHANICS_COLUMNS, float("nan")))
        if self.defects is not None:
            dd = self.defects.diagnostics()
        elif self.seed is not None:
            dd = self.seed.diagnostics(self.tr)
        else:
            dd = dict.fromkeys(DEFECT_COLUMNS, float("nan"))
        return {**d, **md, **dd, **self.grains.grain_boundary_stress()}

    def grain_table(self):
        return self.grains.grain_table()

    def field_writer(self, outdir, out: dict, stem: str):
        """The writer of this problem's fields (solver/fields.py), or None."""
        from solver.fields import FieldWriter

        if outdir is None or not (out["vtx"] or out["pvd"]):
            return None
        defects = self.defects  # a synthesis seed shows its fields the same way
        if defects is None and self.seed is not None and self.mech is not None:
            defects = self.seed
        return FieldWriter(outdir, self.tr, self.mech, vtx=out["vtx"], pvd=out["pvd"],
                           stem=stem, defects=defects)

    def destroy(self) -> None:
        self.stepper.destroy()
        if self.mech is not None:
            self.mech.destroy()
        self.tr.destroy()
