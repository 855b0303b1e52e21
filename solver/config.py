"""Case files: schema, validation, unit conversion to SI, ``--set`` overrides.

This module imports no DOLFINx, UFL or MPI so that ``chemomech validate`` is instant.
A case is validated completely before any mesh is built or any folder is created; every
error names the file, the key path and what was expected (:class:`CaseError`).
"""

from __future__ import annotations

import copy
import math
import tomllib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from solver.materials.defects import CASE_KEYS as _DEFECT_KEYS
from solver.protocol.step import ProtocolStep
from solver.units import UnitError, format_quantity, parse_quantity

if TYPE_CHECKING:  # annotations only: the materials are imported when a case is checked
    from solver.materials import Material


class CaseError(ValueError):
    """Invalid case input: names the file, the key path and what was expected."""

    def __init__(self, source: str, key: str, message: str):
        self.source, self.key, self.message = source, key, message
        where = f"{source}: {key}: " if key else f"{source}: "
        super().__init__(where + message)


@dataclass(frozen=True)
class Spec:
    """How one case key is read.

    kind: "quantity" (unit string, ``dimension`` required), "number", "int", "bool",
    "str", "choice", "vector3" (three numbers), "quantity3" (three unit strings),
    "table" (free-form table of strings/numbers, e.g. PETSc options).
    """

    kind: str
    doc: str
    default: Any = None
    dimension: str = ""
    choices: tuple[str, ...] = ()
    check: Callable[[Any], str | None] | None = None
    required: bool = False


def _positive(v: float) -> str | None:
    return None if v > 0 else "must be positive"


def _nonnegative(v: float) -> str | None:
    return None if v >= 0 else "must not be negative"


def _open_unit(v: float) -> str | None:
    return None if 0.0 < v < 1.0 else "must lie strictly between 0 and 1"


def _positive3(v: list[float]) -> str | None:
    return None if all(c > 0 for c in v) else "every entry must be positive"


PHASE_MODELS = ("single-phase", "two-phase")
# the same keys as solver.materials.TRANSPORT_MODEL_KEYS
PHASE_KEYS = ("phase_model", "interface_width", "interface_energy")
# two-phase defaults (model assumptions, docs/materials.md section 7; the same numbers as
# solver.materials.phase.INTERFACE_WIDTH_DEFAULT / INTERFACE_ENERGY_DEFAULT)
INTERFACE_WIDTH_DEFAULT = "1 um"  # numerical assumption: resolved by h <= 0.25 um
INTERFACE_ENERGY_DEFAULT = "0.1 J/m^2"  # assumption: no measured H2/H3 value found
# mesh requirement of the two-phase model: element size <= interface_width / this
# (measured, docs/theory.md section 8: width error -0.9 % at h = lambda/4, -3.6 % at lambda/2)
INTERFACE_CELLS = 4.0


