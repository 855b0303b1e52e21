"""Several AIJ matrices on one sparsity pattern, its index arrays stored once.

The monolithic Jacobian (solver/monolithic.py) holds several blocks with the same pattern:
the four (w, s) x (w, s) blocks all have the Li-space mass-matrix pattern, and the two
(Li space x displacement) blocks share theirs.  ``MatDuplicate`` with
``MAT_SHARE_NONZERO_PATTERN`` does not share anything for AIJ: PETSc copies the row and
column index arrays (measured, 40.6 MB for a duplicate of a 3.3e6-nonzero matrix, the same
as a plain duplicate).  :class:`SharedPattern` builds each matrix on the same index arrays
instead (``MatCreateSeqAIJWithArrays``; in parallel ``MatCreateMPIAIJWithSplitArrays``,
whose diagonal part keeps the shared arrays; PETSc renumbers the columns of the
off-process part in place, so that small part, and the values, are each matrix's own).
"""

from __future__ import annotations

import numpy as np
from petsc4py import PETSc


class SharedPattern:
    """The sparsity pattern of ``template`` (assembled), for new matrices of zeros.

    Every matrix from :meth:`matrix` has the template's sizes, block sizes and
    local-to-global maps (so DOLFINx assembles into it as into the template) and accepts
    values only at the pattern's entries (PETSc errors on a new nonzero)."""

    def __init__(self, template: PETSc.Mat):
        self.comm = template.getComm()
        self.sizes = template.getSizes()
        self.block_sizes = template.getBlockSizes()
        self.lgmaps = template.getLGMap()
        ai, aj, _ = template.getValuesCSR()  # owned rows, global columns, sorted per row
        ai = ai.astype(PETSc.IntType, copy=False)
        aj = aj.astype(PETSc.IntType, copy=False)
        if self.comm.getSize() == 1:
            self._diag = (ai, aj)
            self._off: tuple[np.ndarray, np.ndarray] | None = None
            return
        c0, c1 = template.getOwnershipRangeColumn()
        rows = np.repeat(np.arange(len(ai) - 1), np.diff(ai))
        inside = (aj >= c0) & (aj < c1)
        m = len(ai) - 1

        def offsets(mask: np.ndarray) -> np.ndarray:
            out = np.zeros(m + 1, dtype=PETSc.IntType)
            np.cumsum(np.bincount(rows[mask], minlength=m), out=out[1:])
            return out

        # diagonal part: local column numbers (the shared arrays); off-process part:
        # global ones, which PETSc replaces by its own compact numbering
        self._diag = (offsets(inside), (aj[inside] - c0).astype(PETSc.IntType))
        self._off = (offsets(~inside), aj[~inside].astype(PETSc.IntType))

    @property
    def nnz(self) -> int:
        """Stored entries per matrix on this rank."""
        return len(self._diag[1]) + (len(self._off[1]) if self._off is not None else 0)

    def matrix(self) -> PETSc.Mat:
        """A new assembled matrix of zeros on the shared pattern."""
        di, dj = self._diag
        zeros = np.zeros(len(dj), dtype=PETSc.ScalarType)
        if self._off is None:
            csr = (di, dj, zeros)
        else:
            oi, oj = self._off
            csr = ((di, dj, zeros),
                   (oi, oj.copy(), np.zeros(len(oj), dtype=PETSc.ScalarType)))
        M = PETSc.Mat().createAIJWithArrays(self.sizes, csr, comm=self.comm)
        # block sizes after creation (petsc4py does not pass them on here); they must
        # match the local-to-global maps' for DOLFINx's insertion
        M.setBlockSizes(*self.block_sizes)
        M.setLGMap(*self.lgmaps)
        return M
