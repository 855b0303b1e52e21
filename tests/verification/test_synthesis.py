"""The calcination (synthesis) model: local kinetics against analytical solutions, the
discrete Li and TM balances, transport-limited fronts, the two calcination profiles, the
follow-up electrochemical run and bad input (docs/synthesis.md)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from helpers import case_dict
from mpi4py import MPI
from synthesis_helpers import synthesis_dict, synthesis_run_folder

from solver.config import CaseError, validate
from solver.materials.data import R_GAS
from solver.materials.synthesis import DEFAULTS, first_order_conversion
from solver.synthesis import kinetics as kin


# ---------------------------------------------------------------- local kinetics
def test_local_update_conserves_tm_and_stays_in_unit_interval():
    rng = np.random.default_rng(1)
    n = 2000
    p0 = rng.random(n)
    r0 = rng.random(n) * (1.0 - p0)
    l0 = 1.0 - p0 - r0
    l20 = rng.random(n) * l0
    a = rng.random(n) * 2.0
    for dt in (1e-3, 1.0, 1e3, 1e7):
        u = kin.local_update(p0, r0, l0, l20, a, 3e-3, 1e-2, 2e-4, dt)
        s = u.p + u.l + u.r
        assert np.abs(s - 1.0).max() < 1e-14
        for f in (u.p, u.l, u.r, u.l2):
            assert f.min() >= -1e-15 and f.max() <= 1.0 + 1e-14
        assert np.abs(u.sink * dt - (u.l - l0)).max() < 1e-15  # the Li the phases took
        # the Li-sink derivative against a central difference
        h = 1e-7
        up = kin.local_update(p0, r0, l0, l20, a + h, 3e-3, 1e-2, 2e-4, dt)
        dn = kin.local_update(p0, r0, l0, l20, a - h, 3e-3, 1e-2, 2e-4, dt)
        fd = (up.sink - dn.sink) / (2 * h)
        assert np.allclose(u.dsink, fd, rtol=1e-5, atol=1e-9 * np.abs(fd).max())


def _integrate_isothermal(t_end: float, n: int, kL: float, kD: float, kR: float):
    p, r, l, l2 = (np.ones(1), np.zeros(1), np.zeros(1), np.zeros(1))  # noqa: E741
    for _ in range(n):
        u = kin.local_update(p, r, l, l2, np.ones(1), kL, kD, kR, t_end / n)
        p, r, l, l2 = u.p, u.r, u.l, u.l2  # noqa: E741
    return p[0], l[0], r[0]


def test_isothermal_first_order_matches_analytic_solution():
    """Without transport (a = 1) at 280 degC: backward Euler converges to the exact
    first-order solution at first order in dt."""
    T = 553.15
    kL, kD, kR = (float(DEFAULTS.rate(w, T)) for w in
                  ("lithiation", "decomposition", "rocksalt_lithiation"))
    t = 2.0 / (kL + kD)
    exact = np.array(kin.isothermal_fractions(np.array([t]), kL, kD, kR)).ravel()
    errs = []
    for n in (200, 400, 800):
        num = np.array(_integrate_isothermal(t, n, kL, kD, kR))
        errs.append(np.abs(num - exact).max())
    assert errs[-1] < 2e-3
    assert 1.8 < errs[0] / errs[1] < 2.2 and 1.8 < errs[1] / errs[2] < 2.2


def test_constant_ramp_matches_nonisothermal_conversion_and_kissinger_shift():
    """Decomposition alone under constant ramps: the conversion follows the exact
    non-isothermal first-order solution, its rate peaks where Kissinger's condition
    says, the peak shifts up with the heating rate, and the Kissinger plot returns Ea."""
    A, Ea = DEFAULTS.A_decomposition, DEFAULTS.Ea_decomposition
    peaks = []
    rates = [2.0 / 60.0, 5.0 / 60.0, 10.0 / 60.0, 20.0 / 60.0]  # K/s
    for beta in rates:
        dT = 0.02  # K per step
        T = np.arange(400.0, 700.0, dT)
        p = np.ones(1)
        alpha = np.empty_like(T)
        for i, Ti in enumerate(T):
            u = kin.local_update(p, np.zeros(1), np.zeros(1), np.zeros(1), np.zeros(1),
                                 0.0, A * math.exp(-Ea / (R_GAS * Ti)), 0.0, dT / beta)
            p = u.p
            alpha[i] = 1.0 - p[0]
        exact = first_order_conversion(A, Ea, beta, T)
        assert np.abs(alpha - exact).max() < 5e-3
        rate = np.gradient(alpha, T)
        i = int(np.argmax(rate))
        Tp = T[i]
        assert abs(Tp - kin.kissinger_peak(A, Ea, beta)) < 0.5  # K
        peaks.append(Tp)
    assert all(b > a for a, b in zip(peaks[:-1], peaks[1:], strict=True))
    x = 1.0 / np.array(peaks)
    y = np.log(np.array(rates) / np.array(peaks) ** 2)
    slope = np.polyfit(x, y, 1)[0]
    assert abs(-slope * R_GAS / Ea - 1.0) < 0.01


def test_onsets_are_those_of_the_parameter_module():
    """The fitted lithiation onset is [P22]'s 200 degC; the sourced decomposition
    (Carney 2015) starts inside [P22]'s 220-350 degC."""
    assert abs(DEFAULTS.onset("lithiation") - 473.15) < 0.2
    assert 493.15 < DEFAULTS.onset("decomposition") < 623.15
    assert DEFAULTS.onset("rocksalt_lithiation") > DEFAULTS.onset("decomposition")


