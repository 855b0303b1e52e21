"""TXM-XANES proxy: Ni oxidation state from charge balance."""

import numpy as np
import pytest

from postprocess.txm import composition_fractions, ni_oxidation_state
from solver.materials import get_material


def test_composition_of_library_materials():
    assert composition_fractions(get_material("NM91").composition) == {"Ni": 0.9, "Mn": 0.1}
    assert composition_fractions("LiNi0.6Mn0.2Co0.2O2") == pytest.approx(
        {"Ni": 0.6, "Mn": 0.2, "Co": 0.2})
    with pytest.raises(ValueError):
        composition_fractions("LiNi0.5Mn0.2O2")  # fractions do not sum to 1


@pytest.mark.parametrize("name, v1", [("NC91", 3.0), ("NM91", 2.6 / 0.9), ("NMC811", 2.3 / 0.8),
                                      ("NMC622", 1.6 / 0.6)])
def test_charge_balance_at_full_lithiation_and_linear_in_x(name, v1):
    comp = get_material(name).composition
    a = composition_fractions(comp)["Ni"]
    assert ni_oxidation_state(1.0, comp) == pytest.approx(v1, rel=1e-12)
    x = np.linspace(0.3, 1.0, 8)
    # one electron per Li removed goes to Ni: slope -1/a_Ni
    np.testing.assert_allclose(np.diff(ni_oxidation_state(x, comp)) / np.diff(x), -1 / a,
                               rtol=1e-12)


def test_ni_capped_at_4_plus():
    """NC91 reaches Ni4+ at x = 0.1; below, Co carries the charge."""
    comp = get_material("NC91").composition
    assert ni_oxidation_state(0.1, comp) == pytest.approx(4.0)
    assert ni_oxidation_state(0.02, comp) == 4.0
