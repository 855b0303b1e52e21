"""Materials library of chemomech (Ni-rich layered oxide cathodes).

Public API::

    from solver.materials import Material, get_material, MATERIAL_NAMES, OVERRIDABLE_KEYS
    mat = get_material("NC91", {"D_ab_scale": 0.5})
    mat.ocv(x, m)  # m = solver.mathns.NUMPY or solver.mathns.ufl_namespace()

Imports neither dolfinx nor ufl.  Values, units, sources and proxies: docs/materials.md.
"""

from __future__ import annotations

import dataclasses
import math

from .base import Material
from .library import MATERIALS

MATERIAL_NAMES: tuple[str, ...] = tuple(MATERIALS)  # ("NC91", "NM91", "NMC622", "NMC811")

OVERRIDABLE_KEYS: tuple[str, ...] = (
    "density",  # kg/m^3 (c_max follows: density / molar_mass)
    "D_c_over_D_ab",  # -
    "Ea_D",  # J/mol
    "Ea_i0",  # J/mol
    "alpha",  # - (0 < alpha < 1)
    "D_ab_const",  # m^2/s or None
    "D_ab_scale",  # -
    "i0_scale",  # -
    "i0_ref",  # A/m^2
    "D_H3_decades",  # decades
    "E_ab",  # Pa
    "E_c",  # Pa
    "nu_ab",  # -
    "nu_c",  # -
    "G_c",  # Pa
    "vegard_a",  # - (linear lattice law a/a_ref - 1 = vegard_a (x - 1))
    "vegard_c",  # -
    "C11_scale",  # - (factor on C11 = C22; C66 follows)
    "C33_scale",  # -
    "C13_scale",  # - (C13 = C23)
    "C44_scale",  # - (C44 = C55)
)

# Keys of the case's [material] table that choose the Li transport model rather than a
# material law (solver/config.py, solver/phasefield.py): carried by the Material so that
# the transport built from it can check it is the right one (LiTransport refuses
# "two-phase").  phase_model: "single-phase" | "two-phase"; interface_width [m] and
# interface_energy [J/m^2] positive or None (defaults of solver/materials/phase.py).
TRANSPORT_MODEL_KEYS: tuple[str, ...] = ("phase_model", "interface_width", "interface_energy")
PHASE_MODELS: tuple[str, ...] = ("single-phase", "two-phase")

_POSITIVE = {"density", "D_ab_scale", "i0_scale", "i0_ref", "E_ab", "E_c", "G_c",
             "C11_scale", "C33_scale", "C13_scale", "C44_scale"}
# D_c_over_D_ab = 0 is allowed: strictly 2D transport (verification of the anisotropy)
_NONNEG = {"Ea_D", "Ea_i0", "D_H3_decades", "D_c_over_D_ab"}


def _check_value(key, value):
    if key in ("D_ab_const", "vegard_a", "vegard_c") and value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueError(f"override {key!r} must be a number, got {value!r}")
    v = float(value)
    if not math.isfinite(v):
        raise ValueError(f"override {key!r} must be finite, got {value!r}")
    if (key in _POSITIVE or key == "D_ab_const") and v <= 0:
        raise ValueError(f"override {key!r} must be > 0, got {v}")
    if key in _NONNEG and v < 0:
        raise ValueError(f"override {key!r} must be >= 0, got {v}")
    if key == "alpha" and not 0.0 < v < 1.0:
        raise ValueError(f"override 'alpha' must be in (0, 1), got {v}")
    return v


def _check_model(model: dict) -> dict:
    out = {}
    for key, value in model.items():
        if key == "phase_model":
            if value is None:
                value = "single-phase"
            if value not in PHASE_MODELS:
                raise ValueError(f"phase_model must be one of {PHASE_MODELS}, got {value!r}")
            out[key] = value
        elif value is None:
            out[key] = None
        else:
            v = _check_value(key, value)
            if v <= 0:
                raise ValueError(f"{key!r} must be > 0, got {v}")
            out[key] = v
    return out


def get_material(name: str, overrides: dict | None = None) -> Material:
    """Return the material ``name`` (case-insensitive) with optional scalar overrides.

    Keys in TRANSPORT_MODEL_KEYS (the two-phase model's case keys) set the Material's
    transport-model fields.
    Raises KeyError for an unknown name or override key (the message lists the valid ones)
    and ValueError for an invalid override value.  c_max always equals density/molar_mass.
    """
    lookup = {n.lower(): n for n in MATERIAL_NAMES}
    key = str(name).strip().lower()
    if key not in lookup:
        raise KeyError(f"unknown material {name!r}; valid names: {', '.join(MATERIAL_NAMES)}")
    mat = MATERIALS[lookup[key]]
    overrides = dict(overrides or {})
    model = {k: overrides.pop(k) for k in TRANSPORT_MODEL_KEYS if k in overrides}
    if model:
        mat = dataclasses.replace(mat, **_check_model(model))
    if not overrides:
        return mat
    bad = [k for k in overrides if k not in OVERRIDABLE_KEYS]
    if bad:
        raise KeyError(
            f"unknown material override key(s) {bad}; valid keys: {', '.join(OVERRIDABLE_KEYS)}"
        )
    changes = {k: _check_value(k, v) for k, v in overrides.items()}
    new = dataclasses.replace(mat, **changes)
    import numpy as np

    if np.linalg.eigvalsh(new.stiffness_voigt()).min() <= 0.0:
        raise ValueError("elastic constants (E_ab, E_c, nu_ab, nu_c, G_c, C.._scale) give a "
                         "stiffness that is not positive definite")
    return new


__all__ = ["Material", "get_material", "MATERIAL_NAMES", "OVERRIDABLE_KEYS",
           "TRANSPORT_MODEL_KEYS", "PHASE_MODELS"]
