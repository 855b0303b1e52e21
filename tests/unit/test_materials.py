"""Unit tests of solver.materials (fast, no dolfinx)."""

from __future__ import annotations

import dataclasses
import math
import subprocess
import sys

import numpy as np
import pytest

from solver.materials import (
    MATERIAL_NAMES,
    OVERRIDABLE_KEYS,
    data,
    fits,
    get_material,
    library,
)
from solver.materials.data import R_GAS
from solver.materials.forms import lattice_eval, ocv_eval
from solver.mathns import NUMPY

NI_RICH = ("NC91", "NM91", "NMC811")
T_REF = 298.15


def _grid():
    """Fine grid on (1e-6, 1-1e-6): linear in the middle, logit-spaced near the ends."""
    z = np.linspace(-13.8, 13.8, 4001)
    return np.unique(np.concatenate([1.0 / (1.0 + np.exp(z)), np.linspace(1e-3, 1 - 1e-3, 20001)]))


# ----------------------------------------------------------------------------------- API
def test_names_and_keys():
    assert MATERIAL_NAMES == ("NC91", "NM91", "NMC622", "NMC811")
    for k in (
        "D_c_over_D_ab",
        "Ea_D",
        "Ea_i0",
        "alpha",
        "D_ab_const",
        "D_ab_scale",
        "i0_scale",
        "density",
    ):
        assert k in OVERRIDABLE_KEYS
    assert get_material("nc91").name == "NC91"
    assert get_material(" NmC811 ").name == "NMC811"


def test_unknown_name_and_key_raise_keyerror_listing_valid():
    with pytest.raises(KeyError, match="NC91.*NM91.*NMC622.*NMC811"):
        get_material("LCO")
    with pytest.raises(KeyError, match="D_ab_scale"):
        get_material("NC91", {"c_max": 1.0})


@pytest.mark.parametrize(
    "ov",
    [
        {"alpha": 1.5},
        {"density": -1.0},
        {"D_ab_scale": "x"},
        {"D_ab_const": 0.0},
        {"Ea_D": float("nan")},
    ],
)
def test_bad_override_values_raise(ov):
    with pytest.raises(ValueError):
        get_material("NMC811", ov)


def test_overrides_applied_and_c_max_consistent():
    base = get_material("NMC811")
    mat = get_material("NMC811", {"density": 4000.0, "alpha": 0.4, "D_ab_const": None})
    assert mat.density == 4000.0 and mat.alpha == 0.4 and mat.D_ab_const is None
    assert mat.c_max == pytest.approx(4000.0 / mat.molar_mass)
    assert base.density != 4000.0  # library object untouched (frozen, replaced)
    with pytest.raises(dataclasses.FrozenInstanceError):
        base.alpha = 0.3  # frozen


def test_import_does_not_pull_ufl_or_dolfinx():
    code = (
        "import sys, solver.materials as s; s.get_material('NC91').ocv(0.5); "
        "bad=[k for k in sys.modules if k.split('.')[0] in ('ufl','dolfinx','basix')]; "
        "sys.exit(1 if bad else 0)"
    )
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, cwd=".")
    assert r.returncode == 0, r.stderr.decode()


# ------------------------------------------------------------------- composition/density
@pytest.mark.parametrize(
    "name,cap", [("NC91", 274.5), ("NM91", 275.6), ("NMC622", 276.5), ("NMC811", 275.5)]
)
def test_theoretical_capacity_matches_parameters_md(name, cap):
    mat = get_material(name)
    assert mat.capacity_theoretical == pytest.approx(cap, abs=0.1)
    # capacity = F / (3.6 M[g/mol])
    assert mat.capacity_theoretical == pytest.approx(96485.33212 / 3.6 / (mat.molar_mass * 1e3))


def test_nmc811_density_and_c_max():
    mat = get_material("NMC811")
    assert mat.density / 1000.0 == pytest.approx(4.79, abs=0.01)  # g/cm^3, PARAMETERS.md §1
    assert mat.c_max == pytest.approx(4.92e4, rel=0.01)
    V = math.sqrt(3) / 2 * mat.a_ref**2 * mat.c_ref
    assert mat.density == pytest.approx(3 * mat.molar_mass / (6.02214076e23 * V))


