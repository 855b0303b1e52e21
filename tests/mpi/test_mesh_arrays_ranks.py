"""Under `mpiexec -n 2`: the mesh arrays held on rank 0 give the distributed mesh and tags
of DOLFINx's ``model_to_mesh`` on every rank (meshes/arrays.py)."""

import pytest
from mpi4py import MPI

from tests.unit.test_mesh_arrays import check_arrays_mesh_equals_model_to_mesh

needs2 = pytest.mark.skipif(MPI.COMM_WORLD.size < 2, reason="needs mpiexec -n 2")


@needs2
@pytest.mark.parametrize("order", [1, 2])
def test_arrays_give_the_mesh_of_model_to_mesh_on_two_ranks(order):
    check_arrays_mesh_equals_model_to_mesh(MPI.COMM_WORLD, order)


@needs2
def test_a_mesh_file_read_in_blocks_on_two_ranks(tmp_path):
    from pathlib import Path

    from tests.unit.test_mesh_arrays import check_file_mesh_equals_arrays_mesh

    comm = MPI.COMM_WORLD
    check_file_mesh_equals_arrays_mesh(comm, Path(comm.bcast(str(tmp_path), root=0)))
