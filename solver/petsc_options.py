"""PETSc options of one solver object, under its own prefix, removable afterwards."""

from __future__ import annotations

from petsc4py import PETSc


def set_prefixed_options(ksp: PETSc.KSP, prefix: str, defaults: dict,
                         overrides: dict | None = None) -> list[str]:
    """Give ``ksp`` the options prefix and put ``defaults`` updated by ``overrides`` (the
    case file's table) into the options database; return the keys set, for removal.

    The caller runs ``ksp.setFromOptions()`` (after any set-up that must precede it).
    """
    ksp.setOptionsPrefix(prefix)
    options = {**defaults, **(overrides or {})}
    opts = PETSc.Options()
    for k, val in options.items():
        opts[prefix + k] = val
    return [prefix + k for k in options]
