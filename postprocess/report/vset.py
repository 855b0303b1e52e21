"""The validation set: ``cases/validation/validation.toml``.

One ``[[case]]`` table per case of the report::

    [[case]]
    id = "sc_nc91_200mAg"           # name used by metrics and folders
    file = "sc_nc91_200mAg.toml"    # relative to the set file; may be missing (not computed)
    group = "sc_first_charge"       # sc_first_charge, sc_two_phase, sc_cycled, pc, pc_cycled,
                                    # anneal, synthesis
    label = "SC NC91, 200 mA/g"
    material = "NC91"
    rate = "200 mA/g"
    ranks = 2                       # mpiexec -n ranks (1: no mpiexec)
    estimate_min = 3.0              # full-size wall time on 2 cores (for scheduling, report)
    set = []                        # overrides of the full report (--set syntax)
    quick = ['geometry.mesh_size="0.6 um"', ...]   # overrides of --quick

Top-level keys: ``name``, ``description``, ``cycles`` (cycles at 100 mA/g of the
``sc_cycled`` and ``pc_cycled`` cases in the full report; the case files hold the paper's 100),
``cycles_key`` (the --set path of that repeat count), ``quick_cycles``.

A case file that does not exist (e.g. the synthesis cases before they are merged) is
listed as "case file missing" and every observation on it is "not computed"; anything
else malformed is a CaseError naming the file and the row (exit 2).
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from solver.config import CaseError, apply_overrides, load_toml, validate

GROUPS = ("sc_first_charge", "sc_two_phase", "sc_cycled", "pc", "pc_cycled", "anneal",
          "synthesis")
# groups mapped by synthetic SXDM and by the (003) XRD of every field output
SXDM_GROUPS = ("sc_first_charge", "sc_two_phase", "sc_cycled")
XRD_GROUPS = ("sc_first_charge", "sc_two_phase", "pc")
# groups whose long-cycling block takes the set's cycle count
CYCLED_GROUPS = ("sc_cycled", "pc_cycled")
SET_KEYS = ("name", "description", "cycles", "cycles_key", "quick_cycles")
CASE_KEYS = ("id", "file", "group", "label", "material", "rate", "ranks", "estimate_min",
             "set", "quick", "note")
SET_FILE = "validation.toml"
OBSERVATIONS_FILE = "observations.toml"


@dataclass
class Entry:
    """One case of the validation set."""

    id: str
    file: Path
    group: str
    label: str
    material: str = ""
    rate: str = ""
    ranks: int = 1
    estimate_min: float = 0.0
    sets: list[str] = field(default_factory=list)
    quick: list[str] = field(default_factory=list)
    note: str = ""

    @property
    def missing(self) -> bool:
        """The case file does not exist (yet)."""
        return not self.file.exists()


@dataclass
class ValidationSet:
    """A parsed validation set."""

    path: Path
    name: str
    description: str
    entries: list[Entry]
    cycles: int = 10
    cycles_key: str = "protocol.1.repeat"
    quick_cycles: int = 1

    def ids(self) -> list[str]:
        return [e.id for e in self.entries]

    def get(self, case_id: str) -> Entry:
        for e in self.entries:
            if e.id == case_id:
                return e
        raise KeyError(case_id)

    def group(self, name: str) -> list[Entry]:
        return [e for e in self.entries if e.group == name]


def _str(src: str, key: str, value: Any, required: bool = True) -> str:
    if value is None and not required:
        return ""
    if not isinstance(value, str) or (required and not value.strip()):
        raise CaseError(src, key, f"expected a non-empty string; got {value!r}")
    return value


def _int(src: str, key: str, value: Any, lo: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < lo:
        raise CaseError(src, key, f"expected an integer >= {lo}; got {value!r}")
    return value


def _strings(src: str, key: str, value: Any) -> list[str]:
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(v, str) and "=" in v for v in value):
        raise CaseError(src, key, "expected a list of 'key.path=value' strings (--set syntax)")
    return list(value)


def load_set(path: str | Path) -> ValidationSet:
    """Read and check a validation set file (a folder means its validation.toml)."""
    path = Path(path)
    if path.is_dir():
        path = path / SET_FILE
    src = str(path)
    if not path.exists():
        raise CaseError(src, "", "no validation set file (expected a folder with "
                        f"{SET_FILE} or the file itself)")
    data = load_toml(path)
    bad = sorted(set(data) - set(SET_KEYS) - {"case"})
    if bad:
        raise CaseError(src, bad[0], f"unknown key (valid: {', '.join(SET_KEYS)}, case)")
    cycles = _int(src, "cycles", data.get("cycles", 10), 1)
    quick_cycles = _int(src, "quick_cycles", data.get("quick_cycles", 1), 1)
    cycles_key = _str(src, "cycles_key", data.get("cycles_key", "protocol.1.repeat"))
    rows = data.get("case")
    if not isinstance(rows, list) or not rows:
        raise CaseError(src, "case", "expected one or more [[case]] tables")
    entries: list[Entry] = []
    for i, row in enumerate(rows):
        where = f"case[{i}]"
        if not isinstance(row, dict):
            raise CaseError(src, where, "expected a table")
        if isinstance(row.get("id"), str):
            where = f"case[{i}] (id {row['id']!r})"
        unknown = sorted(set(row) - set(CASE_KEYS))
        if unknown:
            raise CaseError(src, f"{where}: {unknown[0]}",
                            f"unknown key (valid: {', '.join(CASE_KEYS)})")
        cid = _str(src, f"{where}: id", row.get("id"))
        if not cid.replace("_", "").replace("-", "").isalnum():
            raise CaseError(src, f"{where}: id", "letters, digits, '_' and '-' only")
        if cid in (e.id for e in entries):
            raise CaseError(src, f"{where}: id", "duplicate id")
        group = _str(src, f"{where}: group", row.get("group"))
        if group not in GROUPS:
            raise CaseError(src, f"{where}: group", f"expected one of {', '.join(GROUPS)}; "
                            f"got {group!r}")
        est = row.get("estimate_min", 0.0)
        if isinstance(est, bool) or not isinstance(est, (int, float)) or est < 0:
            raise CaseError(src, f"{where}: estimate_min", f"expected minutes >= 0; got {est!r}")
        entries.append(Entry(
            id=cid, file=(path.parent / _str(src, f"{where}: file", row.get("file"))).resolve(),
            group=group, label=_str(src, f"{where}: label", row.get("label", cid)),
            material=_str(src, f"{where}: material", row.get("material"), False),
            rate=_str(src, f"{where}: rate", row.get("rate"), False),
            ranks=_int(src, f"{where}: ranks", row.get("ranks", 1), 1),
            estimate_min=float(est), sets=_strings(src, f"{where}: set", row.get("set")),
            quick=_strings(src, f"{where}: quick", row.get("quick")),
            note=_str(src, f"{where}: note", row.get("note"), False)))
    return ValidationSet(path, _str(src, "name", data.get("name", path.parent.name)),
                         _str(src, "description", data.get("description"), False), entries,
                         cycles, cycles_key, quick_cycles)


def case_raw(vs: ValidationSet, entry: Entry, quick: bool, cycles: int | None = None
             ) -> dict[str, Any]:
    """The complete case of an entry in this report (base file + overrides), validated.

    ``cycles``: the repeat count of the long-cycling block of ``sc_cycled`` and
    ``pc_cycled`` cases
    (default: the set's ``cycles``, or ``quick_cycles`` with ``quick``).
    """
    where = f"{vs.path} (case {entry.id}, {entry.file.name})"
    raw = load_toml(entry.file)
    sets = list(entry.sets)
    if quick:
        sets += entry.quick
    if entry.group in CYCLED_GROUPS:
        n = cycles if cycles is not None else (vs.quick_cycles if quick else vs.cycles)
        sets.append(f"{vs.cycles_key}={n}")
    try:
        raw = apply_overrides(raw, sets, where)
        raw.setdefault("run", {})["name"] = entry.id
        raw["run"].pop("output", None)  # the report decides where runs go
        validate(copy.deepcopy(raw), where, entry.id)
    except CaseError as exc:
        raise CaseError(where, exc.key, exc.message) from None
    return raw
