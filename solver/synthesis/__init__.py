"""Calcination of a precursor secondary particle: the second physics problem.

* :mod:`solver.synthesis.kinetics`: the local rate laws, their backward-Euler update and
  the analytical solutions the tests compare with (NumPy only);
* :mod:`solver.synthesis.config`: the ``[synthesis]`` case file (no DOLFINx);
* :mod:`solver.synthesis.problem`: Li transport with the reactions on the particle mesh,
  behind the interface of the time-loop driver (solver/driver.py);
* :mod:`solver.synthesis.recorder`, :mod:`solver.synthesis.run`: the run folder;
* :mod:`solver.synthesis.carryover`: the end state read back by an electrochemical case
  (``conditions.from_synthesis``).

Parameters and sources: solver/materials/synthesis.py; the model: docs/synthesis.md.
"""
