"""SXDM forward model against known answers on synthetic crystals (no solver run)."""

import numpy as np
import pytest

from postprocess.lattice import parse_reflection, q0_crystal
from postprocess.reader import sample_rule
from postprocess.sxdm import FWHM_TO_SIGMA, SXDMParams, compute_sxdm, parse_direction
from postprocess.synthetic import LinearLattice, box_snapshot
from solver.crystal import rotation_from_c_axis, rotation_from_euler

LAT = LinearLattice()
X_REF = 0.98


def _inside(maps, margin_um):
    """Masked pixels at least margin_um inside the masked region's bounding box."""
    m = maps["mask"]
    xs, ys = np.meshgrid(maps["x_centres_um"], maps["y_centres_um"])
    xin, yin = xs[m], ys[m]
    return m & (xs >= xin.min() + margin_um) & (xs <= xin.max() - margin_um) & (
        ys >= yin.min() + margin_um) & (ys <= yin.max() - margin_um)


def test_reflection_and_direction_parsing():
    assert parse_reflection("003") == (0, 0, 3)
    assert parse_reflection("1,0,-4") == (1, 0, -4)
    with pytest.raises(ValueError):
        parse_reflection("00x")
    assert parse_direction("-y") == (0.0, -1.0, 0.0)
    assert parse_direction("auto") is None
    np.testing.assert_allclose(parse_direction("1,1,0"), [2**-0.5, 2**-0.5, 0.0])
    with pytest.raises(ValueError):
        parse_direction("0,0,0")
    # d(003) = c/3 and d(104) from the hexagonal metric 1/d^2 = 4/3 (h^2+hk+k^2)/a^2 + l^2/c^2
    a, c = np.array([2.87e-10]), np.array([14.2e-10])
    assert 2 * np.pi / np.linalg.norm(q0_crystal((0, 0, 3), a, c)) == pytest.approx(c[0] / 3)
    d104 = (4 / 3 / a[0] ** 2 + 16 / c[0] ** 2) ** -0.5
    assert 2 * np.pi / np.linalg.norm(q0_crystal((1, 0, 4), a, c)) == pytest.approx(d104)


def test_sample_rule_integrates_quadratics_exactly():
    for level in (0, 1, 2):
        b = sample_rule(level)
        assert b.shape == (4 * 8**level, 4)
        X = b[:, 1:]  # reference tet (0, e1, e2, e3), volume 1/6
        assert (X[:, 0] * X[:, 1]).mean() / 6 == pytest.approx(1 / 120, rel=1e-12)
        assert (X[:, 2] ** 2).mean() / 6 == pytest.approx(1 / 60, rel=1e-12)


