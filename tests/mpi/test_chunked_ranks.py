"""Under `mpiexec -n 2`: chunked assembly with a different number of chunks on each rank
(no collective call per chunk) equals one-pass assembly."""

import pytest
from mpi4py import MPI

from tests.unit.test_chunked import test_chunked_assembly_matches_one_pass

needs2 = pytest.mark.skipif(MPI.COMM_WORLD.size < 2, reason="needs mpiexec -n 2")


@needs2
def test_uneven_chunk_counts_across_ranks():
    test_chunked_assembly_matches_one_pass(17 + 40 * MPI.COMM_WORLD.rank)