# ---------------------------------------------------------------- on the mesh
def _run(raw: dict, comm=MPI.COMM_WORLD):
    """Run a synthesis case in memory; (rows, problem) with the problem's end state."""
    from solver.driver import Driver
    from solver.protocol.state import RunState
    from solver.simulation import build_mesh
    from solver.synthesis.problem import SynthesisProblem
    from solver.synthesis.recorder import SynthesisRecorder

    case = validate(raw, "synthesis_test.toml", "synthesis_test")
    problem = SynthesisProblem(case, build_mesh(case, comm))
    rec = SynthesisRecorder(case, problem, comm, None, 0.0)
    Driver(case, problem, rec, comm).run(RunState(dt_next_s=1.0), False)
    rec.close(RunState())
    return rec.rows, problem


def test_li_and_tm_balance_and_bounds_on_the_mesh():
    rows, pb = _run(synthesis_dict(protocol=[
        {"type": "temperature", "temperature": "700 degC", "ramp_rate": "20 K/min"}]))
    li_scale = rows[-1]["tm_total_mol"]
    for r in rows:
        assert abs(r["li_balance_error_mol"]) < 1e-9 * li_scale
        assert abs(r["tm_balance_error_mol"]) < 1e-13 * li_scale
        assert abs(r["precursor"] + r["layered"] + r["rock_salt"] - 1.0) < 1e-12
    assert rows[-1]["li_supplied_mol"] > 0.9 * li_scale  # it did lithiate
    f = {k: pb.fields[k].x.array for k in ("precursor", "layered", "rock_salt")}
    total = f["precursor"] + f["layered"] + f["rock_salt"]
    assert np.abs(total - 1.0).max() < 1e-12
    for v in f.values():
        assert v.min() >= -1e-14 and v.max() <= 1.0 + 1e-12
    pb.destroy()


def _shell_core(row: dict, phase: str) -> tuple[float, float]:
    return row[f"{phase}_rho0.9"], row[f"{phase}_rho0.1"]


def test_fast_transport_reacts_uniformly_slow_transport_makes_a_shell():
    prog = [{"type": "temperature", "temperature": "320 degC", "ramp_rate": "5 K/min"}]
    fast, pf = _run(synthesis_dict(protocol=prog, synthesis={
        "D_li_ref": "1e-10 m^2/s", "Ea_li": "0 kJ/mol"}))
    slow, ps = _run(synthesis_dict(protocol=prog, synthesis={
        "D_li_ref": "1e-17 m^2/s", "Ea_li": "0 kJ/mol"}))
    pf.destroy()
    ps.destroy()
    shell, core = _shell_core(fast[-1], "layered")
    assert abs(shell - core) < 0.01 and shell > 0.3
    shell, core = _shell_core(slow[-1], "layered")
    assert shell > core + 0.3  # lithiated shell
    rs_shell, rs_core = _shell_core(slow[-1], "rock_salt")
    assert rs_core > rs_shell + 0.3 and rs_core > 0.5  # decomposed core


