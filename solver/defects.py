"""Lattice defects: residual strain from cycling, its healing and the damage of an anneal.

Three cell-wise (DG0) state fields, evaluated at cell midpoints:

* ``eps_def``: the recoverable residual (defect) eigenstrain, sample frame;
* ``phi``: the transformed (layered -> spinel/rock-salt), electrochemically inactive
  fraction;
* the total residual eigenstrain of the elasticity, ``eps_res = eps_def + phi eps_tr``,
  with the in-plane transformation strain ``eps_tr = e_tr (I - n n)`` (n: the c-axis).

Laws (parameters and sources: solver/materials/defects.py), for one time step dt at the
step's temperature T, from the accepted state at the start of the step (explicit in the
stress, exact in the linear parts, so stable for any dt):

1. Growth where the lattice is pushed past a threshold: linear Perzyna viscoplasticity,
   d eps_def/dt = flow_rate <sigma_vm/sigma_y - 1> (3/2) dev(sigma)/sigma_vm.  Integrated
   as the return map of a constrained point (total strain fixed over the step): the
   equivalent increment is (sigma_vm - sigma_y)/(3 G) (dt/tau)/(1 + dt/tau), with
   tau = sigma_y / (3 G flow_rate) and G the shear modulus C44 of the material.  The
   residual strain grows along the deviatoric stress, so it relaxes the overstress and
   stays behind when the Li field (the chemical strain) goes back: the lattice-distortion
   domains of cycled crystals.
2. Healing: d eps_def/dt = -k(T) r(x) eps_def, k(T) Arrhenius (relax_time at
   relax_temperature, relax_Ea), r(x) = (1 + tanh((x - x_rec)/w))/2 the recoverability:
   1 in discharged regions (x above x_rec, the Li content at recovery_voltage on the
   material's OCV), 0 at deep delithiation ([TH]'s DFT recoverability map: recoverable at
   low delithiation, further disorder at deep delithiation).  Exact: eps_def *= exp(-k r dt).
3. Damage where not recoverable: first-order transformation of the remaining layered part,
   d phi/dt = k_d(T) (1 - r(x)) (1 - phi), k_d from the Kissinger peak of the DSC
   decomposition of charged layered oxides; exact: 1 - phi *= exp(-k_d (1 - r) dt).  The
   transformed fraction carries the in-plane tensile strain [TH] measured (+1.1 %) and is
   electrochemically inactive: the Li storage and the Li mobility are multiplied by
   1 - phi (solver/transport.py ``active_fraction``), so the capacity falls with it; the
   Li still held by a cell when it transforms is no longer counted (it is lost to the
   inactive phase: at the deep delithiation where this happens, little).

4. Transport of the healed lattice: healing lowers the Li migration barrier ([TH]'s
   CI-NEB barriers of the cycled and the healed crystal), by h barrier_shift with the
   healed fraction h = min(1, H/distortion_ref) per cell (``healed``), H (``healed_strain``)
   the net healed residual strain: per step H <- max(0, H - |d eps_grow| + |d eps_heal|),
   the von Mises equivalents of the growth increment of law 1 and of the strain law 2
   removed.  The Li mobility is multiplied by exp(h barrier_shift/(R T))
   (solver/transport.py ``mobility_factor``).  The material's D(x) is that of the cycled
   lattice, so cycling alone leaves transport as it is (H stays 0), and residual strain
   that grows back after an anneal takes the gain back.

At 25 degC both Arrhenius rates are negligible (relaxation time ~1.4e3 h, transformation
~1e3 years with the default parameters), so cycling at room temperature only grows
eps_def; a mild anneal heals discharged and damages charged regions.
"""

from __future__ import annotations

import math

import basix.ufl
import numpy as np
import ufl
from dolfinx import fem
from mpi4py import MPI
from petsc4py import PETSc

from solver import jit
from solver.chunked import cell_chunks, cell_midpoint, eval_cells
from solver.materials.defects import EV_PER_MOL, DefectParameters

_I3 = np.eye(3)
# basix's order of the 6 stored values of a symmetric 3x3 tensor (xx, xy, yy, xz, yz, zz:
# the upper triangle column by column), checked in tests/verification/test_defects.py
_SYM = ((0, 0), (0, 1), (1, 1), (0, 2), (1, 2), (2, 2))


def sym_to_full(v: np.ndarray) -> np.ndarray:
    """(n, 6) stored symmetric values -> (n, 3, 3)."""
    out = np.empty((v.shape[0], 3, 3))
    for k, (i, j) in enumerate(_SYM):
        out[:, i, j] = out[:, j, i] = v[:, k]
    return out


def full_to_sym(a: np.ndarray) -> np.ndarray:
    """(n, 3, 3) -> (n, 6) stored symmetric values."""
    return np.stack([a[:, i, j] for i, j in _SYM], axis=1)


