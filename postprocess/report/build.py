"""``chemomech report SET_DIR --output DIR``: run what is missing, analyse, judge, write.

Order: read the validation set and the observation file and plan every run (any bad
input exits with status 2 before anything runs or is written); run the missing runs
(runner.py); analyse the completed runs (analysis.py, ``--jobs`` processes); evaluate the
observations (observations.py, metrics.py); draw the figures and write
``validation.md``, ``validation.html`` (self-contained) and ``report.json`` (marks,
values, timings).  The report files are rewritten by every invocation (they derive from
the runs); the runs themselves are never overwritten without ``--force``.
"""

from __future__ import annotations

import json
import logging
import math
import shlex
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

from postprocess.report import figures as fg
from postprocess.report import metrics as mx
from postprocess.report import observations as ob
from postprocess.report import runner
from postprocess.report.html import to_html, to_markdown
from postprocess.report.params import all_rows
from postprocess.report.vset import (
    OBSERVATIONS_FILE,
    SXDM_GROUPS,
    XRD_GROUPS,
    ValidationSet,
    load_set,
)
from solver.config import CaseError

log = logging.getLogger("chemomech")
EXIT_INPUT = 2
MARKER = "report.json"


def _fail(message: str) -> int:
    print(f"error: {message}", file=sys.stderr)
    return EXIT_INPUT


def _check_output(outdir: Path) -> str | None:
    if outdir.exists() and not outdir.is_dir():
        return f"{outdir}: exists and is not a folder"
    if outdir.exists() and any(outdir.iterdir()) and not any(
            (outdir / n).exists() for n in (MARKER, "runs", "runs-quick")):
        return (f"{outdir}: exists, is not empty and is not a report folder (no {MARKER}, "
                "runs/ or runs-quick/); choose another --output")
    return None


def _analyse_one(args: tuple[str, str, str]) -> list[str]:
    from postprocess.report.analysis import analyse

    group, run_dir, adir = args
    return analyse(group, Path(run_dir), Path(adir))


def _retention_text(ret: dict, row: dict, cycles: int) -> str:
    """The retention cell of the PC/SC table: that of the cycled case of the same kind and
    material (``ret``: (sc|pc, material) -> retention), or why there is none."""
    kind = "sc" if row["label"].startswith("SC") else "pc"
    if (kind, row["material"]) not in ret:
        return f"not computed (no {kind.upper()} cycled case of {row['material']})"
    return f"{kind.upper()} after {cycles} cycle(s): {_f(ret[(kind, row['material'])], '.4f')}"


def _f(v: float, fmt: str = ".4g") -> str:
    return "n/a" if v is None or not math.isfinite(v) else format(v, fmt)


def _metric(ctx: mx.Context, call: str) -> float:
    try:
        return mx.evaluate(ctx, mx.parse(call, list(ctx.run_dirs) + sorted(ctx.missing)))
    except mx.NotComputed:
        return float("nan")


