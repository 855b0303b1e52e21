"""Compiler flags of chemomech's kernels (solver/jit.py): the fast-math build gives the
same assembled values to rounding, also where exp over- and underflows, and the flags
can be overridden."""

import numpy as np
import pytest
import ufl
from dolfinx import fem, mesh
from dolfinx.fem import petsc as fem_petsc
from mpi4py import MPI

from solver import jit


@pytest.fixture
def fresh_options(monkeypatch):
    """Re-read the flags (they are cached per process) and restore them afterwards."""
    jit.options.cache_clear()
    yield monkeypatch
    jit.options.cache_clear()


def _expressions():
    msh = mesh.create_unit_cube(MPI.COMM_WORLD, 5, 4, 3)
    V = fem.functionspace(msh, ("Lagrange", 1))
    w = fem.Function(V)
    w.interpolate(lambda x: 3.0 * np.sin(4 * x[0]) + x[1] * x[2])
    z = ufl.max_value(ufl.min_value(5.0 * w, 20.0), -20.0)  # the clamped tanh of the forms
    tanh = 1.0 - 2.0 / (ufl.exp(2.0 * z) + 1.0)
    x = 1.0 / (1.0 + ufl.exp(-w))
    v, u = ufl.TestFunction(V), ufl.TrialFunction(V)
    dx = ufl.dx(metadata={"quadrature_degree": 2})
    residual = (x * (1.0 - x) + tanh) * v * dx
    return residual, ufl.derivative(residual, w, u)


def test_fast_kernels_match_default_build(fresh_options):
    fresh_options.delenv(jit.ENV, raising=False)
    F, J = _expressions()
    fast_b = fem_petsc.assemble_vector(jit.form(F))
    ref_b = fem_petsc.assemble_vector(fem.form(F))
    assert np.allclose(fast_b.array, ref_b.array, rtol=1e-12, atol=1e-15)
    fast_A = fem_petsc.assemble_matrix(jit.form(J))
    ref_A = fem_petsc.assemble_matrix(fem.form(J))
    fast_A.assemble()
    ref_A.assemble()
    fast_A.axpy(-1.0, ref_A)
    assert fast_A.norm() <= 1e-12 * ref_A.norm()


def test_exp_overflow_still_gives_a_non_finite_value(fresh_options):
    """The solvers detect a diverging iterate by a non-finite residual; fast math must
    not turn exp(1000) into a finite number."""
    fresh_options.delenv(jit.ENV, raising=False)
    msh = mesh.create_unit_cube(MPI.COMM_WORLD, 2, 2, 2)
    V = fem.functionspace(msh, ("Lagrange", 1))
    w = fem.Function(V)
    w.x.array[:] = 1000.0
    b = fem_petsc.assemble_vector(jit.form(ufl.exp(w) * ufl.TestFunction(V)
                                           * ufl.dx(metadata={"quadrature_degree": 2})))
    assert not np.all(np.isfinite(b.array))


def test_flags_from_environment(fresh_options):
    fresh_options.setenv(jit.ENV, "-O2 -g0")
    opts = jit.options()
    assert opts["cffi_extra_compile_args"] == ["-O2", "-g0"]
    assert "cache_dir" not in opts  # DOLFINx's own cache for portable builds


def test_native_builds_use_a_cache_per_cpu(fresh_options):
    fresh_options.setenv(jit.ENV, "-O3 -march=native")
    opts = jit.options()
    assert opts["cache_dir"].name.startswith("native-")
    assert opts["cache_dir"].name == f"native-{jit._cpu_tag()}"
