"""Math namespaces so that one material law serves numpy arrays and UFL expressions.

Material functions (open-circuit potential, diffusivity, exchange current, lattice
parameters) are written once as ``f(x, m=NUMPY)`` where ``m`` provides ``exp``,
``log``, ``tanh``, ``sqrt`` and ``pi``.  ``NUMPY`` evaluates them on arrays (case
validation, post-processing, tests); ``ufl_namespace()`` returns the same functions
from UFL so that the identical law enters the finite-element forms.
"""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np

NUMPY = SimpleNamespace(exp=np.exp, log=np.log, tanh=np.tanh, sqrt=np.sqrt, pi=np.pi)


def ufl_namespace() -> SimpleNamespace:
    """Return the UFL math namespace (imported lazily: config must not import UFL)."""
    import ufl

    return SimpleNamespace(exp=ufl.exp, log=ufl.ln, tanh=ufl.tanh, sqrt=ufl.sqrt, pi=np.pi)
