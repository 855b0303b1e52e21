"""The table of every parameter the report's runs use, each with its source.

Material parameters come from ``chemomech materials`` (solver/materials/report.py: value,
unit, status, source); the lattice-defect/anneal parameters from solver/materials/
defects.py; the instrument parameters of the synthetic observables and the report's own
assumptions (rest duration, cycle count) are listed here with theirs.
"""

from __future__ import annotations

from solver.materials import get_material
from solver.materials.defects import DEFAULTS
from solver.materials.report import constant_rows, law_rows

# source and status of every defect/anneal parameter (solver/materials/defects.py)
DEFECT_SOURCES: dict[str, tuple[str, str, str]] = {
    "yield_stress": ("Pa", "NMC811 grain-boundary tensile strength, Weibull scale, Sedlatschek "
                     "et al., J. Power Sources 681, 240276 (2026) (second-hand); used as the "
                     "onset of bulk distortion", "assumption"),
    "flow_rate": ("1/s", "no measured rate found", "assumption"),
    "relax_time": ("s", "FITTED to [TH]: the 2 h anneal at 150 °C narrows the d-spacing "
                   "distribution of the discharged crystal", "fitted"),
    "relax_temperature": ("K", "150 °C, [TH] anneal temperature", "data"),
    "relax_Ea": ("J/mol", "[TH] CI-NEB Li migration barrier 0.63 eV of the cycled NMC622, "
                 "used for the relaxation", "assumption"),
    "recovery_voltage": ("V", "midway between [TH]'s gaining (3.7 V) and losing (4.0 V) "
                         "anneal voltages", "derived"),
    "recovery_width": ("-", "smooth switch", "assumption"),
    "decomposition_Ea": ("J/mol", "overcharged Li0.204NMC111 DSC, Wang, Tang, Huang, Chin. J. "
                         "Chem. 29, 1583 (2011)", "data"),
    "decomposition_peak": ("K", "239 °C DSC peak, same source", "data"),
    "dsc_rate": ("K/s", "10 K/min, the common DSC rate (not stated in the abstract)",
                 "assumption"),
    "transformation_strain": ("-", "[TH]: +1.1 % in-plane strain of the charged crystal after "
                              "the anneal", "data"),
}

OBSERVABLE_ROWS = [
    {"parameter": "SXDM beam FWHM", "value": "30", "unit": "nm", "status": "data",
     "source": "[W25] 3-ID HXN, NSLS-II (PARAMETERS.md §7)"},
    {"parameter": "SXDM raster step (pixel)", "value": "50", "unit": "nm", "status": "data",
     "source": "[W25] (PARAMETERS.md §7)"},
    {"parameter": "SXDM rocking range", "value": "2", "unit": "deg", "status": "data",
     "source": "[W25] (PARAMETERS.md §7)"},
    {"parameter": "SXDM intensity mask", "value": "0.1", "unit": "of max", "status":
     "assumption", "source": "postprocess/sxdm.py (edge pixels partially illuminated)"},
    {"parameter": "XRD wavelength", "value": "1.540593", "unit": "Å", "status": "data",
     "source": "Cu Kα1, Hoelzer et al., Phys. Rev. A 56, 4554 (1997)"},
    {"parameter": "XRD instrument FWHM", "value": "0.05", "unit": "deg 2θ", "status":
     "assumption", "source": "typical laboratory diffractometer (postprocess/xrd.py)"},
    {"parameter": "ex situ rest before SXDM", "value": "2", "unit": "h", "status":
     "assumption", "source": "[W25] maps are ex situ; the delay is not stated in what we "
     "have (cases/validation/sc_*.toml protocol.1.until_time)"},
    {"parameter": "temperature", "value": "25", "unit": "°C", "status": "data",
     "source": "[W25] (PARAMETERS.md §7)"},
    {"parameter": "voltage window", "value": "2.7–4.5", "unit": "V", "status": "data",
     "source": "[W25] Li-metal coin cells (PARAMETERS.md §7)"},
    {"parameter": "SC / PC particle diameter", "value": "4 / 6.5", "unit": "µm", "status":
     "data", "source": "[W25] SC 3–5 µm, PC 6–7 µm (PARAMETERS.md §7)"},
    {"parameter": "PC grains", "value": "40 (quick: 8)", "unit": "-", "status": "assumption",
     "source": "coarse-grained tessellation (real: hundreds of 0.3–0.5 µm grains), "
     "cases/pc_*.toml"},
    {"parameter": "[TH] protocol 1 C", "value": "180", "unit": "mA/g", "status": "data",
     "source": "[TH] (PARAMETERS.md §5)"},
]


