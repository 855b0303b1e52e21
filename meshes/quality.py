"""Mesh quality report: element counts, volume error, minimum dihedral angle."""

from __future__ import annotations

import numpy as np
import ufl
from dolfinx import fem
from mpi4py import MPI


def cell_min_dihedral_deg(mesh) -> np.ndarray:
    """Smallest dihedral angle of every owned tetrahedron [deg] (straight-sided).

    Uses the acute angle between face planes, so a nearly flat (~180 deg) dihedral counts
    as small too: both make slivers.
    """
    conn = mesh.geometry.dofmap
    ncells = mesh.topology.index_map(3).size_local
    p = mesh.geometry.x[conn[:ncells, :4]]  # (n, 4, 3) straight-sided vertices
    faces = [(1, 2, 3), (0, 2, 3), (0, 1, 3), (0, 1, 2)]
    normals = []
    for f in faces:
        n = np.cross(p[:, f[1]] - p[:, f[0]], p[:, f[2]] - p[:, f[0]])
        normals.append(n / np.linalg.norm(n, axis=1)[:, None])
    worst = np.full(ncells, 90.0)
    for i in range(4):
        for j in range(i + 1, 4):
            cosang = np.abs(np.einsum("ij,ij->i", normals[i], normals[j]))
            worst = np.minimum(worst, np.degrees(np.arccos(np.clip(cosang, -1, 1))))
    return worst


def min_dihedral_angle_deg(mesh) -> float:
    """Smallest dihedral angle over all tetrahedra, reduced over ranks [deg]."""
    a = cell_min_dihedral_deg(mesh)
    return mesh.comm.allreduce(float(a.min()) if a.size else 180.0, op=MPI.MIN)


def mesh_volume(mesh) -> float:
    """Volume of the mesh in model units^3 (all ranks)."""
    return mesh.comm.allreduce(
        fem.assemble_scalar(fem.form(fem.Constant(mesh, 1.0) * ufl.dx(mesh))), op=MPI.SUM)


def grain_volumes(pm) -> np.ndarray:
    """Volume of every grain (model units^3), index g-1 for grain g (all ranks)."""
    mesh = pm.mesh
    dx = ufl.Measure("dx", mesh, subdomain_data=pm.cell_tags)
    one = fem.Constant(mesh, 1.0)
    return np.array([mesh.comm.allreduce(fem.assemble_scalar(fem.form(one * dx(g))),
                                         op=MPI.SUM) for g in range(1, pm.num_grains + 1)])


def mesh_report(pm, semi_axes_m: list[float] | None = None,
                exact_volume: float | None = None) -> dict:
    """Counts, volume against the analytical volume, minimum dihedral angle.

    ``exact_volume`` (model units^3) defaults to the ellipsoid of ``semi_axes_m``.
    """
    mesh = pm.mesh
    L = pm.length_unit
    vol = mesh_volume(mesh)
    exact = (exact_volume if exact_volume is not None
             else 4.0 / 3.0 * np.pi * np.prod(np.asarray(semi_axes_m) / L))
    report = {
        "cells": mesh.topology.index_map(3).size_global,
        "vertices": mesh.topology.index_map(0).size_global,
        "volume_m3": vol * L**3,
        "volume_relative_error": (vol - exact) / exact,
        "min_dihedral_angle_deg": min_dihedral_angle_deg(mesh),
        "cells_below_10deg": mesh.comm.allreduce(int((cell_min_dihedral_deg(mesh) < 10).sum()),
                                                 op=MPI.SUM),
        "grains": pm.num_grains,
        "grain_boundary_pairs": len(pm.grain_pairs),
    }
    if "cad_volume_um3" in pm.info:
        report["cad_volume_relative_error"] = vol / pm.info["cad_volume_um3"] - 1.0
    for k in ("cache", "mesh_s"):
        if k in pm.info:
            report[k] = pm.info[k]
    return report
