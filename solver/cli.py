"""The ``chemomech`` command line.

``validate`` imports neither MPI nor DOLFINx.  ``run`` and ``mesh`` validate the case
completely and check the output folder before a mesh is built; bad input exits with
status 2 and a message naming the file and key, and creates no folder.  Under
``mpirun -n N`` every rank runs the same code; only rank 0 logs and writes files.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import traceback
from pathlib import Path

from solver.config import CaseError, load_case

EXIT_INPUT = 2


# set by mpiexec/mpirun (MPICH/Hydra, Open MPI, PMIx) in every process it starts
MPI_RANK_VARS = ("PMI_RANK", "OMPI_COMM_WORLD_RANK", "PMIX_RANK")


def env_rank() -> int:
    """MPI rank from the launcher's environment (before mpi4py is imported)."""
    for var in (*MPI_RANK_VARS, "SLURM_PROCID"):
        if var in os.environ:
            try:
                return int(os.environ[var])
            except ValueError:
                pass
    return 0


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("chemomech")
    except PackageNotFoundError:
        return "0+unknown"


def _fail_input(message: str) -> int:
    if env_rank() == 0:
        print(f"error: {message}", file=sys.stderr)
    return EXIT_INPUT


def _setup_logging(comm, logfile: Path | None, verbose: bool) -> None:
    logger = logging.getLogger("chemomech")
    logger.handlers.clear()
    logger.propagate = False
    if comm.rank != 0:
        logger.addHandler(logging.NullHandler())
        logger.setLevel(logging.ERROR)
        return
    logger.setLevel(logging.DEBUG if verbose else logging.INFO)
    fmt = logging.Formatter("%(asctime)s %(levelname)s %(message)s", "%H:%M:%S")
    console = logging.StreamHandler(sys.stderr)
    console.setFormatter(fmt)
    logger.addHandler(console)
    if logfile is not None:
        fh = logging.FileHandler(logfile)
        fh.setFormatter(fmt)
        fh.setLevel(logging.DEBUG)
        logger.addHandler(fh)


def _import_mpi():
    """Import MPI the way every entry point must: the wheel's loader first, if present."""
    try:
        import dolfinx_solver  # noqa: F401  (loads the bundled MPI/PETSc of the pip wheel)
    except ImportError:
        pass
    from mpi4py import MPI

    return MPI


def cmd_validate(args: argparse.Namespace) -> int:
    try:
        case = load_case(args.case, args.set)
    except CaseError as exc:
        return _fail_input(str(exc))
    if case.problem == "synthesis":
        steps = ", ".join(e["type"] for e in case.resolved["protocol"])
        print(f"{args.case}: valid (synthesis of {case['synthesis']['material']}, "
              f"{case['geometry']['shape']}, temperature program: {steps})")
        return 0
    steps = ", ".join(
        f"{e['repeat']} x ({', '.join(st['type'] for st in e['steps'])})"
        if e["type"] == "cycle" else e["type"] for e in case.resolved["protocol"])
    if len(case.protocol) != len(case.resolved["protocol"]):
        steps += f"; {len(case.protocol)} steps"
    particle = case["geometry"]["shape"]
    if case["grains"]["num_grains"] > 1:
        grains = case["grains"]
        particle += (f", {grains['num_grains']} grains" +
                     (f" from {grains['centres_file']}" if grains["centres_file"] else "") +
                     (f" ({grains['method']})" if grains["method"] != "fragment" else ""))
    if case["voids"]["volume_fraction"] > 0:
        particle += f", {case['voids']['volume_fraction']:.3g} voids"
    print(f"{args.case}: valid ({case['material']['name']}, {particle}, protocol: {steps})")
    return 0


