"""Protocol steps end where they should: voltage cut-off within 1 mV, capacity, time."""

import pytest
from helpers import case_dict
from mpi4py import MPI

from solver.config import validate
from solver.simulation import run_simulation


def test_cutoffs_capacity_and_time_ends():
    case = validate(case_dict(
        geometry={"radius": "0.6 um", "mesh_size": "0.2 um", "surface_mesh_size": "0.12 um"},
        conditions={"initial_x": 0.9},
        protocol=[
            {"type": "charge", "current": "2000 mA/g", "until_voltage": "4.0 V"},
            {"type": "rest", "until_time": "5 min"},
            {"type": "discharge", "current": "1000 mA/g", "until_capacity": "20 mAh/g"},
            {"type": "discharge", "current": "1000 mA/g", "until_voltage": "3.7 V",
             "until_time": "2 h"},
            {"type": "charge", "current": "500 mA/g", "until_time": "100 s",
             "until_voltage": "4.3 V"},
        ],
        numerics={"dt_max": "30 s"},
    ))
    res = run_simulation(case, None, MPI.COMM_WORLD)
    ends = res.step_ends
    assert [e["reason"] for e in ends] == ["voltage", "time", "capacity", "voltage", "time"]
    assert abs(ends[0]["voltage_V"] - 4.0) <= 1e-3
    assert abs(ends[3]["voltage_V"] - 3.7) <= 1e-3
    rows = res.rows
    t_rest_start = ends[0]["time_s"]
    assert ends[1]["time_s"] - t_rest_start == pytest.approx(300.0, rel=1e-12)
    assert ends[2]["step_capacity_mAh_g"] == pytest.approx(20.0, rel=1e-9)
    assert ends[4]["time_s"] - ends[3]["time_s"] == pytest.approx(100.0, rel=1e-12)
    # net capacity bookkeeping: charge positive, discharge negative
    net = ends[0]["step_capacity_mAh_g"] - ends[2]["step_capacity_mAh_g"] - ends[3][
        "step_capacity_mAh_g"] + ends[4]["step_capacity_mAh_g"]
    assert rows[-1]["capacity_mAh_g"] == pytest.approx(net, rel=1e-9)
    # the voltage relaxes during the rest after charge (overpotential and gradients decay)
    rest = [r for r in rows if r["protocol_step"] == 1]
    assert rest[-1]["voltage_V"] < ends[0]["voltage_V"]
    assert all(0.0 < r["x_min"] <= r["x_max"] < 1.0 for r in rows)


SMALL = {"radius": "0.6 um", "mesh_size": "0.2 um", "surface_mesh_size": "0.12 um"}
FARADAY = 96485.33212  # C/mol (CODATA 2018, exact)


def test_constant_voltage_hold_ends_at_its_current_limit():
    """CC to 4.1 V, then CV at 4.1 V until |I| <= 50 mA/g (a tenth of the CC current)."""
    case = validate(case_dict(
        geometry=SMALL, conditions={"initial_x": 0.9},
        protocol=[{"type": "charge", "current": "500 mA/g", "until_voltage": "4.1 V"},
                  {"type": "hold", "voltage": "4.1 V", "until_current": "50 mA/g",
                   "until_time": "2 h"}],
        numerics={"dt_max": "30 s"}))
    res = run_simulation(case, None, MPI.COMM_WORLD)
    assert [e["reason"] for e in res.step_ends] == ["voltage", "current"]
    hold = [r for r in res.rows if r["protocol_step"] == 1]
    assert len(hold) > 5
    # the voltage is held to the Newton tolerance during the whole hold
    assert max(abs(r["voltage_V"] - 4.1) for r in hold) < 1e-8
    # the current decays monotonically and ends within current_tol (1 %) below the limit
    amps = [r["specific_current_A_kg"] for r in hold]
    assert all(a > 0 for a in amps)
    assert all(b <= a for a, b in zip(amps[:-1], amps[1:], strict=True))
    assert 50.0 * (1 - 0.01) <= amps[-1] <= 50.0
    assert all(a > 50.0 for a in amps[:-1])
    # the charge passed in the hold is the Li that left (backward Euler, to round-off)
    li = [r["li_total_mol"] for r in res.rows]
    q_hold = sum(r["current_A"] * r["dt_s"] for r in hold)
    li_start = res.rows[len(res.rows) - len(hold) - 1]["li_total_mol"]
    assert li_start - li[-1] == pytest.approx(q_hold / FARADAY, rel=1e-7)


