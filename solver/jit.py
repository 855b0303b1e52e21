"""C compiler flags for the kernels that FFCx generates for chemomech's forms.

DOLFINx compiles its generated C with ``-O2``.  The residual and Jacobian kernels of the
coupled problem evaluate ``exp`` several times per quadrature point (x(w), the lattice
laws' tanh written through exp, Butler-Volmer), and with ``-ffast-math`` GCC vectorises
those calls over the quadrature points with glibc's vector math library (libmvec);
``-O3`` lets it vectorise the quadrature loops at all.  Measured on the two-way
monolithic Jacobian (1e5 cells, 1 rank, docs/performance.md): the five Jacobian blocks
of a Newton iteration 0.565 s -> 0.373 s, the residuals 0.142 s -> 0.048 s, with
``-O3 -march=native -ffast-math`` (0.426 s and 0.074 s without ``-march=native``).
``-ffast-math`` without its finite-math part (``-fno-finite-math-only``) loses most of
it (0.472 s, 0.116 s): glibc declares the vector variants only under ``__FAST_MATH__``.

What fast math changes: floating-point reassociation inside one cell's kernel (results
move in the last bits; the assembled Jacobian blocks agreed to 10 digits, the residual
to rounding), and the compiler may assume that no NaN or infinity occurs inside a kernel.
The solvers check every assembled residual and update for non-finite values in numpy,
outside the kernels, so a diverging iterate is still caught.  The kernels are linked
without ``crtfastmath``: denormals are not flushed in the process (checked).

``-march=native`` is used on x86-64 Linux only, and then the JIT cache goes into a
sub-folder named after the CPU, so that a cache in a home folder shared by nodes of
different CPUs never hands a kernel built for one to another (illegal instruction).

Override with the environment variable ``CHEMOMECH_JIT_ARGS`` (e.g. ``"-O2 -g0"``, the
DOLFINx default, to compare).  Forms compiled by other code (tests, scripts) keep
DOLFINx's own options.
"""

from __future__ import annotations

import hashlib
import os
import platform
import shlex
from functools import cache
from pathlib import Path

import ufl
from dolfinx import fem, jit
from petsc4py import PETSc

ENV = "CHEMOMECH_JIT_ARGS"
# numerical settings (compiler flags), see the module docstring for the measurements
PORTABLE_ARGS = ("-O3", "-ffast-math", "-g0")
NATIVE_ARGS = ("-O3", "-march=native", "-ffast-math", "-g0")
# s to wait for another process compiling the same kernel (DOLFINx default 10 s): -O3
# builds of the largest coupled kernels take several seconds each
TIMEOUT_S = 300


def _cpu_tag() -> str:
    """Short hash of the CPU model and instruction-set flags (x86-64 Linux)."""
    text = platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith(("model name", "flags")):
                    text += line
                if line.strip() == "":
                    break  # the first processor is enough
    except OSError:
        text += platform.processor()
    return hashlib.sha256(text.encode()).hexdigest()[:12]


def _native_ok() -> bool:
    return platform.system() == "Linux" and platform.machine() in ("x86_64", "AMD64")


@cache
def options() -> dict:
    """JIT options for :func:`dolfinx.fem.form` and friends (the same dict every call)."""
    env = os.environ.get(ENV)
    if env is not None:
        args = shlex.split(env)
    else:
        args = list(NATIVE_ARGS if _native_ok() else PORTABLE_ARGS)
    opts: dict = {"cffi_extra_compile_args": args, "timeout": TIMEOUT_S}
    if "-march=native" in args:
        base = Path(str(jit.get_options()["cache_dir"])).expanduser()
        opts["cache_dir"] = base / f"native-{_cpu_tag()}"
    return opts


def form(f: ufl.Form | list | None) -> fem.Form | None:
    """:func:`dolfinx.fem.form` with chemomech's compiler flags."""
    return fem.form(f, jit_options=options())


def compile_form(comm, f: ufl.Form) -> fem.CompiledForm:
    """:func:`dolfinx.fem.compile_form` with chemomech's compiler flags."""
    return fem.compile_form(comm, f, form_compiler_options={"scalar_type": PETSc.ScalarType},
                            jit_options=options())


def expression(expr: ufl.core.expr.Expr, points) -> fem.Expression:
    """:class:`dolfinx.fem.Expression` at reference ``points`` with chemomech's flags."""
    return fem.Expression(expr, points, jit_options=options())


__all__ = ["ENV", "compile_form", "expression", "form", "options"]
