"""chemomech report: the observation file, the metric registry, the parameter table."""

import csv
import json
import subprocess
import sys
from pathlib import Path

import pytest

from postprocess.report import metrics as mx
from postprocess.report import observations as ob
from postprocess.report.params import all_rows
from postprocess.report.vset import case_raw, load_set
from solver.materials import MATERIAL_NAMES
from solver.output import TIMESERIES_COLUMNS

ROOT = Path(__file__).resolve().parents[2]
SET = ROOT / "cases" / "validation"
IDS = ["a", "b", "c"]


def _cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "solver.cli", *args], capture_output=True,
                          text=True, cwd=ROOT)


def test_every_parameter_row_has_a_source():
    rows = all_rows(list(MATERIAL_NAMES))
    assert len(rows) > 50
    for r in rows:
        assert r["source"].strip(), r
        assert r["status"].strip(), r
        assert r["parameter"].strip() and r["value"].strip(), r


def test_the_validation_set_and_its_observations_are_valid():
    vs = load_set(SET)
    assert {"sc_nc91_200mAg", "sc_nm91_200mAg", "synthesis_conventional",
            "synthesis_two_step"} <= set(vs.ids())
    for e in vs.entries:
        if e.missing:
            assert e.group == "synthesis"  # the only cases not on this branch
            continue
        for quick in (False, True):
            raw = case_raw(vs, e, quick)
            assert raw["run"]["name"] == e.id
    obs = ob.load(SET / "observations.toml", vs.ids())
    assert len({o.id for o in obs}) == len(obs) >= 10
    # the rows a parameter was fitted to are marked so in the file
    fitted = {o.id for o in obs if o.fitted}
    assert {"TH-strain-narrowing-2p8V", "W25-c-contraction-PC-NC91"} <= fitted


def _write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


GOOD = """
[[observation]]
id = "x1"
paper = "W25"
quantity = "q"
compare = "ordering"
metric = "capacity_mAh_g(a)"
versus = "capacity_mAh_g(b)"
"""


@pytest.mark.parametrize("text, key, message", [
    (GOOD.replace("capacity_mAh_g(a)", "capacity_mAhg(a)"), "observation[0] (id 'x1'): metric",
     "unknown metric 'capacity_mAhg'"),
    (GOOD.replace("capacity_mAh_g(b)", "capacity_mAh_g(zz)"),
     "observation[0] (id 'x1'): versus", "unknown case 'zz'"),
    (GOOD.replace('compare = "ordering"', 'compare = "order"'),
     "observation[0] (id 'x1'): compare", "expected one of ordering, value, range"),
    (GOOD.replace('paper = "W25"\n', ""), "observation[0] (id 'x1'): paper", "missing"),
    (GOOD.replace('versus = "capacity_mAh_g(b)"', ""), "observation[0] (id 'x1'): versus",
     "needs the metric"),
    (GOOD + GOOD.replace('"x1"', '"x2"').replace('compare = "ordering"', 'compare = "value"')
     .replace('versus = "capacity_mAh_g(b)"', 'measured = "big"'),
     "observation[1] (id 'x2'): measured", "expected a finite number"),
    (GOOD.replace('metric = "capacity_mAh_g(a)"', 'metric = "sxdm_std(a, dd)"'),
     "observation[0] (id 'x1'): metric", "takes 3 argument(s)"),
    (GOOD.replace('metric = "capacity_mAh_g(a)"', 'metric = "sxdm_std(a, dd, later)"'),
     "observation[0] (id 'x1'): metric", "expected one of charged, rested"),
    (GOOD + 'colour = "red"\n', "observation[0] (id 'x1'): colour", "unknown key"),
    (GOOD + GOOD, "observation[1] (id 'x1'): id", "duplicate id"),
    (GOOD.replace('id = "x1"', "id = 3"), "observation[0]: id", "expected a non-empty string"),
    (GOOD.replace("[[observation]]", "[[observations]]"), "observations", "unknown key"),
])
def test_malformed_rows_are_refused_with_the_row_named(tmp_path, text, key, message):
    path = _write(tmp_path / "obs.toml", text)
    with pytest.raises(ob.ObservationError) as exc:
        ob.load(path, IDS)
    assert f"{path}: {key}: " in str(exc.value), str(exc.value)
    assert message in str(exc.value)


def test_the_cli_refuses_a_bad_observation_file_before_any_run(tmp_path):
    bad = _write(tmp_path / "obs.toml", GOOD.replace("capacity_mAh_g(a)",
                                                     "no_such_metric(sc_nc91_200mAg)")
                 .replace("capacity_mAh_g(b)", "capacity_mAh_g(sc_nm91_200mAg)"))
    out = tmp_path / "report"
    res = _cli("report", str(SET), "--output", str(out), "--observations", str(bad))
    assert res.returncode == 2, res.stderr
    assert (f"error: {bad}: observation[0] (id 'x1'): metric: unknown metric "
            "'no_such_metric'") in res.stderr
    assert not out.exists()  # refused before anything was written
    res = _cli("report", str(SET), "--output", str(out), "--observations",
               str(tmp_path / "none.toml"))
    assert res.returncode == 2 and "no such observation file" in res.stderr


