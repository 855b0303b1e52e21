"""``chemomech bench``: measured cost of the coupled chemo-mechanical step.

The driver launches one worker per (mesh size, rank count) through the environment's
``mpiexec`` (so every measurement has a fresh process and its own peak memory), collects
their JSON records and prints a table; ``bench.json`` holds every record and the
parallel efficiency from 1 to 2 ranks on the largest size.  Nothing here is a test: the
numbers are measurements to report, not assertions.

Per worker (single-crystal NM91 sphere, radius 2 um, uniform mesh size h, default
solvers, two-way coupling (monolithic Newton, field split) unless ``--coupling one-way``;
``--phase-model two-phase``: the Cahn-Hilliard transport of solver/phasefield.py, whose
(w, mu) system is always solved by MUMPS, and two-way coupling by the staggered scheme,
since the monolithic Newton does not take that transport):
* ``elasticity_solve_s``: one linear elasticity solve, CG + GAMG with rigid-body
  near-nullspace, preconditioner set-up included (a fresh operator), with PETSc's default
  Galerkin products.  Where the run itself sets GAMG up with the memory-lean
  ``allatonce`` products (several ranks, large local problems: solver/mechanics.py; its
  set-up time is ``run_setup_s``, its set-up and first solve ``run_elasticity_solve_s``),
  the reference solve runs in a process of its own (``h*_reference.json``);
* ``step_s``: mean wall time of a coupled time step (two-way: the whole monolithic Newton
  solve; one-way: a Li Newton solve and an elasticity solve) over ``--steps`` steps of 30 s
  at 200 mA/g from x = 0.9, after a first step that is not timed (``step_times_s`` each);
* ``mumps_step_s``: the first ``--mumps-steps`` timed steps with MUMPS LU (the speed-up
  compares the default's time for the same steps): two-way, the monolithic Newton with the
  whole coupled matrix factorised every iteration; one-way, the elasticity factorised once
  per step and the Li matrix once per Newton iteration; when unknowns <= ``--mumps-max``.

``--weak``: weak scaling instead, about ``--per-rank`` unknowns on every rank of 1, 2,
4, 8 ranks (``--ranks``): time per step (meaningful only up to the number of cores),
unknowns per rank, every rank's peak resident set (VmHWM; rank 0 against the mean of the
others, which must stay within 20 %, also right after meshing) and the time and size of
a distributed checkpoint write and read of the state (``--checkpoint`` adds the last to
the ordinary bench).

Meshes are reused: before the workers of a size, one 1-rank process takes the mesh from
the mesh cache (``--mesh-cache``; default the cache of case runs, docs/meshes.md) or makes
it with Gmsh and stores it there, and every worker then loads it, as a repeated case run
does.  ``gmsh_s`` reports what Gmsh took to make the mesh (in this bench or when it was
cached), ``mesh_s`` what the worker took to load and distribute it; with
``--mesh-cache off`` every worker meshes anew.
"""

from __future__ import annotations

import argparse
import json
import resource
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np


def _mesh(comm, h_um: float, cache: Path | None):
    """The bench particle: NM91 sphere of radius 2 um, uniform element size ``h_um``."""
    from meshes import build_particle_mesh

    return build_particle_mesh(comm, [2e-6] * 3, h_um * 1e-6, h_um * 1e-6, 0.5e-6,
                               cache=cache)


def _mesh_worker(h_um: float, cache: Path, out: Path) -> None:
    """Make (or find) the mesh of ``h_um`` in ``cache``; record its Gmsh time."""
    try:
        import dolfinx_solver  # noqa: F401
    except ImportError:
        pass
    from mpi4py import MPI

    pm = _mesh(MPI.COMM_WORLD, h_um, cache)
    out.write_text(json.dumps({"h_um": h_um, "cache": pm.info.get("cache"),
                               "gmsh_s": pm.info.get("gmsh_s")}) + "\n")


