"""Raw source data of the materials library (kept so that tests can re-check every fit).

Nothing here is evaluated inside the finite-element forms: the closed-form fits in
``library.py`` are.  Every array/constant carries its source and units.
"""

from __future__ import annotations

import numpy as np

# ---------------------------------------------------------------------------------------
# Physical constants (CODATA 2018 exact values)
# ---------------------------------------------------------------------------------------
R_GAS = 8.314462618  # J/(mol K), CODATA 2018
FARADAY = 96485.33212  # C/mol, CODATA 2018
AVOGADRO = 6.02214076e23  # 1/mol, CODATA 2018 (exact)
T_REF = 298.15  # K, reference temperature of all fitted data (PyBaMM sets, 25 degC)

# Standard atomic weights, g/mol (IUPAC 2021 abridged values; Li conventional value 6.94)
ATOMIC_WEIGHT = {
    "Li": 6.94,  # g/mol, IUPAC 2021 conventional
    "Ni": 58.693,  # g/mol, IUPAC 2021
    "Co": 58.933,  # g/mol, IUPAC 2021
    "Mn": 54.938,  # g/mol, IUPAC 2021
    "O": 15.999,  # g/mol, IUPAC 2021 conventional
}

# ---------------------------------------------------------------------------------------
# Maerker et al., Chem. Mater. 31, 2545 (2019), doi:10.1021/acs.chemmater.9b00140:
# NMC811 lattice parameters (R-3m, hexagonal setting) versus first-charge capacity.
# Public copy: github.com/MJCliffe/PASCal, examples/electrochemical.ipynb.
# Columns: charge q [mAh/g], a [Angstrom], c [Angstrom].  79 rows
# (PARAMETERS.md counts 78 points; the public copy repeats the q = 0 cell at 3.11 mAh/g).
# ---------------------------------------------------------------------------------------
_MARKER_TEXT = """
0.00 2.8704 14.1918
3.11 2.8704 14.1918
6.22 2.8701 14.1932
9.32 2.8695 14.1958
12.43 2.8689 14.1984
15.54 2.8683 14.2012
18.65 2.8677 14.2039
21.75 2.8671 14.2066
24.86 2.8665 14.2094
27.97 2.8658 14.2124
31.08 2.8650 14.2157
34.19 2.8641 14.2196
37.29 2.8630 14.2244
40.40 2.8616 14.2309
43.51 2.8600 14.2380
46.62 2.8587 14.2444
49.72 2.8576 14.2499
52.83 2.8567 14.2550
55.94 2.8558 14.2595
59.05 2.8551 14.2638
62.15 2.8543 14.2682
65.26 2.8536 14.2726
68.37 2.8529 14.2770
71.48 2.8522 14.2818
74.59 2.8514 14.2868
77.69 2.8507 14.2921
80.80 2.8499 14.2977
83.91 2.8491 14.3038
87.02 2.8482 14.3108
90.12 2.8474 14.3172
93.23 2.8464 14.3250
96.34 2.8454 14.3326
99.45 2.8444 14.3406
102.56 2.8434 14.3487
105.66 2.8423 14.3569
108.77 2.8412 14.3652
111.88 2.8401 14.3734
114.99 2.8390 14.3815
118.09 2.8378 14.3895
121.20 2.8367 14.3971
124.31 2.8355 14.4040
127.42 2.8344 14.4107
130.53 2.8332 14.4171
133.63 2.8321 14.4231
136.74 2.8310 14.4286
139.85 2.8299 14.4338
142.96 2.8289 14.4387
146.06 2.8279 14.4435
149.17 2.8269 14.4483
152.28 2.8259 14.4534
155.39 2.8248 14.4591
158.49 2.8237 14.4665
161.60 2.8225 14.4734
164.71 2.8216 14.4781
167.82 2.8211 14.4800
170.93 2.8201 14.4830
174.03 2.8201 14.4830
177.14 2.8188 14.4834
180.25 2.8188 14.4834
183.36 2.8176 14.4792
186.46 2.8176 14.4792
189.57 2.8166 14.4716
192.68 2.8161 14.4652
195.79 2.8157 14.4579
198.90 2.8153 14.4488
202.00 2.8151 14.4363
205.11 2.8150 14.4202
208.22 2.8150 14.4021
211.33 2.8147 14.3846
214.43 2.8143 14.3647
217.54 2.8139 14.3427
220.65 2.8134 14.3159
223.76 2.8130 14.2823
226.87 2.8127 14.2396
229.97 2.8125 14.1910
233.08 2.8122 14.1469
236.19 2.8119 14.1034
239.30 2.8118 14.0538
242.40 2.8117 14.0078
"""
MARKER_NMC811 = np.array(
    [[float(v) for v in ln.split()] for ln in _MARKER_TEXT.strip().splitlines()]
)
"""(79, 3) array: q [mAh/g], a [Angstrom], c [Angstrom]; Maerker et al. 2019."""


def marker_x(capacity_mAh_g: float) -> np.ndarray:
    """Li fraction x = 1 - q / capacity for the Maerker rows (capacity in mAh/g)."""
    return 1.0 - MARKER_NMC811[:, 0] / capacity_mAh_g


# ---------------------------------------------------------------------------------------
# Chen et al., J. Electrochem. Soc. 167, 080534 (2020), LG M50 NMC811 OCP fit, as
# implemented in PyBaMM (nmc_LGM50_ocp_Chen2020); x = c_s/c_s,max (same as ours).
# Valid stoichiometry window of the LG M50 cathode: 0.2661 (100 % SOC) - 0.9084 (0 % SOC).
# ---------------------------------------------------------------------------------------
CHEN2020_X_RANGE = (0.2661, 0.9084)  # Li fraction, Chen2020 cell balancing (PyBaMM Chen2020)


