"""Protocol parsing: every step kind, cycle blocks, temperature programs, bad protocols."""

import pytest
from helpers import case_dict

from solver.config import CaseError, apply_overrides, validate


def _case(protocol, **sections):
    return validate(case_dict(protocol=protocol, **sections), "case.toml")


def _refused(protocol, key, text="", **sections):
    with pytest.raises(CaseError) as info:
        _case(protocol, **sections)
    assert info.value.key == key, str(info.value)
    assert text in str(info.value)
    return str(info.value)


def test_every_step_kind_in_si():
    case = _case([
        {"type": "charge", "current": "100 mA/g", "until_voltage": "4.3 V"},
        {"type": "hold", "voltage": "4.3 V", "until_current": "10 mA/g", "until_time": "1 h"},
        {"type": "rest", "until_time": "30 min"},
        {"type": "temperature", "temperature": "75 degC", "ramp_rate": "5 K/min"},
        {"type": "anneal", "temperature": "150 degC", "until_time": "2 h",
         "ramp_rate": "5 K/min", "cool_to": "25 degC"},
        {"type": "discharge", "current": "20 mA/g", "until_voltage": "2.8 V"},
    ])
    cc, cv, rest, ramp, anneal, dis = case.protocol
    assert (cc.kind, cc.current, cc.until_voltage, cc.sign) == ("charge", 100.0, 4.3, 1)
    assert (cv.voltage, cv.until_current, cv.until_time, cv.sign) == (4.3, 10.0, 3600.0, 0)
    assert rest.until_time == 1800.0 and rest.temperature == pytest.approx(298.15)
    # 298.15 -> 348.15 K at 5 K/min: 10 min
    assert ramp.temperature_program == ((0.0, pytest.approx(298.15)),
                                        (pytest.approx(600.0), pytest.approx(348.15)))
    assert ramp.until_time == pytest.approx(600.0)
    assert ramp.temperature_at(300.0) == pytest.approx(323.15)
    # anneal: 348.15 -> 423.15 K (15 min), 2 h hold, down to 298.15 K (25 min)
    t = [p[0] for p in anneal.temperature_program]
    assert t == pytest.approx([0.0, 900.0, 900.0 + 7200.0, 900.0 + 7200.0 + 1500.0])
    assert anneal.until_time == pytest.approx(9600.0)
    assert anneal.temperature_at(900.0 + 3600.0) == pytest.approx(423.15)
    assert anneal.end_temperature == pytest.approx(298.15)
    # the step after the anneal starts where the anneal ended
    assert dis.temperature == pytest.approx(298.15) and dis.sign == -1


def test_temperature_carries_over_and_anneal_without_ramps():
    case = _case([
        {"type": "temperature", "temperature": "40 degC", "until_time": "10 min"},
        {"type": "rest", "until_time": "1 min"},
        {"type": "anneal", "temperature": "150 degC", "until_time": "2 h"},
        {"type": "rest", "until_time": "1 min"},
    ])
    ramp, rest, anneal, after = case.protocol
    assert rest.temperature == pytest.approx(313.15)  # the ramp's end
    assert anneal.temperature_program == ((0.0, pytest.approx(423.15)),
                                          (7200.0, pytest.approx(423.15)))
    assert anneal.until_time == 7200.0
    assert after.temperature == pytest.approx(313.15)  # cool_to defaults to before


