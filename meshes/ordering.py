"""Cell vertex order: every cell's vertices in ascending local numbering.

Why: matrix assembly adds each cell's element matrix row by row, and for every entry
PETSc's ``MatSetValues`` (and DOLFINx's own CSR matrix) searches the row's column indices.
When a cell's columns arrive in ascending order each search starts where the last one
ended; in the order Gmsh gives the vertices of an unstructured mesh they do not, and
the searches' data-dependent branches, not the FFCx kernels, set the assembly time.
Measured (P1 mass matrix, 4.0e4 cells of the bench sphere, 1 rank): 333 ns per cell as
built, 246 ns with sorted cells; 2 ranks: 384/374 -> 309/301 ns per cell (per rank).
A structured box mesh of 4.8e4 cells, whose cells DOLFINx builds sorted, takes 89 ns.
The five composition-dependent blocks of the two-way Jacobian, re-assembled every Newton
iteration, take 17 % less time at 5.1e5 unknowns (2.49 -> 2.07 s, 1 rank), and the
coupled step at 4.9e3-3.2e4 unknowns 8-12 % less (docs/performance.md).

How: the mesh is built as Gmsh gives it (partitioned, numbered by DOLFINx), then built
again from the same cells, each with its nodes sorted by the first build's local node
numbers, kept on the rank that holds it (no second partitioning) and passed in the order
the first build received them (by original cell index).  DOLFINx's cell reordering then
sees the same input as the first time, numbers the nodes as before, and every cell comes
out ascending (all cells, 1 and 2 ranks, tests/unit/test_mesh_ordering.py).  Passed in
the first build's local order instead, the cells are reordered differently and the
numbering moves (1-94 % ascending, measured).  Tags are carried over by their vertex sets
in input indices, as ``dolfinx.io.gmsh.model_to_mesh`` does.  The geometry and the input
node indices are unchanged; checkpoints key fields by input node numbers
(solver/checkpoint.py), so they do not see the renumbering.

Sorting turns about half of the cells inside out (negative Jacobian determinant).  DOLFINx
integrates with |det J|, maps reference facet normals with J^-T (which keeps them
outward) and orients edge and face dofs by global vertex numbers, so no form changes.
Only straight (degree-1) geometry is reordered: a curved cell's edge nodes would have to
follow its vertices, and such meshes are returned as built.
"""

from __future__ import annotations

import numpy as np
from dolfinx import cpp as _cpp
from dolfinx import mesh as dmesh
from dolfinx.graph import adjacencylist
from dolfinx.io import distribute_entity_data
from mpi4py import MPI


def _keep_on_rank(comm, nparts: int, graph, ghosting: bool):
    """Graph partitioner that leaves every cell on the rank that passes it in."""
    return _cpp.graph.AdjacencyList_int32(np.full(graph.num_nodes, comm.rank,
                                                  dtype=np.int32))


def _input_vertex_sets(msh: dmesh.Mesh, dim: int, entities: np.ndarray) -> np.ndarray:
    """Vertices of ``entities`` (local indices) as input (global Gmsh) node indices."""
    nodes = dmesh.entities_to_geometry(msh, dim, entities.astype(np.int32))
    igi = np.asarray(msh.geometry.input_global_indices, dtype=np.int64)
    return igi[nodes]


def _carry_tags(old: dmesh.Mesh, new: dmesh.Mesh, tags: dmesh.MeshTags, dim: int,
                name: str) -> dmesh.MeshTags:
    """``tags`` of ``old`` (owned entities) as MeshTags of ``new``."""
    n_owned = old.topology.index_map(dim).size_local
    keep = tags.indices < n_owned  # each entity once over the ranks
    ents = _input_vertex_sets(old, dim, tags.indices[keep])
    local, values = distribute_entity_data(new, dim, ents, tags.values[keep])
    new.topology.create_connectivity(dim, new.topology.dim)
    adj = adjacencylist(np.asarray(local, dtype=np.int32))
    out = dmesh.meshtags_from_entities(new, dim, adj, np.asarray(values, dtype=np.int32))
    out.name = name
    return out


