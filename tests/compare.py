"""Comparison of time-series rows across runs (rank counts, restarts)."""

from __future__ import annotations

import math

SKIP = ("wall_s", "ksp_its", "elasticity_ksp_its", "step_type")


def abs_tolerance(key: str) -> float:
    """Absolute tolerance per column: round-off floors of quantities that can vanish.

    Stresses: 1e-8 of the stiffness scale (~3e11 Pa); energies: the same relative floor;
    Li-barrier changes (scale 0.13 eV): 1e-9 of it; Li amounts (~1e-13 mol) compare
    relatively only.
    """
    if key.endswith("_Pa"):
        return 1e3
    if key.endswith("_J"):
        return 1e-17
    if key.endswith("_eV"):
        return 1.3e-10
    if key.startswith("li_"):
        return 0.0
    return 1e-10


def assert_rows_match(rows_a: list[dict], rows_b: list[dict], rel: float = 1e-6) -> None:
    """Every numeric column agrees to ``rel`` (NaN matches NaN: mechanics switched off);
    columns in ``SKIP`` are not compared."""
    assert len(rows_a) == len(rows_b)
    for ra, rb in zip(rows_a, rows_b, strict=True):
        for key, va in ra.items():
            if key in SKIP:
                continue
            a, b = float(va), float(rb[key])
            if math.isnan(a) or math.isnan(b):
                assert math.isnan(a) and math.isnan(b), (key, ra["step"])
                continue
            assert abs(a - b) <= max(rel * max(abs(a), abs(b)), abs_tolerance(key)), (
                key, ra["step"], a, b)