SCHEMA: dict[str, dict[str, Spec]] = {
    "run": {
        "name": Spec("str", "run name (default: the case file's stem)"),
        "output": Spec("str", "output folder, relative to the working directory "
                       "(default: results/<name>)"),
        "description": Spec("str", "free text, copied to the resolved case", ""),
    },
    "geometry": {
        "shape": Spec("choice", "particle shape: sphere and ellipsoid (single crystal or, with "
                      "grains.count > 1, polycrystal), faceted single crystals 'platelet' "
                      "(hexagonal, basal (003) facets normal to c) and 'octahedron' "
                      "(truncated, c along a {111} = (003) facet normal); docs/meshes.md",
                      "sphere", choices=("sphere", "ellipsoid", "platelet", "octahedron")),
        "radius": Spec("quantity", "sphere radius", dimension="length", check=_positive),
        "semi_axes": Spec("quantity3", "ellipsoid semi-axes along sample x, y, z",
                          dimension="length", check=_positive3),
        "mesh_size": Spec("quantity", "target element size in the bulk "
                          "(default: radius/8)", dimension="length", check=_positive),
        "surface_mesh_size": Spec("quantity", "element size at the surface (default: "
                                  "mesh_size); smaller values resolve steep surface "
                                  "gradients at high current", dimension="length",
                                  check=_positive),
        "refinement_depth": Spec("quantity", "depth below the surface over which the size "
                                 "grows from surface_mesh_size to mesh_size (default: "
                                 "radius/4)", dimension="length", check=_positive),
        "degree": Spec("int", "polynomial degree of the Lagrange space for Li", 1,
                       check=lambda v: None if v in (1, 2) else "must be 1 or 2"),
        "equivalent_diameter": Spec("quantity", "faceted shapes: diameter of the sphere of "
                                    "equal volume (alternative to width/thickness)",
                                    dimension="length", check=_positive),
        "width": Spec("quantity", "platelet: corner-to-corner width of the hexagon; "
                      "octahedron: corner-to-corner size before truncation",
                      dimension="length", check=_positive),
        "thickness": Spec("quantity", "platelet: distance between the basal (003) facets",
                          dimension="length", check=_positive),
        "aspect_ratio": Spec("number", "platelet sized by equivalent_diameter: thickness / "
                             "width", 0.4, check=_positive),
        "truncation": Spec("number", "octahedron: {100} truncation, 0 = octahedron, 1/3 = "
                           "Archimedean truncated octahedron", 1.0 / 3.0,
                           check=lambda v: None if 0.0 <= v < 2.0 / 3.0
                           else "must lie in [0, 2/3)"),
        "edge_radius": Spec("quantity", "faceted shapes: radius of rounded edges (0: sharp)",
                            dimension="length", check=_nonnegative),
        "grain_boundary_mesh_size": Spec("quantity", "element size at grain boundaries "
                                         "(default: mesh_size)", dimension="length",
                                         check=_positive),
        "mesh_cache": Spec("str", "mesh-cache folder, or 'off' (default: $CHEMOMECH_MESH_CACHE "
                           "or ~/.cache/chemomech/meshes)"),
    },
    "grains": {
        "count": Spec("int", "number of primary grains (1: single crystal); sphere/ellipsoid "
                      "split by a seeded Voronoi tessellation", 1,
                      check=lambda v: None if v >= 1 else "must be >= 1"),
        "seed": Spec("int", "random seed of the grain centres (same seed, same mesh)", 0),
        "centres_file": Spec("str", "file of grain centres 'x y z' in um relative to the "
                             "particle centre (replaces count/seed); relative to the case file"),
        "method": Spec("choice", "'fragment' (Gmsh OCC fragment of Voronoi polyhedra: planar "
                       "grain boundaries, minutes beyond ~300 grains) or 'laguerre' (one "
                       "particle mesh, each element gets the grain of a fitted Laguerre "
                       "tessellation: scales to thousands of grains, boundaries follow "
                       "element faces); docs/meshes.md", "fragment",
                       choices=("fragment", "laguerre")),
        "diameter": Spec("quantity", "median equivalent diameter of the grains (log-normal "
                         "sizes); the count then follows from the particle volume (instead "
                         "of count)", dimension="length", check=_positive),
        "size_spread": Spec("number", "laguerre: standard deviation of ln(equivalent "
                            "diameter) of the log-normal grain sizes (0: equal sizes)", 0.0,
                            check=lambda v: None if 0.0 <= v <= 1.0
                            else "must lie in [0, 1]"),
        "aspect_ratio": Spec("number", "laguerre: length of a grain along the radial "
                             "direction of its centre over its width (1: equiaxed; Ni-rich "
                             "secondaries have radially elongated primaries, ~2-3)", 1.0,
                             check=lambda v: None if 1.0 <= v <= 5.0
                             else "must lie in [1, 5]"),
    },
    "voids": {
        "volume_fraction": Spec("number", "fraction of the particle volume taken by spherical "
                                "voids (0: none)", 0.0,
                                check=lambda v: None if 0.0 <= v < 0.5
                                else "must lie in [0, 0.5)"),
        "radius": Spec("quantity", "void radius (adjusted slightly so the count is whole)",
                       dimension="length", check=_positive),
        "placement": Spec("choice", "'core' (porous core), 'random' or 'intergranular' (at "
                          "grain junctions)", "core", choices=("core", "random",
                                                               "intergranular")),
        "core_fraction": Spec("number", "core region size relative to the particle", 0.5,
                              check=lambda v: None if 0.0 < v <= 1.0 else "must lie in (0, 1]"),
        "gap": Spec("quantity", "smallest distance between voids and to the surface "
                    "(default: surface_mesh_size)", dimension="length", check=_positive),
        "seed": Spec("int", "random seed of the void positions", 0),
        "li_exchange": Spec("bool", "void surfaces exchange Li like the outer surface "
                            "(default: blocked; they are traction-free either way)", False),
    },
    "orientation": {
        "mode": Spec("choice", "'fixed' (euler_deg or c_axis for every grain), 'random' "
                     "(uniform on SO(3)), 'radial' / 'tangential' (c-axis texture with "
                     "spread_deg), 'file' (Bunge angles per grain)", "fixed",
                     choices=("fixed", "random", "radial", "tangential", "file")),
        "seed": Spec("int", "random seed of random/textured orientations", 0),
        "spread_deg": Spec("number", "texture spread: half-angle of the cone (uniform on the "
                           "spherical cap) of c-axis deviations [deg]", 0.0,
                           check=lambda v: None if 0.0 <= v <= 180.0 else "must lie in [0, 180]"),
        "file": Spec("str", "mode = 'file': rows 'grain phi1 Phi phi2' (Bunge, degrees), "
                     "relative to the case file"),
        "euler_deg": Spec("vector3", "Bunge (z-x'-z'') Euler angles phi1, Phi, phi2 in "
                          "degrees, active rotation crystal -> sample"),
        "c_axis": Spec("vector3", "direction of the crystal c-axis in the sample frame "
                       "(default [0, 0, 1]); a-axis chosen perpendicular",
                       check=lambda v: None if math.hypot(*v) > 0 else "must be non-zero"),
    },
    "material": {
        "name": Spec("str", "material from the library: NC91, NM91, NMC622, NMC811",
                     required=True),
        "D_c_over_D_ab": Spec("number", "override: c-axis / ab-plane diffusivity ratio",
                              check=_nonnegative),
        "Ea_D": Spec("quantity", "override: activation energy of D", dimension="molar_energy",
                     check=_nonnegative),
        "Ea_i0": Spec("quantity", "override: activation energy of i0",
                      dimension="molar_energy", check=_nonnegative),
        "alpha": Spec("number", "override: anodic transfer coefficient", check=_open_unit),
        "D_ab_const": Spec("quantity", "override: constant in-plane diffusivity at T_ref "
                           "(replaces D_ab(x))", dimension="diffusivity", check=_positive),
        "D_ab_scale": Spec("number", "override: factor on D_ab(x)", check=_positive),
        "i0_scale": Spec("number", "override: factor on the exchange current", check=_positive),
        "density": Spec("quantity", "override: density (c_max follows)", dimension="density",
                        check=_positive),
        "i0_ref": Spec("quantity", "override: exchange-current prefactor, "
                       "i0 = i0_ref sqrt(x(1-x)) at T_ref", dimension="current_density",
                       check=_positive),
        "D_H3_decades": Spec("number", "override: decades by which D_ab falls in the "
                             "collapsed H3 region (x -> 0)", check=_nonnegative),
        "E_ab": Spec("quantity", "override: Young's modulus in the basal plane",
                     dimension="pressure", check=_positive),
        "E_c": Spec("quantity", "override: Young's modulus along c", dimension="pressure",
                    check=_positive),
        "nu_ab": Spec("number", "override: Poisson ratio in the basal plane"),
        "nu_c": Spec("number", "override: Poisson ratio, ab-contraction under c-axis load"),
        "G_c": Spec("quantity", "override: shear modulus in planes containing c (C44)",
                    dimension="pressure", check=_positive),
        **{f"{c}_scale": Spec("number", f"override: factor on the stiffness component {c}"
                              f"{extra} (sensitivity studies; docs/materials.md)",
                              check=_positive)
           for c, extra in (("C11", " (= C22; C66 = (C11 - C12)/2 follows)"), ("C33", ""),
                            ("C13", " (= C23)"), ("C44", " (= C55)"))},
        "vegard_a": Spec("number", "override: linear lattice law a/a_ref - 1 = vegard_a (x - 1) "
                         "instead of the measured a(x)"),
        "vegard_c": Spec("number", "override: linear lattice law c/c_ref - 1 = vegard_c (x - 1) "
                         "instead of the measured c(x)"),
        "phase_model": Spec("choice", "Li transport model: 'single-phase' (Fickian with the "
                            "measured chemical D(x) and monotonic OCV) or 'two-phase' "
                            "(Cahn-Hilliard H2-H3 transition with a plateau in the "
                            "equilibrium OCV; docs/theory.md section 8)", "single-phase",
                            choices=PHASE_MODELS),
        "interface_width": Spec("quantity", "two-phase only: H2/H3 interface width lambda "
                                "(Delta x / max |dx/dz| of the planar front); model "
                                "assumption, needs geometry.mesh_size and "
                                "surface_mesh_size <= lambda/4 (default 1 um)",
                                dimension="length", check=_positive),
        "interface_energy": Spec("quantity", "two-phase only: H2/H3 interface energy gamma; "
                                 "model assumption (default 0.1 J/m^2); with lambda it "
                                 "fixes the barrier W = 3 gamma/(4 c_max lambda) and the "
                                 "gradient coefficient", dimension="surface_energy",
                                 check=_positive),
    },
    "conditions": {
        "temperature": Spec("quantity", "temperature, inside the material's data range "
                            "(chemomech materials NAME; -20 to 200 degC today)", "25 degC",
                            dimension="temperature"),
        "initial_x": Spec("number", "initial uniform Li fraction x of Li_xMO2 "
                          "(x = 1 fully lithiated)", 0.98, check=_open_unit),
        "from_synthesis": Spec("str", "folder of a completed synthesis run (relative to the "
                               "working directory) whose end state seeds the particle: "
                               "inactive fraction (rock salt, left-over precursor, "
                               "disordered layered oxide, excess porosity) and the rock-salt "
                               "mismatch eigenstrain; the same particle geometry; "
                               "docs/synthesis.md"),
    },
    "kinetics": {
        "distribution": Spec("choice", "how the total current is spread over the surface: "
                             "'butler-volmer' (electrode potential V is a global unknown) "
                             "or 'uniform' (equal flux; V from Butler-Volmer for reporting)",
                             "butler-volmer", choices=("butler-volmer", "uniform")),
        "surface_activity": Spec("table", "relative Li exchange of the particle's facet "
                                 "groups, by name: 'surface', 'basal_surface' ((003) facets "
                                 "of faceted crystals; basal planes barely exchange Li), "
                                 "'void_surface'; e.g. {basal_surface = 0.01}; missing "
                                 "groups keep surface = basal_surface = 1, void_surface = 0 "
                                 "(1 with voids.li_exchange)", {}),
    },
    "mechanics": {
        "coupling": Spec("choice", "'none' (Li only), 'one-way' (Li -> stress) or 'two-way' "
                         "(stress acts back on the Li chemical potential)", "one-way",
                         choices=("none", "one-way", "two-way")),
        "degree": Spec("int", "polynomial degree of the displacement (2: accurate stresses)", 1,
                       check=lambda v: None if v in (1, 2) else "must be 1 or 2"),
        "coupling_tol": Spec("number", "two-way coupling converged when the stress potential "
                             "sigma:Omega/(c_max R T) changes by less than this", 1e-6,
                             check=_positive),
        "coupling_max_it": Spec("int", "coupling iterations before the step is cut back", 50,
                                check=lambda v: None if v >= 1 else "must be >= 1"),
        "coupling_acceleration": Spec("int", "depth of the Anderson acceleration of the "
                                      "two-way coupling iteration (0 = plain fixed point)", 5,
                                      check=lambda v: None if 0 <= v <= 50
                                      else "must be between 0 and 50"),
        "linear_solver": Spec("choice", "'iterative' (CG + GAMG with rigid-body modes, "
                              "scales) or 'direct' (MUMPS)", "iterative",
                              choices=("iterative", "direct")),
        "petsc": Spec("table", "extra PETSc options for the elasticity solve (prefix-free, "
                      "names and values checked: solver/petsc_check.py; "
                      "matptap_via: GAMG's Galerkin products on several ranks, 'auto' "
                      "= 'allatonce' (memory-lean) from 1e5 stiffness rows per rank up, "
                      "else 'scalable' (faster))", {}),
        "monolithic_petsc": Spec("table", "extra PETSc options for the linear solve of the "
                                 "monolithic Newton, two-way monolithic runs only "
                                 "(prefix-free, e.g. {ksp_rtol = 1e-8}: "
                                 "the tightest inexact-Newton tolerance; any "
                                 "fieldsplit_u_pc_* option gives the u split its own "
                                 "preconditioner instead of the elasticity solver's GAMG)",
                                 {}),
        "scheme": Spec("choice", "two-way step: 'staggered' (Li and elasticity solves "
                       "alternate until the stress potential settles) or 'monolithic' "
                       "(Newton on Li, stress potential and displacement together; "
                       "converges at large dt where staggered stalls, see docs/theory.md "
                       "section 6); used with coupling = 'two-way' only", "monolithic",
                       choices=("staggered", "monolithic")),
        "monolithic_linear_solver": Spec("choice", "linear solver of the monolithic "
                                         "Newton: 'direct' (MUMPS, small meshes), "
                                         "'iterative' (GMRES + field split w/s/u, scales) or "
                                         "'auto' (direct up to 5e3 unknowns)", "auto",
                                         choices=("auto", "direct", "iterative")),
    },
    "defects": {
        "model": Spec("choice", "'none', or 'lattice': residual (defect) strain that grows "
                      "where the von Mises stress passes yield_stress, heals by an Arrhenius "
                      "law where the Li content is recoverable and turns into an inactive, "
                      "in-plane strained fraction where it is not (anneals); needs "
                      "mechanics; docs/theory.md section 7", "none",
                      choices=("none", "lattice")),
        **{k: Spec("quantity" if dim not in ("number",) else "number",
                   f"{doc} (default: solver/materials/defects.py, with its source)",
                   dimension="" if dim == "number" else dim,
                   check=_nonnegative if k == "barrier_shift" else _positive)
           for k, (dim, doc) in _DEFECT_KEYS.items()},
    },
    "numerics": {
        "dt_initial": Spec("quantity", "first time step", "1 s", dimension="time",
                           check=_positive),
        "dt_min": Spec("quantity", "smallest time step before the run gives up",
                       "1e-6 s", dimension="time", check=_positive),
        "dt_max": Spec("quantity", "largest time step", "120 s", dimension="time",
                       check=_positive),
        "max_dx": Spec("number", "target largest change of x in one step (dt adapts)",
                       0.02, check=_open_unit),
        "predictor": Spec("bool", "start the Li Newton of Li-only and one-way steps from an "
                          "extrapolation of the last step (solver/predictor.py; fewer "
                          "iterations, the same solution to newton_tol)", True),
        "newton_max_it": Spec("int", "Newton iterations before a step is cut back", 12,
                              check=lambda v: None if v >= 1 else "must be >= 1"),
        "newton_tol": Spec("number", "Newton tolerance on the max update of the Li "
                           "chemical-potential variable w = ln(x/(1-x))", 1e-9,
                           check=_positive),
        "voltage_tol": Spec("quantity", "tolerance of voltage cut-off location", "1 mV",
                            dimension="voltage", check=_positive),
        "current_tol": Spec("number", "relative tolerance of locating the current limit "
                            "that ends a constant-voltage hold", 0.01, check=_open_unit),
        "quadrature_degree": Spec("int", "quadrature degree of all integrals (default: 2 x "
                                  "geometry.degree; set explicitly because UFL's estimate "
                                  "explodes for exp/log of rotated fields)",
                                  check=lambda v: None if 1 <= v <= 12 else "must be 1..12"),
        "linear_solver": Spec("choice", "'iterative' (GMRES + GAMG, scales) or 'direct' "
                              "(MUMPS, small problems)", "iterative",
                              choices=("iterative", "direct")),
        "petsc": Spec("table", "extra PETSc options for the Li solve (prefix-free, e.g. "
                      "{ ksp_rtol = 1e-12 }; not in two-way monolithic runs, whose Newton "
                      "takes mechanics.monolithic_petsc); names and values are checked "
                      "(solver/petsc_check.py)", {}),
    },
    "output": {
        "field_every": Spec("int", "write fields every N accepted steps (and at the end of "
                            "each protocol step)", 10,
                            check=lambda v: None if v >= 1 else "must be >= 1"),
        "vtx": Spec("bool", "write ADIOS2 VTX fields.bp for ParaView", True),
        "pvd": Spec("bool", "write vtk/fields.pvd (VTK XML; PyVista and ParaView)", True),
        "figures": Spec("bool", "write PNG figures at the end", True),
        "checkpoint_every": Spec("int", "write a restart checkpoint every N accepted steps, "
                                 "at protocol-step boundaries and at --max-steps (0: never); "
                                 "see docs/studies.md", 50,
                                 check=lambda v: None if v >= 0 else "must not be negative"),
    },
}

