"""Small meshes and runs shared by the two-phase (Cahn-Hilliard) verification tests."""

from __future__ import annotations

import numpy as np
from dolfinx import mesh
from mpi4py import MPI

from meshes import SURFACE_TAG, ParticleMesh
from solver.materials import get_material
from solver.materials.phase import two_phase_free_energy
from solver.phasefield import CahnHilliardTransport

# Test parameters (not material data): a constant D_ab so that the runs are short, and
# for the interface/coexistence tests a barrier near RT (W = 1220 J/mol) so that the
# front settles within a few hundred seconds; the width lambda = 0.5 um fits a 4 um bar.
D_TEST = 1e-13  # m^2/s, test value (D_ab_const override)
WIDTH_TEST = 0.5e-6  # m, interface width of the interface tests
ENERGY_TEST = 40.0  # J/m^2, gives W = 1220 J/mol at lambda = 0.5 um (test value)


def bar_particle(length: float, n: int, comm=MPI.COMM_WORLD, side: float = 0.1,
                 active: str = "all") -> ParticleMesh:
    """Thin bar [0, length] x [0, side]^2 (um) of n x 1 x 1 boxes (6 tets each), wrapped as
    a ParticleMesh; ``active`` = "all" (every boundary facet exchanges Li) or "end" (only
    the face x = 0)."""
    msh = mesh.create_box(comm, [[0.0, 0.0, 0.0], [length, side, side]], [n, 1, 1],
                          mesh.CellType.tetrahedron)
    msh.topology.create_connectivity(2, 3)
    if active == "end":
        facets = mesh.locate_entities_boundary(msh, 2, lambda p: np.isclose(p[0], 0.0))
    else:
        facets = mesh.exterior_facet_indices(msh.topology)
    tags = mesh.meshtags(msh, 2, facets, np.full(facets.size, SURFACE_TAG, dtype=np.int32))
    return ParticleMesh(msh, None, tags, {}, 1e-6)


def fast_material(**overrides):
    return get_material("NMC811", {"D_ab_const": D_TEST, **overrides})


def make_transport(pm, mat, width=WIDTH_TEST, energy=ENERGY_TEST, **kw):
    fe = two_phase_free_energy(mat, width, energy)
    kw.setdefault("distribution", "uniform")
    return CahnHilliardTransport(pm, mat, np.eye(3), linear_solver="direct", phase=fe,
                                 **kw), fe


def set_profile(tr, x_of_z) -> None:
    """Put x(z) (z = first coordinate, um) into the Li field and accept it (the chemical
    potential follows)."""
    z = tr.V_space.tabulate_dof_coordinates()[:, 0]
    x = x_of_z(z)
    tr.w.x.array[:] = np.log(x / (1.0 - x))
    tr.accept()


def relax(tr, mat, t_end: float = 1e6, dt0: float = 1.0, current: float = 0.0,
          max_steps: int = 400, record=None, dt_max: float = np.inf) -> int:
    """Backward Euler at fixed current until t_end (dt grows by 1.5 after easy steps)."""
    t, dt, steps = 0.0, dt0, 0
    while t < t_end * (1 - 1e-12) and steps < max_steps:
        dt = min(dt, dt_max, t_end - t)
        tr.set_state({"dt": dt, "current": current, "temperature": mat.T_ref})
        r = tr.solve()
        if not r.converged:
            tr.reject()
            dt /= 2.0
            assert dt > 1e-6, r.reason
            continue
        tr.accept()
        t += dt
        steps += 1
        if record is not None:
            record(t, dt)
        if r.iterations <= 4:
            dt *= 1.5
    return steps
