"""Mesh quality report: element counts, volume error, minimum dihedral angle."""

from __future__ import annotations

import numpy as np
import ufl
from dolfinx import fem
from mpi4py import MPI


def min_dihedral_angle_deg(mesh) -> float:
    """Smallest dihedral angle over all local tetrahedra, reduced over ranks [deg]."""
    conn = mesh.geometry.dofmap
    ncells = mesh.topology.index_map(3).size_local
    p = mesh.geometry.x[conn[:ncells, :4]]  # (n, 4, 3) straight-sided vertices
    worst = 180.0
    faces = [(1, 2, 3), (0, 2, 3), (0, 1, 3), (0, 1, 2)]
    normals = []
    for f in faces:
        n = np.cross(p[:, f[1]] - p[:, f[0]], p[:, f[2]] - p[:, f[0]])
        normals.append(n / np.linalg.norm(n, axis=1)[:, None])
    for i in range(4):
        for j in range(i + 1, 4):
            cosang = np.abs(np.einsum("ij,ij->i", normals[i], normals[j]))
            if ncells:
                worst = min(worst, float(np.degrees(np.arccos(np.clip(cosang, -1, 1))).min()))
    # the dihedral angle is pi minus the angle between outward normals; for the smallest
    # dihedral the |cos| form above gives the acute angle between face planes
    return mesh.comm.allreduce(worst, op=MPI.MIN)


def mesh_report(pm, semi_axes_m: list[float]) -> dict:
    """Counts, volume against the analytical ellipsoid volume, minimum dihedral angle."""
    mesh = pm.mesh
    L = pm.length_unit
    vol = mesh.comm.allreduce(
        fem.assemble_scalar(fem.form(fem.Constant(mesh, 1.0) * ufl.dx(mesh))), op=MPI.SUM)
    exact = 4.0 / 3.0 * np.pi * np.prod(np.asarray(semi_axes_m) / L)
    return {
        "cells": mesh.topology.index_map(3).size_global,
        "vertices": mesh.topology.index_map(0).size_global,
        "volume_m3": vol * L**3,
        "volume_relative_error": (vol - exact) / exact,
        "min_dihedral_angle_deg": min_dihedral_angle_deg(mesh),
    }