def _fake_run(root: Path, cid: str, capacity: float, strain: float, status="completed"):
    """A run folder with a two-step timeseries (charge, rest) and status.json."""
    d = root / cid
    d.mkdir(parents=True)
    rows = []
    for i, (step, kind, cap, s) in enumerate([(0, "charge", 0.0, 0.0),
                                              (0, "charge", capacity, strain),
                                              (1, "rest", 0.0, strain / 2)]):
        row = dict.fromkeys(TIMESERIES_COLUMNS, "nan")
        row.update(step=i, time_s=100.0 * i, protocol_step=step, step_type=kind,
                   step_capacity_mAh_g=cap, capacity_mAh_g=capacity if i else 0.0,
                   strain_003_std=s, x_std=0.01 * i)
        rows.append(row)
    with open(d / "timeseries.csv", "w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=TIMESERIES_COLUMNS)
        w.writeheader()
        w.writerows(rows)
    (d / "status.json").write_text(json.dumps({"status": status}))
    return d


def test_known_values_give_the_expected_marks(tmp_path):
    runs = tmp_path / "runs"
    dirs = {"a": _fake_run(runs, "a", 230.0, 2e-3), "b": _fake_run(runs, "b", 220.0, 1e-3),
            "c": _fake_run(runs, "c", 200.0, 1e-3, status="failed")}
    adir = tmp_path / "analysis"
    (adir / "a").mkdir(parents=True)
    (adir / "a" / "sxdm_rested.json").write_text(json.dumps(
        {"maps": {"dd_mean": {"std": 0.004}}}))
    (adir / "b").mkdir()
    (adir / "b" / "sxdm_rested.json").write_text(json.dumps(
        {"maps": {"dd_mean": {"std": 0.001}}}))
    ctx = mx.Context(dirs, adir, {"d"})
    text = """
[[observation]]
id = "order-ok"
paper = "P"
quantity = "q"
compare = "ordering"
metric = "capacity_mAh_g(a)"
versus = "capacity_mAh_g(b)"
[[observation]]
id = "order-reversed"
paper = "P"
quantity = "q"
compare = "ordering"
metric = "sxdm_std(b, dd, rested)"
relation = ">"
versus = "sxdm_std(a, dd, rested)"
[[observation]]
id = "order-within-tolerance"
paper = "P"
quantity = "q"
compare = "ordering"
metric = "capacity_mAh_g(a)"
versus = "capacity_mAh_g(b)"
tolerance = 20.0
[[observation]]
id = "value-ok"
paper = "P"
quantity = "q"
compare = "value"
metric = "capacity_mAh_g(b)"
measured = 225.0
tolerance = 5.0
[[observation]]
id = "value-off"
paper = "P"
quantity = "q"
compare = "value"
metric = "strain_std(a, charged)"
measured = 1e-3
tolerance = 5e-4
[[observation]]
id = "range-rested"
paper = "P"
quantity = "q"
compare = "range"
metric = "strain_std(a, rested)"
range = [5e-4, 1.5e-3]
[[observation]]
id = "failed-run"
paper = "P"
quantity = "q"
compare = "value"
metric = "capacity_mAh_g(c)"
measured = 200.0
[[observation]]
id = "missing-case"
paper = "P"
quantity = "q"
compare = "ordering"
metric = "capacity_mAh_g(d)"
versus = "capacity_mAh_g(a)"
[[observation]]
id = "no-map"
paper = "P"
quantity = "q"
compare = "value"
metric = "sxdm_std(a, dd, charged)"
measured = 0.004
[[observation]]
id = "fitted-one"
paper = "P"
quantity = "q"
compare = "value"
metric = "capacity_mAh_g(a)"
measured = 230.0
tolerance = 1.0
fitted = "k fitted to it"
"""
    obs = ob.load(_write(tmp_path / "o.toml", text), ["a", "b", "c", "d"])
    marks = {r.obs.id: r.mark for r in ob.judge_all(ctx, obs)}
    assert marks == {"order-ok": "agree", "order-reversed": "disagree",
                     "order-within-tolerance": "disagree", "value-ok": "agree",
                     "value-off": "disagree", "range-rested": "agree",
                     "failed-run": "not computed", "missing-case": "not computed",
                     "no-map": "not computed", "fitted-one": "fitted"}
    detail = {r.obs.id: r.detail for r in ob.judge_all(ctx, obs)}
    assert "case file missing" in detail["missing-case"]
    assert "failed" in detail["failed-run"]
    assert "reproduced" in detail["fitted-one"]


def test_bad_validation_set_is_refused(tmp_path):
    (tmp_path / "validation.toml").write_text(
        '[[case]]\nid = "a"\nfile = "x.toml"\ngroup = "sc_first_charge"\ncolour = 1\n')
    res = _cli("report", str(tmp_path), "--output", str(tmp_path / "r"))
    assert res.returncode == 2
    assert "validation.toml: case[0] (id 'a'): colour: unknown key" in res.stderr
    (tmp_path / "validation.toml").write_text(
        '[[case]]\nid = "a"\nfile = "x.toml"\ngroup = "sc"\n')
    res = _cli("report", str(tmp_path), "--output", str(tmp_path / "r"))
    assert res.returncode == 2 and "case[0] (id 'a'): group: expected one of" in res.stderr


def _tiny_set(folder: Path) -> Path:
    lines = []
    for cid in ("done", "dead", "half", "half_ckpt", "fresh"):
        lines += ["[[case]]", f'id = "{cid}"',
                  f'file = "{ROOT}/cases/validation/sc_nc91_200mAg.toml"',
                  'group = "sc_first_charge"', "ranks = 2"]
    lines += ["[[case]]", 'id = "later"', 'file = "not_merged.toml"', 'group = "synthesis"']
    (folder / "validation.toml").write_text("\n".join(lines) + "\n")
    return folder


def test_runner_reuses_restarts_and_refuses(tmp_path, monkeypatch):
    import tomli_w

    from postprocess.report import runner

    vs = load_set(_tiny_set(tmp_path))
    out = tmp_path / "report"
    cases, runs, _ = runner.folders(out, False)
    cases.mkdir(parents=True)
    for cid, status in (("done", "completed"), ("dead", "failed"), ("half", "running"),
                        ("half_ckpt", "running")):
        (runs / cid).mkdir(parents=True)
        (runs / cid / "status.json").write_text(json.dumps({"status": status}))
        if status != "completed":
            (runs / cid / "INCOMPLETE").write_text("")
        (cases / f"{cid}.toml").write_text("# header\n" + tomli_w.dumps(
            case_raw(vs, vs.get(cid), False)))
    monkeypatch.setattr(runner, "has_checkpoint", lambda d: d.name == "half_ckpt")
    planned = {p.entry.id: p for p in runner.plan(vs, out, quick=False, cycles=None,
                                                  force=False, rerun_failed=False)}
    assert {k: (p.state, p.action) for k, p in planned.items()} == {
        "done": ("completed", "skip"), "dead": ("failed", "skip"),
        "half": ("unfinished", "rerun"), "half_ckpt": ("unfinished", "restart"),
        "fresh": ("new", "run"), "later": ("missing", "none")}
    cmd = runner.command(planned["half_ckpt"], None)
    assert cmd[1:3] == ["-n", "2"] and cmd[-1] == "--restart"
    assert runner.command(planned["half"], 1)[-1] == "--force"
    again = runner.plan(vs, out, quick=False, cycles=None, force=False, rerun_failed=True)
    assert {p.entry.id: p.action for p in again}["dead"] == "rerun"
    # quick runs live in their own folders: nothing of the full runs is seen
    quick = runner.plan(vs, out, quick=True, cycles=None, force=False, rerun_failed=False)
    assert {p.action for p in quick if p.entry.id != "later"} == {"run"}
    # the case changed under a finished run: refused, or re-run with force
    (cases / "done.toml").write_text("# header\n[run]\nname = 'other'\n")
    with pytest.raises(Exception, match="made from a different case"):
        runner.plan(vs, out, quick=False, cycles=None, force=False, rerun_failed=False)
    forced = runner.plan(vs, out, quick=False, cycles=None, force=True, rerun_failed=False)
    assert {p.entry.id: p.action for p in forced}["done"] == "rerun"


def test_execute_shares_the_cores_between_runs(tmp_path, monkeypatch):
    from postprocess.report import runner

    vs = load_set(_tiny_set(tmp_path))
    planned = runner.plan(vs, tmp_path / "r", quick=True, cycles=None, force=False,
                          rerun_failed=False)
    running, peak = [0], [0]

    def fake(p, ranks):
        return [sys.executable, "-c", "import time; time.sleep(0.3)"]

    orig_run = runner.subprocess.run

    def counted(cmd, **kw):
        running[0] += 1
        peak[0] = max(peak[0], running[0])
        try:
            return orig_run(cmd, **kw)
        finally:
            running[0] -= 1

    monkeypatch.setattr(runner, "command", fake)
    monkeypatch.setattr(runner.subprocess, "run", counted)
    lines = []
    runner.execute(planned, tmp_path / "r", True, 3, None, echo=lines.append)
    assert len(lines) == 5 and all("exit 0" in x and "2 rank(s)" in x for x in lines)
    assert peak[0] == 1  # two-rank runs on three cores: one at a time
