"""Checks of the PETSc options a case file passes (``numerics.petsc``, ``mechanics.petsc``,
``mechanics.monolithic_petsc``).

Two stages, so that bad options exit 2 naming the key before anything is built:

* :func:`static_problems` (pure Python, no PETSc: ``chemomech validate`` stays instant):
  option-name syntax, solver prefixes written by hand, the enumerated values PETSc 3.25
  knows (KSP/PC types, factorisation packages, ...), numbers, integers and booleans where
  the option takes one, and tables that have no effect in the case.
* :func:`runtime_problems` (after PETSc is loaded, before the output folder is created):
  whether this PETSc build has the KSP/PC types and factorisation packages asked for
  (hypre, ML, SuperLU_dist, ... are optional parts of a build), tried on throwaway
  objects on ``COMM_SELF``.

What only the solve itself reveals (an option name PETSc never reads, e.g. a misspelling)
is found by :func:`unused_options` after the first time step (solver/simulation.py).
"""

from __future__ import annotations

import difflib
import re
from typing import Any

# The case tables, their solver's options prefix (solver/transport.py, mechanics.py,
# monolithic.py) and where they apply.
TABLES: dict[str, str] = {
    "numerics.petsc": "li_",
    "mechanics.petsc": "elasticity_",
    "mechanics.monolithic_petsc": "mono_",
}

# PETSc 3.25 type names (petsc4py's KSP.Type, PC.Type, Mat.SolverType; the test
# tests/unit/test_bad_input.py checks these lists still contain petsc4py's).  Whether a
# build has an optional one is checked at run time (runtime_problems).
KSP_TYPES = (
    "bcgs", "bcgsl", "bicg", "cg", "cgls", "cgne", "cgs", "chebyshev", "cr", "dgmres",
    "fbcgs", "fbcgsr", "fcg", "fetidp", "fgmres", "gcr", "gltr", "gmres", "groppcg", "hpddm",
    "ibcgs", "lcd", "lgmres", "lsqr", "minres", "nash", "none", "pgmres", "pipebcgs",
    "pipecg", "pipecg2", "pipecgrr", "pipecr", "pipefcg", "pipefgmres", "pipegcr", "pipelcg",
    "pipeprcg", "preonly", "python", "qcg", "qmrcgs", "richardson", "stcg", "symmlq",
    "tcqmr", "tfqmr", "tsirm",
)
PC_TYPES = (
    "asm", "bddc", "bjacobi", "cholesky", "chowiluviennacl", "composite", "cp", "deflation",
    "eisenstat", "exotic", "fieldsplit", "galerkin", "gamg", "gasm", "h2opus", "hmg", "hpddm",
    "hypre", "icc", "ilu", "jacobi", "kaczmarz", "ksp", "lmvm", "lsc", "lu", "mat", "mg",
    "ml", "nn", "none", "parms", "patch", "pbjacobi", "pfmg", "python", "qr", "redistribute",
    "redundant", "rowscalingviennacl", "saviennacl", "shell", "sor", "spai", "svd",
    "syspfmg", "telescope", "tfs", "vpbjacobi",
    # registered by PETSc 3.25 (petscpc.h) but not listed in petsc4py's PC.Type
    "amgx", "bjkokkos", "mpi", "smg",
)
SOLVER_TYPES = (
    "bas", "cholmod", "cuda", "cusparse", "elemental", "essl", "klu", "lusol", "matlab",
    "mkl_cpardiso", "mkl_pardiso", "mumps", "pastix", "petsc", "scalapack", "spqr",
    "strumpack", "superlu", "superlu_dist", "umfpack",
)
# option-name endings with a fixed set of values
LABELS = {"ksp_type": "KSP type", "pc_type": "PC type",
          "pc_factor_mat_solver_type": "factorisation package (MatSolverType)",
          "ksp_pc_side": "preconditioner side", "ksp_norm_type": "KSP norm type",
          "pc_fieldsplit_type": "field-split type", "pc_gamg_type": "GAMG type"}
