"""Sub-commands ``sxdm``, ``xrd``, ``txm`` and ``compare`` of the ``chemomech`` CLI.

Bad input (not a run folder, unknown reflection, malformed quantity, unreadable map,
existing result folder without --force) exits with status 2 and ``error: ...`` before any
heavy work.  ``sxdm`` and ``xrd`` run under ``mpiexec`` too (each rank reads its share of
the run's pieces, sums are reduced; rank 0 writes); ``txm`` and ``compare`` are serial
(``txm`` writes the whole 3D field as one file and draws slices of it).
"""

from __future__ import annotations

import argparse
import logging
import math
import os
import re
import sys
from pathlib import Path

from solver.cli import MPI_RANK_VARS
from solver.cli import env_rank as _rank_from_env

EXIT_INPUT = 2
def _fail(message: str) -> int:
    if _rank_from_env() == 0:
        print(f"error: {message}", file=sys.stderr)
    return EXIT_INPUT


def _logging(verbose: bool = False) -> None:
    logger = logging.getLogger("chemomech")
    if _rank_from_env() != 0:
        logger.addHandler(logging.NullHandler())
        logger.setLevel(logging.ERROR)
        return
    if not logger.handlers:
        h = logging.StreamHandler(sys.stderr)
        h.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s", "%H:%M:%S"))
        logger.addHandler(h)
    logger.setLevel(logging.DEBUG if verbose else logging.INFO)
    logger.propagate = False


def parse_length_um(text: str, option: str) -> float:
    """'30nm', '0.05 um' -> micrometres (a bare number is taken as nm)."""
    from solver.units import UnitError, parse_quantity

    s = str(text).strip()
    try:
        return float(s) * 1e-3
    except ValueError:
        pass
    try:
        return parse_quantity(s, "length") * 1e6
    except UnitError as exc:
        raise ValueError(f"{option}: {exc}") from exc


def parse_angle_deg(text: str, option: str) -> float:
    """'2deg', '2 °', '0.035 rad' or a bare number (degrees) -> degrees."""
    m = re.fullmatch(r"\s*([-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)\s*(deg|°|rad|mrad)?\s*",
                     str(text))
    if m is None:
        raise ValueError(f"{option}: expected an angle such as '2deg' or '0.035 rad', got "
                         f"{text!r}")
    v = float(m.group(1))
    unit = m.group(2) or "deg"
    return {"deg": v, "°": v, "rad": math.degrees(v), "mrad": math.degrees(v * 1e-3)}[unit]


def parse_time_s(text: str | None) -> float | None:
    """'10 min', '600 s' or a bare number (seconds)."""
    if text is None:
        return None
    from solver.units import UnitError, parse_quantity

    try:
        return float(text)
    except ValueError:
        pass
    try:
        return parse_quantity(text, "time")
    except UnitError as exc:
        raise ValueError(f"--time: {exc}") from exc


def _comm():
    """MPI.COMM_WORLD when launched by mpiexec, else None (no MPI import)."""
    if not any(v in os.environ for v in MPI_RANK_VARS):
        return None
    from solver.cli import _import_mpi

    return _import_mpi().COMM_WORLD


def cmd_sxdm(args: argparse.Namespace) -> int:
    from postprocess.io import OutputExists
    from postprocess.lattice import parse_reflection
    from postprocess.sxdm import SXDMParams, parse_direction, run_sxdm
    from solver.config import CaseError

    _logging(args.verbose)
    try:
        params = SXDMParams(reflection=parse_reflection(args.reflection),
                            beam_fwhm_um=parse_length_um(args.beam_fwhm, "--beam-fwhm"),
                            step_um=parse_length_um(args.step_size, "--step-size"),
                            beam_direction=parse_direction(args.beam_direction),
                            rocking_range_deg=parse_angle_deg(args.rocking_range,
                                                              "--rocking-range"),
                            threshold=args.threshold, grain=args.grain)
        params.check()
        if args.reference_x is not None and not 0.0 < args.reference_x <= 1.0:
            raise ValueError(f"--reference-x must be in (0, 1], got {args.reference_x}")
        comm = _comm()
        out = run_sxdm(Path(args.run_dir), params, time_s=parse_time_s(args.time),
                       step=args.step, reference_x=args.reference_x,
                       output=Path(args.output) if args.output else None, force=args.force,
                       comm=comm)
    except (CaseError, ValueError, OutputExists) as exc:
        return _fail(str(exc))
    if _rank_from_env() == 0:
        print(out)
    return 0


def _serial(args: argparse.Namespace, work, errors: tuple) -> int:
    """Run a serial command on rank 0 only (other ranks of an mpiexec launch return 0):
    ``work()`` returns the output folder; ``errors`` are reported as bad input (exit 2)."""
    if _rank_from_env() != 0:
        return 0
    _logging(args.verbose)
    try:
        out = work()
    except errors as exc:
        return _fail(str(exc))
    print(out)
    return 0


def _output(args: argparse.Namespace) -> Path | None:
    return Path(args.output) if args.output else None


def cmd_xrd(args: argparse.Namespace) -> int:
    from postprocess.io import OutputExists
    from postprocess.xrd import XRDParams, run_xrd
    from solver.config import CaseError

    _logging(args.verbose)
    try:
        params = XRDParams(wavelength_m=parse_length_um(args.wavelength, "--wavelength") * 1e-6,
                           fwhm_deg=parse_angle_deg(args.fwhm, "--fwhm"), eta=args.eta)
        params.check()
        out = run_xrd(Path(args.run_dir), params, output=_output(args), force=args.force,
                      comm=_comm())
    except (CaseError, ValueError, OutputExists) as exc:
        return _fail(str(exc))
    if _rank_from_env() == 0:
        print(out)
    return 0