def _prepare(args: argparse.Namespace, default_output: str | None, logname: str,
             solver_options: bool = False):
    """Validate, check and create the output folder (rank 0), set up logging.

    ``solver_options``: also check that this PETSc build has the solver types the case's
    PETSc tables ask for (solver/petsc_check.py; ``run``).  Returns (case, comm, outdir),
    or an exit status for bad input; no folder is created and no mesh built before the
    case and the folder check passed.
    """
    try:
        case = load_case(args.case, args.set)
    except CaseError as exc:
        return _fail_input(str(exc))
    if getattr(args, "max_steps", None) is not None and args.max_steps < 0:
        return _fail_input("--max-steps: expected a non-negative integer")
    MPI = _import_mpi()
    comm = MPI.COMM_WORLD
    if solver_options and case.problem == "electrochemical":  # synthesis: no PETSc tables
        from petsc4py import PETSc  # noqa: F401  (initialises PETSc: collective, all ranks)

        from solver.petsc_check import runtime_problems

        problem = comm.bcast(runtime_problems(case.values) if comm.rank == 0 else None,
                             root=0)
        if problem:
            return _fail_input(f"{case.source}: {problem[0]}: {problem[1]}")
    outdir = Path(args.output or default_output or case["run"]["output"])
    from solver import output as out

    if getattr(args, "restart", False):
        if args.force:
            return _fail_input("--restart continues the run in the output folder; --force "
                               "would delete it: give one of them")
        found = _check_restart(outdir, case) if comm.rank == 0 else None
        problem, args.restart_from = comm.bcast(found, root=0)
        if problem == "completed":
            if comm.rank == 0:
                print(f"{outdir}: the run has completed; nothing to restart", file=sys.stderr)
            return 0
    else:
        problem = out.check_output_dir(outdir, args.force) if comm.rank == 0 else None
        problem = comm.bcast(problem, root=0)
    if problem:
        return _fail_input(problem)
    if comm.rank == 0:
        if getattr(args, "restart", False):
            out.mark_running(outdir, restarted_from=str(args.restart_from))
        else:
            out.create_output_dir(outdir, args.force)
    comm.barrier()
    _setup_logging(comm, outdir / logname if comm.rank == 0 else None, args.verbose)
    return case, comm, outdir


def _check_restart(outdir: Path, case) -> tuple[str | None, Path | None]:
    """(problem or None or "completed", checkpoint) for ``run --restart`` (rank 0, cheap)."""
    import json

    from solver import checkpoint as ck

    if not outdir.is_dir():
        return f"{outdir}: no such run folder to restart (run it without --restart)", None
    try:
        if json.loads((outdir / "status.json").read_text())["status"] == "completed":
            return "completed", None
    except (OSError, ValueError, KeyError):
        pass
    path = ck.find_checkpoint(outdir)
    if path is None:
        return (f"{outdir}: no complete checkpoint in {ck.CHECKPOINT_DIR}/ to restart from "
                "(the run stopped before its first one; output.checkpoint_every sets how "
                "often they are written); run again with --force"), None
    try:
        meta, _ = ck.load_checkpoint(path, with_arrays=False)
        ck.check_compatible(meta, case, path)
    except ck.CheckpointError as exc:
        return str(exc), None
    return None, path