PROTOCOL_SCHEMA: dict[str, Spec] = {
    "type": Spec("choice", "step kind: 'charge'/'discharge' (constant current), 'hold' "
                 "(constant voltage until a current limit), 'rest', 'temperature' (change "
                 "at open circuit), 'anneal' (hold at a temperature between optional ramps), "
                 "'cycle' (repeat its [[protocol.steps]]); keys per kind: "
                 "solver/protocol/parse.py", required=True,
                 choices=("charge", "discharge", "hold", "rest", "temperature", "anneal",
                          "cycle")),
    "current": Spec("quantity", "specific current magnitude per mass of active material "
                    "(charge/discharge)", dimension="specific_current", check=_positive),
    "voltage": Spec("quantity", "hold: the electrode potential held", dimension="voltage",
                    check=_positive),
    "until_voltage": Spec("quantity", "charge/discharge: end when the voltage reaches this "
                          "value", dimension="voltage", check=_positive),
    "until_capacity": Spec("quantity", "charge/discharge: end when this specific charge has "
                           "passed in the step", dimension="specific_capacity",
                           check=_positive),
    "until_current": Spec("quantity", "hold: end when the current magnitude falls to this "
                          "specific current", dimension="specific_current", check=_positive),
    "until_time": Spec("quantity", "end after this duration (anneal: the hold at its "
                       "temperature, ramps come on top; temperature: the ramp's duration)",
                       dimension="time", check=_positive),
    "temperature": Spec("quantity", "temperature during the step (default: the temperature "
                        "the previous step ends at, first conditions.temperature); "
                        "temperature/anneal: the target; inside the material's data range",
                        dimension="temperature"),
    "ramp_rate": Spec("quantity", "temperature/anneal: heating and cooling rate (anneal "
                      "without it: instantaneous)", dimension="temperature_rate",
                      check=_positive),
    "cool_to": Spec("quantity", "anneal: temperature after the anneal (default: the one "
                    "before it)", dimension="temperature"),
    "dt_max": Spec("quantity", "largest time step in this step (a cycle block: in each of "
                   "its steps; default numerics.dt_max)", dimension="time", check=_positive),
    "max_dx": Spec("number", "target largest change of x per time step in this step (a "
                   "cycle block: in each of its steps; default numerics.max_dx)",
                   check=_open_unit),
    "repeat": Spec("int", "cycle: how many times its [[protocol.steps]] run"),
    "steps": Spec("table", "cycle: the steps of one cycle ([[protocol.steps]] tables, any "
                  "kind but cycle)"),
}


