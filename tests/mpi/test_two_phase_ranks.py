"""Run under `mpiexec -n 2 python -m mpi4py -m pytest tests/mpi`: the two-phase transport
gives the same results on 1 and 2 ranks."""

import numpy as np
import pytest
from mpi4py import MPI
from two_phase_helpers import bar_particle, fast_material, make_transport, relax, set_profile

KEYS = ("x_mean", "x_min", "x_max", "x_std", "x_surface_mean", "li_total_mol",
        "li_out_rate_mol_s")


def _run(comm, active, current_rate, distribution):
    """Spinodal splitting (zero current) or a charge through one end of a 4 um bar."""
    mat = fast_material()
    pm = bar_particle(4.0, 32, comm, active=active)
    tr, fe = make_transport(pm, mat, distribution=distribution)
    xc = 0.5 * (fe.x_H3 + fe.x_H2)
    tr.set_uniform(xc)
    set_profile(tr, lambda z: xc + 0.01 * np.cos(np.pi * z / 4.0))
    current = current_rate * mat.density * tr.volume_m3
    rows = []

    def record(t, dt):
        d = tr.diagnostics()
        rows.append([t, float(tr.V.value)] + [d[k] for k in KEYS]
                    + [tr.phase_diagnostics()["h3_fraction"]])

    relax(tr, mat, t_end=2000.0, dt0=1.0, current=current, max_steps=60, record=record)
    tr.destroy()
    return np.array(rows)


@pytest.mark.skipif(MPI.COMM_WORLD.size < 2, reason="needs mpiexec -n 2")
@pytest.mark.parametrize("active, rate, distribution",
                         [("all", 0.0, "uniform"), ("end", 20.0, "butler-volmer")])
def test_two_phase_same_on_1_and_2_ranks(active, rate, distribution):
    world = MPI.COMM_WORLD
    parallel = _run(world, active, rate, distribution)
    serial = _run(MPI.COMM_SELF, active, rate, distribution) if world.rank == 0 else None
    serial = world.bcast(serial, root=0)
    assert parallel.shape == serial.shape and len(parallel) > 10
    assert parallel[-1, 4] - parallel[-1, 3] > 0.05  # two phases formed (x_max - x_min)
    scale = np.maximum(np.abs(serial).max(axis=0), 1e-30)
    assert np.abs(parallel - serial).max(axis=0) / scale == pytest.approx(0.0, abs=1e-7)
    # zero current: total Li conserved to round-off on every rank count
    if rate == 0.0:
        li = parallel[:, 2 + KEYS.index("li_total_mol")]
        assert np.ptp(li) <= 1e-12 * li[0]
