"""Under `mpiexec -n 2`: the rebuilt mesh with ascending cell vertices keeps every cell on
its rank and carries the grain, grain-boundary and surface tags across the partition."""

import pytest
from mpi4py import MPI

from tests.unit.test_mesh_ordering import check_sorted_mesh_equals_plain

needs2 = pytest.mark.skipif(MPI.COMM_WORLD.size < 2, reason="needs mpiexec -n 2")


@needs2
def test_sorted_mesh_equals_plain_on_two_ranks(monkeypatch):
    check_sorted_mesh_equals_plain(MPI.COMM_WORLD, monkeypatch)