def cmd_run(args: argparse.Namespace) -> int:
    prepared = _prepare(args, None, "run.log", solver_options=True)
    if isinstance(prepared, int):
        return prepared
    case, comm, outdir = prepared
    from solver import output as out

    restart = getattr(args, "restart_from", None)
    if comm.rank == 0 and restart is None:
        out.write_resolved_case(outdir, case.resolved)
    log = logging.getLogger("chemomech")
    log.info("chemomech %s: %s -> %s on %d rank(s)%s", _version(), args.case, outdir, comm.size,
             f", restarting from {restart}" if restart else "")

    from meshes import MeshBuildError
    from solver.checkpoint import CheckpointError, CheckpointWriteError
    from solver.simulation import SimulationError, UnusedOptionsError, run_simulation

    synthesis = case.problem == "synthesis"
    try:
        if synthesis:  # the calcination problem on the same driver (solver/synthesis/)
            from solver.synthesis.run import run_synthesis

            result = run_synthesis(case, outdir, comm, args.max_steps, restart=restart)
        else:
            result = run_simulation(case, outdir, comm, args.max_steps, restart=restart)
    except UnusedOptionsError as exc:  # bad input only the first solve reveals (all ranks)
        message = (f"{case.source}: {exc.keys[0]}: PETSc did not read this option in the "
                   "first time step (misspelt, or no effect on that solver)"
                   + (f" (also unread: {', '.join(exc.keys[1:])})" if exc.keys[1:] else "")
                   + f". The run stopped there: {outdir} is left as a failed run "
                   "(status.json 'failed', INCOMPLETE); fix the case and run again with "
                   "--force")
        log.error("run stopped: %s", message)
        if comm.rank == 0:
            out.write_status(outdir, "failed", error=message)
        return _fail_input(message)
    except CheckpointWriteError as exc:  # e.g. a full disk (every rank alike)
        log.error("run failed: %s", exc)
        if comm.rank == 0:
            out.write_status(outdir, "failed", error=str(exc))
        return 1
    except CheckpointError as exc:  # a foreign mesh found while reading (every rank alike)
        log.error("restart refused: %s", exc)
        if comm.rank == 0:
            out.write_status(outdir, "failed", error=str(exc))
        return _fail_input(str(exc))
    except (SimulationError, MeshBuildError) as exc:  # raised on every rank alike
        log.error("run failed: %s", exc)
        if comm.rank == 0:
            out.write_status(outdir, "failed", error=str(exc))
        return 1
    except Exception as exc:  # a rank-local failure: record it, then take all ranks down
        try:
            out.write_status(outdir, "failed", error=f"rank {comm.rank}: {exc!r}")
        finally:
            traceback.print_exc()
            comm.Abort(1)
        return 1
    if comm.rank == 0:
        if case["output"]["figures"] and not synthesis:  # synthesis: its own, at its end
            from postprocess.figures import run_figures

            try:
                for path in run_figures(outdir):
                    log.info("figure: %s", path)
            except Exception as exc:  # figures must not make a finished run look failed
                log.warning("figures failed: %r", exc)
        summary = {"steps": result.steps, "time_s": result.time_s,
                   "voltage_V": result.voltage_V, "capacity_mAh_g": result.capacity_mAh_g,
                   "unknowns": result.unknowns, "ranks": comm.size, "wall_s": result.wall_s,
                   "protocol_steps": result.step_ends}
        if synthesis:  # no electrode: the end phase fractions instead
            last = result.rows[-1] if result.rows else {}
            for k in ("voltage_V", "capacity_mAh_g"):
                summary.pop(k)
            summary["end"] = {k: float(last[k]) for k in
                              ("temperature_K", "precursor", "layered", "rock_salt",
                               "layered_via_rock_salt", "porosity") if k in last}
        out.finish(outdir, result.status, **summary)
        if synthesis:
            log.info("%s: %d steps, t = %.6g s, %d unknowns, wall %.1f s", result.status,
                     result.steps, result.time_s, result.unknowns, result.wall_s)
        else:
            log.info("%s: %d steps, t = %.6g s, V = %.4f V, %.3f mAh/g, %d unknowns, "
                     "wall %.1f s", result.status, result.steps, result.time_s,
                     result.voltage_V, result.capacity_mAh_g, result.unknowns, result.wall_s)
    comm.barrier()
    return 0


def cmd_mesh(args: argparse.Namespace) -> int:
    try:
        default = load_case(args.case, args.set)["run"]["output"] + ".mesh"
    except CaseError as exc:
        return _fail_input(str(exc))
    prepared = _prepare(args, default, "mesh.log")
    if isinstance(prepared, int):
        return prepared
    case, comm, outdir = prepared
    from meshes import MeshBuildError
    from meshes.quality import mesh_report
    from solver import output as out
    from solver.simulation import build_mesh

    try:
        pm = build_mesh(case, comm)
    except MeshBuildError as exc:  # raised on every rank alike
        logging.getLogger("chemomech").error("mesh failed: %s", exc)
        if comm.rank == 0:
            out.write_status(outdir, "failed", error=str(exc))
        return 1
    spec = pm.info["spec"]
    # rounded edges have no closed-form volume: compare with the exact CAD volume instead
    exact = pm.info.get("cad_volume_um3") if spec.edge_radius > 0 else spec.analytic_volume
    report = mesh_report(pm, exact_volume=exact or spec.analytic_volume)
    from dolfinx import fem, io

    from solver.grains import cell_grain_ids

    grain = fem.Function(fem.functionspace(pm.mesh, ("DG", 0)), name="grain_id")
    dofs = grain.function_space.dofmap.list[:, 0]
    grain.x.array[dofs] = cell_grain_ids(pm)[: dofs.size]
    with io.VTKFile(comm, outdir / "mesh.pvd", "w") as vf:
        vf.write_function(grain, 0.0)  # the mesh with the grain id of every cell
    if comm.rank == 0:
        import json

        (outdir / "mesh_report.json").write_text(json.dumps(report, indent=2) + "\n")
        logging.getLogger("chemomech").info("mesh: %s", report)
        out.finish(outdir, "completed", **report)
    return 0