CHOICES: dict[str, tuple[str, ...]] = {
    "ksp_type": KSP_TYPES,
    "pc_type": PC_TYPES,
    "pc_factor_mat_solver_type": SOLVER_TYPES,
    "ksp_pc_side": ("left", "right", "symmetric"),
    "ksp_norm_type": ("none", "preconditioned", "unpreconditioned", "natural"),
    "pc_fieldsplit_type": ("additive", "multiplicative", "symmetric_multiplicative",
                           "special", "schur", "gkb"),
    "pc_gamg_type": ("agg", "classical", "geo"),
}
# mechanics.petsc only: GAMG's Galerkin products on several ranks (solver/mechanics.py
# Elasticity.setup_solver); "auto" is chemomech's, the others PETSc's MPIAIJ algorithms
MATPTAP_VIA = ("auto", "scalable", "nonscalable", "allatonce", "allatonce_merged", "backend")
# option-name endings with a number: (kind, lowest, highest, what is expected)
NUMBERS: dict[str, tuple[str, float, float, str]] = {
    "_rtol": ("real", 0.0, 1.0, "a relative tolerance strictly between 0 and 1"),
    "_atol": ("real", 0.0, float("inf"), "an absolute tolerance >= 0"),
    "_divtol": ("real", 0.0, float("inf"), "a divergence tolerance > 0"),
    "_max_it": ("int", 1, float("inf"), "an iteration count >= 1"),
    "_gmres_restart": ("int", 1, float("inf"), "a restart length >= 1"),
    "_its": ("int", 1, float("inf"), "a sweep count >= 1"),
    "_esteig_steps": ("int", 1, float("inf"), "a step count >= 1"),
    "_coarse_eq_limit": ("int", 1, float("inf"), "an equation count >= 1"),
    "_agg_nsmooths": ("int", 0, float("inf"), "a smoothing count >= 0"),
    "_threshold": ("real", -float("inf"), float("inf"), "a number"),
    "_omega": ("real", 0.0, 2.0, "a relaxation factor in (0, 2)"),
}
MUMPS_INT = re.compile(r"mat_mumps_icntl_\d+$")
MUMPS_REAL = re.compile(r"mat_mumps_cntl_\d+$")
# option-name endings PETSc reads as true/false
BOOLEANS = ("_initial_guess_nonzero", "mat_product_clear", "pc_gamg_repartition",
            "pc_gamg_reuse_interpolation", "pc_gamg_use_parallel_coarse_grid_solver",
            "pc_gamg_use_sa_esteig", "pc_gamg_aggressive_square_graph",
            "pc_factor_reuse_ordering", "pc_factor_reuse_fill")
NAME = re.compile(r"[A-Za-z][A-Za-z0-9_]*$")


def _is_number(value: Any) -> bool:
    if isinstance(value, bool):
        return False
    if isinstance(value, (int, float)):
        return True
    try:
        float(value)
    except (TypeError, ValueError):
        return False
    return True


def _value_problem(table: str, name: str, value: Any) -> str | None:
    """What is wrong with one option ``name = value`` of ``table``, or None."""
    low = name.lower()
    if name.startswith("-"):
        return (f"write the option name without the leading '-' ({name.lstrip('-')!r}); "
                f"chemomech adds its solver's prefix '{TABLES[table]}' itself")
    if not NAME.match(name):
        return "expected a PETSc option name (letters, digits and '_')"
    for prefix in TABLES.values():
        if low.startswith(prefix):
            return (f"write the option without the solver prefix '{prefix}' "
                    f"({name[len(prefix):]!r}): chemomech adds '{TABLES[table]}' itself")
    if low == "matptap_via" or low.endswith("_matptap_via"):
        if table != "mechanics.petsc" or low != "matptap_via":
            return ("matptap_via (GAMG's Galerkin products) is an option of the elasticity "
                    "solver only: mechanics.petsc.matptap_via")
        if value not in MATPTAP_VIA:
            return f"expected one of {', '.join(MATPTAP_VIA)}; got {value!r}"
        return None
    for ending, choices in CHOICES.items():
        if low == ending or low.endswith("_" + ending):
            if not isinstance(value, str) or value not in choices:  # PETSc: case matters
                near = difflib.get_close_matches(str(value).lower(), choices, n=1, cutoff=0.75)
                hint = f"did you mean {near[0]!r}? " if near else ""
                return (f"unknown {LABELS[ending]} {value!r} ({hint}PETSc 3.25 knows: "
                        f"{', '.join(choices)})")
            return None
    if MUMPS_INT.search(low):
        if isinstance(value, bool) or not isinstance(value, int):
            return f"expected an integer (a MUMPS ICNTL value); got {value!r}"
        return None
    if MUMPS_REAL.search(low):
        if not _is_number(value):
            return f"expected a number (a MUMPS CNTL value); got {value!r}"
        return None
    for ending, (kind, lo, hi, what) in NUMBERS.items():
        if low.endswith(ending):
            if kind == "int":
                ok = not isinstance(value, bool) and (
                    isinstance(value, int) or (isinstance(value, str) and value.isdigit()))
                number = int(value) if ok else None
            else:
                ok = _is_number(value)
                number = float(value) if ok else None
            open_low = ending in ("_rtol", "_divtol", "_omega")
            if not ok or number < lo or number > hi or (open_low and number <= lo) or (
                    ending in ("_rtol", "_omega") and number >= hi):
                return f"expected {what}; got {value!r}"
            return None
    for ending in BOOLEANS:
        if low == ending.lstrip("_") or low.endswith(ending):
            if not (isinstance(value, bool) or (
                    isinstance(value, str) and value.lower() in ("true", "false", "1", "0",
                                                                  "yes", "no"))):
                return f"expected true or false; got {value!r}"
            return None
    return None


