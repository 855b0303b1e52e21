"""chemomech's solver package.

One process per MPI rank, single-threaded BLAS: unless the environment says otherwise,
``OMP_NUM_THREADS`` is set to 1 here, before NumPy or PETSc load OpenBLAS (every entry
point imports this package first: ``chemomech``, ``python -m solver.bench``).  PETSc's
Krylov kernels (GMRES's multi-dot products) call BLAS; with OpenBLAS's default of one
thread per core, ``mpiexec -n 2`` on a 2-core machine runs four busy threads on two
cores.  Measured on the 5.1e5-unknown two-way bench particle on 2 ranks: a coupled step
took 14.3-21.3 s with threaded BLAS and 8.7-12.6 s without (1 rank: no difference).
"""

import os

os.environ.setdefault("OMP_NUM_THREADS", "1")
