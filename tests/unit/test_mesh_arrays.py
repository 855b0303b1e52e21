"""Mesh arrays (meshes/arrays.py): the mesh-cache format and the distribution without Gmsh.

The arrays must give exactly the mesh that DOLFINx's ``model_to_mesh`` makes from the
Gmsh model (geometry, cell order, tags) for straight and curved (P2) tetrahedra, a cache
hit must not load Gmsh, and a damaged cache file is remade."""

import logging
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from mpi4py import MPI

from meshes import build_particle_mesh
from meshes.arrays import MeshArrays, mesh_from_arrays
from meshes.spec import MeshSpec

ROOT = Path(__file__).resolve().parents[2]


def _spec(order: int) -> MeshSpec:
    semi = np.array([1.2, 1.0, 0.9])  # um
    return MeshSpec("ellipsoid", semi, 0.4, 0.3, 0.3, order=order,
                    analytic_volume=4.0 / 3.0 * np.pi * np.prod(semi))


def _tags_equal(a, b) -> None:
    assert a.dim == b.dim
    assert np.array_equal(a.indices, b.indices) and np.array_equal(a.values, b.values)


def check_arrays_mesh_equals_model_to_mesh(comm, order: int) -> None:
    """Both routes from one Gmsh model on rank 0: the same distributed mesh and tags."""
    from dolfinx.io.gmsh import model_to_mesh

    from meshes.particle import build_model_checked

    model, arrays = None, None
    if comm.rank == 0:
        import gmsh

        gmsh.initialize(interruptible=False)
        gmsh.option.setNumber("General.Terminal", 0)
        gmsh.model.add("particle")
        build_model_checked(_spec(order))
        model = gmsh.model
        arrays = MeshArrays.from_gmsh(model)
    try:
        ref = model_to_mesh(model, comm, 0, gdim=3)
    finally:
        if comm.rank == 0:
            gmsh.finalize()
    mesh, cell_tags, facet_tags, groups = mesh_from_arrays(comm, arrays, root=0)
    assert mesh.geometry.cmaps[0].degree == order
    assert np.array_equal(mesh.geometry.x, ref.mesh.geometry.x)
    assert np.array_equal(mesh.geometry.dofmaps[0], ref.mesh.geometry.dofmaps[0])
    assert np.array_equal(mesh.topology.original_cell_index, ref.mesh.topology.original_cell_index)
    _tags_equal(cell_tags, ref.cell_tags)
    _tags_equal(facet_tags, ref.facet_tags)
    assert cell_tags.name == "cell_tags" and facet_tags.name == "facet_tags"
    assert groups == {k: (int(v[0]), int(v[1])) for k, v in ref.physical_groups.items()}
    n_cells = comm.allreduce(mesh.topology.index_map(3).size_local)
    assert n_cells == ref.mesh.topology.index_map(3).size_global > 100


@pytest.mark.parametrize("order", [1, 2])
def test_arrays_give_the_mesh_of_model_to_mesh(order):
    check_arrays_mesh_equals_model_to_mesh(MPI.COMM_SELF, order)


def test_arrays_round_trip_through_a_file(tmp_path):
    from meshes.particle import _make_arrays

    arrays, info = _make_arrays(_spec(1))
    assert info["gmsh_s"] > 0
    arrays.save(tmp_path / "m.npz")
    back = MeshArrays.load(tmp_path / "m.npz")
    assert np.array_equal(back.x, arrays.x) and back.physical_groups == arrays.physical_groups
    assert back.elements.keys() == arrays.elements.keys() == {2, 3}
    for dim, (gtype, topo, tags) in arrays.elements.items():
        assert back.elements[dim][0] == gtype
        assert np.array_equal(back.elements[dim][1], topo)
        assert np.array_equal(back.elements[dim][2], tags)
    np.savez(tmp_path / "other.npz", x=arrays.x)  # an .npz, but not a mesh file
    with pytest.raises(ValueError, match="not a chemomech mesh file"):
        MeshArrays.load(tmp_path / "other.npz")


