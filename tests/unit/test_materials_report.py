"""`chemomech materials`: every parameter of a material with unit, status and source, read
from the material objects; docs/materials.md holds the same tables (generated)."""

import dataclasses
import json
import math
import subprocess
import sys
from pathlib import Path

import pytest

from solver.materials import MATERIAL_NAMES, get_material
from solver.materials.base import CONSTANT_DISPLAY, LAW_DISPLAY, LAW_SAMPLE_X, Material
from solver.materials.report import markdown, render, update_docs

ROOT = Path(__file__).resolve().parents[2]
STATUS_WORDS = {"data", "data (fit)", "derived", "proxy", "assumption", "user", "proxy tails"}
# Material fields that are not constants shown one per row: the name, the law coefficients
# (their laws are shown with form and samples) and the metadata
NOT_SHOWN = {"name", "composition", "sources", "parameter_sources", "temperature_range_source",
             "D_oregan", "ocv_base", "ocv_xterms", "ocv_zterms", "lat_a", "lat_c"}


def _cli(*args):
    code = ("import sys; from solver.cli import main; rc = main(sys.argv[1:]); "
            "print('IMPORTED', [m for m in ('dolfinx', 'mpi4py', 'ufl', 'petsc4py') "
            "if m in sys.modules], file=sys.stderr); sys.exit(rc)")
    return subprocess.run([sys.executable, "-c", code, *args], capture_output=True,
                          text=True, cwd=ROOT)


def test_every_constant_and_law_has_unit_source_and_status():
    shown = set(CONSTANT_DISPLAY)
    fields = {f.name for f in dataclasses.fields(Material)} - NOT_SHOWN
    assert fields == shown, "a Material field without a row in CONSTANT_DISPLAY (or a stale row)"
    for name in MATERIAL_NAMES:
        mat = get_material(name)
        keys = [k for k, _s, _t in mat.parameter_sources]
        assert sorted(keys) == sorted([*CONSTANT_DISPLAY, *LAW_DISPLAY]), name
        for key, source, status in mat.parameter_sources:
            assert source.strip(), (name, key)
            assert {w.strip() for w in status.split(",")} <= STATUS_WORDS, (name, key, status)
        # a proxy is declared wherever the value is borrowed from NMC811
        assert ("proxy" in mat.parameter_source("d_ab")[1]) == (name != "NMC811")


def test_the_json_report_holds_the_material_values():
    res = _cli("materials", "nm91", "--format", "json")
    assert res.returncode == 0, res.stderr
    data = json.loads(res.stdout)
    mat = get_material("NM91")
    rows = {r["parameter"]: r for r in data["constants"]}
    assert rows["molar_mass"]["value"] == pytest.approx(mat.molar_mass * 1e3)
    assert rows["molar_mass"]["unit"] == "g/mol"
    assert rows["E_ab"]["value"] == pytest.approx(mat.E_ab * 1e-9)
    assert rows["temperature_range_K"]["value"] == list(mat.temperature_range_K)
    assert "Arrhenius" in rows["temperature_range_K"]["source"]
    assert rows["D_ab_const"]["value"] is None and rows["D_ab_const"]["status"] == "user"
    assert "proxy" in rows["a_ref_A"]["status"] and "Märker" in rows["a_ref_A"]["source"]
    laws = {r["law"]: r for r in data["laws"]}
    assert laws["U(x)"]["samples"] == pytest.approx([float(mat.ocv(x)) for x in LAW_SAMPLE_X])
    assert laws["D_ab(x, T)"]["samples"][1] == pytest.approx(float(mat.d_ab(0.5, mat.T_ref)))
    assert laws["c(x)"]["samples"][0] == pytest.approx(float(mat.lattice_c(0.2)) * 1e10)
    assert "IMPORTED []" in res.stderr


def test_text_listing_csv_and_an_unknown_name():
    res = _cli("materials")
    assert res.returncode == 0 and len(res.stdout.strip().splitlines()) == len(MATERIAL_NAMES) + 1
    assert all(line.split()[0] == n for line, n in zip(res.stdout.splitlines(), MATERIAL_NAMES,
                                                      strict=False))
    assert "IMPORTED []" in res.stderr
    text = _cli("materials", "NC91").stdout
    line = next(ln for ln in text.splitlines() if ln.split()[:1] == ["Ea_i0"])
    assert line.split()[1:3] == ["17.8", "kJ/mol"] and "Chen" in line
    assert "253.15–473.15  K" in text and "U(x) [V]" in text
    csv_text = _cli("materials", "NMC622", "--format", "csv").stdout
    assert csv_text.splitlines()[0].startswith("material,kind,parameter,value,unit")
    assert len(csv_text.splitlines()) == 2 + len(CONSTANT_DISPLAY) + len(LAW_DISPLAY)
    bad = _cli("materials", "NCA")
    assert bad.returncode == 2 and "Traceback" not in bad.stderr
    assert "error: materials: unknown material 'NCA' (materials: NC91, NM91, NMC622, NMC811)" \
        in bad.stderr


def test_docs_materials_tables_are_the_command_output():
    """docs/materials.md's generated section equals what `chemomech materials` prints."""
    doc = (ROOT / "docs/materials.md").read_text(encoding="utf-8")
    assert update_docs(doc) == doc, "regenerate with: python -m solver.materials.report"
    for name in MATERIAL_NAMES:
        printed = _cli("materials", name, "--format", "markdown").stdout
        assert printed == markdown(get_material(name)) == render(get_material(name),
                                                                 "markdown")
        assert printed in doc, name
    # every value printed is the material's own
    mat = get_material("NMC811")
    row = next(ln for ln in markdown(mat).splitlines() if ln.startswith("| `density` |"))
    assert math.isclose(float(row.split("|")[2]), mat.density, rel_tol=1e-4)