def equivalent_strain(eps: np.ndarray) -> np.ndarray:
    """von Mises equivalent strain sqrt(2/3 dev:dev) of (n, 3, 3) tensors."""
    dev = eps - np.trace(eps, axis1=1, axis2=2)[:, None, None] / 3.0 * _I3
    return np.sqrt(2.0 / 3.0 * np.einsum("nij,nij->n", dev, dev))


class DefectFields:
    """The DG0 fields of the defect state on a mesh (made before the transport, whose Li
    storage and mobility take ``active``)."""

    def __init__(self, mesh):
        S0 = fem.functionspace(mesh, ("DG", 0))
        T0 = fem.functionspace(mesh, basix.ufl.element("DG", mesh.basix_cell(), 0,
                                                       shape=(3, 3), symmetry=True))
        self.eps_def = fem.Function(T0, name="defect_strain")
        self.phi = fem.Function(S0, name="inactive_fraction")
        self.active = fem.Function(S0, name="active_fraction")  # 1 - phi
        self.active.x.array[:] = 1.0
        # law 4: the net healed residual strain H and the healed fraction h in [0, 1]
        # (the Li barrier is lowered by h barrier_shift)
        self.eps_healed = fem.Function(S0, name="healed_strain")
        self.healed = fem.Function(S0, name="healed_fraction")
        self.cells = S0.dofmap.list[:, 0]  # DG0: one dof per cell (local + ghost)
        self.tensor_cells = T0.dofmap.list[:, 0]


def mobility_factor(fields: DefectFields, params: DefectParameters):
    """``f(T) -> UFL``: the factor exp(h barrier_shift/(R T)) of the Li mobility of the
    healed lattice (law 4), or None when barrier_shift is 0."""
    from solver.materials.data import R_GAS

    if params.barrier_shift == 0.0:
        return None
    return lambda T: ufl.exp(params.barrier_shift / R_GAS * fields.healed / T)


