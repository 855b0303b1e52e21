"""Unit strings at the case-file boundary, converted to SI.

A quantity is written as ``"<number> <unit>"`` (``"2 um"``, ``"200 mA/g"``,
``"25 degC"``).  Each case key declares a *dimension*; the parser accepts only units
of that dimension and returns the value in SI (m, s, A/kg, V, K, ...).  Nothing here
imports DOLFINx so that ``chemomech validate`` is instant.
"""

from __future__ import annotations

import re

# dimension -> {unit symbol: factor to SI}. The SI unit of each dimension is the first one.
UNITS: dict[str, dict[str, float]] = {
    "length": {"m": 1.0, "mm": 1e-3, "um": 1e-6, "µm": 1e-6, "micron": 1e-6, "nm": 1e-9,
               "A": 1e-10, "Å": 1e-10, "angstrom": 1e-10},
    "time": {"s": 1.0, "ms": 1e-3, "min": 60.0, "h": 3600.0, "hour": 3600.0, "d": 86400.0},
    # specific current: A per kg of active material
    "specific_current": {"A/kg": 1.0, "mA/g": 1.0, "A/g": 1e3, "mA/kg": 1e-3, "uA/g": 1e-3},
    # specific capacity: C per kg (1 mAh/g = 3.6 C/g = 3600 C/kg)
    "specific_capacity": {"C/kg": 1.0, "mAh/g": 3600.0, "Ah/kg": 3600.0, "Ah/g": 3.6e6},
    "voltage": {"V": 1.0, "mV": 1e-3},
    "diffusivity": {"m^2/s": 1.0, "m2/s": 1.0, "cm^2/s": 1e-4, "cm2/s": 1e-4,
                    "um^2/s": 1e-12, "um2/s": 1e-12},
    "molar_energy": {"J/mol": 1.0, "kJ/mol": 1e3, "eV": 96485.33212},
    "density": {"kg/m^3": 1.0, "kg/m3": 1.0, "g/cm^3": 1e3, "g/cm3": 1e3},
    "surface_energy": {"J/m^2": 1.0, "J/m2": 1.0, "mJ/m^2": 1e-3, "mJ/m2": 1e-3},
    "pressure": {"Pa": 1.0, "kPa": 1e3, "MPa": 1e6, "GPa": 1e9},
    "current_density": {"A/m^2": 1.0, "A/m2": 1.0, "mA/cm^2": 10.0, "mA/cm2": 10.0},
    # heating/cooling rate (a temperature difference per time: not affine)
    "temperature_rate": {"K/s": 1.0, "K/min": 1.0 / 60.0, "K/h": 1.0 / 3600.0,
                         "degC/min": 1.0 / 60.0, "degC/h": 1.0 / 3600.0},
    # temperature is affine: handled separately
    "temperature": {"K": 1.0, "degC": 1.0, "°C": 1.0, "C": 1.0},
}

_QUANTITY = re.compile(r"^\s*([-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)\s*(\S+)\s*$")


class UnitError(ValueError):
    """A quantity string is malformed or has units of the wrong dimension."""


def example(dimension: str) -> str:
    """Return an example quantity string for error messages."""
    examples = {
        "length": "'2 um'", "time": "'30 min'", "specific_current": "'200 mA/g'",
        "specific_capacity": "'150 mAh/g'", "voltage": "'4.5 V'", "diffusivity": "'1e-14 m^2/s'",
        "molar_energy": "'12 kJ/mol'", "density": "'4.8 g/cm^3'",
        "current_density": "'1 A/m^2'", "temperature": "'25 degC'", "pressure": "'200 GPa'",
        "temperature_rate": "'5 K/min'",
        "surface_energy": "'0.1 J/m^2'",
    }
    return examples.get(dimension, "")


def parse_quantity(value: object, dimension: str) -> float:
    """Convert ``value`` (a string like ``"2 um"``) to SI for the given dimension.

    Raises:
        UnitError: with a message stating what was expected.
    """
    allowed = ", ".join(UNITS[dimension])
    if isinstance(value, bool) or not isinstance(value, str):
        raise UnitError(
            f"expected a {dimension.replace('_', ' ')} with a unit, e.g. {example(dimension)}"
            f" (units: {allowed}); got {value!r}"
        )
    m = _QUANTITY.match(value)
    if m is None:
        raise UnitError(
            f"expected '<number> <unit>' for a {dimension.replace('_', ' ')}, e.g. "
            f"{example(dimension)}; got {value!r}"
        )
    number, unit = float(m.group(1)), m.group(2)
    table = UNITS[dimension]
    if unit not in table:
        raise UnitError(
            f"unit {unit!r} is not a {dimension.replace('_', ' ')} unit (expected one of: "
            f"{allowed}); got {value!r}"
        )
    if dimension == "temperature":
        si = number + 273.15 if unit in ("degC", "°C", "C") else number
        if si <= 0.0:
            raise UnitError(f"temperature must be above absolute zero; got {value!r}")
        return si
    return number * table[unit]


def format_quantity(si_value: float, dimension: str) -> str:
    """Format an SI value back into a quantity string in the SI unit of its dimension."""
    unit = next(iter(UNITS[dimension]))
    return f"{si_value:.12g} {unit}"