def cmd_txm(args: argparse.Namespace) -> int:
    from postprocess.io import OutputExists
    from postprocess.txm import run_txm
    from solver.config import CaseError

    def work() -> Path:
        return run_txm(Path(args.run_dir), time_s=parse_time_s(args.time), step=args.step,
                       output=_output(args), force=args.force)

    return _serial(args, work, (CaseError, ValueError, OutputExists))


def cmd_compare(args: argparse.Namespace) -> int:
    from postprocess.compare import MapInputError, run_compare
    from postprocess.io import OutputExists

    def work() -> Path:
        px = parse_length_um(args.pixel_size, "--pixel-size") if args.pixel_size else None
        return run_compare(Path(args.sim_maps), Path(args.measured_maps), sim_key=args.sim_key,
                           key=args.key, pixel_um=px, mask_below=args.mask_below,
                           allow_flip=not args.no_flip, output=_output(args), force=args.force)

    return _serial(args, work, (MapInputError, ValueError, OutputExists))


def add_parsers(sub) -> None:
    """Register the observable sub-commands on the main parser's subparsers."""

    def common(sp, times: bool = True):
        sp.add_argument("run_dir", help="run output folder (with vtk/fields.pvd)")
        if times:
            g = sp.add_mutually_exclusive_group()
            g.add_argument("--time", help="output time nearest to this (e.g. '10 min'; "
                           "bare number: s); default: the last output")
            g.add_argument("--step", type=int, help="index of the field output (0 = first, "
                           "-1 = last)")
        sp.add_argument("--output", help="result folder (default: inside RUN_DIR)")
        sp.add_argument("--force", action="store_true", help="replace an existing result "
                        "folder's files")
        sp.add_argument("-v", "--verbose", action="store_true")

    s = sub.add_parser("sxdm", help="synthetic SXDM maps (Delta d/d, tilts, intensity)",
                       description="Synthetic scanning X-ray diffraction microscopy maps of a "
                       "run (docs/observables.md). Defaults: the reference experiment "
                       "(Wang et al. 2025, 3-ID NSLS-II).")
    common(s)
    s.add_argument("--reflection", default="003", help="hkl, e.g. 003 (default), 104, '1,0,4'")
    s.add_argument("--beam-fwhm", default="30nm", help="Gaussian beam FWHM (default 30nm)")
    s.add_argument("--step-size", default="50nm", help="raster step = pixel (default 50nm)")
    s.add_argument("--beam-direction", default="auto", help="x, y, z, -x, ..., 'bx,by,bz', or "
                   "auto (default: the sample axis most perpendicular to Q)")
    s.add_argument("--rocking-range", default="2deg", help="rocking range (default 2deg)")
    s.add_argument("--threshold", type=float, default=0.1, help="mask pixels below this "
                   "fraction of the maximum intensity (default 0.1)")
    s.add_argument("--grain", type=int, help="only this grain_id diffracts (polycrystals: "
                   "the grain in the Bragg condition); default: all cells")
    s.add_argument("--reference-x", type=float, help="Li fraction of the unstrained reference "
                   "lattice (default: the run's conditions.initial_x)")
    s.set_defaults(func=cmd_sxdm)

    x = sub.add_parser("xrd", help="synthetic (00l) XRD at every output time, fits, W-H")
    common(x, times=False)
    x.add_argument("--wavelength", default="1.540593 A",
                   help="X-ray wavelength (default Cu K-alpha1, 1.540593 A)")
    x.add_argument("--fwhm", default="0.05deg", help="instrument pseudo-Voigt FWHM in 2theta "
                   "(default 0.05deg)")
    x.add_argument("--eta", type=float, default=0.5, help="Lorentzian fraction of the "
                   "instrument pseudo-Voigt (default 0.5)")
    x.set_defaults(func=cmd_xrd)

    t = sub.add_parser("txm", help="TXM-XANES proxy: Ni oxidation state field, slices, "
                       "histogram")
    common(t)
    t.set_defaults(func=cmd_txm)

    c = sub.add_parser("compare", help="register a measured map to a simulated one and "
                       "compare histograms")
    c.add_argument("sim_maps", help="simulated maps (.npz from chemomech sxdm, or any map)")
    c.add_argument("measured_maps", help="measured map: .npz, .csv, .txt, .tif(f), .h5")
    c.add_argument("--sim-key", help="array in the simulated .npz (default dd_mean)")
    c.add_argument("--key", help="array/dataset in the measured file (default: dd_mean or "
                   "the only 2D array)")
    c.add_argument("--pixel-size", help="measured pixel size, e.g. 50nm (required unless "
                   "the file stores pixel_size_um)")
    c.add_argument("--mask-below", type=float, help="measured pixels below this value are "
                   "outside the particle")
    c.add_argument("--no-flip", action="store_true", help="do not try the mirrored map")
    c.add_argument("--output", help="result folder (default: SIM_MAPS's folder/compare)")
    c.add_argument("--force", action="store_true")
    c.add_argument("-v", "--verbose", action="store_true")
    c.set_defaults(func=cmd_compare)