@dataclass(frozen=True)
class Case:
    """A validated case in SI units (``values``) and as resolved unit strings (``resolved``)."""

    source: str
    values: dict[str, dict[str, Any]]
    protocol: tuple[ProtocolStep, ...]
    resolved: dict[str, Any] = field(repr=False)

    def __getitem__(self, section: str) -> dict[str, Any]:
        return self.values[section]

    @property
    def problem(self) -> str:
        """'electrochemical', or 'synthesis' for a calcination case (solver/synthesis/)."""
        return "synthesis" if "synthesis" in self.values else "electrochemical"

    @property
    def name(self) -> str:
        return self.values["run"]["name"]


def _read_value(source: str, key: str, spec: Spec, raw: Any) -> tuple[Any, Any]:
    """Return (SI value, resolved representation) of one key or raise CaseError."""
    try:
        if spec.kind == "quantity":
            si = parse_quantity(raw, spec.dimension)
            rep = raw
        elif spec.kind == "quantity3":
            if not isinstance(raw, list) or len(raw) != 3:
                raise UnitError(f"expected a list of three quantities; got {raw!r}")
            si = [parse_quantity(r, spec.dimension) for r in raw]
            rep = list(raw)
        elif spec.kind == "number":
            if isinstance(raw, bool) or not isinstance(raw, (int, float)):
                raise UnitError(f"expected a number; got {raw!r}")
            si = rep = float(raw)
        elif spec.kind == "int":
            if isinstance(raw, bool) or not isinstance(raw, int):
                raise UnitError(f"expected an integer; got {raw!r}")
            si = rep = raw
        elif spec.kind == "bool":
            if not isinstance(raw, bool):
                raise UnitError(f"expected true or false; got {raw!r}")
            si = rep = raw
        elif spec.kind == "str":
            if not isinstance(raw, str):
                raise UnitError(f"expected a string; got {raw!r}")
            si = rep = raw
        elif spec.kind == "choice":
            if raw not in spec.choices:
                raise UnitError(f"expected one of {', '.join(map(repr, spec.choices))}; "
                                f"got {raw!r}")
            si = rep = raw
        elif spec.kind == "vector3":
            if (not isinstance(raw, list) or len(raw) != 3
                    or not all(isinstance(c, (int, float)) and not isinstance(c, bool)
                               for c in raw)):
                raise UnitError(f"expected a list of three numbers; got {raw!r}")
            si = [float(c) for c in raw]
            rep = si
        elif spec.kind == "table":
            if not isinstance(raw, dict) or not all(
                    isinstance(v, (str, int, float, bool)) for v in raw.values()):
                raise UnitError(f"expected a table of scalar values; got {raw!r}")
            si = rep = dict(raw)
        else:  # pragma: no cover - schema error
            raise AssertionError(spec.kind)
    except UnitError as exc:
        raise CaseError(source, key, str(exc)) from None
    if spec.check is not None:
        problem = spec.check(si)
        if problem:
            raise CaseError(source, key, f"{problem}; got {raw!r}")
    return si, rep