def test_a_cache_hit_does_not_load_gmsh(tmp_path):
    """A fresh process that finds the mesh in the cache never imports Gmsh."""
    args = "[1.5e-6, 1.5e-6, 1.2e-6], 0.5e-6, 0.3e-6, 0.4e-6"
    first = build_particle_mesh(MPI.COMM_SELF, [1.5e-6, 1.5e-6, 1.2e-6], 0.5e-6, 0.3e-6,
                                0.4e-6, cache=tmp_path)
    assert first.info["cache"] == "miss"
    code = ("import sys\nimport solver\nfrom mpi4py import MPI\n"
            "from pathlib import Path\nfrom meshes import build_particle_mesh\n"
            f"pm = build_particle_mesh(MPI.COMM_SELF, {args}, cache=Path({str(tmp_path)!r}))\n"
            "print(pm.info['cache'], 'gmsh' in sys.modules,"
            " pm.mesh.topology.index_map(3).size_global)\n")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True,
                         text=True, check=True, env={"PYTHONPATH": str(ROOT),
                                                     "PATH": "/usr/bin:/bin"})
    cache, gmsh_loaded, cells = out.stdout.split()
    assert cache == "hit" and gmsh_loaded == "False"
    assert int(cells) == first.mesh.topology.index_map(3).size_global


def test_a_damaged_cache_file_is_remade(tmp_path, caplog):
    semi = [1.5e-6, 1.5e-6, 1.2e-6]
    first = build_particle_mesh(MPI.COMM_SELF, semi, 0.5e-6, 0.3e-6, 0.4e-6, cache=tmp_path)
    path = Path(first.info["cache_file"])
    path.write_bytes(path.read_bytes()[:1000])  # a truncated file
    with caplog.at_level(logging.WARNING, logger="chemomech"):
        second = build_particle_mesh(MPI.COMM_SELF, semi, 0.5e-6, 0.3e-6, 0.4e-6,
                                     cache=tmp_path)
    assert second.info["cache"] == "miss"
    assert "unreadable" in caplog.text and str(path) in caplog.text
    assert np.array_equal(second.mesh.geometry.x, first.mesh.geometry.x)
    third = build_particle_mesh(MPI.COMM_SELF, semi, 0.5e-6, 0.3e-6, 0.4e-6, cache=tmp_path)
    assert third.info["cache"] == "hit"


def check_file_mesh_equals_arrays_mesh(comm, tmp: Path) -> None:
    """A cached mesh file read in parallel (every rank its own block) gives the mesh of the
    arrays distributed from rank 0: the same cells and facets per tag, and every node at
    the coordinates of its input number in the file."""
    from meshes.arrays import mesh_from_file

    semi = [1.5e-6, 1.5e-6, 1.2e-6]
    pm = build_particle_mesh(comm, semi, 0.5e-6, 0.3e-6, 0.4e-6, cache=tmp)
    assert pm.info["mesh_read"] == "parallel"
    path = Path(pm.info["cache_file"])
    arrays = MeshArrays.load(path)  # the reference, whole, on every rank (small)
    counts = []
    for mesh, cells, facets, groups in (mesh_from_file(comm, path),
                                        mesh_from_arrays(comm, arrays if comm.rank == 0
                                                         else None)):
        own_c = cells.indices < mesh.topology.index_map(3).size_local
        own_f = facets.indices < mesh.topology.index_map(2).size_local
        counts.append((comm.allreduce(mesh.topology.index_map(3).size_local),
                       tuple(comm.allreduce(np.bincount(cells.values[own_c], minlength=8))),
                       tuple(comm.allreduce(np.bincount(facets.values[own_f], minlength=8))),
                       groups))
        gi = mesh.geometry.input_global_indices
        assert np.array_equal(mesh.geometry.x, arrays.x[gi])
    assert counts[0] == counts[1]
    assert counts[0][0] == len(arrays.elements[3][1]) > 100


def test_a_mesh_file_read_in_blocks_gives_the_distributed_mesh(tmp_path):
    check_file_mesh_equals_arrays_mesh(MPI.COMM_SELF, tmp_path)


def test_npz_layout_refuses_compressed_and_truncated_files(tmp_path):
    from meshes.arrays import npz_layout, read_layout, read_rows

    x = np.arange(12.0).reshape(4, 3)
    np.savez(tmp_path / "a.npz", x=x)
    lay = npz_layout(tmp_path / "a.npz")
    assert lay["x"].shape == (4, 3)
    assert np.array_equal(read_rows(tmp_path / "a.npz", lay["x"], 1, 3), x[1:3])
    np.savez_compressed(tmp_path / "c.npz", x=x)
    with pytest.raises(ValueError, match="compressed"):
        npz_layout(tmp_path / "c.npz")
    raw = (tmp_path / "a.npz").read_bytes()
    (tmp_path / "t.npz").write_bytes(raw[: len(raw) // 2])
    with pytest.raises(ValueError):
        npz_layout(tmp_path / "t.npz")
    with pytest.raises(ValueError, match="not a chemomech mesh file"):
        read_layout(tmp_path / "a.npz")
