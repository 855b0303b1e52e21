"""Every parameter of a material with its value, unit, status and source, from the
Material object itself (``chemomech materials [NAME]``; the tables of docs/materials.md).

One source of truth: values are the Material's fields and laws, units and meanings
:data:`~solver.materials.base.CONSTANT_DISPLAY` / :data:`~solver.materials.base.LAW_DISPLAY`,
sources and status ``Material.parameter_sources`` (solver/materials/library.py).
``python -m solver.materials.report [docs/materials.md]`` regenerates the docs' generated
section; tests/unit/test_materials_report.py checks the committed docs equal it.
Imports neither DOLFINx nor UFL (instant).
"""

from __future__ import annotations

import csv
import io
import json
import math
from typing import Any

from .base import CONSTANT_DISPLAY, LAW_DISPLAY, LAW_SAMPLE_X, Material

FORMATS = ("text", "markdown", "csv", "json")
STATUS_NOTE = ("status: data = a sourced value or a fit to sourced data; derived = computed "
               "from sourced data; proxy = another material's value (NMC811's), no data of "
               "its own found; assumption = no data, a stated choice; user = the neutral "
               "default of a parameter cases may set")
DOCS_START = "<!-- materials:start (generated: python -m solver.materials.report) -->"
DOCS_END = "<!-- materials:end -->"


def _fmt(value: Any, factor: float = 1.0) -> str:
    """A constant as shown: 5 significant digits, ranges as lo-hi, None as None."""
    if value is None:
        return "None"
    if isinstance(value, tuple):
        return "–".join(_fmt(v, factor) for v in value)
    if isinstance(value, str):
        return value
    v = float(value) * factor
    return "inf" if math.isinf(v) else f"{v:.5g}"


def constant_rows(mat: Material) -> list[dict[str, str]]:
    """One row per constant: parameter, value, unit, meaning, status, source."""
    rows = [{"parameter": "composition", "value": mat.composition, "unit": "–",
             "meaning": "formula, x = 1 (discharged)", "status": "data",
             "source": "the material's definition"}]
    for field, (unit, factor, meaning) in CONSTANT_DISPLAY.items():
        source, status = mat.parameter_source(field)
        rows.append({"parameter": field, "value": _fmt(getattr(mat, field), factor),
                     "unit": unit, "meaning": meaning, "status": status, "source": source})
    return rows


def law_rows(mat: Material) -> list[dict[str, str]]:
    """One row per law: law, samples at LAW_SAMPLE_X and T_ref, unit, form, status, source."""
    rows = []
    for law, (symbol, unit, form) in LAW_DISPLAY.items():
        source, status = mat.parameter_source(law)
        samples = " / ".join(f"{v:.4g}" for v in mat.law_samples(law))
        rows.append({"law": symbol, "samples": samples, "unit": unit, "form": form,
                     "status": status, "source": source})
    return rows


def _samples_header(mat: Material) -> str:
    return (f"x = {' / '.join(f'{x:g}' for x in LAW_SAMPLE_X)}, "
            f"T = T_ref = {mat.T_ref:g} K")


def markdown(mat: Material) -> str:
    """The material's two tables (constants, laws) in Markdown, as in docs/materials.md."""
    lines = [f"### {mat.name} ({mat.composition})", "",
             "| parameter | value | unit | meaning | status | source |",
             "|---|---|---|---|---|---|"]
    lines += [f"| `{r['parameter']}` | {r['value']} | {r['unit']} | {r['meaning']} | "
              f"{r['status']} | {r['source']} |" for r in constant_rows(mat)]
    lines += ["", f"| law | {_samples_header(mat)} | unit | form | status | source |",
              "|---|---|---|---|---|---|"]
    lines += [f"| {r['law']} | {r['samples']} | {r['unit']} | `{r['form']}` | {r['status']} | "
              f"{r['source']} |" for r in law_rows(mat)]
    return "\n".join(lines) + "\n"


def text(mat: Material) -> str:
    """The material's parameters as an aligned plain-text table (a terminal's view)."""
    rows = constant_rows(mat)
    w = {k: max(len(k), *(len(r[k]) for r in rows)) for k in ("parameter", "value", "unit",
                                                             "status")}
    head = (f"{'parameter':<{w['parameter']}}  {'value':>{w['value']}}  "
            f"{'unit':<{w['unit']}}  {'status':<{w['status']}}  source")
    lines = [f"{mat.name} ({mat.composition}): every parameter with its unit and source",
             f"({STATUS_NOTE})", "", "constants", "  " + head]
    lines += [f"  {r['parameter']:<{w['parameter']}}  {r['value']:>{w['value']}}  "
              f"{r['unit']:<{w['unit']}}  {r['status']:<{w['status']}}  {r['source']}"
              for r in rows]
    lines += ["", f"laws (values at {_samples_header(mat)})"]
    for r in law_rows(mat):
        lines += [f"  {r['law']} [{r['unit']}]: {r['samples']}   ({r['status']})",
                  f"      form:   {r['form']}", f"      source: {r['source']}"]
    return "\n".join(lines) + "\n"