def test_cycle_blocks_expand_with_cycle_numbers():
    case = _case([
        {"type": "charge", "current": "20 mA/g", "until_voltage": "4.3 V"},
        {"type": "discharge", "current": "20 mA/g", "until_voltage": "2.8 V"},
        {"type": "cycle", "repeat": 3, "steps": [
            {"type": "charge", "current": "180 mA/g", "until_voltage": "4.9 V"},
            {"type": "discharge", "current": "180 mA/g", "until_voltage": "2.8 V"}]},
        {"type": "cycle", "repeat": 2, "steps": [
            {"type": "charge", "current": "18 mA/g", "until_voltage": "4.3 V"},
            {"type": "rest", "until_time": "10 min"},
            {"type": "discharge", "current": "18 mA/g", "until_voltage": "2.8 V"}]},
    ])
    steps = case.protocol
    assert len(steps) == 2 + 3 * 2 + 2 * 3
    assert [s.cycle for s in steps] == [0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 4, 5, 5, 5]
    assert [s.entry for s in steps[:8]] == [0, 1, 2, 2, 2, 2, 2, 2]
    assert steps[2].key == "protocol[2].steps[0]" and steps[2].until_voltage == 4.9
    # the resolved case keeps the block (a valid case file itself)
    block = case.resolved["protocol"][2]
    assert block["type"] == "cycle" and block["repeat"] == 3 and len(block["steps"]) == 2
    assert validate(case_dict(protocol=case.resolved["protocol"])).protocol == steps


def test_override_reaches_steps_inside_a_cycle_block():
    raw = case_dict(protocol=[{"type": "cycle", "repeat": 2, "steps": [
        {"type": "charge", "current": "100 mA/g", "until_voltage": "4.3 V"},
        {"type": "discharge", "current": "100 mA/g", "until_voltage": "3.0 V"}]}])
    raw = apply_overrides(raw, ["protocol.0.steps.0.current=50 mA/g",
                                "protocol.0.repeat=4"], "x")
    steps = validate(raw).protocol
    assert len(steps) == 8 and steps[6].current == 50.0 and steps[7].current == 100.0


@pytest.mark.parametrize("protocol, key, text", [
    # a charge cut-off below the starting open-circuit potential (NMC811 at x = 0.9)
    ([{"type": "charge", "current": "100 mA/g", "until_voltage": "3.0 V"}],
     "protocol[0].until_voltage", "starting open-circuit potential"),
    # ... and below the voltage the previous step ends at
    ([{"type": "charge", "current": "100 mA/g", "until_voltage": "4.4 V"},
      {"type": "charge", "current": "50 mA/g", "until_voltage": "4.3 V"}],
     "protocol[1].until_voltage", "the previous step ends at 4.4 V"),
    ([{"type": "charge", "current": "100 mA/g", "until_voltage": "4.4 V"},
      {"type": "discharge", "current": "50 mA/g", "until_voltage": "4.5 V"}],
     "protocol[1].until_voltage", "not below"),
    # the second cycle of a block starts where the first ends
    ([{"type": "cycle", "repeat": 2, "steps": [
        {"type": "charge", "current": "100 mA/g", "until_voltage": "4.3 V"},
        {"type": "hold", "voltage": "4.4 V", "until_current": "5 mA/g"},
        {"type": "charge", "current": "100 mA/g", "until_voltage": "4.35 V"}]}],
     "protocol[0].steps[2].until_voltage", "not above"),
    # a CV hold without a current limit
    ([{"type": "hold", "voltage": "4.3 V", "until_time": "1 h"}],
     "protocol[0].until_current", "needs until_current"),
    ([{"type": "hold", "until_current": "5 mA/g"}], "protocol[0].voltage", "needs voltage"),
    # negative or zero durations
    ([{"type": "rest", "until_time": "-1 h"}], "protocol[0].until_time", "positive"),
    ([{"type": "anneal", "temperature": "150 degC", "until_time": "0 s"}],
     "protocol[0].until_time", "positive"),
    ([{"type": "temperature", "temperature": "100 degC", "ramp_rate": "-5 K/min"}],
     "protocol[0].ramp_rate", "positive"),
    # keys of another kind, unknown kinds, malformed blocks
    ([{"type": "rest", "until_time": "1 h", "current": "1 mA/g"}], "protocol[0].current",
     "not a key of a rest step"),
    ([{"type": "anneal", "temperature": "150 degC", "until_time": "1 h",
       "voltage": "4 V"}], "protocol[0].voltage", "not a key of a anneal step"),
    ([{"type": "fly", "until_time": "1 h"}], "protocol[0].type", "expected one of"),
    ([{"type": "cycle", "repeat": 0, "steps": [{"type": "rest", "until_time": "1 s"}]}],
     "protocol[0].repeat", ">= 1"),
    ([{"type": "cycle", "repeat": 2}], "protocol[0].steps", "[[protocol.steps]]"),
    ([{"type": "cycle", "repeat": 2, "current": "1 mA/g",
       "steps": [{"type": "rest", "until_time": "1 s"}]}], "protocol[0].current",
     "only repeat"),
    ([{"type": "cycle", "repeat": 2, "steps": [{"type": "cycle", "repeat": 2,
                                                "steps": []}]}],
     "protocol[0].steps[0].type", "do not nest"),
    ([{"type": "temperature", "temperature": "40 degC"}], "protocol[0]",
     "exactly one of ramp_rate"),
    ([{"type": "temperature", "temperature": "25 degC", "ramp_rate": "1 K/min"}],
     "protocol[0].temperature", "already"),
    ([{"type": "charge", "current": "1 mA/g"}], "protocol[0]", "end condition"),
    # an anneal above the material's data range (and a ramp or block step likewise)
    ([{"type": "anneal", "temperature": "300 degC", "until_time": "2 h"}],
     "protocol[0].temperature", "outside the data range"),
    ([{"type": "anneal", "temperature": "150 degC", "until_time": "2 h",
       "cool_to": "-100 degC"}], "protocol[0].cool_to", "outside the data range"),
    ([{"type": "cycle", "repeat": 2, "steps": [
        {"type": "temperature", "temperature": "600 K", "ramp_rate": "5 K/min"}]}],
     "protocol[0].steps[0].temperature", "outside the data range"),
    ([], "protocol", "at least one"),
    # a step's own time-step settings
    ([{"type": "rest", "until_time": "1 h", "max_dx": 1.5}], "protocol[0].max_dx", ""),
    ([{"type": "cycle", "repeat": 2, "dt_max": "-1 s",
       "steps": [{"type": "rest", "until_time": "1 s"}]}], "protocol[0].dt_max", "positive"),
    ([{"type": "rest", "until_time": "1 h", "dt_max": "1e-9 s"}], "protocol[0].dt_max",
     "dt_min"),
])
def test_bad_protocols_are_refused_with_the_key(protocol, key, text):
    _refused(protocol, key, text)