def build(args) -> int:
    import os

    from solver.cli import MPI_RANK_VARS, env_rank

    t_start = time.perf_counter()
    if any(v in os.environ for v in MPI_RANK_VARS):
        if env_rank() != 0:
            return EXIT_INPUT
        return _fail("report: run it without mpiexec; it starts every run under mpiexec "
                     "itself (each case's ranks, or --ranks)")
    try:
        vs = load_set(args.set_dir)
        obs_path = Path(args.observations) if args.observations else (
            vs.path.parent / OBSERVATIONS_FILE)
        observations = ob.load(obs_path, vs.ids())
    except CaseError as exc:
        return _fail(str(exc))
    if args.jobs < 1:
        return _fail("--jobs: expected a positive integer")
    if args.ranks is not None and args.ranks < 1:
        return _fail("--ranks: expected a positive integer")
    if args.cycles is not None and args.cycles < 1:
        return _fail("--cycles: expected a positive integer")
    outdir = Path(args.output)
    problem = _check_output(outdir)
    if problem:
        return _fail(problem)
    only = None
    if args.only:
        only = [s.strip() for s in args.only.split(",") if s.strip()]
        unknown = [s for s in only if s not in vs.ids()]
        if unknown:
            return _fail(f"--only: unknown case {unknown[0]!r} (cases: {', '.join(vs.ids())})")
    try:
        planned = runner.plan(vs, outdir, quick=args.quick, cycles=args.cycles,
                              force=args.force, rerun_failed=args.rerun_failed, only=only)
    except CaseError as exc:
        return _fail(str(exc))
    if args.no_run:
        for p in planned:
            if p.action in ("run", "rerun", "restart"):
                p.action = "none"
    outdir.mkdir(parents=True, exist_ok=True)
    n_todo = sum(p.action in ("run", "rerun", "restart") for p in planned)
    mode = "quick" if args.quick else "full"
    print(f"{vs.path}: {len(planned)} cases ({mode}); {n_todo} to run, {args.jobs} at a time, "
          f"into {outdir}")
    runner.write_cases(vs, planned, args.quick, args.cycles)
    t0 = time.perf_counter()
    runner.execute(planned, outdir, args.quick, args.jobs, args.ranks)
    t_runs = time.perf_counter() - t0

    _, runs_dir, _ = runner.folders(outdir, args.quick)
    adir = outdir / ("analysis-quick" if args.quick else "analysis")
    ctx = mx.Context({e.id: runs_dir / e.id for e in vs.entries if not e.missing}, adir,
                     {e.id for e in vs.entries if e.missing})
    completed = {}
    for e in vs.entries:
        try:
            completed[e.id] = ctx.run_dir(e.id)
        except mx.NotComputed:
            completed[e.id] = None
    t0 = time.perf_counter()
    todo = [(e.group, str(completed[e.id]), str(adir / e.id)) for e in vs.entries
            if completed[e.id] is not None and e.group in (*SXDM_GROUPS, *XRD_GROUPS)]
    problems: list[str] = []
    if todo:
        print(f"analysing {len(todo)} runs (synthetic SXDM, XRD)")
        with ProcessPoolExecutor(max_workers=args.jobs) as pool:
            for p in pool.map(_analyse_one, todo):
                problems += p
    t_analysis = time.perf_counter() - t0
    results = ob.judge_all(ctx, observations)
    t0 = time.perf_counter()
    blocks = _blocks(vs, args, planned, completed, ctx, results, problems, outdir)
    t_figures = time.perf_counter() - t0
    wall = time.perf_counter() - t_start
    timing = {"wall_s": wall, "runs_s": t_runs, "analysis_s": t_analysis,
              "figures_s": t_figures}
    blocks += _timing_blocks(vs, planned, timing, args)
    (outdir / "validation.md").write_text(to_markdown(blocks, outdir))
    (outdir / "validation.html").write_text(to_html(blocks, f"chemomech validation ({mode})"))
    counts = {m: sum(r.mark == m for r in results) for m in ob.MARKS}
    (outdir / MARKER).write_text(json.dumps({
        "mode": mode, "set": str(vs.path), "observations": str(obs_path),
        "timing": timing, "counts": counts,
        "runs": {p.entry.id: {"state": p.state, "action": p.action, "wall_s": p.wall_s,
                              "exit_code": p.exit_code} for p in planned},
        "results": [{"id": r.obs.id, "mark": r.mark, "simulated": r.simulated,
                     "detail": r.detail} for r in results]}, indent=2) + "\n")
    print(f"{outdir / 'validation.md'}, {outdir / 'validation.html'}: "
          + ", ".join(f"{n} {m}" for m, n in counts.items()) + f" (wall {wall:.0f} s)")
    for r in results:
        print(f"  {r.mark:<12} {r.obs.id}: {r.simulated}")
    return 0


# --------------------------------------------------------------------------- content
def _info(vs: ValidationSet) -> dict[str, dict]:
    return {e.id: {"label": e.label, "material": e.material, "rate": e.rate,
                   "group": e.group} for e in vs.entries}