class DefectModel:
    """Advances the defect fields of one particle; see the module docstring."""

    def __init__(self, fields: DefectFields, transport, mechanics, params: DefectParameters):
        if mechanics is None or mechanics.eps_res is None:
            raise ValueError("the defect model needs mechanics with a residual-eigenstrain "
                             "field (Elasticity(residual_eigenstrain=True))")
        self.f, self.tr, self.mech, self.p = fields, transport, mechanics, params
        mat = transport.material
        self.G = float(mat.stiffness_voigt()[3, 3])  # Pa, C44
        self.x_rec = float(mat.x_at_voltage(params.recovery_voltage))
        mesh = transport.mesh
        self.comm: MPI.Comm = mesh.comm
        self.ncells = mesh.topology.index_map(3).size_local
        R = transport.R
        n = ufl.as_vector([R[0, 2], R[1, 2], R[2, 2]])
        sig = mechanics.sigma  # GPa, sample frame
        # per cell midpoint: x, the 9 stress components [GPa], the c-axis
        self._expr = jit.expression(
            ufl.as_vector([transport.x_expr, *[sig[i, j] for i in range(3) for j in range(3)],
                           n[0], n[1], n[2]]), cell_midpoint(mesh))
        # the accepted state, restored on reject
        self._saved = None
        # diagnostics (volume averages)
        dx = transport.dx
        eps = mechanics.eps_res
        dev = eps - ufl.tr(eps) / 3.0 * ufl.Identity(3)
        self.equivalent_expr = ufl.sqrt(2.0 / 3.0 * ufl.inner(dev, dev) + 1e-30)  # round-off floor
        self._mean = fem.Constant(mesh, PETSc.ScalarType(0.0))
        self._eq_form = jit.form(self.equivalent_expr * dx)
        self._eq2_form = jit.form((self.equivalent_expr - self._mean) ** 2 * dx)
        self._phi_form = jit.form(fields.phi * dx)
        self.barrier_expr = -params.barrier_shift / EV_PER_MOL * fields.healed  # eV
        self._barrier_form = jit.form(self.barrier_expr * dx)

    # ------------------------------------------------------------------ laws
    def recoverability(self, x: np.ndarray) -> np.ndarray:
        """r(x) in [0, 1]: 1 heals, 0 transforms."""
        return 0.5 * (1.0 + np.tanh((x - self.x_rec) / self.p.recovery_width))

    def stage(self, dt: float, T: float) -> None:
        """Set the defect fields to their values after a step of dt [s] at T [K], from the
        accepted state (call before the step's solve; :meth:`reject` undoes it)."""
        f, p = self.f, self.p
        self._saved = (f.eps_def.x.array.copy(), f.phi.x.array.copy(),
                       self.mech.eps_res.x.array.copy(), f.active.x.array.copy(),
                       f.eps_healed.x.array.copy(), f.healed.x.array.copy())
        k_relax, k_dec = p.relax_rate(T), p.decomposition_rate(T)
        sy, G = p.yield_stress, self.G
        tau = sy / (3.0 * G * p.flow_rate)  # s
        frac = (dt / tau) / (1.0 + dt / tau)
        eps_def = f.eps_def.x.array.reshape(-1, 6)
        eps_res = self.mech.eps_res.x.array.reshape(-1, 6)
        phi, mob = f.phi.x.array, f.active.x.array
        H, healed = f.eps_healed.x.array, f.healed.x.array
        mesh = self.tr.mesh
        for sl in cell_chunks(self.ncells):
            cells = np.arange(sl.start, sl.stop, dtype=np.int32)
            vals = eval_cells(self._expr, mesh, cells)
            x = vals[:, 0]
            sig = vals[:, 1:10].reshape(-1, 3, 3) * 1e9  # Pa
            sig = 0.5 * (sig + sig.transpose(0, 2, 1))
            nvec = vals[:, 10:13]
            dev = sig - np.trace(sig, axis1=1, axis2=2)[:, None, None] / 3.0 * _I3
            vm = np.sqrt(1.5 * np.einsum("nij,nij->n", dev, dev))
            over = np.maximum(vm - sy, 0.0)
            d_eq = over / (3.0 * G) * frac
            safe = np.where(vm > 0.0, vm, 1.0)
            flow = (d_eq / safe)[:, None, None] * 1.5 * dev
            r = self.recoverability(x)
            tc, sc = f.tensor_cells[cells], f.cells[cells]
            grown = sym_to_full(eps_def[tc]) + flow
            keep = np.exp(-k_relax * r * dt)
            e = grown * keep[:, None, None]
            ph = 1.0 - (1.0 - phi[sc]) * np.exp(-k_dec * (1.0 - r) * dt)
            inplane = _I3 - np.einsum("ni,nj->nij", nvec, nvec)
            eps_def[tc] = full_to_sym(e)
            eps_res[tc] = full_to_sym(e + (p.transformation_strain * ph)[:, None, None]
                                      * inplane)
            phi[sc] = ph
            mob[sc] = 1.0 - ph
            # healing scales the tensor: it removes (1 - keep) of its equivalent strain
            H[sc] = np.maximum(0.0, H[sc] - d_eq + equivalent_strain(grown) * (1.0 - keep))
            healed[sc] = p.healed(H[sc])
        for fn in (f.eps_def, f.phi, f.active, f.eps_healed, f.healed, self.mech.eps_res):
            fn.x.scatter_forward()

    def accept(self) -> None:
        self._saved = None

    def reject(self) -> None:
        if self._saved is None:
            return
        f = self.f
        for fn, v in zip((f.eps_def, f.phi, self.mech.eps_res, f.active, f.eps_healed,
                          f.healed), self._saved, strict=True):
            fn.x.array[:] = v
        self._saved = None

    # ------------------------------------------------------------------ state, output
    def set_total(self) -> None:
        """Recompute eps_res, the active fraction and the healed fraction from eps_def,
        phi and the healed strain (after a restore)."""
        f, mesh = self.f, self.tr.mesh
        R = self.tr.R
        expr = jit.expression(ufl.as_vector([R[0, 2], R[1, 2], R[2, 2]]), cell_midpoint(mesh))
        cells = np.arange(self.ncells, dtype=np.int32)
        nvec = eval_cells(expr, mesh, cells)
        eps_def = f.eps_def.x.array.reshape(-1, 6)
        ph = f.phi.x.array[f.cells[cells]]
        tc = f.tensor_cells[cells]
        inplane = _I3 - np.einsum("ni,nj->nij", nvec, nvec)
        eps = sym_to_full(eps_def[tc]) + (self.p.transformation_strain * ph)[:, None, None] \
            * inplane
        self.mech.eps_res.x.array.reshape(-1, 6)[tc] = full_to_sym(eps)
        f.active.x.array[f.cells[cells]] = 1.0 - ph
        sc = f.cells[cells]
        f.healed.x.array[sc] = self.p.healed(f.eps_healed.x.array[sc])
        for fn in (self.mech.eps_res, f.active, f.eps_healed, f.healed):
            fn.x.scatter_forward()

    def functions(self) -> dict[str, fem.Function]:
        """The state functions a checkpoint holds (eps_res follows from them)."""
        return {"defect_eps_def": self.f.eps_def, "defect_phi": self.f.phi,
                "defect_eps_healed": self.f.eps_healed}

    def diagnostics(self) -> dict[str, float]:
        """Volume mean and std of the equivalent residual strain, mean inactive fraction,
        mean Li-barrier change [eV] (negative: healed, faster)."""
        tr = self.tr
        mean = tr.scalar(self._eq_form) / tr.volume
        self._mean.value = mean
        var = tr.scalar(self._eq2_form) / tr.volume
        return {"residual_strain_mean": mean, "residual_strain_std": math.sqrt(max(var, 0.0)),
                "inactive_fraction": tr.scalar(self._phi_form) / tr.volume,
                "li_barrier_shift_mean_eV": tr.scalar(self._barrier_form) / tr.volume}
