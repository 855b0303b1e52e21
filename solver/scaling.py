"""Internal scaling, in one place.

Inside the finite-element problem lengths are in micrometres (``LENGTH_UNIT`` metres),
so that particle coordinates are O(1) and volumes, areas and matrix entries are well
conditioned; time stays in seconds, Li content is the site fraction x (dimensionless).
Hence diffusivities enter in um^2/s (``D_SI / LENGTH_UNIT**2``) and a molar surface flux
N [mol m^-2 s^-1] enters as N / c_max [m/s] / LENGTH_UNIT = um/s.  Everything written
to files is converted back to SI.
"""

LENGTH_UNIT = 1e-6  # m per model length unit (micrometre)
FARADAY = 96485.33212  # C/mol, CODATA 2018 exact
GAS_CONSTANT = 8.314462618  # J/(mol K), CODATA 2018 exact
