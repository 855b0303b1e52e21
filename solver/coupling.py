"""One time step of the chemo-mechanical problem: staggered with a convergence check.

``coupling``:
* ``"none"``: Li transport only (no mechanics is built);
* ``"one-way"``: Li step, then the elastic state of the new Li field (stress does not act
  back on Li);
* ``"two-way"``: Li step with the stress potential s, elasticity, new s, repeated until
  ``max |s_k - s_{k-1}| < tol`` (s in units of RT, so the tolerance is a chemical-potential
  change).  The Li solve is the Newton/block-elimination solve of solver/transport.py;
  the elasticity operator and its GAMG hierarchy are reused across all iterations and
  steps, so a coupling iteration costs one Li Newton solve plus one CG solve.

The part of s that is a local function of x (the stress of a constrained point,
``beta * f(x)``, solver/mechanics.local_stress_potential) is treated implicitly inside the
Li solve and only the remainder is lagged.  The lagged remainder is non-local and, for the
Ni-rich lattices, strongly deviatoric (a shrinks while c grows: Omega:C:Omega/(c_max RT)
reaches 14 near x = 0.85, against the ideal-solution 1/(x(1-x)) = 8), so the plain fixed
point contracts slowly, and more slowly the larger dt (Li redistributes further in
response to the lagged s).  Measured on a 2 um NM91 sphere at x = 0.857: contraction 0.68
per pass at dt = 8 s (28 passes) and divergence at dt = 16 s.  The iteration is therefore
accelerated by Anderson mixing of s (type II, depth ``coupling_acceleration``, default 5):
11-14 passes at dt = 4-16 s on the same steps, and no divergence.  Convergence is still
judged on the plain update ``max |S(s_k) - s_k|``, and the accepted state is always the
output of a Li solve, so Li stays conserved exactly whatever the mixing did.

The default two-way scheme is therefore the monolithic Newton on (w, s, u) of
solver/monolithic.py (``[mechanics] scheme``; measured: 4-5 Newton iterations per step at
dt = 60 s through the x range where the staggered iteration stalls, docs/theory.md
section 6); the staggered scheme stays available and is used for one-way coupling.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
from mpi4py import MPI

from solver.transport import NewtonResult

log = logging.getLogger("chemomech")


@dataclass
class StepResult(NewtonResult):
    """Newton result plus coupling information."""

    coupling_iterations: int = 0
    elasticity_ksp_iterations: int = 0


class CoupledSolver:
    """Advance Li (and, if present, the elastic state) by one time step."""

    def __init__(self, transport, mechanics=None, coupling: str = "none",
                 tol: float = 1e-6,  # RT units of sigma:Omega/(c_max RT); numerical setting
                 max_it: int = 50, acceleration_depth: int = 5, scheme: str = "staggered",
                 monolithic_linear_solver: str = "direct",
                 monolithic_petsc: dict | None = None, predictor: bool = False):
        """``scheme = "monolithic"`` (two-way only) replaces the staggered passes by the
        Newton step of solver/monolithic.py, with the Li Newton tolerance and twice its
        iteration limit (the start is further from the solution: s and u move too).
        ``predictor``: start the Li Newton of Li-only and one-way steps from an
        extrapolation of the last step (solver/predictor.py); the staggered two-way
        iteration keeps y_n (its lagged stress potential belongs to y_n)."""
        if coupling != "none" and mechanics is None:
            raise ValueError("coupling needs a mechanics object")
        if scheme == "monolithic" and coupling != "two-way":
            raise ValueError("the monolithic scheme needs two-way coupling")
        self.tr, self.mech, self.coupling = transport, mechanics, coupling
        self.tol, self.max_it = tol, max_it
        self.depth = acceleration_depth
        self._s_old = transport.s.x.array.copy()
        self.monolithic = None
        if scheme == "monolithic":
            from solver.monolithic import MonolithicSolver

            self.monolithic = MonolithicSolver(transport, mechanics,
                                               linear_solver=monolithic_linear_solver,
                                               petsc_options=monolithic_petsc,
                                               tol=transport.newton_tol,
                                               max_it=2 * transport.newton_max_it)
        self.predictor = None
        if predictor and coupling != "two-way":
            from solver.predictor import LiPredictor

            self.predictor = LiPredictor(transport)

    def initialise(self) -> None:
        """Elastic state (and stress potential) of the initial Li field."""
        if self.mech is None:
            return
        self.mech.solve()
        if self.coupling == "two-way":
            self.mech.update_potential(self.tr.s)
        self.accept_mechanics()

    def solve(self) -> StepResult:
        tr, mech = self.tr, self.mech
        if self.predictor is not None:
            self.predictor.predict()
        if mech is None:
            r = tr.solve()
            return StepResult(r.converged, r.iterations, r.ksp_iterations, r.reason)
        if self.monolithic is not None:
            r = self.monolithic.solve()
            return StepResult(r.converged, r.iterations, r.ksp_iterations, r.reason, 1, 0)
        newton = ksp = el_ksp = 0
        mixer = Anderson(self.tr.s, self.depth, self.tr.comm) if self.depth > 0 else None
        history: list[float] = []
        for k in range(1, (self.max_it if self.coupling == "two-way" else 1) + 1):
            tr.w_lag.x.array[:] = tr.w.x.array  # s below was computed from this state
            r = tr.solve()
            newton += r.iterations
            ksp += r.ksp_iterations
            if not r.converged:
                return StepResult(False, newton, ksp, r.reason, k, el_ksp)
            el_ksp += mech.solve()
            if self.coupling != "two-way":
                return StepResult(True, newton, ksp, "", k, el_ksp)
            s_in = tr.s.x.array.copy()
            change = mech.update_potential(tr.s)
            if tr.comm.rank == 0:
                log.debug("coupling pass %d: max change of s %.3e, %d Newton iterations",
                          k, change, r.iterations)
            if change < self.tol:
                return StepResult(True, newton, ksp, "", k, el_ksp)
            history.append(change)
            hopeless = self._hopeless(history)
            if hopeless:
                return StepResult(False, newton, ksp, hopeless, k, el_ksp)
            if mixer is not None:
                mixer.update(s_in, tr.s)
        return StepResult(False, newton, ksp,
                          f"coupling did not converge in {self.max_it} iterations "
                          f"(last change of sigma:Omega/(c_max RT) = {change:.3g})",
                          self.max_it, el_ksp)

    def _hopeless(self, history: list[float], window: int = 4) -> str:
        """Why the iteration will not reach ``tol`` within ``max_it`` passes ('' if it may).

        The mean contraction over the last ``window`` passes (Anderson mixing makes single
        passes non-monotone) extrapolates the passes still needed; a step that cannot make
        it is given up at once, so the time step is cut after a few passes instead of
        ``max_it`` (a diverging fixed point at too large a dt costs otherwise ~50 passes).
        """
        k = len(history)
        if k <= window:
            return ""
        rate = (history[-1] / history[-1 - window]) ** (1.0 / window)
        if rate >= 1.0:
            return (f"coupling iteration diverges (sigma:Omega/(c_max RT) change "
                    f"{history[-1 - window]:.3g} -> {history[-1]:.3g} in {window} passes)")
        needed = np.log(self.tol / history[-1]) / np.log(rate)
        if k + 1 + needed > self.max_it:
            return (f"coupling iteration contracts by {rate:.2f} per pass: would need "
                    f"~{k + 1 + needed:.0f} > {self.max_it} passes")
        return ""

    def destroy(self) -> None:
        """Free the monolithic solver's PETSc objects and options (if any)."""
        if self.monolithic is not None:
            self.monolithic.destroy()
            self.monolithic = None

    def accept_mechanics(self) -> None:
        if self.mech is not None:
            self.mech.accept()
            self._s_old[:] = self.tr.s.x.array

    def accept(self) -> None:
        if self.monolithic is not None:
            self.monolithic.accept()  # before tr.accept: needs the step's dt and V
        if self.predictor is not None:
            self.predictor.accept()  # likewise
        self.tr.accept()
        self.accept_mechanics()

    def reject(self) -> None:
        self.tr.reject()
        if self.mech is not None:
            self.mech.reject()
            self.tr.s.x.array[:] = self._s_old


