"""Matrices on a shared sparsity pattern (solver/sparsity.py) assemble exactly like their own."""

import pytest
from dolfinx import fem
from dolfinx.fem import petsc as fem_petsc
from mpi4py import MPI
from petsc4py import PETSc

from solver.sparsity import SharedPattern
from tests.unit.test_chunked import _forms as chunked_forms


def _forms():
    """A square form (with a facet term, inside the cell pattern) and a rectangular one,
    row block size 1 and column block size 3 (the coupling blocks' shape)."""
    _, square, rect, _ = chunked_forms()
    return fem.form(square), fem.form(rect)


@pytest.mark.parametrize("which", [0, 1])
def test_matrices_on_a_shared_pattern_equal_their_own_assembly(which):
    form = _forms()[which]
    ref = fem_petsc.assemble_matrix(form)
    ref.assemble()
    pattern = SharedPattern(ref)
    mats = [pattern.matrix() for _ in range(3)]
    x = ref.createVecRight()
    x.setRandom()
    y_ref, y = ref.createVecLeft(), ref.createVecLeft()
    ref.mult(x, y_ref)
    for k, M in enumerate(mats):
        assert M.getBlockSizes() == ref.getBlockSizes()
        assert M.getSizes() == ref.getSizes()
        assert M.norm() == 0.0
        for _ in range(2):  # re-assembly after zeroing, as every Newton iteration does
            M.zeroEntries()
            fem_petsc.assemble_matrix(M, form)
            M.assemble()
        D = M.copy()
        D.axpy(-1.0, ref)
        assert D.norm() <= 1e-14 * ref.norm()
        M.mult(x, y)
        y.axpy(-1.0, y_ref)
        assert y.norm() <= 1e-14 * y_ref.norm()
        # the matrices do not share values: scaling one leaves the others alone
        if k == 0:
            M.scale(2.0)
    assert mats[1].norm() == pytest.approx(ref.norm(), rel=1e-14)
    assert mats[0].norm() == pytest.approx(2.0 * ref.norm(), rel=1e-14)
    assert pattern.nnz == ref.getInfo(PETSc.Mat.InfoType.LOCAL)["nz_used"]  # this rank
    for M in (*mats, ref):
        M.destroy()


@pytest.mark.skipif(MPI.COMM_WORLD.size > 1, reason="a refused entry on one rank only "
                    "would leave the other rank waiting in the collective assembly")
def test_entries_outside_the_pattern_are_refused():
    form = _forms()[0]
    ref = fem_petsc.assemble_matrix(form)
    ref.assemble()
    M = SharedPattern(ref).matrix()
    row = M.getSize()[0] - 1
    cols, _ = ref.getRow(row)
    assert 0 not in cols  # opposite corners of the cube
    with pytest.raises(PETSc.Error):
        M.setValue(row, 0, 1.0, addv=PETSc.InsertMode.ADD_VALUES)