def _blocks(vs, args, planned, completed, ctx, results, problems, outdir) -> list:
    figdir = outdir / "figures"
    figdir.mkdir(exist_ok=True)
    info = _info(vs)
    mode = "quick" if args.quick else "full"
    cycles = args.cycles or (vs.quick_cycles if args.quick else vs.cycles)
    b: list = [("h", 1, f"chemomech validation report ({mode})")]
    if args.quick:
        b.append(("p", "**QUICK REPORT**: coarse meshes, shortened protocols and "
                  f"{cycles} cycle(s) instead of the paper's 100 (the `quick` overrides of "
                  f"{vs.path.name}). The numbers test the machinery; they are not the "
                  "validation. Run without --quick for that."))
    b.append(("p", f"Validation set `{vs.path}` ({vs.description}). Generated "
              f"{time.strftime('%Y-%m-%d %H:%M:%S %Z')} by `chemomech report "
              f"{shlex.join(sys.argv[2:]) if sys.argv[1:2] == ['report'] else ''}`. Cycled "
              f"single crystals and polycrystals: formation + **{cycles} cycles** at 100 mA/g "
              "(the paper: 100)."))
    # ---- observations
    counts = {m: sum(r.mark == m for r in results) for m in ob.MARKS}
    b += [("h", 2, "Observations: measured versus simulated"),
          ("p", ", ".join(f"**{n} {m}**" for m, n in counts.items())
           + ". `fitted`: a parameter was fitted to this observation, so it is no "
           "prediction (the fit and whether it reproduces the data are in the detail). "
           "Disagreements are listed like the rest, never dropped.")]
    b.append(("table", ["id", "paper", "quantity", "measured", "simulated", "mark", "detail"],
              [[r.obs.id, r.obs.paper, r.obs.quantity,
                (r.obs.statement + " — " if r.obs.statement else "") + r.obs.measured_text(),
                r.simulated, r.mark, r.detail + (f" Note: {r.obs.note}" if r.obs.note else "")]
               for r in results]))
    # ---- runs
    b += [("h", 2, "Runs"), ("table", ["case", "what", "state", "this time", "run wall [s]",
                                       "estimate full [min]", "note"],
                             [_run_row(p) for p in planned])]
    if problems:
        b.append(("p", "Analysis problems: " + "; ".join(problems)))
    # ---- voltage
    sc1 = {e.id: completed[e.id] for e in vs.group("sc_first_charge")}
    sc2 = {e.id: completed[e.id] for e in vs.group("sc_two_phase")}
    volt = {**sc1, **sc2, **{e.id: completed[e.id] for e in vs.group("pc")},
            **{e.id: completed[e.id] for e in vs.group("sc_cycled")}}
    b.append(("h", 2, "Voltage curves and end-of-charge capacities"))
    p = fg.voltage_curves(volt, info, figdir / "voltage.png")
    if p:
        b.append(("fig", p, "Voltage against the charge passed in the mapped charge "
                  "(solid: SC first charge, dash-dotted: the same with the two-phase H2–H3 model, "
                  "dashed: PC, dotted: SC after cycling, its last charge)."))
    b.append(("table", ["case", "capacity to 4.5 V [mAh/g]", "Li std end of charge [-]",
                        "Li std after rest [-]"],
              [[info[k]["label"], _f(_metric(ctx, f"capacity_mAh_g({k})"), ".2f"),
                _f(_metric(ctx, f"x_std({k}, charged)")),
                _f(_metric(ctx, f"x_std({k}, rested)")) if _has_rest(ctx, k) else
                "– (no rest in this case)"]
               for k in volt]))
    # ---- sections
    b.append(("h", 2, "Mid-plane sections of the Li fraction (core–shell)"))
    p = fg.sections(sc1, info, figdir / "sections_x.png")
    b.append(("fig", p, "Li fraction on the z = 0 plane (it contains the c-axis, x) at the "
              "end of charge and after the ex situ rest; one colour scale per row.") if p else
              ("p", "No SC first-charge run completed: no sections."))
    # ---- XRD
    b.append(("h", 2, "In situ (003) XRD during the first charge"))
    p = fg.xrd_contours(sc1, info, ctx.analysis_dir, figdir / "xrd_003.png")
    b.append(("fig", p, "Synthetic (003) profiles (Cu Kα1, instrument pseudo-Voigt 0.05°) "
              "at every field output of the charge against the charge passed; cyan: one-peak "
              "fit centre; green: the two-peak fit where two phases are detected "
              "(postprocess/xrd.py criterion; circles the low-angle H2-like, squares the "
              "high-angle H3-like peak). Second row: the last 40 mAh/g of the charge, where "
              "the c collapse lies, on the same intensity scale. The cycled cases write "
              "fields every 50 steps, too "
              "sparse for a contour: they are mapped by SXDM only.") if p else
              ("p", "No XRD analysis available."))
    b.append(("table", ["case", "two-phase Δc max [Å]", "c contraction [%]"],
              [[info[k]["label"], _f(_metric(ctx, f"xrd_two_phase_dc_A({k})")),
                _f(_metric(ctx, f"xrd_c_contraction_pct({k})"))]
               for k in [*sc1, *(e.id for e in vs.group("pc"))]]))
    # ---- SXDM
    b.append(("h", 2, "Synthetic SXDM: first and last computed cycle"))
    items = []
    for mat in ("NC91", "NM91"):
        first = next((e for e in vs.group("sc_first_charge") if e.material == mat
                      and e.rate.startswith("200")), None)
        last = next((e for e in vs.group("sc_cycled") if e.material == mat), None)
        for e, what in ((first, "1st charge, 200 mA/g"),
                        (last, f"after {cycles} cycle(s), 200 mA/g")):
            if e is not None:
                items.append((f"{mat} {what}", ctx.analysis_dir / e.id
                              if completed[e.id] is not None else None))
    for state, what in (("rested", "after the ex situ rest (as measured in [W25])"),
                        ("charged", "at the end of the charge (before the rest)")):
        p = fg.sxdm_grid(items, state, figdir / f"sxdm_{state}.png")
        b.append(("fig", p, f"SXDM maps {what}.") if p else
                 ("p", f"No SXDM maps ({state}): runs missing."))
    all_sc = [(info[e.id]["label"], ctx.analysis_dir / e.id if completed[e.id] else None)
              for e in [*vs.group("sc_first_charge"), *vs.group("sc_two_phase"),
                        *vs.group("sc_cycled")]]
    rows = fg.sxdm_std_table(all_sc)
    b.append(("table", ["case", "std Δd/d charged", "std θxy charged [deg]",
                        "std θxz charged [deg]", "std Δd/d rested", "std θxy rested [deg]",
                        "std θxz rested [deg]"],
              [[r["label"], *(_f(r[f"{k}_{s}"]) for s in ("charged", "rested")
                              for k in ("dd_mean", "theta_xy_deg", "theta_xz_deg"))]
               for r in rows]))
    b += _two_phase_blocks(vs, completed, ctx, info, figdir, rows)
    # ---- PC vs SC
    b.append(("h", 2, "Polycrystal versus single crystal (20 mA/g, first charge)"))
    pcs = [e for e in [*vs.group("pc"), *vs.group("sc_first_charge")]
           if e.rate.startswith("20 ")]
    prow = []
    for e in pcs:
        prow.append({"label": e.label, "material": e.material,
                     "vm_stress_max_MPa": _metric(ctx, f"vm_stress_max_MPa({e.id})"),
                     "gb_stress_max_MPa": _metric(ctx, f"gb_stress_max_MPa({e.id})"),
                     "strain_std": _metric(ctx, f"strain_std({e.id}, charged)"),
                     "x_std": _metric(ctx, f"x_std({e.id}, charged)")})
    p = fg.pc_vs_sc(prow, figdir / "pc_vs_sc.png")
    if p:
        b.append(("fig", p, "Stress and heterogeneity at 20 mA/g (n/a: no grain boundaries "
                  "in a single crystal, or run missing; stress on a log scale). The largest "
                  "stresses of a polycrystal sit at grain junctions, where the elastic field "
                  "of misoriented anisotropic grains is singular: they grow with mesh "
                  "refinement; compare them by order of magnitude only."))
    ret = {(kind, e.material): _metric(ctx, f"retention({e.id})")
           for kind in ("sc", "pc") for e in vs.group(f"{kind}_cycled")}
    b.append(("table", ["case", "max von Mises [MPa]", "max grain-boundary [MPa]",
                        "std (003) strain, end of charge", "std x, end of charge",
                        "retention"],
              [[r["label"], _f(r["vm_stress_max_MPa"], ".4g"), _f(r["gb_stress_max_MPa"]),
                _f(r["strain_std"]), _f(r["x_std"]),
                _retention_text(ret, r, cycles)] for r in prow]))
    # ---- anneal
    b.append(("h", 2, "[TH] NMC622: abuse, anneal at 150 °C for 2 h, re-test"))
    ann = {e.id: completed[e.id] for e in vs.group("anneal")}
    p = fg.anneal(ann, info, figdir / "anneal.png")
    if p:
        b.append(("fig", p, "Strain heterogeneity through the protocol (the anneal shaded) "
                  "and the discharge capacities (last point: the 0.1 C re-test)."))
    control = next((e.id for e in vs.group("anneal") if "no_anneal" in e.id), None)
    b.append(("table", ["case", "std (003) strain after/before anneal",
                        "discharge before the anneal (last abuse cycle, 1 C) [mAh/g]",
                        "re-test discharge (0.1 C) [mAh/g]", "change vs control [mAh/g]"],
              [[info[k]["label"], _f(_metric(ctx, f"anneal_strain_ratio({k})")),
                _f(_metric(ctx, f"pre_anneal_capacity_mAh_g({k})"), ".2f"),
                _f(_metric(ctx, f"retest_capacity_mAh_g({k})"), ".2f"),
                _f(_metric(ctx, f"capacity_change_mAh_g({k}, {control})"), ".2f")
                if control and k != control else "–"] for k in ann]))
    # ---- synthesis
    b.append(("h", 2, "[P22] synthesis routes"))
    b.append(("table", ["case", "state", "rock salt at 300 °C", "layered at 300 °C",
                        "rock salt at end", "layered at end", "layered via rock salt at end"],
              [[info[e.id]["label"], "case file missing (issue 23 not merged)" if e.missing
                else ("completed" if completed[e.id] else "not completed"),
                *(_f(_metric(ctx, f"phase_fraction({e.id}, {ph}, {at})"))
                  for at in ("300C", "end") for ph in ("rock_salt", "layered")),
                _f(_metric(ctx, f"phase_fraction({e.id}, layered_via_rock_salt, end)"))]
               for e in vs.group("synthesis")]))
    # ---- parameters
    mats = sorted({e.material for e in vs.entries if e.material})
    b += [("h", 2, "Every parameter used, with its source"),
          ("p", "Materials: `chemomech materials NAME` (solver/materials); status: data, "
           "derived, proxy, assumption, fitted. Case-level choices (meshes, time steps) are in "
           f"each run's case.resolved.toml and in {vs.path.name}."),
          ("table", ["group", "parameter", "value", "unit", "status", "source"],
           [[r["group"], r["parameter"], r["value"], r["unit"], r["status"], r["source"]]
            for r in all_rows(mats)])]
    return b