def static_problems(values: dict[str, dict[str, Any]]) -> tuple[str, str] | None:
    """The first problem of the case's PETSc tables as (key path, message), or None.

    ``values``: the validated case sections (solver/config.py); pure Python, no PETSc.
    """
    mech = values["mechanics"]
    monolithic = mech["coupling"] == "two-way" and mech["scheme"] == "monolithic"
    for table in TABLES:
        section, key = table.split(".")
        options = values[section][key] or {}
        for name, value in options.items():
            problem = _value_problem(table, str(name), value)
            if problem:
                return f"{table}.{name}", problem
        if not options:
            continue
        if table == "mechanics.petsc" and mech["coupling"] == "none":
            return table, "has no effect with mechanics.coupling = 'none' (no elasticity solve)"
        if table == "mechanics.monolithic_petsc" and not monolithic:
            return table, ("has no effect: only a two-way run with scheme = 'monolithic' "
                           "solves the monolithic Newton")
        if table == "numerics.petsc" and monolithic:
            return table, ("has no effect in a two-way monolithic run (its Newton solves Li, "
                           "stress potential and displacement together): give the options "
                           "as mechanics.monolithic_petsc")
    return None


def runtime_problems(values: dict[str, dict[str, Any]]) -> tuple[str, str] | None:
    """The first option asking for a type this PETSc build lacks, as (key path, message).

    Needs petsc4py (imported here); tries every ``*ksp_type``, ``*pc_type`` and
    ``*pc_factor_mat_solver_type`` of the case on throwaway objects on ``COMM_SELF``
    (cheap: a 2 x 2 matrix for a factorisation package), the same on every rank.
    """
    from petsc4py import PETSc

    for table in TABLES:
        section, key = table.split(".")
        options = values[section][key] or {}
        for name, value in options.items():
            low = str(name).lower()
            if low == "ksp_type" or low.endswith("_ksp_type"):
                problem = _try_type(PETSc.KSP, str(value))
            elif low == "pc_type" or low.endswith("_pc_type"):
                problem = _try_type(PETSc.PC, str(value))
            elif low.endswith("pc_factor_mat_solver_type"):
                pc_key = low[: -len("factor_mat_solver_type")] + "type"
                factor = {k.lower(): v for k, v in options.items()}.get(pc_key, "lu")
                problem = _try_factor(str(value), str(factor))
            else:
                continue
            if problem:
                return f"{table}.{name}", problem
    return None


def _try_type(cls, value: str) -> str | None:
    from petsc4py import PETSc

    obj = cls().create(PETSc.COMM_SELF)
    try:
        obj.setType(value)
    except PETSc.Error:
        kind = "KSP" if cls is PETSc.KSP else "PC"
        return (f"{kind} type {value!r} is not available in this PETSc build "
                f"(PETSc {'.'.join(map(str, PETSc.Sys.getVersion()))}; an optional package "
                "it was built without)")
    finally:
        obj.destroy()
    return None


def _try_factor(package: str, factor: str) -> str | None:
    """Whether ``package`` can factor a tiny matrix with PC type ``factor`` (lu, cholesky, ...)."""
    from petsc4py import PETSc

    if factor not in ("lu", "cholesky", "ilu", "icc", "qr"):
        factor = "lu"
    A = PETSc.Mat().createAIJ((2, 2), nnz=1, comm=PETSc.COMM_SELF)
    for i in range(2):
        A.setValue(i, i, 1.0)
    A.assemble()
    ksp = PETSc.KSP().create(PETSc.COMM_SELF)
    try:
        ksp.setOperators(A)
        ksp.setType("preonly")
        pc = ksp.getPC()
        pc.setType(factor)
        pc.setFactorSolverType(package)
        ksp.setUp()
    except PETSc.Error:
        return (f"factorisation package {package!r} cannot do a {factor} factorisation in "
                "this PETSc build (not built with it, or it lacks that factorisation)")
    finally:
        ksp.destroy()
        A.destroy()
    return None


def unused_options(values: dict[str, dict[str, Any]]) -> list[str]:
    """Key paths of the case's PETSc options that PETSc has not read (yet).

    Call after the solvers have set up and solved (the first time step): an option
    PETSc never read is misspelt or has no effect on the solver it was given to.
    """
    from petsc4py import PETSc

    opts = PETSc.Options()
    present = {k.lower() for k in opts.getAll()}  # hasName() would mark them used
    mech = values["mechanics"]
    unused = []
    for table, prefix in TABLES.items():
        section, key = table.split(".")
        if table == "mechanics.petsc" and mech["coupling"] == "none":
            continue
        for name in values[section][key] or {}:
            full = prefix + str(name)
            if full.lower() in present and not opts.used(full):
                unused.append(f"{table}.{name}")
    return unused