def vm_hwm_bytes() -> int:
    """Peak resident set (VmHWM) of this process [bytes]; ru_maxrss where /proc is absent."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def rank_memory(comm) -> dict:
    """Per-rank peak memory (gathered: one number per rank) and rank 0 against the mean
    of the others (collective; the record on rank 0)."""
    peaks = comm.gather(vm_hwm_bytes(), root=0)
    if comm.rank != 0:
        return {}
    others = peaks[1:]
    ratio = peaks[0] / float(np.mean(others)) if others else 1.0
    return {"rank_peak_bytes": peaks, "rank0_over_others": ratio}


def _checkpoint_cost(comm, funcs: dict, outdir: Path) -> dict:
    """Write the state (w, s, u) as a distributed checkpoint and read it back: the slowest
    rank's time of each (between barriers) and the size on disk (collective)."""
    from solver import checkpoint as ck

    folder = outdir / f"ckpt_n{comm.size}"
    if comm.rank == 0 and folder.exists():
        shutil.rmtree(folder)
    comm.barrier()
    t0 = time.perf_counter()
    path = ck.write_checkpoint(folder, comm, ck.field_parts(funcs),
                               {"step": 0, "ranks": comm.size})
    comm.barrier()
    write_s = time.perf_counter() - t0
    before = {n: f.x.array.copy() for n, f in funcs.items()}
    for f in funcs.values():
        f.x.array[:] = 0.0
    comm.barrier()
    t0 = time.perf_counter()
    with ck.CheckpointReader(path, comm) as reader:
        reader.restore(funcs)
    comm.barrier()
    read_s = time.perf_counter() - t0
    exact = all(np.array_equal(before[n], f.x.array) for n, f in funcs.items())
    size = sum(p.stat().st_size for p in path.iterdir())
    if comm.rank == 0:
        shutil.rmtree(folder, ignore_errors=True)
    return {"checkpoint_write_s": write_s, "checkpoint_read_s": read_s,
            "checkpoint_bytes": size, "checkpoint_exact": comm.allreduce(exact) == comm.size}


def _worker(h_um: float, steps: int, direct: bool, out: Path,
            coupling: str = "two-way", cache: Path | None = None,
            checkpoint: bool = False, phase_model: str = "single-phase") -> None:
    try:
        import dolfinx_solver  # noqa: F401
    except ImportError:
        pass
    from mpi4py import MPI

    from solver.coupling import CoupledSolver
    from solver.materials import get_material
    from solver.mechanics import Elasticity, implicit_fraction, local_stress_potential
    from solver.phasefield import CahnHilliardTransport
    from solver.transport import LiTransport

    comm = MPI.COMM_WORLD
    two_phase = phase_model == "two-phase"
    Transport = CahnHilliardTransport if two_phase else LiTransport
    t0 = time.perf_counter()
    pm = _mesh(comm, h_um, cache)
    mesh_s = time.perf_counter() - t0
    # the peak so far is the mesh's (rank 0 loads the mesh file and partitions it)
    mesh_memory = rank_memory(comm)
    mat = get_material("NM91")
    kind = "direct" if direct else "iterative"
    two_way = coupling == "two-way"
    # quadrature degree 2 = the case default for P1 (numerics.quadrature_degree)
    tr = Transport(pm, mat, np.eye(3), linear_solver=kind, quadrature_degree=2,
                     local_stress_potential=((lambda x, T: local_stress_potential(mat, x, T))
                                             if two_way else None))
    if two_way:
        tr.beta.value = implicit_fraction(mat)
    t0 = time.perf_counter()
    # the GAMG set-up runs in the constructor (solver/mechanics.py), MUMPS's
    # factorisation at the first solve: either way it counts to the elasticity solve
    mech = Elasticity(tr, linear_solver=kind, quadrature_degree=2)
    setup_s = mech.setup_s  # 0 unless set up in the constructor
    assemble_s = time.perf_counter() - t0 - setup_s
    elasticity_s, el_its = _first_solve(tr, mech)
    # two-way: the default monolithic Newton, with the field split ("default") or MUMPS
    # on the whole coupled matrix (--direct); the two-phase transport: staggered passes
    stepper = (CoupledSolver(tr, mech, coupling, scheme="monolithic",
                             monolithic_linear_solver=kind) if two_way and not two_phase
               else CoupledSolver(tr, mech, coupling))
    stepper.initialise()
    current = 200.0 * mat.density * tr.volume_m3  # A, 200 mA/g
    newton = ksp = passes = el_ksp = 0
    times = []
    for k in range(steps + 1):
        comm.barrier()
        t0 = time.perf_counter()
        tr.set_state({"dt": 30.0, "current": current, "temperature": mat.T_ref})
        if direct:
            # a direct solve of the coupled step factorises its operator every step (a
            # monolithic Newton even every iteration): do not reuse the factorisation
            mech.ksp.getPC().reset()
            mech.ksp.setOperators(mech.K)
        res = stepper.solve()
        if not res.converged:
            raise RuntimeError(f"bench step failed: {res.reason}")
        stepper.accept()
        comm.barrier()
        if k > 0:
            times.append(time.perf_counter() - t0)
            newton += res.iterations
            ksp += res.ksp_iterations
            passes += res.coupling_iterations
            el_ksp += res.elasticity_ksp_iterations
    # Li unknowns: w (single-phase) or (w, mu) (two-phase), plus 3 displacement components
    li_space = tr.ME if two_phase else tr.V_space
    unknowns = (li_space.dofmap.index_map.size_global
                + 3 * mech.U.dofmap.index_map.size_global)
    owned = li_space.dofmap.index_map.size_local + 3 * mech.U.dofmap.index_map.size_local
    per_rank = comm.gather(owned, root=0)
    peak = comm.allreduce(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024,
                          op=MPI.SUM)
    memory = rank_memory(comm)  # before the checkpoint: the run's own peak
    ckpt = (_checkpoint_cost(comm, {"w": tr.w, "s": tr.s, "u": mech.u}, out.parent)
            if checkpoint else {})
    record = {
        "h_um": h_um, "ranks": comm.size, "solver": kind, "coupling": coupling,
        "phase_model": phase_model,
        "unknowns": int(unknowns),
        "cells": pm.mesh.topology.index_map(3).size_global, "mesh_s": mesh_s,
        "mesh_cache": pm.info.get("cache"), "gmsh_s": pm.info.get("gmsh_s"),
        "elasticity_assemble_s": assemble_s, "elasticity_solve_s": elasticity_s,
        "run_setup_s": setup_s, "galerkin_products": mech.galerkin_products,
        "elasticity_ksp_its_first": el_its, "step_s": float(np.mean(times)),
        "step_times_s": [float(t) for t in times],
        "newton_its": newton / steps, "ksp_its_per_newton": ksp / max(newton, 1),
        "coupling_its": passes / steps,
        "elasticity_ksp_its_per_solve": el_ksp / max(passes, 1),
        "peak_mem_bytes": peak, "peak_mem_bytes_per_unknown": peak / unknowns,
        "unknowns_per_rank": per_rank, **memory, **ckpt,
        "rank_peak_bytes_after_mesh": mesh_memory.get("rank_peak_bytes"),
    }
    if comm.rank == 0:
        out.write_text(json.dumps(record) + "\n")
    mech.destroy()
    tr.destroy()


