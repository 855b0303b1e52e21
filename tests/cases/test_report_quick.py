"""chemomech report end to end on two tiny single-crystal cases with --quick (~1-2 min):
the runs, the analyses, the marks, the self-contained HTML, reuse, and the refusal to
overwrite a run made from another case."""

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
TINY = ['geometry.radius="1 um"', 'geometry.mesh_size="0.5 um"',
        'geometry.surface_mesh_size="0.35 um"', 'geometry.refinement_depth="0.3 um"',
        'protocol.1.until_time="10 min"', 'output.field_every=4', 'output.vtx=false',
        'numerics.max_dx=0.05']


def _set(folder: Path, extra: list[str]) -> Path:
    lines = ['name = "tiny"', 'description = "two tiny SC cases"']
    for mat in ("nc91", "nm91"):
        lines += ["[[case]]", f'id = "sc_{mat}_200mAg"',
                  f'file = "{ROOT}/cases/validation/sc_{mat}_200mAg.toml"',
                  'group = "sc_first_charge"', f'label = "SC {mat.upper()}, 200 mA/g"',
                  f'material = "{mat.upper()}"', 'rate = "200 mA/g"', "estimate_min = 1",
                  "quick = [" + ", ".join(repr(s) for s in TINY + extra) + "]"]
    lines += ["[[case]]", 'id = "synthesis_conventional"', 'file = "synthesis_missing.toml"',
              'group = "synthesis"']
    (folder / "validation.toml").write_text("\n".join(lines) + "\n")
    (folder / "observations.toml").write_text("""
[[observation]]
id = "cap"
paper = "W25"
quantity = "capacity at 200 mA/g"
compare = "ordering"
metric = "capacity_mAh_g(sc_nc91_200mAg)"
versus = "capacity_mAh_g(sc_nm91_200mAg)"
[[observation]]
id = "sxdm"
paper = "W25"
quantity = "std dd rested"
compare = "ordering"
metric = "sxdm_std(sc_nm91_200mAg, dd, rested)"
versus = "sxdm_std(sc_nc91_200mAg, dd, rested)"
[[observation]]
id = "synthesis"
paper = "P22"
quantity = "rock salt"
compare = "range"
metric = "phase_fraction(synthesis_conventional, rock_salt, end)"
range = [0.0, 1.0]
[[observation]]
id = "fit"
paper = "W25"
quantity = "capacity value"
compare = "value"
metric = "capacity_mAh_g(sc_nc91_200mAg)"
measured = 5.0
tolerance = 1.0
fitted = "nothing really: a test of the mark"
""")
    return folder


def _report(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "solver.cli", "report", *args],
                          capture_output=True, text=True, cwd=ROOT, timeout=600)


def test_quick_report_end_to_end(tmp_path):
    folder = _set(tmp_path, [])
    out = tmp_path / "report"
    res = _report(str(folder), "--output", str(out), "--quick", "--jobs", "2")
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]
    md = (out / "validation.md").read_text()
    html = (out / "validation.html").read_text()
    assert "QUICK REPORT" in md and "data:image/png;base64," in html
    for fig in ("voltage.png", "sections_x.png", "xrd_003.png", "sxdm_rested.png",
                "sxdm_charged.png"):
        assert (out / "figures" / fig).exists(), fig
        assert f"figures/{fig}" in md
    rep = json.loads((out / "report.json").read_text())
    marks = {r["id"]: r["mark"] for r in rep["results"]}
    assert marks["cap"] in ("agree", "disagree")  # computed, whichever way it comes out
    assert marks["sxdm"] in ("agree", "disagree")
    assert marks["synthesis"] == "not computed"
    assert marks["fit"] == "fitted"
    assert "case file missing" in md
    assert rep["runs"]["sc_nc91_200mAg"]["action"] == "run"
    assert "Every parameter used, with its source" in md and "| NC91 |" in md

    # again: every run is reused, nothing runs
    res = _report(str(folder), "--output", str(out), "--quick", "--jobs", "2")
    assert res.returncode == 0, res.stderr[-3000:]
    rep = json.loads((out / "report.json").read_text())
    assert {r["action"] for k, r in rep["runs"].items() if k.startswith("sc_")} == {"skip"}

    # the case changed under an existing run: refused (exit 2), the run left alone
    _set(tmp_path, ['numerics.dt_max="30 s"'])
    res = _report(str(folder), "--output", str(out), "--quick")
    assert res.returncode == 2
    assert "was made from a different case" in res.stderr and "--force" in res.stderr
    assert json.loads((out / "runs-quick" / "sc_nc91_200mAg" / "status.json").read_text()
                      )["status"] == "completed"