# ------------------------------------------------------------------------------- OCV
@pytest.mark.parametrize("name", MATERIAL_NAMES)
def test_ocv_monotone_finite_and_ends(name):
    mat = get_material(name)
    x = _grid()
    U = mat.ocv(x)
    dU = mat.docv_dx(x)
    assert np.all(np.isfinite(U)) and np.all(np.isfinite(dU))
    assert np.all(np.diff(U) < 0)
    assert np.all(dU < 0)
    assert mat.ocv(1 - 1e-6) < 3.0
    assert mat.ocv(1e-6) > 4.6


@pytest.mark.parametrize("name", NI_RICH)
def test_ocv_reaches_4p5_in_window(name):
    mat = get_material(name)
    x45 = mat.x_at_voltage(4.5)
    assert 0.05 < x45 < 0.4
    assert mat.ocv(x45) == pytest.approx(4.5, abs=1e-9)


def test_nmc622_msmr_reaches_4p5():
    # Verbrugge 2017 MSMR puts 4.5 V at x = 0.043 (its X_j sum to one): documented deviation
    x45 = get_material("NMC622").x_at_voltage(4.5)
    assert x45 == pytest.approx(data.msmr_x(4.5), abs=2e-3)


@pytest.mark.parametrize("name", MATERIAL_NAMES)
def test_docv_matches_finite_difference(name):
    mat = get_material(name)
    x = np.linspace(0.01, 0.99, 197)
    h = 1e-6
    fd = (mat.ocv(x + h) - mat.ocv(x - h)) / (2 * h)
    np.testing.assert_allclose(mat.docv_dx(x), fd, rtol=1e-5, atol=1e-5)


def test_nmc811_ocv_fit_reproduces_chen2020_and_tails():
    mat = get_material("NMC811")
    x, U, reg = data.nmc811_reference_ocv()
    res = mat.ocv(x) - U
    rms = {r: float(np.sqrt(np.mean(res[reg == r] ** 2))) for r in ("chen", "tail_lo", "tail_hi")}
    assert rms["chen"] < 0.0025  # V (fit: 2.0 mV)
    assert np.abs(res[reg == "chen"]).max() < 0.008
    assert rms["tail_lo"] < 0.003 and rms["tail_hi"] < 0.009  # V (fit: 2.4, 7.5 mV)


def test_nmc622_ocv_fit_reproduces_msmr():
    mat = get_material("NMC622")
    x, U = fits.nmc622_ocv_data()
    res = mat.ocv(x) - U
    assert np.sqrt(np.mean(res**2)) < 0.001  # V (fit: 0.6 mV)
    assert np.abs(res).max() < 0.003


def test_ocv_fit_is_local_optimum():
    x, U, reg = data.nmc811_reference_ocv()
    w = fits.nmc811_ocv_weights(reg)
    stored = library.OCV_NMC811
    cost0 = 0.5 * np.sum((w * (ocv_eval(*stored, x, NUMPY) - U)) ** 2)
    _, cost = fits.fit_ocv(x, U, 4, 2, w, seeds=0, start=stored)
    assert cost > 0.95 * cost0


@pytest.mark.parametrize("name", MATERIAL_NAMES)
def test_x_at_voltage_roundtrip(name):
    mat = get_material(name)
    for V in (3.5, 3.8, 4.1, 4.3):
        assert mat.ocv(mat.x_at_voltage(V)) == pytest.approx(V, abs=1e-8)
    with pytest.raises(ValueError):
        mat.x_at_voltage(10.0)


# --------------------------------------------------------------------------- lattice
def test_marker_data_table():
    assert data.MARKER_NMC811.shape == (79, 3)
    assert data.MARKER_NMC811[-1, 0] == pytest.approx(242.40)


def test_lattice_fit_reproduces_marker():
    mat = get_material("NMC811")
    x = data.marker_x(275.5)
    a = mat.lattice_a(x) * 1e10
    c = mat.lattice_c(x) * 1e10
    ra = a - data.MARKER_NMC811[:, 1]
    rc = c - data.MARKER_NMC811[:, 2]
    assert np.sqrt(np.mean(ra**2)) < 0.0005  # Angstrom (fit 0.00015)
    assert np.sqrt(np.mean(rc**2)) < 0.003  # Angstrom (fit 0.0012)
    assert np.abs(rc).max() < 0.006