def _first_solve(tr, mech) -> tuple[float, int]:
    """The first elasticity solve, at x = 0.9: its time plus the set-up's done in the
    constructor (s), and its Krylov iterations."""
    tr.set_uniform(0.9)
    t0 = time.perf_counter()
    mech.solve()
    return time.perf_counter() - t0 + mech.setup_s, mech.ksp.getIterationNumber()


def _reference_worker(h_um: float, out: Path, cache: Path | None = None) -> None:
    """The yardstick alone, in a fresh process: one elasticity solve at x = 0.9, CG + GAMG
    with PETSc's default Galerkin products, set-up included (s), and its CG iterations."""
    try:
        import dolfinx_solver  # noqa: F401
    except ImportError:
        pass
    from mpi4py import MPI

    from solver.materials import get_material
    from solver.mechanics import Elasticity
    from solver.transport import LiTransport

    comm = MPI.COMM_WORLD
    pm = _mesh(comm, h_um, cache)
    tr = LiTransport(pm, get_material("NM91"), np.eye(3), linear_solver="iterative",
                     quadrature_degree=2)
    mech = Elasticity(tr, linear_solver="iterative", quadrature_degree=2,
                      petsc_options={"matptap_via": "scalable"})
    seconds, its = _first_solve(tr, mech)
    record = {"elasticity_solve_s": seconds, "elasticity_ksp_its_first": its}
    if comm.rank == 0:
        out.write_text(json.dumps(record) + "\n")
    mech.destroy()
    tr.destroy()


def _mpiexec() -> str:
    here = Path(sys.executable).parent
    for name in ("mpiexec", "mpirun"):
        if (here / name).exists():
            return str(here / name)
    found = shutil.which("mpiexec") or shutil.which("mpirun")
    if not found:
        raise SystemExit("error: bench needs mpiexec (none found)")
    return found


