"""Under `mpiexec -n 2`: GAMG's Galerkin products of the elasticity set-up (solver/mechanics.py,
``matptap_via``).  The memory-lean "allatonce" products build the same preconditioner as
PETSc's default: the same CG iterations and displacement; "auto" keeps the default for a
small local problem; the option is scoped to the set-up."""

import numpy as np
import pytest
from mpi4py import MPI
from petsc4py import PETSc

from meshes import build_particle_mesh
from solver.crystal import rotation_from_euler
from solver.materials import get_material
from solver.mechanics import ALLATONCE_MIN_ROWS_PER_RANK, Elasticity
from solver.transport import LiTransport

COMM = MPI.COMM_WORLD
needs2 = pytest.mark.skipif(COMM.size < 2, reason="needs mpiexec -n 2")


@needs2
def test_allatonce_products_give_the_same_solve_and_auto_keeps_the_default_when_small():
    pm = build_particle_mesh(COMM, [1e-6, 0.8e-6, 0.7e-6], 0.25e-6, 0.2e-6, 0.3e-6)
    tr = LiTransport(pm, get_material("NM91"), rotation_from_euler(30.0, 40.0, 0.0))
    X = tr.V_space.tabulate_dof_coordinates()
    x_li = 0.5 + 0.1 * X[:, 0]  # Li fraction linear in x (mesh in um)
    tr.w.x.array[:] = np.log(x_li / (1.0 - x_li))
    results = {}
    for via in ("auto", "scalable", "allatonce"):
        # a small coarse-grid limit: intermediate levels, so several products
        mech = Elasticity(tr, petsc_options={"matptap_via": via,
                                             "pc_gamg_coarse_eq_limit": 100})
        assert not PETSc.Options().hasName("matptap_via")  # scoped to the set-up
        its = mech.solve()
        results[via] = (mech.galerkin_products, its, mech.u.x.petsc_vec.copy(),
                        mech.ksp.getPC().getMGLevels())
        mech.destroy()
    rows_per_rank = 3 * tr.V_space.dofmap.index_map.size_global / COMM.size
    assert rows_per_rank < ALLATONCE_MIN_ROWS_PER_RANK
    assert results["auto"][0] == "" and results["scalable"][0] == "scalable"
    assert results["allatonce"][0] == "allatonce"
    ref = results["scalable"]
    assert ref[3] >= 3
    for via in ("auto", "allatonce"):
        _, its, u, levels = results[via]
        assert its == ref[1] and levels == ref[3]
        u.axpy(-1.0, ref[2])
        assert u.norm() <= 1e-8 * ref[2].norm()
    tr.destroy()