def test_lattice_marker_end_points():
    mat = get_material("NMC811")
    assert mat.a_ref * 1e10 == pytest.approx(2.8704, abs=1e-10)
    assert mat.c_ref * 1e10 == pytest.approx(14.1918, abs=1e-10)
    assert mat.lattice_a(1.0) == pytest.approx(mat.a_ref, rel=1e-12)
    assert mat.lattice_c(1.0) == pytest.approx(mat.c_ref, rel=1e-12)
    q = np.linspace(0, 242.4, 5000)
    c = mat.lattice_c(1 - q / 275.5) * 1e10
    assert c.max() == pytest.approx(14.4834, abs=0.01)
    assert 165.0 < q[np.argmax(c)] < 192.0  # mAh/g, Maerker: 177-180
    x_end = 1 - 242.4 / 275.5
    assert mat.lattice_c(x_end) * 1e10 == pytest.approx(14.0078, abs=0.01)
    assert mat.lattice_a(x_end) * 1e10 == pytest.approx(2.8117, abs=0.002)


def test_lattice_fit_is_local_optimum():
    x = data.marker_x(fits.MARKER_CAPACITY)
    y = data.MARKER_NMC811[:, 2]
    st = library.LAT_C_NMC811
    cost0 = 0.5 * np.sum((lattice_eval(*st, x, NUMPY) - y) ** 2)
    _, cost = fits.fit_lattice(x, y, 3, 2, poly_deg=1, b1=0.1, xr=(0.33, 1.0), seeds=0, start=st)
    assert cost > 0.95 * cost0


@pytest.mark.parametrize("name,target", [("NC91", 0.060), ("NM91", 0.036)])
def test_w25_c_contraction(name, target):
    mat = get_material(name)
    x = np.linspace(fits.MARKER_X_END, 1.0, 4001)
    c = mat.lattice_c(x)
    assert (c.max() - c[0]) / c.max() == pytest.approx(target, abs=2e-4)
    # a-axis shape identical to NMC811 ([W25]: similar a-axis change)
    ref = get_material("NMC811")
    np.testing.assert_allclose(mat.lattice_a(x) / mat.a_ref, ref.lattice_a(x) / ref.a_ref)


def test_nc91_collapses_more_than_nm91():
    x = np.linspace(0.05, 0.3, 50)
    c_nc = get_material("NC91").lattice_c(x)
    c_nm = get_material("NM91").lattice_c(x)
    assert np.all(c_nc < c_nm)


# ------------------------------------------------------------------- transport/kinetics
@pytest.mark.parametrize("name", MATERIAL_NAMES)
def test_d_ab_arrhenius_and_scale(name):
    mat = get_material(name)
    x = np.linspace(0.05, 0.95, 19)
    for T in (273.15, 323.15, 423.15):
        ratio = mat.d_ab(x, T) / mat.d_ab(x, T_REF)
        np.testing.assert_allclose(ratio, np.exp(-mat.Ea_D / R_GAS * (1 / T - 1 / T_REF)))
    scaled = get_material(name, {"D_ab_scale": 3.0})
    np.testing.assert_allclose(scaled.d_ab(x, 310.0), 3.0 * mat.d_ab(x, 310.0))
    assert mat.Ea_D == pytest.approx(12.05e3, rel=1e-3)  # O'Regan 2022


def test_d_ab_reproduces_oregan_and_falls_in_h3():
    mat = get_material("NMC811")
    par = data.OREGAN2022_D
    x = np.linspace(0.45, 0.95, 51)
    terms = zip(par["a"], par["b"], par["c"], strict=True)
    log10 = par["c0"] + sum(a * np.exp(-((x - b) ** 2) / c) for a, b, c in terms)
    ore = par["prefactor"] * 10**log10
    np.testing.assert_allclose(mat.d_ab(x, T_REF), ore, rtol=5e-3)
    xs = np.linspace(1e-6, 1 - 1e-6, 2001)
    D = mat.d_ab(xs, T_REF)
    assert np.all(np.isfinite(D)) and np.all(D > 0)
    assert mat.d_ab(0.1, T_REF) < 0.1 * D[xs > 0.3].max()
    assert mat.d_ab(0.05, T_REF) < mat.d_ab(0.15, T_REF) < mat.d_ab(0.25, T_REF)


def test_d_ab_const_replaces_shape():
    mat = get_material("NC91", {"D_ab_const": 1e-14})
    x = np.linspace(0.1, 0.9, 9)
    np.testing.assert_allclose(mat.d_ab(x, T_REF), 1e-14)
    np.testing.assert_allclose(mat.d_c(x, T_REF), 1e-14 * mat.D_c_over_D_ab)
    assert mat.d_ab(x, 320.0).shape == x.shape


