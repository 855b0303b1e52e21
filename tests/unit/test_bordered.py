"""The rank-one modified operator of solver/bordered.py solves the bordered Newton system.

[[J, b], [c^T, d]] (y, dV) = -(F, G) is solved densely with numpy and through
``BorderedOperator`` (GMRES on J - b c^T/d, preconditioned with J's own Jacobi); both must
agree, and the shell solve must need at most a few Krylov iterations more than a solve
with J alone (a rank-one perturbation moves one eigenvalue).  The direct
block elimination of the same system is checked too, as the reference the solvers keep
for MUMPS.
"""

from __future__ import annotations

import numpy as np
import pytest
from mpi4py import MPI
from petsc4py import PETSc

from solver.bordered import BorderedOperator

N = 200  # unknowns of the test system (test value)


def _system(seed: int):
    """A sparse, nonsymmetric, diagonally dominant J (1D convection-diffusion-reaction
    stencil plus random couplings), a surface-like column b, row c and a positive d."""
    rng = np.random.default_rng(seed)
    J = np.zeros((N, N))
    for i in range(N):
        J[i, i] = 4.0 + rng.random()
        if i > 0:
            J[i, i - 1] = -1.3
        if i < N - 1:
            J[i, i + 1] = -0.7
    for _ in range(3 * N):
        i, j = rng.integers(0, N, 2)
        J[i, j] += 0.1 * rng.standard_normal()
    b = np.zeros(N)
    c = np.zeros(N)
    surface = rng.choice(N, N // 5, replace=False)
    b[surface] = rng.random(N // 5)
    c[surface] = rng.random(N // 5)
    d = 0.5 + rng.random()
    F, G = rng.standard_normal(N), rng.standard_normal()
    return J, b, c, d, F, G


def _petsc(J, b, c, F):
    A = PETSc.Mat().createAIJ([N, N], comm=MPI.COMM_SELF)
    A.setUp()
    rows, cols = np.nonzero(J)
    for i, j in zip(rows, cols, strict=True):
        A.setValue(int(i), int(j), J[i, j])
    A.assemble()
    vec = [PETSc.Vec().createWithArray(a.copy(), comm=MPI.COMM_SELF) for a in (b, c, F)]
    return A, *vec


def _ksp(A_op, P, rtol=1e-12):
    ksp = PETSc.KSP().create(MPI.COMM_SELF)
    ksp.setOperators(A_op, P)
    ksp.setType("gmres")
    ksp.setGMRESRestart(N)
    ksp.getPC().setType("jacobi")
    ksp.setTolerances(rtol=rtol, atol=1e-30, max_it=N)  # numerical settings of the test
    return ksp


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_bordered_operator_solves_the_bordered_system(seed):
    J, b, c, d, F, G = _system(seed)
    full = np.zeros((N + 1, N + 1))
    full[:N, :N], full[:N, N], full[N, :N], full[N, N] = J, b, c, d
    ref = np.linalg.solve(full, -np.append(F, G))

    A, bv, cv, Fv = _petsc(J, b, c, F)
    op = BorderedOperator(A, bv, cv)
    op.d = d
    rhs = Fv.copy()
    rhs.scale(-1.0)
    op.rhs(rhs, G)
    y = rhs.duplicate()
    ksp = _ksp(op.mat, A)
    ksp.solve(rhs, y)
    assert ksp.getConvergedReason() > 0
    dV = op.voltage_update(y, G)
    assert np.abs(y.array - ref[:N]).max() < 1e-9 * np.abs(ref).max()
    assert abs(dV - ref[N]) < 1e-9 * np.abs(ref).max()

    # the block elimination the direct solvers keep gives the same
    y1, y2 = np.linalg.solve(J, -F), np.linalg.solve(J, b)
    dV_elim = (-G - c @ y1) / (d - c @ y2)
    assert abs(dV_elim - ref[N]) < 1e-9 * np.abs(ref).max()

    # about one Krylov iteration more than with J alone (same right-hand side, tolerance;
    # measured +1, +1, +2 for the three seeds), where the elimination needs a second solve
    plain = _ksp(A, A)
    z = rhs.duplicate()
    plain.solve(rhs, z)
    assert ksp.getIterationNumber() <= plain.getIterationNumber() + 3, (
        ksp.getIterationNumber(), plain.getIterationNumber())

    # a wrong d (the operator not updated) gives a wrong answer: the test can fail
    op.d = 2.0 * d
    ksp.solve(rhs, y)
    assert np.abs(y.array - ref[:N]).max() > 1e-6 * np.abs(ref).max()
    for obj in (ksp, plain, A, bv, cv, Fv, rhs, y, z):
        obj.destroy()
    op.free()


def test_border_vectors_on_a_block_of_the_unknowns_act_like_full_ones():
    """b and c given on one block of the unknowns only (``part``, as the monolithic solver
    does for the Li block of (w, s, u)) give the same operator, right-hand side and
    voltage update as full vectors that are zero outside the block."""
    J, b, c, d, F, G = _system(3)
    lo, hi = 40, 120  # the block (test value)
    b[:lo], b[hi:], c[:lo], c[hi:] = 0.0, 0.0, 0.0, 0.0
    A, bv, cv, Fv = _petsc(J, b, c, F)
    bp, cp = (PETSc.Vec().createWithArray(a[lo:hi].copy(), comm=MPI.COMM_SELF)
              for a in (b, c))
    full, part = BorderedOperator(A, bv, cv), BorderedOperator(A, bp, cp, part=(lo, hi))
    full.d = part.d = d
    x = Fv.duplicate()
    x.setArray(np.random.default_rng(4).standard_normal(N))
    y_full, y_part = x.duplicate(), x.duplicate()
    full.mat.mult(x, y_full)
    part.mat.mult(x, y_part)
    ref = J @ x.array - b * (c @ x.array) / d
    assert np.abs(y_full.array - ref).max() < 1e-12 * np.abs(ref).max()
    assert np.abs(y_part.array - ref).max() < 1e-12 * np.abs(ref).max()
    r_full, r_part = Fv.copy(), Fv.copy()
    full.rhs(r_full, G)
    part.rhs(r_part, G)
    assert np.abs(r_part.array - (F + b * G / d)).max() < 1e-13
    assert np.abs(r_part.array - r_full.array).max() < 1e-13
    assert part.voltage_update(x, G) == pytest.approx(full.voltage_update(x, G), rel=1e-13)
    assert part.voltage_update(x, G) == pytest.approx(-(G + c @ x.array) / d, rel=1e-13)
    for obj in (A, bv, cv, Fv, bp, cp, x, y_full, y_part, r_full, r_part):
        obj.destroy()
    full.free()
    part.free()
