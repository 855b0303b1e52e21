"""Chunked assembly (solver/chunked.py) equals one-pass assembly, facet terms included."""

import numpy as np
import pytest
import ufl
from dolfinx import fem, mesh
from dolfinx.fem import petsc as fem_petsc
from mpi4py import MPI
from petsc4py import PETSc

from solver.chunked import ChunkedForm


def _forms():
    msh = mesh.create_unit_cube(MPI.COMM_WORLD, 6, 5, 4)
    V = fem.functionspace(msh, ("Lagrange", 1))
    U = fem.functionspace(msh, ("Lagrange", 1, (3,)))
    w = fem.Function(V)
    w.interpolate(lambda x: np.sin(3 * x[0]) + x[1] * x[2])
    k = fem.Constant(msh, PETSc.ScalarType(1.7))
    dx = ufl.Measure("dx", msh, metadata={"quadrature_degree": 2})
    ds = ufl.Measure("ds", msh, metadata={"quadrature_degree": 2})
    v, dw, du = ufl.TestFunction(V), ufl.TrialFunction(V), ufl.TrialFunction(U)
    # nonlinear coefficient, a facet term, and a rectangular (coupling-like) block
    a = (k * ufl.exp(w) * ufl.inner(ufl.grad(dw), ufl.grad(v)) * dx
         + ufl.tanh(w) * dw * v * ds)
    b = ufl.exp(-w) * ufl.div(du) * v * dx
    L = k * ufl.tanh(w) * v * dx + w * v * ds
    return V, a, b, L


@pytest.mark.parametrize("chunk_cells", [1, 37, 10**9])
def test_chunked_assembly_matches_one_pass(chunk_cells):
    V, a, b, L = _forms()
    for form in (a, b):
        ref = fem_petsc.assemble_matrix(fem.form(form))
        ref.assemble()
        ch = ChunkedForm(form, chunk_cells=chunk_cells)
        A = fem_petsc.create_matrix(ch.full())
        ch.assemble_matrix(A)
        A.assemble()
        A.axpy(-1.0, ref)
        assert A.norm() <= 1e-13 * ref.norm()
        A.destroy()
        ref.destroy()
    ref = fem_petsc.assemble_vector(fem.form(L))
    ref.ghostUpdate(PETSc.InsertMode.ADD, PETSc.ScatterMode.REVERSE)
    ch = ChunkedForm(L, chunk_cells=chunk_cells)
    vec = fem_petsc.create_vector(V)
    with vec.localForm() as loc:
        loc.set(0.0)
    ch.assemble_vector(vec)
    vec.ghostUpdate(PETSc.InsertMode.ADD, PETSc.ScatterMode.REVERSE)
    vec.axpy(-1.0, ref)
    assert vec.norm() <= 1e-13 * ref.norm()
    ncells = V.mesh.topology.index_map(3).size_local
    needed = V.mesh.comm.allreduce(max(1, -(-ncells // chunk_cells)), op=MPI.MAX)
    assert ch.num_chunks == needed  # equal on every rank (collective flushes)


def test_chunked_form_rejects_forms_without_a_cell_integral():
    V, _, _, _ = _forms()
    v = ufl.TestFunction(V)
    with pytest.raises(ValueError, match="cell integral"):
        ChunkedForm(v * ufl.ds(V.mesh))


@pytest.mark.parametrize("chunk_cells", [1, 37, 10**9])
def test_eval_cells_matches_dg0_interpolation(chunk_cells):
    """Chunked evaluation at the cell midpoints equals interpolation into a DG0 field."""
    from solver.chunked import cell_midpoint, eval_cells

    V, _, _, _ = _forms()
    msh = V.mesh
    w = fem.Function(V)
    w.interpolate(lambda x: np.sin(3 * x[0]) + x[1] * x[2])
    expr_ufl = ufl.as_vector([ufl.exp(w), w * w + ufl.grad(w)[0]])
    Q = fem.functionspace(msh, ("DG", 0, (2,)))
    ref = fem.Function(Q)
    ref.interpolate(fem.Expression(expr_ufl, Q.element.interpolation_points))
    n = msh.topology.index_map(3).size_local
    cells = np.arange(n, dtype=np.int32)[::-1]  # any order, returned in that order
    vals = eval_cells(fem.Expression(expr_ufl, cell_midpoint(msh)), msh, cells, chunk_cells)
    expected = ref.x.array.reshape(-1, 2)[Q.dofmap.list[cells, 0]]
    assert vals.shape == (n, 2)
    assert np.abs(vals - expected).max() < 1e-13 * np.abs(expected).max()