def _read_section(source: str, prefix: str, schema: dict[str, Spec],
                  raw: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    if not isinstance(raw, dict):
        raise CaseError(source, prefix, f"expected a table; got {raw!r}")
    unknown = sorted(set(raw) - set(schema))
    if unknown:
        raise CaseError(source, f"{prefix}.{unknown[0]}",
                        f"unknown key (valid keys in [{prefix}]: {', '.join(schema)})")
    values: dict[str, Any] = {}
    resolved: dict[str, Any] = {}
    for key, spec in schema.items():
        if key in raw:
            values[key], resolved[key] = _read_value(source, f"{prefix}.{key}", spec, raw[key])
        elif spec.required:
            raise CaseError(source, f"{prefix}.{key}", f"missing required key ({spec.doc})")
        elif spec.default is not None:
            values[key], resolved[key] = _read_value(
                source, f"{prefix}.{key}", spec, copy.deepcopy(spec.default))
        else:
            values[key] = None
    return values, resolved


def not_text_message(exc: UnicodeDecodeError) -> str:
    """What a user is told about a file that is not UTF-8 text (binary, other encoding)."""
    bad = exc.object[exc.start:exc.start + 1]
    return (f"not a UTF-8 text file (byte 0x{bad.hex()} at offset {exc.start}): a binary "
            "file, or text saved in another encoding; save it as UTF-8 text")


def read_text_file(path: str | Path) -> str:
    """The text of a UTF-8 file (a leading byte-order mark is dropped).

    Raises OSError as ``Path.read_text`` does and ValueError (not UnicodeDecodeError's
    traceback text) naming the file when it is not UTF-8 text."""
    path = Path(path)
    try:
        return path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ValueError(f"{path}: {not_text_message(exc)}") from None


def load_toml(path: str | Path) -> dict[str, Any]:
    """Read a TOML file, turning I/O, encoding and syntax problems into CaseError."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8-sig")  # a byte-order mark is no error
    except OSError as exc:
        raise CaseError(str(path), "", f"cannot read the case file ({exc.strerror})") from None
    except UnicodeDecodeError as exc:
        raise CaseError(str(path), "", not_text_message(exc)) from None
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise CaseError(str(path), "", f"not valid TOML: {exc}") from None


def _parse_set_value(text: str) -> Any:
    try:
        return tomllib.loads(f"v = {text}")["v"]
    except tomllib.TOMLDecodeError:
        return text  # a bare word or quantity: take it as a string


def apply_overrides(raw: dict[str, Any], sets: list[str], source: str) -> dict[str, Any]:
    """Apply ``--set key.path=value`` overrides (value in TOML syntax or a bare string).

    Protocol steps are addressed by index: ``protocol.0.current="100 mA/g"``.
    """
    data = copy.deepcopy(raw)
    for item in sets:
        if "=" not in item:
            raise CaseError(source, item, "--set expects key.path=value")
        path, text = item.split("=", 1)
        keys = path.strip().split(".")
        node: Any = data
        for i, k in enumerate(keys[:-1]):
            if isinstance(node, list):
                if not k.isdigit() or int(k) >= len(node):
                    raise CaseError(source, path, f"no list entry {k!r} (have {len(node)})")
                node = node[int(k)]
            else:
                node = node.setdefault(k, {})
            if not isinstance(node, (dict, list)):
                raise CaseError(source, ".".join(keys[: i + 1]), "is not a table")
        last = keys[-1]
        value = _parse_set_value(text.strip())
        if isinstance(node, list):
            if not last.isdigit() or int(last) >= len(node):
                raise CaseError(source, path, f"no list entry {last!r}")
            node[int(last)] = value
        else:
            node[last] = value
    return data


def validate(raw: dict[str, Any], source: str = "<case>", stem: str = "case",
             base_dir: Path | None = None) -> Case:
    """Validate a raw case dict; return a Case in SI units or raise CaseError.

    ``base_dir`` is the folder relative file names in the case refer to (the case file's
    folder; default: the working directory).
    """
    if not isinstance(raw, dict):
        raise CaseError(source, "", "expected a TOML table")
    if "synthesis" in raw:  # a calcination case: its own schema (solver/synthesis/config.py)
        from solver.synthesis.config import validate_synthesis

        return validate_synthesis(raw, source, stem, base_dir)
    allowed = set(SCHEMA) | {"protocol"}
    unknown = sorted(set(raw) - allowed)
    if unknown:
        raise CaseError(source, unknown[0],
                        f"unknown section (valid: {', '.join(sorted(allowed))})")
    values: dict[str, dict[str, Any]] = {}
    resolved: dict[str, Any] = {}
    for section, schema in SCHEMA.items():
        values[section], resolved[section] = _read_section(
            source, section, schema, raw.get(section, {}))

    run = values["run"]
    run["name"] = run["name"] or stem
    run["output"] = run["output"] or f"results/{run['name']}"
    resolved["run"].update(name=run["name"], output=run["output"])

    base = Path(base_dir) if base_dir is not None else Path(".")
    _check_geometry(source, values["geometry"], resolved["geometry"])
    _check_orientation(source, values["orientation"], resolved["orientation"], base)
    _check_particle(source, values, base)
    _check_surface_activity(source, values)
    if values["grains"]["centres_file"] is not None:
        resolved["grains"]["centres_file"] = values["grains"]["centres_file"]
    material = _check_material(source, values["material"])
    _check_phase_model(source, values, resolved)
    temperature = values["conditions"]["temperature"]
    _check_temperature(source, "conditions.temperature", temperature,
                       resolved["conditions"]["temperature"], material)

    from solver.protocol.parse import ProtocolError, parse_protocol

    def read(key: str, schema: dict[str, Spec], table: Any):
        return _read_section(source, key, schema, table)

    def check_temperature(key: str, T: float, given: Any) -> None:
        _check_temperature(source, key, T, given, material)

    try:
        steps, resolved["protocol"] = parse_protocol(
            raw.get("protocol"), read, PROTOCOL_SCHEMA, conditions_temperature=temperature,
            open_circuit_voltage=float(material.ocv(values["conditions"]["initial_x"])),
            material=material, distribution=values["kinetics"]["distribution"],
            check_temperature=check_temperature)
    except ProtocolError as exc:
        raise CaseError(source, exc.key, exc.message) from None

    if values["material"]["phase_model"] == "two-phase":
        # not combined yet: the Cahn-Hilliard transport has no potentiostatic control and
        # no active-fraction field (solver/phasefield.py)
        if values["defects"]["model"] != "none":
            raise CaseError(source, "defects.model", "the lattice-defect model is not "
                            "combined with material.phase_model = 'two-phase' yet")
        holds = [p.key for p in steps if p.kind == "hold"]
        if holds:
            raise CaseError(source, f"{holds[0]}.type", "constant-voltage holds are not "
                            "available with material.phase_model = 'two-phase' yet")
    _check_from_synthesis(source, values, resolved)
    if values["defects"]["model"] != "none" and values["mechanics"]["coupling"] == "none":
        raise CaseError(source, "defects.model", "the defect model acts through the "
                        "elasticity: set mechanics.coupling = 'one-way' or 'two-way'")

    from solver.petsc_check import static_problems  # pure Python: no PETSc imported

    problem = static_problems(values)
    if problem:
        raise CaseError(source, *problem)

    num = values["numerics"]
    if num["quadrature_degree"] is None:
        num["quadrature_degree"] = 2 * values["geometry"]["degree"]
        resolved["numerics"]["quadrature_degree"] = num["quadrature_degree"]
    if not num["dt_min"] <= num["dt_initial"] <= num["dt_max"]:
        raise CaseError(source, "numerics.dt_initial", "expected dt_min <= dt_initial <= dt_max")
    for step in steps:
        if step.dt_max is not None and step.dt_max < num["dt_min"]:
            entry = resolved["protocol"][step.entry]
            own = (entry if entry.get("type") != "cycle"
                   else entry["steps"][int(step.key.rsplit("[", 1)[1].rstrip("]"))])
            key = step.key if own.get("dt_max") is not None else f"protocol[{step.entry}]"
            raise CaseError(source, f"{key}.dt_max", f"{step.dt_max:.3g} s is below "
                            f"numerics.dt_min = {num['dt_min']:.3g} s")
    return Case(source, values, steps, resolved)


_FACETED_KEYS = ("equivalent_diameter", "width", "thickness", "edge_radius")
_SIZE_KEYS = ("semi_axes", "equivalent_diameter", "width", "thickness", "edge_radius")


def _check_from_synthesis(source: str, values: dict[str, Any], resolved: dict[str, Any]
                          ) -> None:
    """``conditions.from_synthesis``: a completed synthesis run of the same particle."""
    given = values["conditions"]["from_synthesis"]
    if given is None:
        return
    from solver.synthesis.config import check_run_dir, synthesis_geometry

    key = "conditions.from_synthesis"
    path = Path(given).expanduser().resolve()
    problem = check_run_dir(path)
    if problem:
        raise CaseError(source, key, problem)
    if values["defects"]["model"] != "none":
        raise CaseError(source, key, "not combined with the lattice-defect model yet "
                        "(defects.model = 'none'): both set the inactive fraction")
    if values["material"]["phase_model"] == "two-phase":
        raise CaseError(source, key, "not combined with material.phase_model = "
                        "'two-phase' yet (it has no active-fraction field)")
    theirs = synthesis_geometry(path)  # its resolved strings
    mine = values["geometry"]
    if theirs.get("shape", "sphere") != mine["shape"]:
        raise CaseError(source, key, f"the synthesis particle is a {theirs.get('shape')!r}, "
                        f"this case's a {mine['shape']!r}: the same particle is needed")
    for k in _SIZE_KEYS:
        raw = theirs.get(k)
        if k == "semi_axes" and raw is None and "radius" in theirs:
            raw = [theirs["radius"]] * 3
        if raw is None and mine.get(k) is None:
            continue
        if raw is None:
            other = None
        elif k == "semi_axes":
            other = [parse_quantity(v, "length") for v in raw]
        else:
            other = parse_quantity(raw, "length")
        a = np.atleast_1d(np.asarray(other if other is not None else np.nan, dtype=float))
        b = np.atleast_1d(np.asarray(mine.get(k) if mine.get(k) is not None else np.nan,
                                     dtype=float))
        if a.shape != b.shape or not np.allclose(a, b, rtol=1e-6):
            raise CaseError(source, key, f"geometry.{k} differs from the synthesis run's "
                            f"({raw!r}): the same particle is needed")
    values["conditions"]["from_synthesis"] = str(path)
    resolved["conditions"]["from_synthesis"] = str(path)


SURFACE_GROUPS = ("surface", "basal_surface", "void_surface")


def surface_activity(values: dict[str, Any]) -> dict[str, float]:
    """Exchange factor per facet-group name, defaults filled (see kinetics.surface_activity)."""
    act = {"surface": 1.0, "basal_surface": 1.0,
           "void_surface": 1.0 if values["voids"]["li_exchange"] else 0.0}
    act.update({k: float(v) for k, v in values["kinetics"]["surface_activity"].items()})
    return act


def _check_surface_activity(source: str, values: dict[str, Any]) -> None:
    table = values["kinetics"]["surface_activity"]
    key = "kinetics.surface_activity"
    for name, v in table.items():
        if name not in SURFACE_GROUPS:
            raise CaseError(source, f"{key}.{name}",
                            f"unknown facet group (valid: {', '.join(SURFACE_GROUPS)})")
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not v >= 0:
            raise CaseError(source, f"{key}.{name}", f"expected a number >= 0; got {v!r}")
    if "basal_surface" in table and values["geometry"]["shape"] not in ("platelet",
                                                                       "octahedron"):
        raise CaseError(source, f"{key}.basal_surface",
                        f"shape '{values['geometry']['shape']}' has no basal facets "
                        "(only 'platelet' and 'octahedron' have)")
    voids = values["voids"].get("volume_fraction") or 0.0
    if "void_surface" in table and not voids:
        raise CaseError(source, f"{key}.void_surface", "the particle has no voids "
                        "(voids.volume_fraction)")
    act = surface_activity(values)
    if act["surface"] == 0.0 and act["basal_surface"] == 0.0 and act["void_surface"] == 0.0:
        raise CaseError(source, key, "every facet group is blocked: no Li can enter or leave")


def _check_geometry(source: str, g: dict[str, Any], r: dict[str, Any]) -> None:
    if g["shape"] in ("platelet", "octahedron"):
        _check_faceted(source, g)
        rmin = g["_inradius"]
    else:
        for key in _FACETED_KEYS:
            if g[key] is not None:
                raise CaseError(source, f"geometry.{key}", "only for faceted shapes "
                                "('platelet', 'octahedron')")
        rmin = _check_ellipsoid(source, g)
    if g["mesh_size"] is None:
        g["mesh_size"] = rmin / 8
        r["mesh_size"] = format_quantity(g["mesh_size"], "length")
    if g["surface_mesh_size"] is None:
        g["surface_mesh_size"] = g["mesh_size"]
        r["surface_mesh_size"] = r["mesh_size"]
    if g["refinement_depth"] is None:
        g["refinement_depth"] = rmin / 4
        r["refinement_depth"] = format_quantity(g["refinement_depth"], "length")
    for key in ("mesh_size", "surface_mesh_size", "grain_boundary_mesh_size"):
        if g[key] is None:
            continue
        if g[key] >= rmin:
            raise CaseError(source, f"geometry.{key}", f"{g[key]:.3g} m is not smaller than "
                            f"the particle's smallest semi-axis {rmin:.3g} m")
        if g[key] < rmin / 400:
            raise CaseError(source, f"geometry.{key}", f"{g[key]:.3g} m would give more than "
                            "~1e8 elements; expected at least 1/400 of the particle radius")
    if g["refinement_depth"] > rmin:
        raise CaseError(source, "geometry.refinement_depth",
                        "must not exceed the particle's smallest semi-axis")
    g.pop("_inradius", None)


def _check_faceted(source: str, g: dict[str, Any]) -> None:
    """Sizes of a faceted crystal; stores its inradius [m] in g['_inradius']."""
    from meshes.spec import faceted_polyhedron, inradius

    shape = g["shape"]
    for key in ("radius", "semi_axes"):
        if g[key] is not None:
            raise CaseError(source, f"geometry.{key}", "only for shape = 'sphere' / "
                            "'ellipsoid'; faceted shapes take equivalent_diameter or width")
    if g["equivalent_diameter"] is not None and g["width"] is not None:
        raise CaseError(source, "geometry.width", "give either equivalent_diameter or width, "
                        "not both")
    if g["equivalent_diameter"] is None and g["width"] is None:
        raise CaseError(source, "geometry.equivalent_diameter", f"a {shape} needs "
                        "equivalent_diameter (e.g. '4 um') or width")
    if shape == "platelet" and g["width"] is not None and g["thickness"] is None:
        raise CaseError(source, "geometry.thickness", "a platelet sized by width needs "
                        "thickness")
    if shape != "platelet" and g["thickness"] is not None:
        raise CaseError(source, "geometry.thickness", "only for shape = 'platelet'")
    poly = faceted_polyhedron(g, 1e-6)  # in um: the polyhedron tolerances are relative
    g["_inradius"] = inradius(poly) * 1e-6
    if g["edge_radius"] is not None and g["edge_radius"] >= 0.5 * g["_inradius"]:
        raise CaseError(source, "geometry.edge_radius", f"{g['edge_radius']:.3g} m must be "
                        f"below half the crystal's inradius {g['_inradius']:.3g} m")


def _check_ellipsoid(source: str, g: dict[str, Any]) -> float:
    if g["shape"] == "sphere":
        if g["radius"] is None:
            raise CaseError(source, "geometry.radius", "a sphere needs a radius, e.g. '2 um'")
        if g["semi_axes"] is not None:
            raise CaseError(source, "geometry.semi_axes", "only for shape = 'ellipsoid'")
        g["semi_axes"] = [g["radius"]] * 3
    else:
        if g["semi_axes"] is None:
            raise CaseError(source, "geometry.semi_axes", "an ellipsoid needs semi_axes, "
                            "e.g. ['2 um', '2 um', '1.5 um']")
        if g["radius"] is not None:
            raise CaseError(source, "geometry.radius", "only for shape = 'sphere'")
    return min(g["semi_axes"])


def _check_orientation(source: str, o: dict[str, Any], r: dict[str, Any], base: Path) -> None:
    mode = o["mode"]
    if mode != "fixed":
        for key in ("euler_deg", "c_axis"):
            if o[key] is not None:
                raise CaseError(source, f"orientation.{key}", "only for mode = 'fixed' (the "
                                f"{mode} mode sets every grain's orientation)")
    if mode in ("radial", "tangential") and o["spread_deg"] is None:
        o["spread_deg"] = 0.0
    if mode == "file":
        if o["file"] is None:
            raise CaseError(source, "orientation.file", "mode = 'file' needs a file of "
                            "'grain phi1 Phi phi2' rows")
        path = Path(o["file"])
        path = path if path.is_absolute() else base / path
        if not path.is_file():
            raise CaseError(source, "orientation.file", f"cannot read {path}")
        o["file"] = r["file"] = str(path.resolve())  # the resolved case works elsewhere
    elif o["file"] is not None:
        raise CaseError(source, "orientation.file", "only for mode = 'file'")
    if o["euler_deg"] is not None and o["c_axis"] is not None:
        raise CaseError(source, "orientation", "give either euler_deg or c_axis, not both")
    if mode == "fixed" and o["euler_deg"] is None and o["c_axis"] is None:
        o["c_axis"] = [0.0, 0.0, 1.0]
        r["c_axis"] = [0.0, 0.0, 1.0]


def _check_particle(source: str, values: dict[str, Any], base: Path) -> None:
    """Grains and voids: build the mesh spec (NumPy only) and refuse impossible geometry."""
    from meshes.spec import GeometryError, spec_from_case

    g, o = values["geometry"], values["orientation"]
    gr = values["grains"]
    if gr["centres_file"] is not None:
        path = Path(gr["centres_file"])
        gr["centres_file"] = str((path if path.is_absolute() else base / path).resolve())
    if values["voids"]["volume_fraction"] == 0.0:
        for key in ("radius", "gap"):
            if values["voids"][key] is not None:
                raise CaseError(source, f"voids.{key}", "has no effect without "
                                "voids.volume_fraction > 0")
    try:
        spec = spec_from_case(values, 1e-6, None)
    except GeometryError as exc:
        raise CaseError(source, exc.key, str(exc)) from None
    # derived, not a case key: the count that grains.diameter gives (validate reports it)
    gr["num_grains"] = spec.num_grains
    if o["mode"] == "file":
        from solver.orientations import read_euler_file

        try:
            read_euler_file(o["file"], spec.num_grains)
        except ValueError as exc:
            raise CaseError(source, "orientation.file", str(exc)) from None
    if g["shape"] in ("platelet", "octahedron") and o["mode"] != "fixed":
        raise CaseError(source, "orientation.mode", "a faceted single crystal takes a fixed "
                        "orientation (euler_deg or c_axis), which also turns its facets")


def _check_material(source: str, m: dict[str, Any]):
    from solver.materials import MATERIAL_NAMES, get_material

    overrides = {k: v for k, v in m.items()
                 if k != "name" and k not in PHASE_KEYS and v is not None}
    try:
        return get_material(m["name"], overrides)
    except KeyError as exc:
        msg = exc.args[0] if exc.args else str(exc)
        raise CaseError(source, "material.name",
                        f"{msg} (materials: {', '.join(MATERIAL_NAMES)})") from None
    except ValueError as exc:
        raise CaseError(source, "material", str(exc)) from None


def _check_temperature(source: str, key: str, T: float, given: Any,
                       material: Material) -> None:
    """Refuse a temperature [K] outside the material's data range (Material.temperature_range_K)."""
    problem = material.temperature_problem(T)
    if problem:
        if isinstance(given, str) and given.split()[-1:] != ["K"]:
            problem = f"{given!r} = {problem}"
        raise CaseError(source, key, problem)


def _check_phase_model(source: str, values: dict[str, Any], resolved: dict[str, Any]) -> None:
    """Two-phase parameters: only with phase_model = 'two-phase' (defaults filled there),
    resolved by the mesh, and not with the monolithic two-way Newton."""
    m, r = values["material"], resolved["material"]
    if m["phase_model"] != "two-phase":
        for key in ("interface_width", "interface_energy"):
            if m[key] is not None:
                raise CaseError(source, f"material.{key}",
                                "only used with material.phase_model = 'two-phase'")
        return
    for key, default in (("interface_width", INTERFACE_WIDTH_DEFAULT),
                         ("interface_energy", INTERFACE_ENERGY_DEFAULT)):
        if m[key] is None:
            m[key], r[key] = _read_value(source, f"material.{key}", SCHEMA["material"][key],
                                         default)
    g = values["geometry"]
    limit = m["interface_width"] / INTERFACE_CELLS
    for key in ("mesh_size", "surface_mesh_size"):
        h = g.get(key)
        if h is not None and h > limit * (1.0 + 1e-12):
            raise CaseError(source, f"geometry.{key}",
                            f"{h * 1e6:.4g} um does not resolve the H2/H3 interface: the "
                            f"two-phase model needs <= interface_width/{INTERFACE_CELLS:g} "
                            f"= {limit * 1e6:.4g} um")
    mech = values["mechanics"]
    if mech["coupling"] == "two-way" and mech["scheme"] == "monolithic":
        raise CaseError(source, "mechanics.scheme",
                        "the monolithic two-way Newton does not take the two-phase "
                        "(Cahn-Hilliard) transport; set mechanics.scheme = 'staggered'")


def load_case(path: str | Path, sets: list[str] | None = None) -> Case:
    """Read, override and validate a case file."""
    path = Path(path)
    raw = load_toml(path)
    source = str(path)
    if sets:
        source = f"{path} with --set"
        raw = apply_overrides(raw, sets, source)
    return validate(raw, source, path.stem, path.parent)


def schema_markdown() -> str:
    """The case-file reference as a Markdown table (used in README.md)."""
    lines = ["| key | type / unit | default | meaning |", "|---|---|---|---|"]

    def row(key: str, spec: Spec) -> str:
        kind = spec.dimension.replace("_", " ") if spec.kind.startswith("quantity") else spec.kind
        if spec.kind == "quantity3":
            kind = f"3 x {kind}"
        if spec.choices:
            kind = " \\| ".join(f"`{c}`" for c in spec.choices)
        default = "required" if spec.required else (
            "" if spec.default is None else f"`{spec.default!r}`")
        return f"| `{key}` | {kind} | {default} | {spec.doc} |"

    for section, schema in SCHEMA.items():
        lines += [row(f"{section}.{k}", s) for k, s in schema.items()]
    lines += [row(f"protocol[i].{k}", s) for k, s in PROTOCOL_SCHEMA.items()]

    return "\n".join(lines)


if __name__ == "__main__":  # regenerate the README's case-file reference
    import re
    import sys

    readme = Path(sys.argv[1] if len(sys.argv) > 1 else "README.md")
    text = readme.read_text()
    new = re.sub(r"(<!-- case-reference:start[^\n]*-->\n).*?(<!-- case-reference:end -->)",
                 lambda m: m.group(1) + schema_markdown() + "\n" + m.group(2), text, flags=re.S)
    readme.write_text(new)
