"""Parameters of the lattice-defect and annealing model (solver/defects.py), with sources.

No DOLFINx.  Values are SI.  Every value says where it comes from and how firm it is; the
model equations are in solver/defects.py and docs/theory.md ("Lattice defects and
annealing").  Which observation each assumption touches is stated there too: the
recovery voltage and the relaxation time come from the thermal-healing study [TH] itself,
so the sign and size of its anneal effect at 2.8 V versus 4.9 V are *not* predictions of
this model.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from .data import R_GAS

EV_PER_MOL = 96485.33212  # J/mol per eV (CODATA 2018, exact)


@dataclass(frozen=True)
class DefectParameters:
    """Lattice-defect growth, relaxation and transformation (SI units)."""

    # ---- growth during cycling: linear (Perzyna, n = 1) viscoplastic residual strain
    yield_stress: float  # Pa, von Mises stress above which distortion accumulates
    flow_rate: float  # 1/s, reference equivalent strain rate at twice the yield stress
    # ---- relaxation (healing) of the residual strain: Arrhenius
    relax_time: float  # s, relaxation time at relax_temperature where fully recoverable
    relax_temperature: float  # K
    relax_Ea: float  # J/mol
    # ---- recoverability versus Li content: 1 (heals) above, 0 (degrades) below
    recovery_voltage: float  # V: x_rec = x at which the material's OCV has this value
    recovery_width: float  # -, Li-fraction width of the crossover
    # ---- layered -> spinel/rock-salt transformation where not recoverable: Arrhenius
    decomposition_Ea: float  # J/mol
    decomposition_peak: float  # K, DSC peak temperature at dsc_rate
    dsc_rate: float  # K/s, heating rate of that DSC peak
    transformation_strain: float  # -, in-plane (ab) eigenstrain of the transformed part
    # ---- Li transport of the healed lattice: a lower migration barrier
    barrier_shift: float  # J/mol, Li-barrier decrease of the fully healed lattice
    distortion_ref: float  # -, net healed equivalent strain of a fully healed lattice

    def healed(self, healed_strain):
        """Healed fraction h in [0, 1] of a lattice from which healing has removed the
        net equivalent residual strain ``healed_strain`` [-] (numbers or arrays): the Li
        barrier is lowered by h * barrier_shift."""
        import numpy as np

        return np.minimum(1.0, np.asarray(healed_strain) / self.distortion_ref)

    def relax_rate(self, T: float) -> float:
        """Relaxation rate constant [1/s] at T [K] (fully recoverable region)."""
        return math.exp(-self.relax_Ea / R_GAS * (1.0 / T - 1.0 / self.relax_temperature)
                        ) / self.relax_time

    def decomposition_rate(self, T: float) -> float:
        """First-order transformation rate [1/s] at T [K] (Kissinger: at the DSC peak of
        a first-order reaction k(T_p) = beta Ea / (R T_p^2))."""
        Tp = self.decomposition_peak
        kp = self.dsc_rate * self.decomposition_Ea / (R_GAS * Tp**2)
        return kp * math.exp(-self.decomposition_Ea / R_GAS * (1.0 / T - 1.0 / Tp))


DEFAULTS = DefectParameters(
    # Weibull scale of the NMC811 grain-boundary tensile strength, FIB micro-tensile
    # (Sedlatschek et al., J. Power Sources 681, 240276 (2026), second-hand via
    # PARAMETERS.md §3): the stress scale at which the lattice gives way; ASSUMPTION that
    # it is also the onset of irreversible distortion of the bulk lattice
    yield_stress=745e6,  # Pa
    # ASSUMPTION (no measured rate found): 1e-4 1/s at twice the yield stress; the
    # overstress of a constrained point then relaxes in sigma_y / (3 G flow_rate) ~ 30 s,
    # so at cycling time scales the flow is nearly rate independent
    flow_rate=1e-4,  # 1/s
    # FITTED to [TH]: a 2 h anneal at 150 degC narrows the d-spacing distribution of the
    # discharged crystal; relax_time = 1 h at 150 degC makes it relax by 1 - e^-2 = 86 %
    relax_time=3600.0,  # s
    relax_temperature=423.15,  # K (150 degC, [TH])
    # [TH] CI-NEB Li migration barrier of the cycled, distorted NMC622 crystal, 0.63 eV,
    # used as the barrier of the relaxation (ASSUMPTION: the healing moves the same ions)
    relax_Ea=0.63 * EV_PER_MOL,  # J/mol
    # [TH] NMC622: electrodes annealed at 2.8 and 3.7 V gain capacity, at >= 4.0 V lose it;
    # the crossover is put midway, 3.85 V (DERIVED from [TH]'s protocol voltages; the same
    # voltage is used for other compositions: PROXY, the DFT map says it moves to lower
    # delithiation with more Ni, by an amount not available here)
    recovery_voltage=3.85,  # V
    recovery_width=0.02,  # -, ASSUMPTION (a smooth switch, narrower than any x gradient)
    # overcharged Li0.204Ni1/3Co1/3Mn1/3O2, DSC, first O2-release peak 239 degC, Ea 113.6
    # kJ/mol (Kissinger/Ozawa; Wang, Tang, Huang, Chin. J. Chem. 29, 1583 (2011))
    decomposition_Ea=113.6e3,  # J/mol
    decomposition_peak=512.15,  # K (239 degC)
    # ASSUMPTION: 10 K/min, the common DSC heating rate (not stated in the abstract)
    dsc_rate=10.0 / 60.0,  # K/s
    # [TH]: +1.1 % in-plane tensile strain in the charged crystal after the anneal
    transformation_strain=0.011,  # -
    # [TH] CI-NEB, discharged NMC622: mean Li migration barrier 0.63 eV in the cycled
    # (distorted) crystal, 0.50 eV after the 150 degC anneal, i.e. D x 152 at 25 degC
    # ([TH]'s own numbers: 2.18e-13 -> 3.32e-11 cm^2/s).  The material's D(x) is taken as
    # that of the cycled lattice (its sources are effective fits to cells, whose crystals
    # carry their defects; ASSUMPTION), so healing lowers the barrier by up to 0.13 eV
    barrier_shift=0.13 * EV_PER_MOL,  # J/mol
    # DERIVED, not fitted: the mean equivalent residual strain this model leaves in
    # NMC622 after [TH]'s abuse protocol (cases/nmc622_abuse_anneal_*.toml, measured
    # 1.19e-4), i.e. the distortion whose removal turns [TH]'s DFT "before" into its
    # "after" structure.  ASSUMPTION: the barrier falls linearly with the healed residual
    # strain up to that amount (no source relates the two)
    distortion_ref=1.2e-4,  # -
)

# case key -> (attribute, dimension for solver/config.py, doc)
CASE_KEYS: dict[str, tuple[str, str]] = {
    "yield_stress": ("pressure", "von Mises stress above which residual (defect) strain "
                     "accumulates"),
    "flow_rate": ("number", "reference residual-strain rate [1/s] at twice the yield stress"),
    "relax_time": ("time", "relaxation time of the residual strain at relax_temperature "
                   "where fully recoverable"),
    "relax_temperature": ("temperature", "reference temperature of relax_time"),
    "relax_Ea": ("molar_energy", "activation energy of the relaxation"),
    "recovery_voltage": ("voltage", "open-circuit voltage at which recoverable (healing) "
                         "and transforming (damaging) Li contents meet"),
    "recovery_width": ("number", "Li-fraction width of that crossover"),
    "decomposition_Ea": ("molar_energy", "activation energy of the layered -> spinel/rock "
                         "salt transformation"),
    "decomposition_peak": ("temperature", "DSC peak temperature of that transformation"),
    "dsc_rate": ("temperature_rate", "heating rate of that DSC peak"),
    "transformation_strain": ("number", "in-plane eigenstrain of the transformed fraction"),
    "barrier_shift": ("molar_energy", "Li migration-barrier decrease of the fully healed "
                      "lattice; 0 turns the effect of healing on transport off"),
    "distortion_ref": ("number", "net healed equivalent residual strain at which the "
                       "lattice counts as fully healed (linear below it)"),
}
