"""Shared helpers for the tests: small cases and meshes."""

from __future__ import annotations

import copy
from typing import Any

BASE_CASE: dict[str, Any] = {
    "geometry": {"shape": "sphere", "radius": "1 um", "mesh_size": "0.25 um",
                 "surface_mesh_size": "0.15 um", "refinement_depth": "0.3 um"},
    "material": {"name": "NMC811"},
    "conditions": {"initial_x": 0.9},
    "protocol": [{"type": "charge", "current": "500 mA/g", "until_time": "60 s"}],
    "numerics": {"dt_initial": "1 s", "dt_max": "10 s"},
    "output": {"vtx": False, "pvd": False, "figures": False},
    "mechanics": {"coupling": "none"},
}


def case_dict(**sections: dict) -> dict:
    """BASE_CASE with sections updated key by key (``protocol`` replaced)."""
    d = copy.deepcopy(BASE_CASE)
    for name, values in sections.items():
        if name == "protocol":
            d["protocol"] = values
        else:
            d.setdefault(name, {}).update(values)
    if d["geometry"].get("shape") == "ellipsoid":
        d["geometry"].pop("radius", None)
    return d