def _route(name: str) -> dict:
    """A case file's program on the small test particle."""
    import tomllib
    from pathlib import Path

    raw = tomllib.loads((Path(__file__).resolve().parents[2] / "cases" /
                         f"synthesis_{name}.toml").read_text())
    raw["geometry"] = {"shape": "sphere", "radius": "2 um", "mesh_size": "0.5 um"}
    raw.pop("grains", None)
    raw["output"] = {"vtx": False, "pvd": False, "figures": False}
    return raw


def test_two_step_profile_yields_less_rock_salt_than_direct_ramp():
    direct, p1 = _run(_route("conventional"))
    two, p2 = _run(_route("two_step"))
    p1.destroy()
    p2.destroy()
    assert direct[-1]["temperature_K"] == pytest.approx(two[-1]["temperature_K"])

    def at_300(rows):
        from solver.synthesis.report import state_at_temperature

        return state_at_temperature(rows, 573.15)

    assert at_300(two)["rock_salt"] < at_300(direct)["rock_salt"] - 0.1
    assert max(r["rock_salt"] for r in two) < max(r["rock_salt"] for r in direct) - 0.1
    # how much of the product went through the rock salt (the disordered part)
    assert two[-1]["layered_via_rock_salt"] < direct[-1]["layered_via_rock_salt"] - 0.1


# ---------------------------------------------------------------- follow-up run
def _follow_up_raw(run_dir) -> dict:
    return case_dict(
        geometry={"shape": "sphere", "radius": "2 um", "mesh_size": "0.5 um",
                  "surface_mesh_size": "0.5 um", "refinement_depth": "0.5 um"},
        material={"name": "NMC622"},
        conditions={"initial_x": 0.98, "from_synthesis": str(run_dir)},
        mechanics={"coupling": "one-way"},
        protocol=[{"type": "charge", "current": "200 mA/g", "until_capacity": "20 mAh/g"}],
        numerics={"dt_max": "60 s"})


def expected_inactive(run_dir) -> float:
    """Volume mean of the inactive fraction the seed must carry (carryover.py's law)."""
    with np.load(run_dir / "synthesis_end.npz") as z:
        inactive = np.clip(z["precursor"] + z["rock_salt"]
                           + z["disorder_inactive"] * z["layered_via_rock_salt"], 0, 1)
        dense = np.minimum(1.0, (1.0 - z["porosity"]) / (1.0 - z["porosity_layered"]))
        act = np.maximum((1.0 - inactive) * dense, 1e-3)
        return float(((1.0 - act) * z["cell_volume_m3"]).sum() / z["cell_volume_m3"].sum())


def test_follow_up_electrochemical_run_carries_the_synthesis_state(tmp_path):
    from solver.simulation import run_simulation

    comm = MPI.COMM_WORLD
    run_dir = tmp_path / "syn"
    # stopped at 400 degC: rock salt left, so the mismatch eigenstrain is non-zero too
    synthesis_run_folder(synthesis_dict(geometry={"surface_mesh_size": "0.5 um",
                                                  "refinement_depth": "0.5 um"}),
                         run_dir, comm)
    assert (run_dir / "xrd_refinement.csv").is_file()
    case = validate(_follow_up_raw(run_dir), "follow_up.toml", "follow_up")
    rows = run_simulation(case, None, comm).rows
    want = expected_inactive(run_dir)
    assert want > 0.2
    for r in rows:
        assert r["inactive_fraction"] == pytest.approx(want, rel=1e-9)
    assert rows[-1]["residual_strain_mean"] > 1e-3  # the rock-salt mismatch strain
    assert rows[-1]["capacity_mAh_g"] == pytest.approx(20.0, rel=1e-6)
    # the same run without the seed stores more Li per site: less x change
    plain = _follow_up_raw(run_dir)
    del plain["conditions"]["from_synthesis"]
    ref = run_simulation(validate(plain, "plain.toml", "plain"), None, comm).rows
    dx_seed = rows[0]["x_mean"] - rows[-1]["x_mean"]
    dx_ref = ref[0]["x_mean"] - ref[-1]["x_mean"]
    assert dx_seed == pytest.approx(dx_ref / (1.0 - want), rel=1e-3)


