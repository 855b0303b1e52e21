"""Importing the solver package sets single-threaded BLAS unless the environment chooses."""

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _threads_after_import(env_value: str | None) -> str:
    env = {k: v for k, v in os.environ.items() if k != "OMP_NUM_THREADS"}
    if env_value is not None:
        env["OMP_NUM_THREADS"] = env_value
    env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    out = subprocess.run([sys.executable, "-c", "import os, solver; "
                          "print(os.environ['OMP_NUM_THREADS'])"],
                         capture_output=True, text=True, env=env, check=True)
    return out.stdout.strip()


def test_blas_is_single_threaded_by_default_and_the_environment_wins():
    assert _threads_after_import(None) == "1"
    assert _threads_after_import("3") == "3"
