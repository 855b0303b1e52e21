"""Field time series for ParaView (VTX ``fields.bp``) and PyVista (VTK ``fields.pvd``).

All written fields live on the P1 (vertex) space so that one VTX file holds them all.
Mesh coordinates are in micrometres (the model unit, solver/scaling.py); values are SI:

* ``x`` (Li fraction), ``c_Li`` [mol/m^3], ``lattice_a``, ``lattice_c`` [m] (stress-free
  lattice of the local Li content);
* with mechanics: displacement ``u`` [m], ``stress`` tensor [Pa], ``von_mises``,
  ``hydrostatic`` [Pa], ``principal_stress`` (ascending) [Pa], ``strain_003`` (d(003)
  strain against the unstrained x = 1 reference: chemical plus elastic),
  ``elastic_energy_density`` [J/m^3], ``stress_potential`` (sigma:Omega/(c_max R T));
  ``elastic_strain`` (eps(u) - eps_ch - eps_res, sample frame, dimensionless) and
  ``rotation_vector`` (axial vector w of skew(grad u), W v = w x v, radians) for the
  synthetic diffraction observables (postprocess/): they carry the elastic distortion
  F_e = I + eps_el + W without the chemical lattice change, which postprocess takes from x;
  stresses and these gradients are cell values averaged to the vertices (lumped L2
  projection);
* per cell (``fields.pvd`` only): crystal ``c_axis``, ``grain_id`` and the full crystal ->
  sample rotation ``crystal_rotation`` (9 components, row-major R[i, j]).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import ufl
from dolfinx import fem, io, la

from meshes import PARTICLE_TAG
from solver import jit
from solver.scaling import LENGTH_UNIT


class LumpedProjector:
    """Vertex averages  f_i = ∫ f φ_i dx / ∫ φ_i dx  on P1 (no over- or undershoot)."""

    def __init__(self, mesh, dx):
        self.dx = dx
        self.V1 = fem.functionspace(mesh, ("Lagrange", 1))
        v = ufl.TestFunction(self.V1)
        mass = fem.assemble_vector(jit.form(v * dx))
        mass.scatter_reverse(la.InsertMode.add)
        mass.scatter_forward()
        self.mass = mass.array.copy()
        self._forms: dict[int, fem.Form] = {}

    def project(self, expr, target: fem.Function) -> None:
        key = id(target)
        if key not in self._forms:  # compile once per target
            self._forms[key] = jit.form(ufl.inner(expr, ufl.TestFunction(
                target.function_space)) * self.dx)
        target.x.array[:] = 0.0
        fem.assemble_vector(target.x.array, self._forms[key])
        target.x.scatter_reverse(la.InsertMode.add)
        bs = target.function_space.dofmap.index_map_bs
        target.x.array[:] /= np.repeat(self.mass, bs)
        target.x.scatter_forward()


class FieldWriter:
    """Collective writer of the particle fields at selected times."""

    def __init__(self, outdir: Path, transport, mechanics=None, *, vtx: bool, pvd: bool,
                 stem: str = "fields", defects=None):
        """``stem``: file names ``<stem>.bp`` and ``vtk/<stem>.pvd`` (a restart uses its own)."""
        tr = self.tr = transport
        self.mech, self.material = mechanics, tr.material
        mesh = tr.mesh
        self.proj = LumpedProjector(mesh, tr.dx)
        V1 = self.proj.V1
        self.x = fem.Function(V1, name="x")
        self._x_expr = jit.expression(tr.x_expr, V1.element.interpolation_points)
        self.c_li = fem.Function(V1, name="c_Li")
        self.a = fem.Function(V1, name="lattice_a")
        self.c = fem.Function(V1, name="lattice_c")
        point = [self.x, self.c_li, self.a, self.c]
        if mechanics is not None:
            V3 = fem.functionspace(mesh, ("Lagrange", 1, (3,)))
            T1 = fem.functionspace(mesh, ("Lagrange", 1, (3, 3)))
            self.u = fem.Function(V3, name="u")
            self.stress = fem.Function(T1, name="stress")
            self.principal = fem.Function(V3, name="principal_stress")
            self.vm = fem.Function(V1, name="von_mises")
            self.hyd = fem.Function(V1, name="hydrostatic")
            self.s003 = fem.Function(V1, name="strain_003")
            self.energy = fem.Function(V1, name="elastic_energy_density")
            self.spot = fem.Function(V1, name="stress_potential")
            self._u_expr = jit.expression(mechanics.u, V3.element.interpolation_points)
            self.eps_el = fem.Function(T1, name="elastic_strain")
            self.rotvec = fem.Function(V3, name="rotation_vector")
            gu = ufl.grad(mechanics.u)  # um/um: dimensionless
            skew = 0.5 * (gu - gu.T)
            # axial vector of W = skew(grad u): W v = w x v
            self._rotvec_expr = ufl.as_vector([skew[2, 1], skew[0, 2], skew[1, 0]])
            point += [self.u, self.stress, self.principal, self.vm, self.hyd, self.s003,
                      self.energy, self.spot, self.eps_el, self.rotvec]
        self.defects = defects
        if defects is not None:  # solver/defects.py
            T1 = fem.functionspace(mesh, ("Lagrange", 1, (3, 3)))
            self.eps_res = fem.Function(T1, name="residual_strain")
            self.eps_res_eq = fem.Function(V1, name="residual_strain_equivalent")
            self.inactive = fem.Function(V1, name="inactive_fraction")
            self.barrier = fem.Function(V1, name="li_barrier_shift_eV")
            point += [self.eps_res, self.eps_res_eq, self.inactive, self.barrier]
        dg0v = fem.functionspace(mesh, ("DG", 0, (3,)))
        self.c_axis = fem.Function(dg0v, name="c_axis")
        rot = tr.rotation.x.array.reshape(-1, 3, 3)
        self.c_axis.x.array[:] = rot[:, :, 2].ravel()
        dg0t = fem.functionspace(mesh, ("DG", 0, (3, 3)))
        self.crystal_rotation = fem.Function(dg0t, name="crystal_rotation")
        self.crystal_rotation.x.array[:] = tr.rotation.x.array
        dg0 = fem.functionspace(mesh, ("DG", 0))
        self.grain = fem.Function(dg0, name="grain_id")
        tags = tr.pm.cell_tags
        self.grain.x.array[:] = PARTICLE_TAG
        if tags is not None:
            self.grain.x.array[tags.indices] = tags.values
        self._vtx = io.VTXWriter(mesh.comm, outdir / f"{stem}.bp", point) if (
            vtx and hasattr(io, "VTXWriter")) else None
        # the .pvd index and its per-step, per-rank pieces go into their own folder
        self._pvd = io.VTKFile(mesh.comm, outdir / "vtk" / f"{stem}.pvd", "w") if pvd else None
        self._all = point + [self.c_axis, self.grain, self.crystal_rotation]

    def write(self, t: float) -> None:
        """Update the derived fields from the current state and write them at time t [s]."""
        self.x.interpolate(self._x_expr)
        xv = self.x.x.array
        m = self.material
        self.c_li.x.array[:] = xv * m.c_max
        self.a.x.array[:] = m.lattice_a(xv)
        self.c.x.array[:] = m.lattice_c(xv)
        mech = self.mech
        if mech is not None:
            from solver.mechanics import GPA

            self.u.interpolate(self._u_expr)
            self.u.x.array[:] *= LENGTH_UNIT  # um -> m
            p = self.proj
            p.project(mech.sigma * GPA, self.stress)
            p.project(mech.von_mises * GPA, self.vm)
            p.project(mech.hydrostatic * GPA, self.hyd)
            p.project(mech.strain_003, self.s003)
            p.project(mech.energy_density * GPA, self.energy)
            p.project(mech.s_expr, self.spot)
            p.project(mech.eps_el, self.eps_el)
            p.project(self._rotvec_expr, self.rotvec)
            sig = self.stress.x.array.reshape(-1, 3, 3)
            self.principal.x.array[:] = np.linalg.eigvalsh(0.5 * (sig + sig.transpose(0, 2, 1))
                                                           ).ravel()
        if self.defects is not None:
            p = self.proj
            p.project(mech.eps_res, self.eps_res)
            p.project(self.defects.equivalent_expr, self.eps_res_eq)
            p.project(self.defects.f.phi, self.inactive)
            p.project(self.defects.barrier_expr, self.barrier)
        if self._vtx is not None:
            self._vtx.write(t)
        if self._pvd is not None:
            self._pvd.write_function(self._all, t)

    def close(self) -> None:
        for w in (self._vtx, self._pvd):
            if w is not None:
                w.close()
