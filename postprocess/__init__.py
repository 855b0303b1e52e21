"""Synthetic observables and figures computed from a run's output folder."""