@pytest.mark.parametrize("R, beam", [
    (rotation_from_c_axis([1, 0, 0]), "z"),  # c along x, beam along z: map frame = xyz
    (rotation_from_euler(30, 50, 10), None),  # general orientation, automatic beam
])
def test_uniform_strain_along_c_gives_flat_map_equal_to_strain(R, beam):
    eps = 2.5e-3
    c = R[:, 2]
    snap = box_snapshot([0, 0, 0], [0.6, 0.6, 0.3], [8, 8, 4], x=X_REF, rotation=R,
                        elastic_strain=lambda p: np.broadcast_to(eps * np.outer(c, c),
                                                                 (len(p), 3, 3)))
    maps = compute_sxdm(snap, LAT, SXDMParams(beam_direction=parse_direction(beam)), X_REF)
    m = maps["mask"]
    assert m.sum() > 50
    np.testing.assert_allclose(maps["dd_ref"][m], eps, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(maps["dd_mean"][m], 0.0, atol=1e-12)
    for key in ("theta_xy_deg", "theta_xz_deg", "theta_xy_ref_deg", "theta_xz_ref_deg"):
        np.testing.assert_allclose(maps[key][m], 0.0, atol=1e-9)
    # a pure strain perpendicular to c changes nothing for (003)
    e_perp = np.cross(c, [0.3, 0.1, 0.9])
    e_perp /= np.linalg.norm(e_perp)
    snap2 = box_snapshot([0, 0, 0], [0.6, 0.6, 0.3], [8, 8, 4], x=X_REF, rotation=R,
                         elastic_strain=lambda p: np.broadcast_to(
                             eps * np.outer(e_perp, e_perp), (len(p), 3, 3)))
    maps2 = compute_sxdm(snap2, LAT, SXDMParams(beam_direction=parse_direction(beam)), X_REF)
    np.testing.assert_allclose(maps2["dd_ref"][maps2["mask"]], 0.0, atol=1e-12)


@pytest.mark.parametrize("axis, key, sign", [(2, "theta_xy", 1.0), (1, "theta_xz", -1.0)])
def test_rigid_rotation_gives_the_tilt(axis, key, sign):
    """c along x, beam along z.  A rigid rotation by alpha about +z turns Q (along x) by
    +alpha in the xy plane (theta_xy = alpha, theta_xz = 0); about +y it turns Q towards
    -z (theta_xz = -alpha, theta_xy = 0).  F_e = I + W is the linearised rotation: the
    angle it gives is atan(alpha), within alpha^3/3 of alpha."""
    alpha = np.deg2rad(0.4)
    w = np.zeros(3)
    w[axis] = alpha
    snap = box_snapshot([0, 0, 0], [0.6, 0.6, 0.3], [8, 8, 4], x=X_REF,
                        rotation=rotation_from_c_axis([1, 0, 0]),
                        rotation_vector=lambda p: np.broadcast_to(w, (len(p), 3)))
    maps = compute_sxdm(snap, LAT, SXDMParams(beam_direction=(0.0, 0.0, 1.0)), X_REF)
    m = maps["mask"]
    other = "theta_xz" if key == "theta_xy" else "theta_xy"
    np.testing.assert_allclose(maps[key + "_ref_deg"][m], sign * np.rad2deg(alpha),
                               atol=np.rad2deg(alpha**3 / 3) + 1e-12)
    np.testing.assert_allclose(maps[other + "_ref_deg"][m], 0.0, atol=1e-12)
    for k in ("theta_xy_deg", "theta_xz_deg"):  # relative to the mean: nothing
        np.testing.assert_allclose(maps[k][m], 0.0, atol=1e-9)
    # a rotation does not change d: |Q| changes by (1 + alpha^2)^(-1/2) only (linearised F_e)
    np.testing.assert_allclose(maps["dd_ref"][m], 0.0, atol=alpha**2)


def test_linear_strain_gradient_is_recovered_within_the_beam_error():
    """eps_cc = g (x - x0), c along x, beam along z; map slope d(Delta d/d)/dx vs g.

    Analytic error of the beam average (docs/observables.md, SXDM):
    * the beam is sampled by lines on a grid whose nodes include every pixel centre, so
      the discrete beam is one symmetric stencil: a linear field is returned exactly at the
      pixel centre, and every line integral through the P1 mesh is exact;
    * the centre of mass is taken of Q, not of d = 2 pi/|Q|: with the strain varying
      across the beam, <1/(1+eps)> = 1/(1+eps_c) + Var/(1+eps_c)^3 + ..., Var = g^2 s^2
      (s^2: variance of the sampled beam along x, <= sigma^2), so Delta d/d is lowered by
      ~g^2 s^2, uniformly, and the slope changes by a relative O(g^2 sigma^2 eps);
    * Q is interpolated linearly inside a cell from its vertex values: Q ~ 1/(1+eps) is
      convex, the error is <= (g h)^2 / 8 per cell (h: cell size along x).
    Bound on the slope: g^2 sigma^2 + (g h)^2; on the values: the same, absolute.
    """
    g = 4e-3  # strain per um
    x0 = 0.5
    h = 1.0 / 23.0  # um, cube size of the mesh (incommensurate with the 50 nm steps)
    R = rotation_from_c_axis([1, 0, 0])
    ex = np.outer(R[:, 2], R[:, 2])
    snap = box_snapshot([0, 0, 0], [1.0, 0.5, 0.2], [23, 12, 5], x=X_REF, rotation=R,
                        elastic_strain=lambda p: (g * (p[:, 0] - x0))[:, None, None] * ex)
    params = SXDMParams(beam_direction=(0.0, 0.0, 1.0))
    maps = compute_sxdm(snap, LAT, params, X_REF)
    sigma = params.beam_fwhm_um * FWHM_TO_SIGMA
    inner = _inside(maps, 3 * sigma + params.step_um)
    xs = np.meshgrid(maps["x_centres_um"], maps["y_centres_um"])[0][inner]
    dd = maps["dd_ref"][inner]
    slope, _ = np.polyfit(xs, dd, 1)
    bound = (g * sigma) ** 2 + (g * h) ** 2
    assert abs(slope / g - 1.0) <= bound, (slope / g - 1.0, bound)
    np.testing.assert_allclose(dd, g * (xs - x0), atol=bound)
    # intensity = diffracting thickness (0.2 um) inside: exact line integrals
    np.testing.assert_allclose(maps["intensity_um"][inner], 0.2, rtol=1e-9)
    # and the volume in the rocking window is the box volume
    assert float(maps["fraction_in_rocking_window"]) == pytest.approx(1.0, rel=1e-9)


def test_line_integrals_are_exact_on_a_tilted_beam():
    """An oblique beam crosses the slab (thickness 0.25 um in z) along 0.25 / b_z: pixels
    whose beam lines all enter through the top and leave through the bottom show exactly
    that thickness; the total (a Riemann sum over lines of the shadow) is the volume to
    O(line spacing / size)."""
    R = rotation_from_c_axis([1, 0, 0])
    snap = box_snapshot([0, 0, 0], [1.2, 1.0, 0.25], [12, 10, 3], x=X_REF, rotation=R)
    b = np.array(parse_direction("0.2,0.1,1"))
    params = SXDMParams(beam_direction=tuple(b), threshold=0.0)
    maps = compute_sxdm(snap, LAT, params, X_REF)
    inten = maps["intensity_um"]
    plateau = inten > inten.max() * (1 - 1e-9)
    assert plateau.sum() > 100
    np.testing.assert_allclose(inten[plateau], 0.25 / b[2], rtol=1e-9)
    area = float(maps["pixel_size_um"]) ** 2
    assert inten.sum() * area == pytest.approx(1.2 * 1.0 * 0.25, rel=5e-3)


def test_rocking_window_excludes_tilted_lattice():
    """A fifth of the crystal tilted by 3 deg in the scattering plane: the window is centred
    on the mean (0.6 deg), so the tilted part (+2.4 deg from it) lies outside a 2 deg
    rocking window and the rest (-0.6 deg) inside; a 10 deg window takes everything."""
    tilt = np.deg2rad(3.0)

    def w(p):
        out = np.zeros((len(p), 3))
        out[:, 1] = np.where(p[:, 1] > 0.48, tilt, 0.0)
        return out

    R = rotation_from_c_axis([1, 0, 0])
    snap = box_snapshot([0, 0, 0], [0.6, 0.6, 0.2], [12, 12, 4], x=X_REF, rotation=R,
                        rotation_vector=w)
    narrow = compute_sxdm(snap, LAT, SXDMParams(beam_direction=(0, 0, 1.0)), X_REF)
    wide = compute_sxdm(snap, LAT, SXDMParams(beam_direction=(0, 0, 1.0),
                                              rocking_range_deg=10.0), X_REF)
    assert float(narrow["fraction_in_rocking_window"]) == pytest.approx(0.8, abs=0.03)
    assert float(wide["fraction_in_rocking_window"]) == pytest.approx(1.0)
    assert np.nanmax(np.abs(wide["theta_xz_ref_deg"])) > 2.5


def test_grain_selection_maps_only_that_grain():
    """Two grains side by side (c along x and along y): selecting grain 2 maps only its
    half, with its own reference direction."""
    Rx, Ry = rotation_from_c_axis([1, 0, 0]), rotation_from_c_axis([0, 1, 0])
    snap = box_snapshot([0, 0, 0], [0.8, 0.4, 0.2], [16, 8, 4], x=X_REF,
                        rotation=lambda c: np.where((c[:, 0] > 0.4)[:, None, None], Ry, Rx))
    snap.cell_data["grain_id"] = np.where(snap.points[snap.tets].mean(1)[:, 0] > 0.4, 2.0, 1.0)
    maps = compute_sxdm(snap, LAT, SXDMParams(beam_direction=(0, 0, 1.0), grain=2), X_REF)
    np.testing.assert_allclose(maps["frame"][0], [0, 1, 0], atol=1e-12)  # x' = Q of grain 2
    np.testing.assert_allclose(maps["frame"][1], [-1, 0, 0], atol=1e-12)  # y' = z x x'
    ys = np.meshgrid(maps["x_centres_um"], maps["y_centres_um"])[1]
    inside = maps["mask"]
    sample_x = -ys[inside]
    assert inside.any() and sample_x.min() > 0.4 - 0.05  # only the grain at x > 0.4
    np.testing.assert_allclose(maps["dd_ref"][inside], 0.0, atol=1e-12)
    with pytest.raises(ValueError, match="grain"):
        compute_sxdm(snap, LAT, SXDMParams(beam_direction=(0, 0, 1.0), grain=7), X_REF)