def cmd_study(args: argparse.Namespace) -> int:
    """Expand, validate, then list, run locally or write the Slurm array (no MPI here)."""
    from solver import study as st

    try:
        study = st.load_study(args.study)
    except CaseError as exc:
        return _fail_input(str(exc))
    outdir = Path(args.output or study.output or f"results/{study.name}")
    if args.jobs < 1:
        return _fail_input("--jobs: expected a positive integer")
    if args.dry_run or not (args.local or args.slurm):
        states = st.plan(study, outdir, args.rerun_failed)
        print(f"{study.path}: {len(study.runs)} runs into {outdir}/runs "
              f"({study.ranks} rank(s) each)")
        print("  id    state       action   folder")
        for run, state, action in states:
            print(f"  {run.run_id}  {state:<10}  {action:<7}  {run.folder}")
        if not args.dry_run:
            print("(listed only: give --local to run them here or --slurm to write the "
                  "job-array script)")
        return 0
    try:
        st.prepare(study, outdir)
    except CaseError as exc:
        return _fail_input(str(exc))
    if args.slurm:
        path = st.write_slurm(study, outdir, args.rerun_failed)
        print(f"{path}: job array of {len(study.runs)} runs ({study.ranks} rank(s), "
              f"{study.slurm.get('time', '01:00:00')} each); case files in {outdir}/cases; "
              f"submit with: sbatch {path}")
        return 0
    codes = st.run_local(study, outdir, args.jobs, args.rerun_failed)
    if not codes:
        print(f"{study.name}: nothing to run. Collect with: chemomech collect {outdir}")
        return 0
    failed = sorted(f for f, rc in codes.items() if rc != 0)
    print(f"{study.name}: {len(codes) - len(failed)} of {len(codes)} started runs ended "
          f"normally" + (f"; failed: {', '.join(failed)}" if failed else "")
          + f". Collect with: chemomech collect {outdir}")
    return 1 if failed else 0


def cmd_collect(args: argparse.Namespace) -> int:
    from solver import collect as co

    study_dir = Path(args.study_dir)
    if not (study_dir / "manifest.csv").exists():
        return _fail_input(f"{study_dir}: no manifest.csv (not a study folder; make one with "
                           "chemomech study)")
    keys, rows = co.collect(study_dir)
    metric, versus = args.metric, args.versus or (keys[0] if keys else None)
    if metric not in co.METRICS:
        return _fail_input(f"--metric: expected one of {', '.join(co.METRICS)}; got {metric!r}")
    if versus not in keys:
        return _fail_input(f"--versus: expected a swept parameter ({', '.join(keys)}); "
                           f"got {versus!r}")
    for path in co.write_table(study_dir, keys, rows):
        print(f"{path}: {len(rows)} runs")
    print(co.summary_figure(study_dir, keys, rows, metric, versus))
    problems = [r for r in rows if r["status"] not in ("completed", "max_steps")]
    for r in problems:
        extra = f": {r['error']}" if r.get("error") else ""
        print(f"  {r['status']}: {r['folder']}{extra}", file=sys.stderr)
    if problems:
        print(f"{len(problems)} of {len(rows)} runs have no end state (listed above and in "
              "results.csv)", file=sys.stderr)
    return 0


