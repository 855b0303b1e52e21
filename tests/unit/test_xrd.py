"""Synthetic XRD: peak positions and areas of a two-phase mixture, Williamson-Hall strain."""

import numpy as np
import pytest
from scipy.stats import norm

from postprocess.synthetic import LinearLattice, box_snapshot
from postprocess.xrd import (
    CU_KA1_M,
    XRDParams,
    analyse,
    analyse_d,
    fit_peaks,
    local_d00l,
    profile,
    two_theta_deg,
    window,
)
from solver.crystal import rotation_from_euler

PARAMS = XRDParams()


def test_local_d_counts_chemical_and_elastic_change_once():
    """d(00l) = c(x) (1 + eps_cc) / l with eps_cc the strain along the local c-axis."""
    lat = LinearLattice()
    R = rotation_from_euler(20, 35, 0)
    c_axis = R[:, 2]
    eps = 1.5e-3
    snap = box_snapshot([0, 0, 0], [0.3, 0.3, 0.3], [3, 3, 3], x=0.6, rotation=R,
                        elastic_strain=lambda p: np.broadcast_to(
                            eps * np.outer(c_axis, c_axis), (len(p), 3, 3)))
    for l_index in (3, 6, 9):
        d, w = local_d00l(snap, lat, l_index)
        np.testing.assert_allclose(d, lat.lattice_c(0.6) * (1 + eps) / l_index, rtol=1e-13)
        assert w.sum() == pytest.approx(0.027)


def test_two_phase_mixture_peaks_at_the_right_angles_with_the_right_areas():
    """H2 + H3 coexistence ([W25]: c differs by up to 0.68 A): 30 % c = 14.40 A and
    70 % c = 14.00 A -> two (003) peaks at 2theta from Bragg's law with 30/70 areas."""
    c1, c2, f1 = 14.40e-10, 14.00e-10, 0.3
    n = 10000
    d = np.where(np.arange(n) < f1 * n, c1 / 3, c2 / 3)
    w = np.full(n, 1e-3)
    grid = window(d, PARAMS)
    y = profile(d, w, PARAMS, grid)
    # area = diffracting volume, less the Lorentzian tails beyond the window:
    # eta (1 - 2/pi atan(pad / hwhm)) ~ 0.5 % at 1.6 deg from the peaks
    lost = PARAMS.eta * (1 - 2 / np.pi * np.arctan(PARAMS.window_deg / (PARAMS.fwhm_deg / 2)))
    assert np.trapezoid(y, grid) == pytest.approx(w.sum() * (1 - lost), rel=2e-3)
    fit = fit_peaks(grid, y, 2)
    expect = [two_theta_deg(c1 / 3, CU_KA1_M), two_theta_deg(c2 / 3, CU_KA1_M)]
    np.testing.assert_allclose(fit["centre_deg"], expect, atol=0.02 * PARAMS.fwhm_deg)
    areas = np.array(fit["area"]) / w.sum()
    np.testing.assert_allclose(areas, [f1, 1 - f1], rtol=0.02)
    # the analysis chooses two phases and returns the c values
    res = analyse_d(lambda l_index: (d * 3 / l_index, w), PARAMS)
    assert res["phases"] == 2
    # sorted by 2theta: the larger c (smaller angle) first
    np.testing.assert_allclose(res["fit_two_phase"]["c_A"], [c1 * 1e10, c2 * 1e10], rtol=2e-4)
    np.testing.assert_allclose(res["fit_two_phase"]["fraction"], [f1, 1 - f1], rtol=0.02)


def test_single_phase_is_not_split():
    d = np.full(1000, 14.2e-10 / 3)
    res = analyse_d(lambda l_index: (d * 3 / l_index, np.ones(1000)), PARAMS)
    assert res["phases"] == 1
    assert res["fit_one_phase"]["c_A"][0] == pytest.approx(14.2, rel=1e-5)


@pytest.mark.parametrize("s", [5e-4, 1.5e-3])
def test_williamson_hall_recovers_gaussian_microstrain(s):
    """d = d0 (1 + e), e ~ N(0, s^2): the W-H slope over (003)/(006)/(009), corrected for
    the instrument pseudo-Voigt, gives the rms strain s within 5 %."""
    n = 40000
    e = s * norm.ppf((np.arange(n) + 0.5) / n)
    c0 = 14.3e-10
    res = analyse_d(lambda l_index: (c0 / l_index * (1 + e), np.ones(n)), PARAMS)
    wh = res["williamson_hall"]
    assert wh["microstrain_rms"] == pytest.approx(s, rel=0.05)
    assert wh["microstrain_wh"] == pytest.approx(np.sqrt(2 * np.log(2)) * s, rel=0.05)


def test_snapshot_analysis_runs_on_uniform_crystal():
    lat = LinearLattice()
    snap = box_snapshot([0, 0, 0], [0.2, 0.2, 0.2], [2, 2, 2], x=0.9)
    res = analyse(snap, lat, PARAMS)
    assert res["phases"] == 1
    assert res["fit_one_phase"]["c_A"][0] == pytest.approx(lat.lattice_c(0.9) * 1e10,
                                                           rel=1e-5)
    assert abs(res["williamson_hall"]["microstrain_rms"]) < 5e-5