def material_rows(names: list[str]) -> list[dict[str, str]]:
    """Constants and laws of every material named, one row each."""
    rows = []
    for name in names:
        mat = get_material(name)
        for r in constant_rows(mat):
            rows.append({"group": name, "parameter": r["parameter"], "value": r["value"],
                         "unit": r["unit"], "status": r["status"], "source": r["source"]})
        for r in law_rows(mat):
            rows.append({"group": name, "parameter": r["law"], "value": r["samples"],
                         "unit": r["unit"], "status": r["status"], "source": r["source"]})
    return rows


def defect_rows() -> list[dict[str, str]]:
    rows = []
    for key, (unit, source, status) in DEFECT_SOURCES.items():
        rows.append({"group": "defects/anneal", "parameter": key,
                     "value": f"{getattr(DEFAULTS, key):.5g}", "unit": unit,
                     "status": status, "source": source})
    return rows


def synthesis_rows() -> list[dict[str, str]]:
    """The calcination parameters (solver/materials/synthesis.py), with the source comment
    written above each value there (status: its SOURCED/DERIVED/PROXY/ASSUMPTION word)."""
    import inspect
    import re

    try:
        from solver.materials import synthesis as syn
    except ImportError:  # a branch without the synthesis model
        return []
    text = inspect.getsource(syn)
    lines = text.splitlines()
    start = next(i for i, ln in enumerate(lines) if ln.startswith("DEFAULTS = Synthesis"))

    def comment_above(i: int) -> str:
        out: list[str] = []
        j = i - 1
        while j > 0 and lines[j].strip().startswith("#"):
            out.insert(0, lines[j].strip().lstrip("# "))
            j -= 1
        return " ".join(out)

    rows = []
    for key, (_, doc) in syn.CASE_KEYS.items():
        note = ""
        for i in range(start, len(lines)):
            m = re.search(rf"\b{key}=(_[A-Z_]+)?", lines[i])
            if m:
                note = comment_above(i)
                if not note and m.group(1):  # a module constant: the comment above it
                    k = next((n for n, ln in enumerate(lines)
                              if re.match(rf"^(_\w+, )*{m.group(1)}(, _\w+)* = ", ln)), None)
                    note = comment_above(k) if k is not None else ""
                break
        found = [(note.index(w), w.lower()) for w in ("FITTED", "SOURCED", "DERIVED",
                                                      "PROXY", "ASSUMPTION") if w in note]
        status = min(found)[1] if found else "see source"  # the first word of the note
        source = (note + "; " if note else "") + ("solver/materials/synthesis.py, "
                                                  "docs/synthesis.md")
        rows.append({"group": "synthesis", "parameter": f"{key} ({doc})",
                     "value": f"{getattr(syn.DEFAULTS, key):.5g}", "unit": "SI",
                     "status": status, "source": source})
    return rows


def all_rows(materials: list[str]) -> list[dict[str, str]]:
    """Every parameter row of the report (materials, defects, synthesis, observables)."""
    return (material_rows(materials) + defect_rows() + synthesis_rows()
            + [{"group": "observables/protocol", **r} for r in OBSERVABLE_ROWS])