class Anderson:
    """Anderson acceleration (type II, depth m) of the fixed point s -> S(s) in place.

    Inner products are global (owned dofs, summed over ranks), so every rank takes the
    same mixing coefficients; the small least-squares problem is solved redundantly.
    """

    def __init__(self, s, depth: int, comm: MPI.Comm):
        self.n = s.function_space.dofmap.index_map.size_local
        self.depth, self.comm = depth, comm
        self.dS: list[np.ndarray] = []  # differences of the inputs
        self.dG: list[np.ndarray] = []  # differences of the residuals
        self.prev: tuple[np.ndarray, np.ndarray] | None = None

    def update(self, s_in: np.ndarray, s_out) -> None:
        """Replace ``s_out`` (= S(s_in)) by the accelerated next input."""
        n = self.n
        x, g = s_in[:n].copy(), s_out.x.array[:n] - s_in[:n]
        if self.prev is not None:
            self.dS.append(x - self.prev[0])
            self.dG.append(g - self.prev[1])
            if len(self.dG) > self.depth:
                self.dS.pop(0)
                self.dG.pop(0)
        self.prev = (x, g)
        if not self.dG:
            return
        F = np.stack(self.dG, axis=1)
        FtF = self.comm.allreduce(F.T @ F, op=MPI.SUM)
        Ftg = self.comm.allreduce(F.T @ g, op=MPI.SUM)
        # Tikhonov-regularised normal equations: the history becomes nearly collinear
        # as the iteration converges
        reg = 1e-10 * np.trace(FtF) + 1e-300  # numerical setting (relative Tikhonov weight)
        gamma = np.linalg.solve(FtF + reg * np.eye(len(Ftg)), Ftg)
        X = np.stack(self.dS, axis=1)
        new = x + g - (X + F) @ gamma
        s_out.x.array[:n] = new
        s_out.x.scatter_forward()