def cmd_materials(args: argparse.Namespace) -> int:
    """List the materials, or print every parameter of one (no MPI, no DOLFINx)."""
    from solver.materials import MATERIAL_NAMES, get_material
    from solver.materials.report import listing, render

    if args.name is None:
        sys.stdout.write(listing(args.format))
        return 0
    try:
        mat = get_material(args.name)
    except KeyError:
        return _fail_input(f"materials: unknown material {args.name!r} (materials: "
                           f"{', '.join(MATERIAL_NAMES)})")
    sys.stdout.write(render(mat, args.format))
    return 0


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="chemomech", description="Chemo-mechanical simulation of "
                                "battery cathode particles (FEniCSx).")
    p.add_argument("--version", action="version", version=f"chemomech {_version()}")
    sub = p.add_subparsers(dest="command", required=True)

    def common(sp: argparse.ArgumentParser) -> None:
        sp.add_argument("case", help="case file (TOML)")
        sp.add_argument("--set", action="append", default=[], metavar="KEY.PATH=VALUE",
                        help="override a case key, e.g. --set 'protocol.0.current=\"100 mA/g\"'")

    r = sub.add_parser("run", help="run a case")
    common(r)
    r.add_argument("--output", help="output folder (default: run.output of the case)")
    r.add_argument("--max-steps", type=int, help="stop after N accepted time steps (of the "
                   "whole run, steps before a restart included)")
    r.add_argument("--force", action="store_true", help="replace an existing output folder")
    r.add_argument("--restart", action="store_true", help="continue the run in the output "
                   "folder from its last complete checkpoint (any number of ranks)")
    r.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    r.set_defaults(func=cmd_run)

    v = sub.add_parser("validate", help="check a case file (no MPI, instant)")
    common(v)
    v.set_defaults(func=cmd_validate)

    mt = sub.add_parser("materials", help="list the materials, or print every parameter of "
                        "one with its unit, status and source (no MPI, instant)")
    mt.add_argument("name", nargs="?", help="material (NC91, NM91, NMC622, NMC811; any case)")
    from solver.materials.report import FORMATS

    mt.add_argument("--format", choices=FORMATS, default="text", help="output format "
                    "(default text; markdown is the table of docs/materials.md)")
    mt.set_defaults(func=cmd_materials)

    s = sub.add_parser("study", help="run every combination of a study file here (--local) "
                       "or write a Slurm job array (--slurm); see docs/studies.md")
    s.add_argument("study", help="study file (TOML): base case and swept keys")
    s.add_argument("--output", help="study folder (default: output of the study file, else "
                   "results/<study name>)")
    s.add_argument("--dry-run", action="store_true", help="list the runs and their state")
    mode = s.add_mutually_exclusive_group()
    mode.add_argument("--local", action="store_true", help="run them on this machine")
    mode.add_argument("--slurm", action="store_true", help="write study.slurm and the case "
                      "files; run nothing")
    s.add_argument("--jobs", type=int, default=1, help="local runs at a time (default 1)")
    s.add_argument("--rerun-failed", action="store_true", help="start failed runs again "
                   "(finished runs are always skipped, unfinished ones restarted)")
    s.set_defaults(func=cmd_study)
    c = sub.add_parser("collect", help="tabulate a study's runs (results.csv) and plot a "
                       "metric against a swept parameter")
    c.add_argument("study_dir", help="study folder (holds manifest.csv)")
    c.add_argument("--metric", default="capacity_mAh_g", help="metric to plot (default "
                   "capacity_mAh_g)")
    c.add_argument("--versus", help="swept parameter on the x axis (default: the first)")
    c.set_defaults(func=cmd_collect)

    sub.add_parser("bench", help="measure the coupled step against one elasticity solve and "
                   "MUMPS on several mesh sizes and rank counts (see chemomech bench --help)")
    m = sub.add_parser("mesh", help="build and write the mesh only, with a quality report")
    common(m)
    m.add_argument("--output", help="output folder (default: <run.output>.mesh)")
    m.add_argument("--force", action="store_true", help="replace an existing output folder")
    m.add_argument("-v", "--verbose", action="store_true")
    m.set_defaults(func=cmd_mesh)
    from postprocess.cli import add_parsers  # sxdm, xrd, txm, compare (synthetic observables)

    add_parsers(sub)
    from postprocess.report.cli import add_parser as add_report  # validation report

    add_report(sub)
    return p


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["bench"]:  # its own parser (solver/bench.py)
        from solver.bench import main as bench_main

        return bench_main(argv[1:])
    args = build_parser().parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
