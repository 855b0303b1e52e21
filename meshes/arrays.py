"""A meshed particle as plain arrays: what Gmsh made, stored without Gmsh, then distributed.

:class:`MeshArrays` holds the nodes, the tagged elements of each dimension and the physical
groups of a Gmsh model, extracted on rank 0 with DOLFINx's own readers
(``dolfinx.io.gmsh.extract_geometry`` / ``extract_topology_and_markers``).  It is the
mesh-cache format (one ``.npz``, meshes/cache.py) and the one input of
:func:`mesh_from_arrays`, which creates the distributed mesh and its cell and facet tags
exactly as ``dolfinx.io.gmsh.model_to_mesh`` does from the model.  Whether the mesh was
just made or read from the cache, the same arrays give the same mesh, and a cached run
never loads the Gmsh library: ~40 MB less resident on rank 0 (measured, ``import gmsh``),
and no Gmsh needed to rerun a cached case.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

FORMAT = 1  # bump when the stored arrays change meaning


@dataclass
class MeshArrays:
    """Nodes, tagged elements per dimension and physical groups of a Gmsh model.

    Attributes:
        x: (num_nodes, 3) node coordinates, model length unit, row i = Gmsh node i + 1.
        elements: dimension -> (Gmsh element type, (n, nodes per element) node indices
            from 0 in Gmsh's node order, (n,) physical tags).
        physical_groups: name -> (dimension, tag).
    """

    x: np.ndarray
    elements: dict[int, tuple[int, np.ndarray, np.ndarray]]
    physical_groups: dict[str, tuple[int, int]]

    @property
    def tdim(self) -> int:
        """Topological dimension of the cells (the highest tagged dimension)."""
        return max(self.elements)

    @classmethod
    def from_gmsh(cls, model) -> MeshArrays:
        """The tagged elements of the current Gmsh model (rank 0; needs ``gmsh``)."""
        from dolfinx.io.gmsh import extract_geometry, extract_topology_and_markers

        x = extract_geometry(model)
        topologies, groups = extract_topology_and_markers(model)
        if not groups:
            raise ValueError("the Gmsh model has no physical groups")
        elements: dict[int, tuple[int, np.ndarray, np.ndarray]] = {}
        for gtype, data in topologies.items():
            _, dim, _, _, _, _ = model.mesh.getElementProperties(gtype)
            if dim in elements:
                raise ValueError(f"the Gmsh model mixes element types in dimension {dim}")
            elements[int(dim)] = (int(gtype), np.asarray(data["topology"], dtype=np.int64),
                                  np.asarray(data["cell_data"], dtype=np.int32))
        tdim = max(elements)
        # every cell in exactly one physical group (what model_to_mesh checks as well)
        tagged = topologies[elements[tdim][0]]["entity_tags"]
        _, all_cells, _ = model.mesh.getElements(dim=tdim, tag=-1)
        if sum(len(c) for c in all_cells) != len(tagged) or len(np.unique(tagged)) != len(tagged):
            raise ValueError("every cell must belong to exactly one physical group")
        return cls(np.ascontiguousarray(x, dtype=np.float64), elements,
                   {name: (int(g[0]), int(g[1])) for name, g in groups.items()})

    def save(self, path: Path) -> None:
        """Write to ``path`` (an ``.npz``; the caller makes the write atomic)."""
        data = {"format": np.array(FORMAT), "x": self.x,
                "physical_groups": np.array(json.dumps(self.physical_groups))}
        for dim, (gtype, topo, tags) in self.elements.items():
            data[f"gmsh_type_{dim}"] = np.array(gtype)
            data[f"nodes_{dim}"] = topo
            data[f"tags_{dim}"] = tags
        with open(path, "wb") as f:
            np.savez(f, **data)

    @classmethod
    def load(cls, path: Path) -> MeshArrays:
        """Read what :meth:`save` wrote; ValueError if it is not such a file."""
        with np.load(path, allow_pickle=False) as f:
            if "format" not in f or int(f["format"]) != FORMAT:
                raise ValueError(f"{path}: not a chemomech mesh file of format {FORMAT}")
            elements = {}
            for key in f.files:
                if key.startswith("gmsh_type_"):
                    dim = int(key.rsplit("_", 1)[1])
                    elements[dim] = (int(f[key]), f[f"nodes_{dim}"], f[f"tags_{dim}"])
            groups = {k: (int(v[0]), int(v[1]))
                      for k, v in json.loads(str(f["physical_groups"])).items()}
            return cls(f["x"], elements, groups)


def mesh_from_arrays(comm, arrays: MeshArrays | None, root: int = 0, gdim: int = 3):
    """Distributed mesh, cell tags and facet tags from ``arrays`` held on ``root``.

    Collective; the other ranks pass None.  Follows ``dolfinx.io.gmsh.model_to_mesh``
    step by step (cells permuted to DOLFINx's node order, created from ``root``, then the
    tagged entities distributed to their owners), so the result is the mesh that function
    makes from the Gmsh model the arrays came from.

    Returns:
        (mesh, cell_tags, facet_tags, physical_groups); a tag set of a dimension without
        tagged elements is None.
    """
    from dolfinx import cpp, default_real_type
    from dolfinx.graph import adjacencylist
    from dolfinx.io.gmsh import cell_perm_array, ufl_mesh
    from dolfinx.io.utils import distribute_entity_data
    from dolfinx.mesh import create_mesh, meshtags_from_entities

    layout = None
    if comm.rank == root:
        layout = ({d: (g, t.shape[1]) for d, (g, t, _) in arrays.elements.items()},
                  arrays.physical_groups)
    layout = comm.bcast(layout, root=root)
    shapes, groups = layout
    tdim = max(shapes)
    domain = ufl_mesh(shapes[tdim][0], gdim, dtype=default_real_type)
    num_nodes = domain.ufl_coordinate_element().basix_element.dim
    perm = cell_perm_array(cpp.mesh.to_type(str(domain.ufl_cell())), num_nodes)

    def local(dim: int) -> tuple[np.ndarray, np.ndarray]:
        if comm.rank == root:
            _, topo, tags = arrays.elements[dim]
            return topo, tags
        return (np.empty((0, shapes[dim][1]), dtype=np.int64),
                np.empty((0,), dtype=np.int32))

    cells, _ = local(tdim)
    x = (arrays.x[:, :gdim] if comm.rank == root
         else np.empty((0, gdim), dtype=default_real_type))
    mesh = create_mesh(comm, cells[:, perm].copy(), domain,
                       x.astype(default_real_type, copy=False), None,
                       max_facet_to_cell_links=2)
    tags = []
    for codim, name in ((0, "cell_tags"), (1, "facet_tags")):
        dim = tdim - codim
        if dim not in shapes:
            tags.append(None)
            continue
        entities, values = local(dim)
        local_entities, local_values = distribute_entity_data(mesh, dim, entities, values)
        mesh.topology.create_connectivity(dim, tdim)
        mt = meshtags_from_entities(mesh, dim, adjacencylist(local_entities),
                                    local_values.astype(np.int32, copy=False))
        mt.name = name
        tags.append(mt)
    return mesh, tags[0], tags[1], groups