def _number(value: Any, factor: float) -> Any:
    """A constant in its shown unit as JSON data: number, [lo, hi], None or text."""
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, tuple):
        return [_number(v, factor) for v in value]
    return float(value) * factor


def as_dict(mat: Material) -> dict[str, Any]:
    """Everything of :func:`text` as plain data (``--format json``); values are numbers in
    the unit shown."""
    constants = constant_rows(mat)
    for row in constants[1:]:
        _unit, factor, _meaning = CONSTANT_DISPLAY[row["parameter"]]
        row["value"] = _number(getattr(mat, row["parameter"]), factor)
    return {"name": mat.name, "composition": mat.composition,
            "temperature_range_K": list(mat.temperature_range_K),
            "sample_x": list(LAW_SAMPLE_X), "sample_T_K": mat.T_ref,
            "constants": constants,
            "laws": [{**r, "samples": [float(v) for v in mat.law_samples(k)]}
                     for k, r in zip(LAW_DISPLAY, law_rows(mat), strict=True)]}


def csv_text(mat: Material) -> str:
    """Constants and laws in one CSV (kind, parameter, value, unit, meaning/form, status,
    source); a law's value column holds its samples (x / x / x at T_ref)."""
    buf = io.StringIO()
    out = csv.writer(buf, lineterminator="\n")
    out.writerow(["material", "kind", "parameter", "value", "unit", "meaning_or_form",
                  "status", "source"])
    for r in constant_rows(mat):
        out.writerow([mat.name, "constant", r["parameter"], r["value"], r["unit"],
                      r["meaning"], r["status"], r["source"]])
    for r in law_rows(mat):
        out.writerow([mat.name, f"law ({_samples_header(mat)})", r["law"], r["samples"],
                      r["unit"], r["form"], r["status"], r["source"]])
    return buf.getvalue()


def render(mat: Material, fmt: str = "text") -> str:
    """The material's parameters in ``fmt`` (one of :data:`FORMATS`)."""
    if fmt == "markdown":
        return markdown(mat)
    if fmt == "csv":
        return csv_text(mat)
    if fmt == "json":
        return json.dumps(as_dict(mat), indent=2, ensure_ascii=False) + "\n"
    return text(mat)


def listing(fmt: str = "text") -> str:
    """One line per library material (``chemomech materials`` without a name)."""
    from . import MATERIAL_NAMES, get_material

    mats = [get_material(n) for n in MATERIAL_NAMES]

    def proxies(mat: Material) -> str:
        n = sum("proxy" in status for _k, _s, status in mat.parameter_sources)
        return f"{n} of {len(mat.parameter_sources)} entries"

    if fmt == "json":
        return json.dumps([{"name": m.name, "composition": m.composition,
                            "capacity_mAh_g": m.capacity_theoretical,
                            "temperature_range_K": list(m.temperature_range_K)}
                           for m in mats], indent=2) + "\n"
    if fmt == "csv":
        return "name,composition,capacity_mAh_g,T_min_K,T_max_K\n" + "".join(
            f"{m.name},{m.composition},{m.capacity_theoretical:.5g},"
            f"{m.temperature_range_K[0]:g},{m.temperature_range_K[1]:g}\n" for m in mats)
    if fmt == "markdown":
        lines = ["| material | composition | capacity | data range | proxies |",
                 "|---|---|---|---|---|"]
        lines += [f"| {m.name} | {m.composition} | {m.capacity_theoretical:.1f} mAh/g | "
                  f"{_fmt(m.temperature_range_K)} K | {proxies(m)} |" for m in mats]
        return "\n".join(lines) + "\n"
    lines = [f"{m.name:<7} {m.composition:<20} {m.capacity_theoretical:6.1f} mAh/g   "
             f"T {_fmt(m.temperature_range_K)} K   proxies: {proxies(m)}" for m in mats]
    lines.append("(chemomech materials NAME: every parameter with its unit and source)")
    return "\n".join(lines) + "\n"


def docs_section() -> str:
    """The generated part of docs/materials.md: the list and every material's tables."""
    from . import MATERIAL_NAMES, get_material

    parts = [f"{STATUS_NOTE[0].upper()}{STATUS_NOTE[1:]}.  Samples of the laws at "
             f"x = {', '.join(f'{x:g}' for x in LAW_SAMPLE_X)} and T_ref.", "",
             listing("markdown")]
    parts += [markdown(get_material(n)) for n in MATERIAL_NAMES]
    return "\n".join(parts)


def update_docs(text_in: str) -> str:
    """``text_in`` (docs/materials.md) with its generated section replaced by docs_section()."""
    start, end = text_in.index(DOCS_START), text_in.index(DOCS_END)
    return text_in[: start + len(DOCS_START)] + "\n" + docs_section() + text_in[end:]


if __name__ == "__main__":  # regenerate the tables of docs/materials.md
    import sys
    from pathlib import Path

    doc = Path(sys.argv[1] if len(sys.argv) > 1 else "docs/materials.md")
    doc.write_text(update_docs(doc.read_text(encoding="utf-8")), encoding="utf-8")
