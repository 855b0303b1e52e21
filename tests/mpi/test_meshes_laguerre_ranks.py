"""Under `mpiexec -n 2`: a laguerre polycrystal read from the mesh cache on two ranks is the
serial one: the same grains and grain volumes, the same grain-boundary facets, each
between two different grains (meshes/cell_grains.py)."""

import tempfile
from pathlib import Path

import numpy as np
import pytest
from mpi4py import MPI

from meshes import build_spec_mesh
from meshes.spec import spec_from_case
from tests.unit.test_meshes_laguerre import UM, cell_volumes, laguerre_values

needs2 = pytest.mark.skipif(MPI.COMM_WORLD.size < 2, reason="needs mpiexec -n 2")


def _summary(pm) -> tuple[np.ndarray, int]:
    """(grain volumes, number of grain-boundary facets), reduced over the ranks."""
    from solver.grains import cell_grain_ids

    mesh, comm = pm.mesh, pm.mesh.comm
    n_own = mesh.topology.index_map(3).size_local
    vol = np.bincount(cell_grain_ids(pm)[:n_own], cell_volumes(mesh)[:n_own],
                      minlength=pm.num_grains + 1)
    ft = pm.facet_tags
    n_facets = mesh.topology.index_map(2).size_local
    own_gb = (ft.indices < n_facets) & np.isin(ft.values, pm.facet_ids("grain_boundary"))
    return comm.allreduce(vol, op=MPI.SUM), comm.allreduce(int(own_gb.sum()), op=MPI.SUM)


@needs2
def test_laguerre_mesh_on_two_ranks_equals_the_serial_mesh():
    comm = MPI.COMM_WORLD
    folder = comm.bcast(tempfile.mkdtemp() if comm.rank == 0 else None, root=0)
    spec = spec_from_case(laguerre_values(count=30, spread=0.2, aspect=2.0), UM)
    par = build_spec_mesh(comm, spec, cache=Path(folder))  # made on rank 0, cached
    vol, n_gb = _summary(par)
    # every facet with both cells on this rank: tagged as grain boundary iff the grains
    # differ (facets on the partition boundary are checked by the rank that has both)
    from solver.grains import cell_grain_ids

    grain = cell_grain_ids(par)
    mesh = par.mesh
    f2c = mesh.topology.connectivity(2, 3)
    nf = mesh.topology.index_map(2).size_local
    tag = np.zeros(nf + mesh.topology.index_map(2).num_ghosts, dtype=np.int64)
    tag[par.facet_tags.indices] = par.facet_tags.values
    two = np.diff(f2c.offsets[:nf + 1]) == 2
    a = f2c.array[f2c.offsets[:nf][two]]
    b = f2c.array[f2c.offsets[:nf][two] + 1]
    is_gb = tag[:nf][two] >= 1000
    assert np.array_equal(is_gb, grain[a] != grain[b])
    if comm.rank == 0:
        ser = build_spec_mesh(MPI.COMM_SELF, spec, cache=Path(folder))  # a cache hit
        assert ser.info["cache"] == "hit"
        svol, sgb = _summary(ser)
        assert par.num_grains == ser.num_grains == 30
        assert np.allclose(vol, svol, rtol=1e-12, atol=0)
        assert n_gb == sgb > 0
        assert par.grain_pairs == ser.grain_pairs
    comm.barrier()