# ---------------------------------------------------------------- bad input
def _cli(args: list[str], capsys) -> tuple[int, str]:
    from solver.cli import main

    rc = main(args)
    return rc, capsys.readouterr().err


def _write(tmp_path, name: str, text: str):
    p = tmp_path / name
    p.write_text(text)
    return p


GOOD = """
[geometry]
shape = "sphere"
radius = "2 um"
[synthesis]
material = "NCM622"
[[protocol]]
type = "temperature"
temperature = "400 degC"
ramp_rate = "5 K/min"
"""


@pytest.mark.parametrize("patch, key", [
    (("[synthesis]", "[synthesis]\nEa_lithiatio = '60 kJ/mol'"), "synthesis.Ea_lithiatio"),
    (("[synthesis]", "[synthesis]\nA_decomposition = -1.0"), "synthesis.A_decomposition"),
    (("[synthesis]", "[synthesis]\nD_li_ref = '-1e-15 m^2/s'"), "synthesis.D_li_ref"),
    (("ramp_rate = \"5 K/min\"", "ramp_rate = \"-5 K/min\""), "protocol[0].ramp_rate"),
    (("type = \"temperature\"", "type = \"charge\""), "protocol[0].type"),
    (("[synthesis]", "[mechanics]\ncoupling = 'one-way'\n[synthesis]"), "mechanics"),
    (("[synthesis]", "[synthesis]\nreport_temperatures = ['3000 degC']"),
     "synthesis.report_temperatures[0]"),
])
def test_bad_synthesis_input_exits_2_naming_file_and_key(tmp_path, capsys, patch, key):
    case = _write(tmp_path, "bad.toml", GOOD.replace(*patch, 1))
    out = tmp_path / "out"
    rc, err = _cli(["run", str(case), "--output", str(out)], capsys)
    assert rc == 2
    assert str(case) in err and key in err
    assert not out.exists()


@pytest.mark.parametrize("what", ["missing", "not_synthesis", "unfinished"])
def test_from_synthesis_must_be_a_finished_synthesis_run(tmp_path, capsys, what):
    run_dir = tmp_path / "run"
    if what != "missing":
        run_dir.mkdir()
        (run_dir / "case.resolved.toml").write_text(
            "[geometry]\nshape = 'sphere'\nradius = '2 um'\n"
            + ("[synthesis]\nmaterial = 'NCM622'\n" if what == "unfinished" else ""))
        (run_dir / "status.json").write_text('{"status": "running"}')
    raw = _follow_up_raw(run_dir)
    with pytest.raises(CaseError) as exc:
        validate(raw, "follow.toml", "follow")
    assert exc.value.key == "conditions.from_synthesis"
    text = "\n".join(f"[{s}]\n" + "\n".join(f"{k} = {v!r}" for k, v in t.items())
                     for s, t in raw.items() if s != "protocol" and t)
    text = text.replace("'", '"').replace("True", "true").replace("False", "false")
    text += ('\n[[protocol]]\ntype = "charge"\ncurrent = "200 mA/g"\n'
             'until_capacity = "20 mAh/g"\n')
    case = _write(tmp_path, "follow.toml", text)
    out = tmp_path / "out"
    rc, err = _cli(["run", str(case), "--output", str(out)], capsys)
    assert rc == 2 and str(case) in err and "conditions.from_synthesis" in err
    assert not out.exists()


def test_validate_synthesis_case_is_mpi_free():
    """`chemomech validate` of a synthesis case imports neither DOLFINx nor mpi4py."""
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    code = ("import sys; from solver.cli import main; rc = main(sys.argv[1:]); "
            "bad = [m for m in ('dolfinx', 'mpi4py', 'ufl', 'petsc4py') if m in sys.modules]; "
            "print('IMPORTED', bad); sys.exit(rc)")
    res = subprocess.run([sys.executable, "-c", code, "validate",
                          str(root / "cases/synthesis_two_step.toml")],
                         capture_output=True, text=True, cwd=root)
    assert res.returncode == 0, res.stderr
    assert "IMPORTED []" in res.stdout and "synthesis of NCM622" in res.stdout
