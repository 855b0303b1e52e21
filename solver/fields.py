"""Field time series for ParaView (VTX ``fields.bp``) and PyVista (VTK ``fields.pvd``).

Mesh coordinates in these files are in micrometres (the model unit, solver/scaling.py);
field values are SI.  Fields: Li fraction ``x``, Li concentration ``c_Li`` [mol/m^3],
local lattice parameters ``lattice_a``/``lattice_c`` [m] from a(x), c(x), the chemical
(003) d-spacing strain ``strain_003_chem`` = c(x)/c_ref - 1 (stress-free lattice; the
elastic part comes with the mechanics), and per cell the crystal ``c_axis`` and
``grain_id``.
"""

from __future__ import annotations

from pathlib import Path

from dolfinx import fem, io

from meshes import PARTICLE_TAG


class FieldWriter:
    """Collective writer of the particle fields at selected times."""

    def __init__(self, outdir: Path, transport, *, vtx: bool, pvd: bool):
        tr = transport
        self.tr, self.material = tr, tr.material
        space = tr.V_space
        mesh = tr.mesh
        self.x = fem.Function(space, name="x")
        self.c_li = fem.Function(space, name="c_Li")
        self.a = fem.Function(space, name="lattice_a")
        self.c = fem.Function(space, name="lattice_c")
        self.s003 = fem.Function(space, name="strain_003_chem")
        point_fields = [self.x, self.c_li, self.a, self.c, self.s003]
        dg0v = fem.functionspace(mesh, ("DG", 0, (3,)))
        self.c_axis = fem.Function(dg0v, name="c_axis")
        rot = tr.rotation.x.array.reshape(-1, 3, 3)
        self.c_axis.x.array[:] = rot[:, :, 2].ravel()
        dg0 = fem.functionspace(mesh, ("DG", 0))
        self.grain = fem.Function(dg0, name="grain_id")
        tags = tr.pm.cell_tags
        self.grain.x.array[:] = PARTICLE_TAG
        if tags is not None:
            self.grain.x.array[tags.indices] = tags.values
        self._vtx = io.VTXWriter(mesh.comm, outdir / "fields.bp", point_fields) if (
            vtx and hasattr(io, "VTXWriter")) else None
        self._pvd = io.VTKFile(mesh.comm, outdir / "fields.pvd", "w") if pvd else None
        self._all = point_fields + [self.c_axis, self.grain]

    def write(self, t: float) -> None:
        """Update the derived fields from the current state and write them at time t [s]."""
        self.tr.x_function(self.x)
        xv = self.x.x.array
        m = self.material
        self.c_li.x.array[:] = xv * m.c_max
        self.a.x.array[:] = m.lattice_a(xv)
        self.c.x.array[:] = m.lattice_c(xv)
        self.s003.x.array[:] = m.lattice_c(xv) / m.c_ref - 1.0
        if self._vtx is not None:
            self._vtx.write(t)
        if self._pvd is not None:
            self._pvd.write_function(self._all, t)

    def close(self) -> None:
        for w in (self._vtx, self._pvd):
            if w is not None:
                w.close()