def _run(cmd: list[str], out: Path, tag: str, outdir: Path) -> dict | None:
    """Run one worker; its JSON record (with ``wall_s``) or None if it failed."""
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True)
    (outdir / f"{tag}.log").write_text(proc.stdout + proc.stderr)
    if proc.returncode != 0 or not out.exists():
        print(f"  {tag}: failed (exit {proc.returncode}); see {outdir / (tag + '.log')}",
              flush=True)
        return None
    rec = json.loads(out.read_text())
    rec["wall_s"] = time.perf_counter() - t0
    return rec


def _cache_args(cache: Path | None) -> list[str]:
    return ["--mesh-cache", str(cache) if cache is not None else "off"]


def _launch(h: float, ranks: int, steps: int, direct: bool, outdir: Path,
            coupling: str, cache: Path | None = None, checkpoint: bool = False,
            phase_model: str = "single-phase") -> dict | None:
    tag = (f"h{h:g}_n{ranks}_{'mumps' if direct else 'default'}_{coupling}"
           + ("_two-phase" if phase_model == "two-phase" else ""))
    out = outdir / f"{tag}.json"
    cmd = [_mpiexec(), "-n", str(ranks), sys.executable, "-m", "solver.bench", "--worker",
           "--h", str(h), "--steps", str(steps), "--json", str(out),
           "--coupling", coupling, "--phase-model", phase_model] + _cache_args(cache) \
        + (["--direct"] if direct else []) + (["--checkpoint"] if checkpoint else [])
    return _run(cmd, out, tag, outdir)


# unknowns (Li + 3 displacement components per node) of the bench sphere against its mesh
# size, measured with the meshes of this version (2026-12-04): the weak-scaling run picks
# h by interpolating log(unknowns) in log(h), then reports the unknowns it got
_MEASURED = ((0.204, 13652), (0.18, 19024), (0.157, 27760), (0.107, 82464),
             (0.0839, 160476), (0.075, 220340))


def weak_size(unknowns: float) -> float:
    """Mesh size [um] (3 digits) whose bench mesh has about ``unknowns`` unknowns."""
    lh = np.log([h for h, _ in _MEASURED])  # h falls as the unknowns grow
    ln = np.log([n for _, n in _MEASURED])
    slope_lo = (lh[1] - lh[0]) / (ln[1] - ln[0])
    slope_hi = (lh[-1] - lh[-2]) / (ln[-1] - ln[-2])
    x = np.log(unknowns)
    if x < ln[0]:
        y = lh[0] + slope_lo * (x - ln[0])
    elif x > ln[-1]:
        y = lh[-1] + slope_hi * (x - ln[-1])
    else:
        y = float(np.interp(x, ln, lh))
    return float(f"{np.exp(y):.3g}")


def weak(args, cache: Path | None, outdir: Path) -> int:
    """``--weak``: about ``--per-rank`` unknowns on every rank of each ``--ranks`` count;
    time per step, unknowns per rank, per-rank peak memory, checkpoint write/read."""
    ranks = args.ranks or [1, 2, 4, 8]
    ncores = len(__import__("os").sched_getaffinity(0))
    records = []
    for n in ranks:
        h = weak_size(args.per_rank * n)
        if cache is not None and _premesh(h, outdir, cache) is None:
            continue
        rec = _launch(h, n, args.steps, False, outdir, args.coupling, cache,
                      checkpoint=True, phase_model=args.phase_model)
        if rec is None:
            continue
        rec["oversubscribed"] = n > ncores
        records.append(rec)
        per = rec["unknowns_per_rank"]
        peaks = [p / 2**20 for p in rec["rank_peak_bytes"]]
        print(f"ranks={n} h={h:g} unknowns={rec['unknowns']:>8d} per rank {min(per)}-"
              f"{max(per)} step={rec['step_s']:7.3f}s"
              f"{' (oversubscribed: not a timing)' if rec['oversubscribed'] else ''} "
              f"peak rank0 {peaks[0]:.0f} MiB, others "
              f"{np.mean(peaks[1:]) if n > 1 else float('nan'):.0f} MiB "
              f"(ratio {rec['rank0_over_others']:.3f}) checkpoint write "
              f"{rec['checkpoint_write_s']:.3f}s read {rec['checkpoint_read_s']:.3f}s "
              f"{rec['checkpoint_bytes'] / 2**20:.2f} MiB", flush=True)
    worst = max((r["rank0_over_others"] for r in records if r["ranks"] > 1), default=1.0)
    summary = {"records": records, "weak": True, "per_rank": args.per_rank,
               "rank0_over_others_max": worst, "within_20_percent": worst <= 1.2}
    (outdir / "bench.json").write_text(json.dumps(summary, indent=2) + "\n")
    print(f"rank 0 peak memory / mean of the others, worst: {worst:.3f} "
          f"({'within' if worst <= 1.2 else 'NOT within'} 20 %); wrote {outdir / 'bench.json'}")
    return 0


