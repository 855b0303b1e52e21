"""Cell-chunked assembly: the same compiled kernels over a few subsets of the cells.

DOLFINx packs every coefficient of a form for all cells before it assembles, one copy per
cell (a P1 field is stored ~7x over on tetrahedra, a P1 vector field ~21x).  For the
coupling blocks of the monolithic Jacobian (solver/monolithic.py) that transient was the
largest single allocation of a step: ~200 MB for one block and ~120 MB for the residual
at 5.1e5 unknowns (measured, ``docs/performance.md``).  Assembling the cell integrals chunk
by chunk into the same matrix or vector bounds it by the chunk size.

The kernels are compiled once: the form's "everywhere" cell integrals are retagged with one
subdomain id, and each chunk is a :func:`dolfinx.fem.create_form` over its own owned
cells.  Facet integrals (few entities) stay in an ordinary form assembled in one pass.
The result equals one-pass assembly up to the order of floating-point additions
(``tests/unit/test_chunked.py``).
"""

from __future__ import annotations

import basix
import numpy as np
import ufl
from dolfinx import fem
from dolfinx.fem import petsc as fem_petsc
from mpi4py import MPI
from petsc4py import PETSc

from solver import jit

# cells per chunk (numerical setting): the packing transient is ~8 B x (coefficient dofs
# per cell) x chunk, i.e. ~10 MB for the widest coupling block (~25 values per cell)
CHUNK_CELLS = 50_000
_TAG = 1  # subdomain id of the retagged cell integrals


class ChunkedForm:
    """A bilinear or linear form assembled over chunks of owned cells.

    :meth:`full` builds the same compiled form over all owned cells (for the sparsity
    pattern of a matrix; not kept, since every DOLFINx form stores its cell list, 4 B per
    cell); :meth:`assemble_matrix` and :meth:`assemble_vector` add the form into an
    existing PETSc object chunk by chunk (the caller finalises: ``Mat.assemble`` or a
    reverse ghost update)."""

    def __init__(self, form: ufl.Form, chunk_cells: int = CHUNK_CELLS):
        if chunk_cells < 1:
            raise ValueError(f"chunk_cells must be >= 1, got {chunk_cells}")
        cell, rest = [], []
        for itg in form.integrals():
            default = itg.subdomain_id() in ("everywhere", "otherwise")
            (cell if itg.integral_type() == "cell" and default else rest).append(itg)
        if not cell:
            raise ValueError("ChunkedForm needs a cell integral over the whole mesh")
        spaces = [a.ufl_function_space() for a in form.arguments()]
        if not spaces:
            raise ValueError("ChunkedForm needs a linear or bilinear form")
        msh = spaces[0].mesh
        tagged = ufl.Form([itg.reconstruct(subdomain_id=_TAG) for itg in cell])
        compiled = jit.compile_form(msh.comm, tagged)
        coeffs = {c: c for c in tagged.coefficients()}
        consts = {c: c for c in ufl.algorithms.analysis.extract_constants(tagged)}
        ncells = msh.topology.index_map(msh.topology.dim).size_local

        def over(start: int, stop: int) -> fem.Form:
            cells = np.arange(start, stop, dtype=np.int32)
            return fem.create_form(compiled, spaces, msh,
                                   {fem.IntegralType.cell: [(_TAG, cells)]}, coeffs, consts)

        self._over, self._ncells = over, ncells
        # the same number of chunks on every rank: DOLFINx flushes the assembly of a
        # square matrix after each form (a collective MatAssembly), so every rank must
        # assemble as many chunk forms as the others (some may then hold no cells)
        nchunks = msh.comm.allreduce(max(1, -(-ncells // chunk_cells)), op=MPI.MAX)
        bounds = np.linspace(0, ncells, nchunks + 1).astype(int)
        self.chunks = [over(a, b) for a, b in zip(bounds[:-1], bounds[1:], strict=True)]
        self.rest = jit.form(ufl.Form(rest)) if rest else None

    def full(self) -> fem.Form:
        """The cell part over all owned cells (a new form; for sparsity patterns)."""
        return self.chunks[0] if len(self.chunks) == 1 else self._over(0, self._ncells)

    @property
    def num_chunks(self) -> int:
        return len(self.chunks)

    def _parts(self) -> list[fem.Form]:
        return self.chunks + ([self.rest] if self.rest is not None else [])

    def assemble_matrix(self, A: PETSc.Mat) -> None:
        """Add the form into ``A`` (no ``A.assemble()``: the caller finalises)."""
        for part in self._parts():
            fem_petsc.assemble_matrix(A, part)

    def assemble_vector(self, b: PETSc.Vec) -> None:
        """Add the form into the local (ghosted) form of ``b`` (no ghost update)."""
        for part in self._parts():
            fem_petsc.assemble_vector(b, part)


def cell_midpoint(mesh) -> np.ndarray:
    """The reference cell's midpoint, (1, tdim): where DG0 interpolation samples."""
    return basix.geometry(mesh.basix_cell()).mean(axis=0, keepdims=True)


def cell_chunks(ncells: int, chunk_cells: int = CHUNK_CELLS):
    """Slices 0..ncells in chunks of at most ``chunk_cells`` (local cell ranges)."""
    for start in range(0, ncells, chunk_cells):
        yield slice(start, min(start + chunk_cells, ncells))


def eval_cells(expr: fem.Expression, mesh, cells: np.ndarray,
               chunk_cells: int = CHUNK_CELLS) -> np.ndarray:
    """``expr`` (at one reference point) on ``cells``, chunk by chunk: (len(cells), size).

    Instead of interpolating into a DG0 field kept for the run (8 B per cell per
    component), the values exist only while the caller uses them, and the coefficient
    packing is bounded by the chunk."""
    cells = np.asarray(cells, dtype=np.int32)
    size = int(np.prod(expr.value_shape, dtype=int))
    out = np.empty((cells.size, size))
    for sl in cell_chunks(cells.size, chunk_cells):
        out[sl] = expr.eval(mesh, cells[sl]).reshape(-1, size)
    return out


__all__ = ["CHUNK_CELLS", "ChunkedForm", "cell_chunks", "cell_midpoint", "eval_cells"]
