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