def _launch_reference(h: float, ranks: int, outdir: Path,
                      cache: Path | None = None) -> dict | None:
    tag = f"h{h:g}_n{ranks}_reference"
    out = outdir / f"{tag}.json"
    cmd = [_mpiexec(), "-n", str(ranks), sys.executable, "-m", "solver.bench",
           "--reference-worker", "--h", str(h), "--json", str(out)] + _cache_args(cache)
    return _run(cmd, out, tag, outdir)


def _premesh(h: float, outdir: Path, cache: Path) -> dict | None:
    """Put the mesh of size ``h`` into ``cache`` (one 1-rank process)."""
    tag = f"h{h:g}_mesh"
    out = outdir / f"{tag}.json"
    cmd = [_mpiexec(), "-n", "1", sys.executable, "-m", "solver.bench", "--mesh-worker",
           "--h", str(h), "--json", str(out)] + _cache_args(cache)
    return _run(cmd, out, tag, outdir)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="chemomech bench", description=__doc__.split("\n")[0])
    p.add_argument("--sizes", type=float, nargs="+", default=[0.3, 0.18, 0.11, 0.075, 0.056],
                   help="mesh sizes in um (default: 0.3 0.18 0.11 0.075 0.056; the last gives "
                   "~5e5 unknowns)")
    p.add_argument("--ranks", type=int, nargs="+", default=None,
                   help="rank counts (default 1 2; with --weak 1 2 4 8)")
    p.add_argument("--steps", type=int, default=3)
    p.add_argument("--mumps-max", type=float, default=2.6e5,  # unknowns (solver setting)
                   help="run the MUMPS comparison up to this many unknowns")
    p.add_argument("--mumps-steps", type=int, default=1,
                   help="timed steps of the MUMPS comparison (default 1: at 2e5 unknowns "
                   "each monolithic MUMPS step takes minutes); the first timed step of "
                   "both runs is the same step of the same charge")
    p.add_argument("--coupling", choices=["one-way", "two-way"], default="two-way",
                   help="coupling of the benchmarked step (default two-way)")
    p.add_argument("--phase-model", choices=["single-phase", "two-phase"],
                   default="single-phase",
                   help="Li transport of the benchmarked step (two-phase: Cahn-Hilliard, "
                   "MUMPS, staggered two-way coupling)")
    p.add_argument("--output", default="results/bench")
    p.add_argument("--mesh-cache", default=None,
                   help="mesh-cache folder, or 'off' to mesh in every worker (default: "
                   "$CHEMOMECH_MESH_CACHE or ~/.cache/chemomech/meshes, as for case runs)")
    p.add_argument("--weak", action="store_true",
                   help="weak scaling: about --per-rank unknowns on each rank of 1, 2, 4, 8 "
                   "ranks (or --ranks); step time, unknowns and peak memory per rank, "
                   "checkpoint write/read")
    p.add_argument("--per-rank", type=float, default=3e4,
                   help="unknowns per rank of --weak (default 3e4)")
    p.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--checkpoint", action="store_true",
                   help="also time a distributed checkpoint write and read of the state "
                   "(w, s, u) after the steps (always on with --weak)")
    p.add_argument("--mesh-worker", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--reference-worker", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--h", type=float, help=argparse.SUPPRESS)
    p.add_argument("--direct", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--json", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    from meshes.cache import cache_dir

    cache = cache_dir(args.mesh_cache)
    if args.mesh_worker:
        assert cache is not None
        _mesh_worker(args.h, cache, Path(args.json))
        return 0
    if args.worker:
        _worker(args.h, args.steps, args.direct, Path(args.json), args.coupling, cache,
                args.checkpoint, args.phase_model)
        return 0
    if args.reference_worker:
        _reference_worker(args.h, Path(args.json), cache)
        return 0
    outdir = Path(args.output)
    outdir.mkdir(parents=True, exist_ok=True)
    if args.weak:
        return weak(args, cache, outdir)
    args.ranks = args.ranks or [1, 2]
    records = []
    for h in sorted(args.sizes, reverse=True):
        if cache is not None:
            made = _premesh(h, outdir, cache)
            if made is None:
                continue
            gmsh_s = made["gmsh_s"]
            print(f"h={h:<6g} mesh: {made['cache']} in {cache}"
                  + (f", Gmsh took {gmsh_s:.1f} s" if gmsh_s is not None else
                     " (Gmsh time not recorded)") + f", {made['wall_s']:.1f} s wall",
                  flush=True)
        for n in args.ranks:
            rec = _launch(h, n, args.steps, False, outdir, args.coupling, cache,
                          checkpoint=args.checkpoint, phase_model=args.phase_model)
            if rec is None:
                continue
            if rec["galerkin_products"] == "allatonce":
                # the run set GAMG up with the memory-lean products of a large parallel
                # run (solver/mechanics.py): the yardstick, with PETSc's default ones, is
                # timed in a process of its own, so that neither its set-up transient
                # counts to the run's peak nor the run's state to its time
                ref = _launch_reference(h, n, outdir, cache)
                if ref is None:
                    continue
                rec["run_elasticity_solve_s"] = rec["elasticity_solve_s"]
                rec["elasticity_solve_s"] = ref["elasticity_solve_s"]
                rec["elasticity_ksp_its_first"] = ref["elasticity_ksp_its_first"]
            if n == 1 and rec["unknowns"] <= args.mumps_max:
                mumps = _launch(h, 1, min(args.mumps_steps, args.steps), True, outdir,
                                args.coupling, cache, phase_model=args.phase_model)
                if mumps is not None:
                    rec["mumps_step_s"] = mumps["step_s"]
                    # against the default's time for the same steps
                    k = len(mumps["step_times_s"])
                    rec["speedup_vs_mumps"] = (mumps["step_s"]
                                               / float(np.mean(rec["step_times_s"][:k])))
            rec["ratio_step_over_elasticity"] = rec["step_s"] / rec["elasticity_solve_s"]
            records.append(rec)
            print(f"h={h:<6g} ranks={n} unknowns={rec['unknowns']:>8d} "
                  f"step={rec['step_s']:7.3f}s elasticity={rec['elasticity_solve_s']:7.3f}s "
                  f"ratio={rec['ratio_step_over_elasticity']:5.2f} "
                  f"ksp/newton={rec['ksp_its_per_newton']:5.1f} "
                  f"passes={rec['coupling_its']:4.1f} "
                  f"mem={rec['peak_mem_bytes_per_unknown']:7.0f}B/unk "
                  f"mesh={rec['mesh_s']:.1f}s ({rec['mesh_cache']})"
                  + (f" mumps={rec['mumps_step_s']:.2f}s x{rec['speedup_vs_mumps']:.1f}"
                     if "mumps_step_s" in rec else "")
                  + (f" checkpoint write={rec['checkpoint_write_s']:.3f}s read="
                     f"{rec['checkpoint_read_s']:.3f}s {rec['checkpoint_bytes'] / 2**20:.2f}MiB"
                     if "checkpoint_write_s" in rec else ""), flush=True)
    summary: dict = {"records": records}
    largest = max((r["unknowns"] for r in records), default=0)
    one = [r for r in records if r["unknowns"] == largest and r["ranks"] == 1]
    two = [r for r in records if r["unknowns"] == largest and r["ranks"] == 2]
    if one and two:
        summary["parallel_efficiency_1to2"] = one[0]["step_s"] / (2 * two[0]["step_s"])
        print(f"parallel efficiency 1 -> 2 ranks at {largest} unknowns: "
              f"{summary['parallel_efficiency_1to2']:.2f}")
    serial = sorted((r for r in records if r["ranks"] == 1), key=lambda r: r["unknowns"])
    if len(serial) >= 2:
        summary["ksp_growth_coarse_to_fine"] = (serial[-1]["ksp_its_per_newton"]
                                                / max(serial[0]["ksp_its_per_newton"], 1e-9))
        print(f"Krylov iterations per Newton step, finest / coarsest: "
              f"{summary['ksp_growth_coarse_to_fine']:.2f}")
    (outdir / "bench.json").write_text(json.dumps(summary, indent=2) + "\n")
    print(f"wrote {outdir / 'bench.json'}")
    return 0


if __name__ == "__main__":  # solver/__init__.py has set single-threaded BLAS
    sys.exit(main())