def _input_blocks(comm, index: np.ndarray, x: np.ndarray) -> np.ndarray:
    """Rows ``x`` of input numbers ``index`` (each number on one rank) redistributed so
    that rank r holds the rows [N r / P, N (r + 1) / P) in order, N = largest number + 1;
    a number no rank has (a node in no cell) gets a zero row.  Collective."""
    size, gdim = comm.size, x.shape[1]
    n = comm.allreduce(int(index.max()) + 1 if index.size else 0, op=MPI.MAX)
    bounds = np.array([n * r // size for r in range(size + 1)], dtype=np.int64)
    dest = np.searchsorted(bounds, index, side="right") - 1
    order = np.argsort(dest, kind="stable")
    send_i = np.ascontiguousarray(index[order], dtype=np.int64)
    send_x = np.ascontiguousarray(x[order], dtype=np.float64)
    counts = np.bincount(dest, minlength=size).astype(np.int64)
    recv_counts = np.empty(size, dtype=np.int64)
    comm.Alltoall(counts, recv_counts)
    recv_i = np.empty(int(recv_counts.sum()), dtype=np.int64)
    recv_x = np.empty((int(recv_counts.sum()), gdim), dtype=np.float64)
    comm.Alltoallv([send_i, counts], [recv_i, recv_counts])
    comm.Alltoallv([send_x, counts * gdim], [recv_x, recv_counts * gdim])
    start, stop = bounds[comm.rank], bounds[comm.rank + 1]
    out = np.zeros((stop - start, gdim), dtype=x.dtype)
    out[recv_i - start] = recv_x
    return out


def sort_cell_vertices(msh: dmesh.Mesh, cell_tags: dmesh.MeshTags | None,
                       facet_tags: dmesh.MeshTags | None
                       ) -> tuple[dmesh.Mesh, dmesh.MeshTags | None, dmesh.MeshTags | None]:
    """The mesh rebuilt with ascending cell vertices, and its cell and facet tags.

    Collective.  Returns ``(mesh, cell_tags, facet_tags)``; a mesh with curved (degree >
    1) geometry or with ghost cells is returned unchanged.  See the module docstring."""
    comm, tdim = msh.comm, msh.topology.dim
    ghosts = comm.allreduce(msh.topology.index_map(tdim).num_ghosts, op=MPI.MAX)
    if msh.geometry.cmaps[0].degree != 1 or ghosts:
        # curved cells, or ghost cells (the rebuild keeps none): leave the mesh as built
        return msh, cell_tags, facet_tags
    ncells = msh.topology.index_map(tdim).size_local
    # in the order the first build received them, so that DOLFINx's cell reordering sees
    # the same input again and numbers the nodes as before
    order = np.argsort(msh.topology.original_cell_index[:ncells], kind="stable")
    nodes = np.sort(msh.geometry.dofmaps[0][order], axis=1)
    igi = np.asarray(msh.geometry.input_global_indices, dtype=np.int64)
    cells = igi[nodes]
    # the coordinates in input order, each rank a contiguous block of them (as
    # meshes/arrays.py reads a mesh file): no rank gathers the whole geometry
    n_own = msh.geometry.index_map().size_local
    x = _input_blocks(comm, igi[:n_own], msh.geometry.x[:n_own])
    partitioner = dmesh.create_cell_partitioner(_keep_on_rank, dmesh.GhostMode.none, 2)
    new = dmesh.create_mesh(comm, cells, msh.ufl_domain(), x, partitioner)
    del x, cells, nodes
    new_cells, new_facets = (
        _carry_tags(msh, new, tags, dim, tags.name) if tags is not None else None
        for tags, dim in ((cell_tags, tdim), (facet_tags, tdim - 1)))
    return new, new_cells, new_facets


__all__ = ["sort_cell_vertices"]