def test_cycles_throughput_and_cycle_table(tmp_path):
    """Two cycles CC-CV charge / CC discharge: charge throughput equals the integral of
    the current, and cycles.csv agrees with timeseries.csv."""
    import csv

    from solver.output import create_output_dir, read_timeseries

    case = validate(case_dict(
        geometry=SMALL, conditions={"initial_x": 0.9},
        protocol=[{"type": "cycle", "repeat": 2, "steps": [
            {"type": "charge", "current": "1000 mA/g", "until_voltage": "4.1 V"},
            {"type": "hold", "voltage": "4.1 V", "until_current": "200 mA/g"},
            {"type": "discharge", "current": "1000 mA/g", "until_voltage": "3.7 V"}]}],
        numerics={"dt_max": "30 s"}, output={"checkpoint_every": 0}))
    out = tmp_path / "run"
    create_output_dir(out, False)
    res = run_simulation(case, out, MPI.COMM_WORLD)
    assert [e["reason"] for e in res.step_ends] == ["voltage", "current", "voltage"] * 2
    ts = read_timeseries(out / "timeseries.csv")
    q = ts["current_A"] * ts["dt_s"]  # C per accepted step
    mass_g = (ts["current_A"][1] / ts["specific_current_A_kg"][1]) * 1e3
    cap = q.cumsum() / 3.6 / mass_g  # mAh/g
    assert ts["capacity_mAh_g"] == pytest.approx(cap, rel=1e-9, abs=1e-9)
    # Li conservation over the whole history
    li_lost = ts["li_total_mol"][0] - ts["li_total_mol"][-1]
    assert li_lost == pytest.approx(q.sum() / FARADAY, rel=1e-7)
    with open(out / "cycles.csv", newline="") as fh:
        cycles = list(csv.DictReader(fh))
    assert [int(c["cycle"]) for c in cycles] == [1, 2]
    for c in cycles:
        sel = ts["cycle"] == int(c["cycle"])
        qc = q[sel & (q > 0)].sum() / 3.6 / mass_g
        qd = -q[sel & (q < 0)].sum() / 3.6 / mass_g
        assert float(c["charge_capacity_mAh_g"]) == pytest.approx(qc, rel=1e-9)
        assert float(c["discharge_capacity_mAh_g"]) == pytest.approx(qd, rel=1e-9)
        assert float(c["coulombic_efficiency"]) == pytest.approx(qd / qc, rel=1e-9)
    from postprocess.figures import run_figures

    figs = [f.name for f in run_figures(out)]
    assert figs == ["voltage.png", "cycles.png"]
    first_qd = float(cycles[0]["discharge_capacity_mAh_g"])
    assert float(cycles[1]["retention"]) == pytest.approx(
        float(cycles[1]["discharge_capacity_mAh_g"]) / first_qd, rel=1e-12)


def test_temperature_ramp_and_anneal_follow_their_programs():
    """The temperature of every row follows the piecewise-linear program, breakpoints are
    hit exactly, the step lasts ramps + hold, and D(T) speeds up relaxation."""
    case = validate(case_dict(
        geometry=SMALL, conditions={"initial_x": 0.9},
        protocol=[{"type": "charge", "current": "2000 mA/g", "until_time": "30 s"},
                  {"type": "temperature", "temperature": "45 degC", "ramp_rate": "10 K/min"},
                  {"type": "anneal", "temperature": "150 degC", "until_time": "10 min",
                   "ramp_rate": "20 K/min", "cool_to": "25 degC"},
                  {"type": "rest", "until_time": "1 min"}],
        numerics={"dt_max": "60 s"}))
    res = run_simulation(case, None, MPI.COMM_WORLD)
    assert [e["reason"] for e in res.step_ends] == ["time"] * 4
    rows = res.rows
    ramp = [r for r in rows if r["protocol_step"] == 1]
    t0 = res.step_ends[0]["time_s"]
    for r in ramp:  # 298.15 K + 10 K/min
        assert r["temperature_K"] == pytest.approx(298.15 + (r["time_s"] - t0) / 6.0)
    assert res.step_ends[1]["time_s"] - t0 == pytest.approx(120.0, rel=1e-12)
    # anneal: 318.15 -> 423.15 K in 315 s, 600 s hold, down to 298.15 K in 375 s
    t1 = res.step_ends[1]["time_s"]
    assert res.step_ends[2]["time_s"] - t1 == pytest.approx(315 + 600 + 375, rel=1e-12)
    ann = [r for r in rows if r["protocol_step"] == 2]
    times = [r["time_s"] - t1 for r in ann]
    assert any(abs(t - 315.0) < 1e-9 for t in times)  # breakpoints are steps
    assert any(abs(t - 915.0) < 1e-9 for t in times)
    assert max(r["temperature_K"] for r in ann) == pytest.approx(423.15)
    # at most 5 K per step along the ramps
    temps = [ramp[-1]["temperature_K"]] + [r["temperature_K"] for r in ann]
    assert max(abs(b - a) for a, b in zip(temps[:-1], temps[1:], strict=True)) <= 5.0 + 1e-9
    assert [r for r in rows if r["protocol_step"] == 3][0]["temperature_K"] == \
        pytest.approx(298.15)
    # the charge left a gradient; at open circuit it relaxes (no Li crosses the surface)
    li = [r["li_total_mol"] for r in rows if r["protocol_step"] >= 1]
    assert max(li) - min(li) <= 1e-9 * li[0]
    assert rows[-1]["x_std"] < ramp[0]["x_std"]


def test_a_step_keeps_its_own_time_step_limits():
    """dt_max and max_dx of a protocol step (or its cycle block) bound the steps it takes,
    and the next step falls back to [numerics]: a long cycling block with coarse steps
    before a finely resolved charge."""
    case = validate(case_dict(
        geometry=SMALL, conditions={"initial_x": 0.9},
        protocol=[
            {"type": "cycle", "repeat": 1, "dt_max": "60 s", "max_dx": 0.2, "steps": [
                {"type": "charge", "current": "200 mA/g", "until_voltage": "4.2 V"},
                {"type": "discharge", "current": "200 mA/g", "until_voltage": "3.6 V",
                 "dt_max": "20 s"}]},
            {"type": "charge", "current": "200 mA/g", "until_time": "10 min"},
        ],
        numerics={"dt_max": "5 s", "max_dx": 0.02},
    ))
    assert [(s.dt_max, s.max_dx) for s in case.protocol] == [(60.0, 0.2), (20.0, 0.2),
                                                              (None, None)]
    res = run_simulation(case, None, MPI.COMM_WORLD)
    dts = {k: [r["dt_s"] for r in res.rows if r["protocol_step"] == k] for k in range(3)}
    assert max(dts[0]) > 20.0 and max(dts[0]) <= 60.0 * (1 + 1e-12)
    assert max(dts[1]) > 5.0 and max(dts[1]) <= 20.0 * (1 + 1e-12)
    assert max(dts[2]) <= 5.0 * (1 + 1e-12)
