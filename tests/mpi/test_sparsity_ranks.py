"""Under `mpiexec -n 2`: matrices on a shared pattern, whose off-process part PETSc
renumbers per matrix, equal their own assembly."""

import pytest
from mpi4py import MPI

from tests.unit.test_sparsity import (
    test_matrices_on_a_shared_pattern_equal_their_own_assembly as check,
)

needs2 = pytest.mark.skipif(MPI.COMM_WORLD.size < 2, reason="needs mpiexec -n 2")


@needs2
@pytest.mark.parametrize("which", [0, 1])
def test_shared_pattern_with_off_process_columns(which):
    check(which)
