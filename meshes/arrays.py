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

A stored file is read in parallel by :func:`mesh_from_file`: ``np.savez`` stores each array
uncompressed, so every rank reads its own contiguous block of cells, facets and nodes from
the file's byte offsets (:func:`npz_layout`), and no rank ever holds the whole mesh.
"""

from __future__ import annotations

import json
import struct
import zipfile
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
    layout = None
    if comm.rank == root:
        layout = ({d: (g, t.shape[1]) for d, (g, t, _) in arrays.elements.items()},
                  arrays.physical_groups)
    shapes, groups = comm.bcast(layout, root=root)

    def local(dim: int) -> tuple[np.ndarray, np.ndarray]:
        if comm.rank == root:
            _, topo, tags = arrays.elements[dim]
            return topo, tags
        return (np.empty((0, shapes[dim][1]), dtype=np.int64),
                np.empty((0,), dtype=np.int32))

    x = arrays.x[:, :gdim] if comm.rank == root else np.empty((0, gdim))
    return _distributed_mesh(comm, shapes, groups, local, x, gdim)


# ---------------------------------------------------------------- parallel read of a file
@dataclass(frozen=True)
class StoredArray:
    """Where one array of an uncompressed ``.npz`` lies in the file."""

    offset: int  # bytes from the start of the file to the first element
    shape: tuple[int, ...]
    dtype: np.dtype


def npz_layout(path: Path) -> dict[str, StoredArray]:
    """Byte offset, shape and dtype of every array of an ``np.savez`` file (name without
    ``.npy``); ValueError if a member is compressed, Fortran-ordered, holds objects, or
    reaches past the end of the file (a truncated copy)."""
    layout: dict[str, StoredArray] = {}
    size = Path(path).stat().st_size
    try:
        with zipfile.ZipFile(path) as zf, open(path, "rb") as f:
            for info in zf.infolist():
                if info.compress_type != zipfile.ZIP_STORED:
                    raise ValueError(f"{path}: member {info.filename} is compressed")
                f.seek(info.header_offset)
                header = f.read(30)  # ZIP local file header, fixed part
                if len(header) < 30 or header[:4] != b"PK\x03\x04":
                    raise ValueError(f"{path}: bad ZIP header of {info.filename}")
                name_len, extra_len = struct.unpack("<HH", header[26:30])
                f.seek(info.header_offset + 30 + name_len + extra_len)
                version = np.lib.format.read_magic(f)
                read_header = (np.lib.format.read_array_header_1_0 if version == (1, 0)
                               else np.lib.format.read_array_header_2_0)
                shape, fortran, dtype = read_header(f)
                if fortran or dtype.hasobject:
                    raise ValueError(f"{path}: member {info.filename} is not a plain "
                                     "C-ordered array")
                entry = StoredArray(f.tell(), tuple(shape), dtype)
                if entry.offset + int(np.prod(shape)) * dtype.itemsize > size:
                    raise ValueError(f"{path}: member {info.filename} is truncated")
                layout[info.filename.removesuffix(".npy")] = entry
    except (zipfile.BadZipFile, struct.error, EOFError) as exc:
        raise ValueError(f"{path}: not a readable .npz ({exc})") from exc
    return layout


def read_rows(path: Path, entry: StoredArray, start: int, stop: int) -> np.ndarray:
    """Rows ``start:stop`` of a stored array (the first axis), read without the rest."""
    row = int(np.prod(entry.shape[1:], dtype=np.int64))
    count = max(0, stop - start) * row
    with open(path, "rb") as f:
        f.seek(entry.offset + start * row * entry.dtype.itemsize)
        data = np.fromfile(f, dtype=entry.dtype, count=count)
    if data.size != count:
        raise ValueError(f"{path}: short read ({data.size} of {count} values)")
    return data.reshape((max(0, stop - start), *entry.shape[1:]))


def _scalar(path: Path, entry: StoredArray):
    """The one value of a 0-d stored array."""
    return np.fromfile(path, dtype=entry.dtype, count=1, offset=entry.offset)[0]


def block(n: int, rank: int, size: int) -> tuple[int, int]:
    """Rows [start, stop) of ``n`` read by ``rank`` of ``size``: contiguous, in rank order."""
    return n * rank // size, n * (rank + 1) // size


def read_layout(path: Path) -> tuple[dict[str, StoredArray], dict, dict]:
    """(npz layout, dimension -> (Gmsh type, nodes per element), physical groups) of a
    mesh file written by :meth:`MeshArrays.save`; ValueError if it is not one."""
    layout = npz_layout(path)
    if "format" not in layout or "x" not in layout:
        raise ValueError(f"{path}: not a chemomech mesh file")
    fmt = int(_scalar(path, layout["format"]))
    if fmt != FORMAT:
        raise ValueError(f"{path}: not a chemomech mesh file of format {FORMAT}")
    shapes = {}
    for key, entry in layout.items():
        if key.startswith("gmsh_type_"):
            dim = int(key.rsplit("_", 1)[1])
            gtype = int(_scalar(path, entry))
            nodes = layout.get(f"nodes_{dim}")
            if nodes is None or f"tags_{dim}" not in layout or len(nodes.shape) != 2:
                raise ValueError(f"{path}: dimension {dim} lacks its nodes or tags")
            shapes[dim] = (gtype, nodes.shape[1])
    if not shapes:
        raise ValueError(f"{path}: no elements")
    if "physical_groups" not in layout:
        raise ValueError(f"{path}: no physical groups")
    raw = str(_scalar(path, layout["physical_groups"]))
    groups = {k: (int(v[0]), int(v[1])) for k, v in json.loads(raw).items()}
    return layout, shapes, groups


def mesh_from_file(comm, path: Path, gdim: int = 3):
    """Distributed mesh, cell tags, facet tags and physical groups read from a mesh file in
    parallel: rank r of P reads the r-th contiguous block of the nodes, the cells and the
    tagged facets (:func:`block`) and nothing else.

    The nodes keep their input numbering (row i of the file is input node i on every rank
    count), so the mesh equals that of :func:`mesh_from_arrays` from the same file up to
    the partition, and checkpoints keyed by input node numbers (solver/checkpoint.py) are
    interchangeable between the two.  Collective; ValueError if the file is not a mesh
    file (raised on every rank: the layout is read by all)."""
    layout, shapes, groups = read_layout(path)
    size, rank = comm.size, comm.rank

    def local(dim: int) -> tuple[np.ndarray, np.ndarray]:
        nodes, tags = layout[f"nodes_{dim}"], layout[f"tags_{dim}"]
        a, b = block(nodes.shape[0], rank, size)
        return (read_rows(path, nodes, a, b).astype(np.int64, copy=False),
                read_rows(path, tags, a, b))

    xe = layout["x"]
    a, b = block(xe.shape[0], rank, size)
    x = read_rows(path, xe, a, b)[:, :gdim]
    return _distributed_mesh(comm, shapes, groups, local, x, gdim)


def _distributed_mesh(comm, shapes: dict, groups: dict, local, x: np.ndarray, gdim: int):
    """The DOLFINx mesh and tags from each rank's share of cells, nodes and tagged facets
    (``local(dim)`` -> (entity node indices, tags)); ``model_to_mesh``'s steps."""
    from dolfinx import cpp, default_real_type
    from dolfinx.graph import adjacencylist
    from dolfinx.io.gmsh import cell_perm_array, ufl_mesh
    from dolfinx.io.utils import distribute_entity_data
    from dolfinx.mesh import create_mesh, meshtags_from_entities

    tdim = max(shapes)
    domain = ufl_mesh(shapes[tdim][0], gdim, dtype=default_real_type)
    num_nodes = domain.ufl_coordinate_element().basix_element.dim
    perm = cell_perm_array(cpp.mesh.to_type(str(domain.ufl_cell())), num_nodes)
    cells, _ = local(tdim)
    mesh = create_mesh(comm, cells[:, perm].copy(), domain,
                       np.ascontiguousarray(x, dtype=default_real_type), None,
                       max_facet_to_cell_links=2)
    del cells
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