def chen2020_ocp(x):
    """Chen2020 NMC811 OCP [V vs Li/Li+] (PyBaMM form; only trusted on CHEN2020_X_RANGE)."""
    x = np.asarray(x, dtype=float)
    return (
        -0.8090 * x
        + 4.4875
        - 0.0428 * np.tanh(18.5138 * (x - 0.5542))
        - 17.7326 * np.tanh(15.7890 * (x - 0.3117))
        + 17.5842 * np.tanh(15.9308 * (x - 0.3120))
    )


# ---------------------------------------------------------------------------------------
# Verbrugge et al., J. Electrochem. Soc. 164, E3243 (2017), Table 1, NMC622 MSMR
# (also PyBaMM MSMR_example_set): x(U) = sum_j X_j / (1 + exp(F (U - U0_j) / (w_j R T))).
# Rows: (U0_j [V], X_j [-], w_j [-]); sum X_j = 1.
# ---------------------------------------------------------------------------------------
VERBRUGGE2017_NMC622_MSMR = (
    (3.62274, 0.13442, 0.96710),
    (3.72645, 0.32460, 1.39712),
    (3.90575, 0.21118, 3.50500),
    (4.22955, 0.32980, 5.52757),
)


def msmr_x(U, params=VERBRUGGE2017_NMC622_MSMR, T: float = T_REF):
    """MSMR isotherm x(U) (numpy)."""
    U = np.asarray(U, dtype=float)
    f = FARADAY / (R_GAS * T)
    return sum(X / (1.0 + np.exp(f * (U - U0) / w)) for U0, X, w in params)


def msmr_curve(U_min: float, U_max: float, n: int = 400, params=VERBRUGGE2017_NMC622_MSMR):
    """Sample the MSMR isotherm on a uniform voltage grid: returns (x, U)."""
    U = np.linspace(U_min, U_max, n)
    return msmr_x(U, params), U


def msmr_U(x, params=VERBRUGGE2017_NMC622_MSMR):
    """Numerical inverse of the MSMR isotherm (numpy, brentq per point; dev/test use only)."""
    from scipy.optimize import brentq

    xs = np.atleast_1d(np.asarray(x, dtype=float))
    out = np.array(
        [brentq(lambda u, xi=xi: msmr_x(u, params) - xi, 0.0, 8.0, xtol=1e-13) for xi in xs]
    )
    return out if np.ndim(x) else float(out[0])


def nmc811_reference_ocv(n_mid: int = 200, n_tail: int = 120):
    """Composite NMC811 reference OCV data used for the fit (returns x, U, region label).

    - 'chen': Chen2020 on its valid window CHEN2020_X_RANGE (sourced);
    - 'tail_lo' / 'tail_hi': outside that window the *shape* of the Verbrugge 2017 MSMR
      isotherm (NMC622) is attached continuously to the Chen2020 end values
      (U_811(x) = U_Chen(x_end) + U_MSMR(x) - U_MSMR(x_end)).  This is a proxy: no sourced
      NMC811 OCV exists in our data beyond x = 0.2661 (4.29 V) or x = 0.9084 (3.56 V).
    """
    x_lo, x_hi = CHEN2020_X_RANGE
    xm = np.linspace(x_lo, x_hi, n_mid)
    Um = chen2020_ocp(xm)
    u_lo, u_hi = msmr_U(x_lo), msmr_U(x_hi)
    # low-x tail: MSMR voltages from U_MSMR(x_lo) up to +0.50 V
    Ut = np.linspace(u_lo, u_lo + 0.50, n_tail)[1:]
    xl = msmr_x(Ut)
    Ul = chen2020_ocp(x_lo) + Ut - u_lo
    # high-x tail: MSMR voltages from U_MSMR(x_hi) down to -1.0 V
    Ut = np.linspace(u_hi, u_hi - 1.0, n_tail)[1:]
    xh = msmr_x(Ut)
    Uh = chen2020_ocp(x_hi) + Ut - u_hi
    x = np.concatenate([xl[::-1], xm, xh])
    U = np.concatenate([Ul[::-1], Um, Uh])
    region = np.array(["tail_lo"] * len(xl) + ["chen"] * len(xm) + ["tail_hi"] * len(xh))
    return x, U, region


# ---------------------------------------------------------------------------------------
# O'Regan et al., Electrochim. Acta 425, 140700 (2022), NMC811 (LG M50) diffusivity, as in
# PyBaMM nmc_LGM50_diffusivity_ORegan2022: D = 2.7 * 10**(c0 + sum a_i exp(-(x-b_i)^2/c_i)),
# Arrhenius with E/R = 1449 K.  x = stoichiometry c_s/c_s,max (same as ours).
# ---------------------------------------------------------------------------------------
OREGAN2022_D = {
    "prefactor": 2.7,  # -, "correcting factor" in PyBaMM ORegan2022
    "c0": -13.96,  # log10(m^2/s)
    "a": (-0.9231, -0.4066, -0.993),  # decades
    "b": (0.3216, 0.4532, 0.8098),  # Li fraction
    "c": (0.002534, 0.003926, 0.09924),  # Li fraction^2
    "E_over_R": 1449.0,  # K  -> Ea = 1449 * R = 12.05 kJ/mol
}