def _two_phase_blocks(vs: ValidationSet, completed: dict, ctx: mx.Context, info: dict,
                      figdir: Path, sxdm_rows: list[dict]) -> list:
    """Single-phase against two-phase H2-H3 model: the issue-20 comparison; ``sxdm_rows``
    the SXDM std rows of every SC case (fg.sxdm_std_table, computed once by the caller)."""
    two = vs.group("sc_two_phase")
    if not two:
        return []
    b: list = [("h", 2, "Single-phase versus two-phase H2–H3 model (SC, first charge)"),
               ("p", "The SC first-charge cases again with `material.phase_model = "
                "\"two-phase\"` (docs/theory.md §8: a plateau of the OCV over the H2–H3 "
                "window, Cahn–Hilliard gradient energy, interface width 1 µm, one-way "
                "coupling). Same materials, kinetics and protocol; each row pairs the "
                "two models of one case.")]
    sc2 = {e.id: completed[e.id] for e in two}
    p = fg.sections(sc2, info, figdir / "sections_x_two_phase.png")
    if p:
        b.append(("fig", p, "Two-phase model: Li fraction on the z = 0 plane at the end "
                  "of charge and after the ex situ rest; one colour scale per row."))
    p = fg.xrd_contours(sc2, info, ctx.analysis_dir, figdir / "xrd_003_two_phase.png")
    if p:
        b.append(("fig", p, "Two-phase model: synthetic (003) profiles during the charge "
                  "(as the single-phase figure above; second row: the last 40 mAh/g, where "
                  "the H2 and H3 peaks coexist)."))
    items = [(info[e.id]["label"], ctx.analysis_dir / e.id if completed[e.id] else None)
             for e in two if e.rate.startswith("200")]
    p = fg.sxdm_grid(items, "rested", figdir / "sxdm_rested_two_phase.png")
    if p:
        b.append(("fig", p, "Two-phase model: SXDM maps at 200 mA/g after the ex situ rest."))
    single = {(e.material, e.rate): e for e in vs.group("sc_first_charge")}
    stds = {r["label"]: r for r in sxdm_rows}
    rows = []
    for e2 in two:
        e1 = single.get((e2.material, e2.rate))
        for e in (e1, e2):
            if e is None:
                continue
            r = stds.get(info[e.id]["label"], {})
            rows.append([info[e.id]["label"],
                         _f(_metric(ctx, f"capacity_mAh_g({e.id})"), ".2f"),
                         *(_f(r.get(f"{k}_{s}", math.nan)) for s in ("charged", "rested")
                           for k in ("dd_mean", "theta_xy_deg", "theta_xz_deg")),
                         _f(_metric(ctx, f"xrd_two_phase_dc_A({e.id})")),
                         _f(_metric(ctx, f"xrd_c_contraction_pct({e.id})"))])
    b.append(("table", ["case", "capacity to 4.5 V [mAh/g]", "std Δd/d charged",
                        "std θxy charged [deg]", "std θxz charged [deg]", "std Δd/d rested",
                        "std θxy rested [deg]", "std θxz rested [deg]",
                        "(003) two-phase Δc max [Å]", "c contraction [%]"], rows))
    return b