def test_cutoff_equal_to_the_previous_end_is_allowed():
    """A study over anneal voltages includes the one the protocol already is at."""
    steps = _case([{"type": "charge", "current": "100 mA/g", "until_voltage": "4.3 V"},
                   {"type": "discharge", "current": "100 mA/g", "until_voltage": "3.0 V"},
                   {"type": "discharge", "current": "10 mA/g", "until_voltage": "3.0 V"},
                   {"type": "charge", "current": "10 mA/g", "until_voltage": "3.0 V"}]
                  ).protocol
    assert len(steps) == 4


def test_hold_needs_butler_volmer():
    _refused([{"type": "hold", "voltage": "4.2 V", "until_current": "5 mA/g"}],
             "protocol[0].type", "butler-volmer", kinetics={"distribution": "uniform"})


def test_time_step_limits_of_a_block_reach_its_steps():
    case = _case([{"type": "cycle", "repeat": 2, "dt_max": "30 min", "max_dx": 0.15,
                   "steps": [{"type": "charge", "current": "100 mA/g",
                              "until_voltage": "4.3 V", "max_dx": 0.05},
                             {"type": "discharge", "current": "100 mA/g",
                              "until_voltage": "3.0 V"}]},
                  {"type": "rest", "until_time": "1 h"}])
    assert [(s.dt_max, s.max_dx) for s in case.protocol] == [
        (1800.0, 0.05), (1800.0, 0.15), (1800.0, 0.05), (1800.0, 0.15), (None, None)]
    block = case.resolved["protocol"][0]
    assert block["dt_max"] == "30 min" and block["max_dx"] == 0.15
    assert validate(case_dict(protocol=case.resolved["protocol"])).protocol == case.protocol
