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


def _env_rank() -> int:
    """MPI rank from the launcher's environment (before mpi4py is imported)."""
    for var in ("PMI_RANK", "OMPI_COMM_WORLD_RANK", "PMIX_RANK", "SLURM_PROCID"):
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
    if _env_rank() == 0:
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
    steps = ", ".join(p.kind for p in case.protocol)
    print(f"{args.case}: valid ({case['material']['name']}, "
          f"{case['geometry']['shape']}, protocol: {steps})")
    return 0


def _prepare(args: argparse.Namespace, default_output: str | None, logname: str):
    """Validate, check and create the output folder (rank 0), set up logging.

    Returns (case, comm, outdir), or an exit status for bad input; no folder is created
    and no mesh built before the case and the folder check passed.
    """
    try:
        case = load_case(args.case, args.set)
    except CaseError as exc:
        return _fail_input(str(exc))
    if getattr(args, "max_steps", None) is not None and args.max_steps < 0:
        return _fail_input("--max-steps: expected a non-negative integer")
    MPI = _import_mpi()
    comm = MPI.COMM_WORLD
    outdir = Path(args.output or default_output or case["run"]["output"])
    from solver import output as out

    problem = out.check_output_dir(outdir, args.force) if comm.rank == 0 else None
    problem = comm.bcast(problem, root=0)
    if problem:
        return _fail_input(problem)
    if comm.rank == 0:
        out.create_output_dir(outdir, args.force)
    comm.barrier()
    _setup_logging(comm, outdir / logname if comm.rank == 0 else None, args.verbose)
    return case, comm, outdir


def cmd_run(args: argparse.Namespace) -> int:
    prepared = _prepare(args, None, "run.log")
    if isinstance(prepared, int):
        return prepared
    case, comm, outdir = prepared
    from solver import output as out

    if comm.rank == 0:
        out.write_resolved_case(outdir, case.resolved)
    log = logging.getLogger("chemomech")
    log.info("chemomech %s: %s -> %s on %d rank(s)", _version(), args.case, outdir, comm.size)

    from solver.simulation import SimulationError, run_simulation

    try:
        result = run_simulation(case, outdir, comm, args.max_steps)
    except SimulationError as exc:  # raised on every rank alike (global decisions)
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
        if case["output"]["figures"]:
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
        out.finish(outdir, result.status, **summary)
        log.info("%s: %d steps, t = %.6g s, V = %.4f V, %.3f mAh/g, %d unknowns, wall %.1f s",
                 result.status, result.steps, result.time_s, result.voltage_V,
                 result.capacity_mAh_g, result.unknowns, result.wall_s)
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
    from meshes.quality import mesh_report
    from solver import output as out
    from solver.simulation import build_mesh

    pm = build_mesh(case, comm)
    report = mesh_report(pm, case["geometry"]["semi_axes"])
    from dolfinx import io

    with io.VTKFile(comm, outdir / "mesh.pvd", "w") as vf:
        vf.write_mesh(pm.mesh)
    if comm.rank == 0:
        import json

        (outdir / "mesh_report.json").write_text(json.dumps(report, indent=2) + "\n")
        logging.getLogger("chemomech").info("mesh: %s", report)
        out.finish(outdir, "completed", **report)
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
    r.add_argument("--max-steps", type=int, help="stop after N accepted time steps")
    r.add_argument("--force", action="store_true", help="replace an existing output folder")
    r.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    r.set_defaults(func=cmd_run)

    v = sub.add_parser("validate", help="check a case file (no MPI, instant)")
    common(v)
    v.set_defaults(func=cmd_validate)

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