def test_i0_form_and_arrhenius():
    mat = get_material("NMC811")
    i0_ref = 3.42e-6 * math.sqrt(1000.0) * 63104.0  # A/m^2, Chen2020
    assert mat.i0(0.5, T_REF) == pytest.approx(0.5 * i0_ref)
    x = np.linspace(0.01, 0.99, 11)
    np.testing.assert_allclose(mat.i0(x, T_REF), i0_ref * np.sqrt(x * (1 - x)))
    r = mat.i0(0.3, 318.15) / mat.i0(0.3, T_REF)
    assert r == pytest.approx(math.exp(-17800.0 / R_GAS * (1 / 318.15 - 1 / T_REF)))
    assert get_material("NMC811", {"i0_scale": 2.0}).i0(0.3, 300.0) == pytest.approx(
        2 * mat.i0(0.3, 300.0)
    )
    assert 0 < mat.alpha < 1


# ------------------------------------------------------------------------------ UFL
@pytest.mark.parametrize("name", MATERIAL_NAMES)
def test_ufl_matches_numpy(name):
    ufl = pytest.importorskip("ufl")
    basix_ufl = pytest.importorskip("basix.ufl")
    from solver.mathns import ufl_namespace

    m = ufl_namespace()
    mesh = ufl.Mesh(basix_ufl.element("Lagrange", "interval", 1, shape=(1,)))
    X = ufl.SpatialCoordinate(mesh)[0]
    mat = get_material(name)
    matc = get_material(name, {"D_ab_const": 2e-15})
    T = ufl.variable(ufl.as_ufl(305.0))
    exprs = {
        "ocv": (mat.ocv(X, m), mat.ocv),
        "docv": (mat.docv_dx(X, m), mat.docv_dx),
        "a": (mat.lattice_a(X, m), mat.lattice_a),
        "c": (mat.lattice_c(X, m), mat.lattice_c),
        "D": (mat.d_ab(X, 305.0, m), lambda x: mat.d_ab(x, 305.0)),
        "DT": (mat.d_ab(X, T, m), lambda x: mat.d_ab(x, 305.0)),
        "Dc": (matc.d_ab(X, T, m), lambda x: matc.d_ab(x, 305.0)),
        "i0": (mat.i0(X, T, m), lambda x: mat.i0(x, 305.0)),
    }
    for key, (e, f) in exprs.items():
        for xv in (1e-6, 0.1, 0.37, 0.8, 1 - 1e-6):
            assert float(e((xv,))) == pytest.approx(float(f(xv)), rel=1e-10), key


def test_ufl_tanh_values_and_derivatives():
    # the exp form of tanh in the UFL namespace (cheap derivatives) against the closed forms
    # tanh' = 1 - tanh^2 and tanh'' = -2 tanh (1 - tanh^2), inside and beyond the clamp
    ufl = pytest.importorskip("ufl")
    basix_ufl = pytest.importorskip("basix.ufl")
    from solver.mathns import ufl_namespace

    m = ufl_namespace()
    mesh = ufl.Mesh(basix_ufl.element("Lagrange", "interval", 1, shape=(1,)))
    z = ufl.variable(ufl.SpatialCoordinate(mesh)[0])
    t = m.tanh(z)
    d1 = ufl.diff(t, z)
    d2 = ufl.diff(d1, z)
    for zv in (-500.0, -25.0, -19.0, -3.0, -0.4, -1e-9, 0.0, 1e-9, 0.7, 5.0, 19.5, 30.0, 800.0):
        th = np.tanh(zv)
        sech2 = 1.0 - th * th
        assert float(t((zv,))) == pytest.approx(th, abs=5e-16)
        assert float(d1((zv,))) == pytest.approx(sech2, rel=1e-12, abs=1e-15)
        assert float(d2((zv,))) == pytest.approx(-2.0 * th * sech2, rel=1e-12, abs=1e-15)


@pytest.mark.parametrize("name,target", [("NC91", 0.078), ("NM91", 0.059)])
def test_w25_volume_shrinkage_consistent(name, target):
    # not fitted: the c-collapse scaling alone should give [W25]'s volume shrinkage roughly
    mat = get_material(name)
    x = np.linspace(fits.MARKER_X_END, 1.0, 4001)
    V = mat.lattice_a(x) ** 2 * mat.lattice_c(x)
    assert (V.max() - V[0]) / V.max() == pytest.approx(target, abs=0.005)
