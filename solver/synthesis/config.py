"""The synthesis (calcination) case file: schema and validation (no DOLFINx, no MPI).

A case with a ``[synthesis]`` table is a synthesis case (solver/config.py's ``validate``
hands it here).  It shares with the electrochemical case the particle sections
(``[geometry]``, ``[grains]``, ``[voids]``, ``[orientation]``, same meshes and mesh
cache), ``[run]``, ``[output]`` and the protocol machinery: a temperature program of
``temperature`` (ramps), ``rest`` (holds) and ``anneal`` (ramp, hold, cool) steps
(solver/protocol/parse.py).  Errors name the file and the key (CaseError) and are
raised before any mesh or folder exists.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from solver.config import (
    SCHEMA,
    Case,
    CaseError,
    Spec,
    _check_geometry,
    _check_orientation,
    _check_particle,
    _nonnegative,
    _open_unit,
    _positive,
    _read_section,
    _read_value,
)
from solver.materials.synthesis import CASE_KEYS

END_FILE = "synthesis_end.npz"  # the end state a follow-up electrochemical run reads
STEP_KINDS = ("temperature", "rest", "anneal")  # what a temperature program is made of
T_RANGE = (273.15, 1473.15)  # K: 0-1200 degC, where the calcination laws are applied

_DIM = {"number": "", "molar_energy": "molar_energy", "diffusivity": "diffusivity",
        "temperature": "temperature"}


def _fraction_below_one(v: float) -> str | None:
    return None if 0.0 <= v < 1.0 else "must lie in [0, 1)"


SYNTHESIS_SCHEMA: dict[str, Spec] = {
    "material": Spec("choice", "target layered oxide of the precursor ([P22]: NCM622 from "
                     "Ni0.6Co0.2Mn0.2(OH)2 + LiOH)", "NCM622", choices=("NCM622",)),
    "initial_temperature": Spec("quantity", "temperature at the start of the program",
                                "25 degC", dimension="temperature"),
    "report_temperatures": Spec("table", "temperatures at which the global phase fractions "
                                "are reported as an XRD refinement would (list, e.g. "
                                "['200 degC', '300 degC']; the end is always reported)"),
    **{k: Spec("quantity" if dim != "number" else "number",
               f"{doc} (default: solver/materials/synthesis.py, with its source)",
               dimension=_DIM[dim],
               check=(_fraction_below_one if k == "porosity_precursor"
                      else _open_unit if k == "disorder_inactive"
                      else _nonnegative if k.startswith("Ea_") else _positive))
       for k, (dim, doc) in CASE_KEYS.items()},
}

NUMERICS_SCHEMA: dict[str, Spec] = {
    "dt_initial": Spec("quantity", "first time step", "1 s", dimension="time", check=_positive),
    "dt_min": Spec("quantity", "smallest time step before the run gives up", "1e-4 s",
                   dimension="time", check=_positive),
    "dt_max": Spec("quantity", "largest time step", "120 s", dimension="time",
                   check=_positive),
    "max_dx": Spec("number", "target largest change of a local phase fraction in one step "
                   "(dt adapts)", 0.05, check=_open_unit),
    "newton_max_it": Spec("int", "Newton iterations before a step is cut back", 25,
                          check=lambda v: None if v >= 1 else "must be >= 1"),
    "newton_tol": Spec("number", "Newton tolerance on the max update of the Li activity",
                       1e-10, check=_positive),
    "quadrature_degree": Spec("int", "quadrature degree of every integral", 2,
                              check=lambda v: None if 1 <= v <= 12 else "must be 1..12"),
    "linear_solver": Spec("choice", "'iterative' (CG + GAMG, rtol 1e-12) or 'direct' "
                          "(MUMPS)", "iterative", choices=("iterative", "direct")),
}

OUTPUT_SCHEMA: dict[str, Spec] = SCHEMA["output"]  # the same keys, checkpoints included

SECTIONS = ("run", "geometry", "grains", "voids", "orientation", "synthesis", "numerics",
            "output")


def validate_synthesis(raw: dict[str, Any], source: str, stem: str,
                       base_dir: Path | None) -> Case:
    """Validate a raw synthesis case; a Case in SI units (``case.problem == 'synthesis'``)."""
    allowed = set(SECTIONS) | {"protocol"}
    unknown = sorted(set(raw) - allowed)
    if unknown:
        raise CaseError(source, unknown[0], "not a section of a synthesis case (valid: "
                        f"{', '.join(sorted(allowed))})")
    schemas = {**{s: SCHEMA[s] for s in ("run", "geometry", "grains", "voids", "orientation")},
               "synthesis": SYNTHESIS_SCHEMA, "numerics": NUMERICS_SCHEMA,
               "output": OUTPUT_SCHEMA}
    values: dict[str, dict[str, Any]] = {}
    resolved: dict[str, Any] = {}
    for section in SECTIONS:
        table = raw.get(section, {})
        schema = schemas[section]
        if section == "synthesis" and isinstance(table, dict):  # a list, read below
            table = {k: v for k, v in table.items() if k != "report_temperatures"}
            schema = {k: v for k, v in schema.items() if k != "report_temperatures"}
        values[section], resolved[section] = _read_section(source, section, schema, table)
    run = values["run"]
    run["name"] = run["name"] or stem
    run["output"] = run["output"] or f"results/{run['name']}"
    resolved["run"].update(name=run["name"], output=run["output"])
    base = Path(base_dir) if base_dir is not None else Path(".")
    _check_geometry(source, values["geometry"], resolved["geometry"])
    _check_orientation(source, values["orientation"], resolved["orientation"], base)
    _check_particle(source, values, base)

    syn = values["synthesis"]
    _check_range(source, "synthesis.initial_temperature", syn["initial_temperature"])
    syn["report_temperatures"] = _report_temperatures(source, raw.get("synthesis", {}))
    if syn["report_temperatures"]:
        resolved["synthesis"]["report_temperatures"] = list(
            raw["synthesis"]["report_temperatures"])
    num = values["numerics"]
    if not num["dt_min"] <= num["dt_initial"] <= num["dt_max"]:
        raise CaseError(source, "numerics.dt_initial", "expected dt_min <= dt_initial <= dt_max")
    steps, resolved["protocol"] = _protocol(source, raw.get("protocol"),
                                            syn["initial_temperature"])
    return Case(source, values, steps, resolved)


def _check_range(source: str, key: str, T: float) -> None:
    lo, hi = T_RANGE
    if not lo - 1e-9 <= T <= hi + 1e-9:
        raise CaseError(source, key, f"{T:.6g} K is outside the range of the calcination "
                        f"model ({lo - 273.15:.0f} to {hi - 273.15:.0f} degC)")


def _report_temperatures(source: str, raw: dict[str, Any]) -> list[float]:
    key = "synthesis.report_temperatures"
    given = raw.get("report_temperatures", [])
    if not isinstance(given, list):
        raise CaseError(source, key, f"expected a list of temperatures, e.g. ['300 degC']; "
                        f"got {given!r}")
    spec = Spec("quantity", "", dimension="temperature")
    out = []
    for i, item in enumerate(given):
        T, _ = _read_value(source, f"{key}[{i}]", spec, item)
        _check_range(source, f"{key}[{i}]", T)
        out.append(T)
    return out


def _protocol(source: str, entries: Any, T0: float):
    from solver.config import PROTOCOL_SCHEMA
    from solver.protocol.parse import ProtocolError, parse_protocol

    def read(key: str, schema: dict[str, Spec], table: Any):
        return _read_section(source, key, schema, table)

    def check_temperature(key: str, T: float, given: Any) -> None:
        _check_range(source, key, T)

    if isinstance(entries, list):
        for i, e in enumerate(entries):
            kind = e.get("type") if isinstance(e, dict) else None
            if kind not in STEP_KINDS:
                raise CaseError(source, f"protocol[{i}].type", "a synthesis protocol is a "
                                "temperature program: expected one of "
                                f"{', '.join(map(repr, STEP_KINDS))}; got {kind!r}")
    try:
        return parse_protocol(entries, read, PROTOCOL_SCHEMA, conditions_temperature=T0,
                              open_circuit_voltage=0.0, material=None,
                              distribution="uniform", check_temperature=check_temperature)
    except ProtocolError as exc:
        raise CaseError(source, exc.key, exc.message) from None


def check_run_dir(path: Path) -> str | None:
    """Why ``path`` is not a finished synthesis run folder, or None (cheap, no MPI)."""
    if not path.is_dir():
        return f"{path}: no such folder"
    resolved = path / "case.resolved.toml"
    if not resolved.is_file():
        return f"{path}: not a run folder (no case.resolved.toml)"
    import tomllib

    try:
        data = tomllib.loads(resolved.read_text())
    except (OSError, ValueError) as exc:
        return f"{resolved}: unreadable ({exc})"
    if "synthesis" not in data:
        return f"{path}: not a synthesis run (its case has no [synthesis] table)"
    try:
        status = json.loads((path / "status.json").read_text()).get("status")
    except (OSError, ValueError):
        status = None
    if status != "completed":
        return f"{path}: the synthesis run has not completed (status {status!r})"
    if not (path / END_FILE).is_file():
        return f"{path}: no {END_FILE} (the end state of the synthesis run)"
    return None


def synthesis_geometry(path: Path) -> dict:
    """The [geometry] table of the synthesis run's resolved case."""
    import tomllib

    return tomllib.loads((path / "case.resolved.toml").read_text()).get("geometry", {})