def _has_rest(ctx: mx.Context, case: str) -> bool:
    """The run ends with an open-circuit rest (or is not available: then n/a is shown)."""
    try:
        return bool(mx.step_ends(ctx.timeseries(case), "rest"))
    except (mx.NotComputed, OSError, KeyError):
        return True


def _run_row(p: runner.Planned) -> list[str]:
    e = p.entry
    if p.state == "missing":
        return [e.id, e.label, "case file missing", "–", "–", _f(e.estimate_min, "g"),
                f"{e.file} (plugs in when merged)"]
    wall = ""
    try:
        st = json.loads((p.run_dir / "status.json").read_text())
        wall = _f(float(st.get("wall_s", float("nan"))), ".0f")
        state = st.get("status", p.state)
        if state == "failed":
            state += f": {st.get('error', '')}"
    except (OSError, ValueError):
        state = p.state if p.action == "none" else "not run"
    did = {"skip": "reused", "none": "not run (--no-run/--only)"}.get(p.action, p.action)
    if p.exit_code not in (None, 0):
        did += f" (exit {p.exit_code})"
    if p.wall_s is not None:
        did += f", {p.wall_s:.0f} s"
    return [e.id, e.label, state, did, wall, _f(e.estimate_min, "g"), e.note]


def _timing_blocks(vs, planned, timing, args) -> list:
    est = sum(e.estimate_min for e in vs.entries if not e.missing)
    return [("h", 2, "Time"),
            ("p", f"This invocation: **{timing['wall_s']:.0f} s** wall in total (runs "
             f"{timing['runs_s']:.0f} s with --jobs {args.jobs}, analysis "
             f"{timing['analysis_s']:.0f} s, figures and report {timing['figures_s']:.0f} s); "
             "reused runs cost nothing here, their own wall time is in the run table. "
             f"Full-size estimate (sum of the set's estimates, 1 rank each): {est:.0f} "
             f"core-minutes, ≈ {est / 2:.0f} min on 2 cores with --jobs 2 (an ESTIMATE, "
             "not a measurement, except where the run table shows measured wall times).")]
