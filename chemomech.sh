#!/usr/bin/env bash
# Set up chemomech in .venv (idempotent) and run the demo or the tests.
#   ./chemomech.sh demo   first charge of a single-crystal NM91 particle on 2 MPI ranks
#   ./chemomech.sh test   the whole test matrix through CMake/CTest
set -euo pipefail
cd "$(dirname "$0")"
here=$(pwd)
what=${1:-}
case "$what" in demo|test|setup) ;; *) echo "usage: $0 demo|test|setup" >&2; exit 2;; esac

find_python() {
  local c
  for c in "${CHEMOMECH_PYTHON:-}" python3.13 python3.12 python3 \
           "${PYENV_ROOT:-$HOME/.pyenv}"/versions/3.1[2-9]*/bin/python3; do
    [ -n "$c" ] || continue
    command -v "$c" >/dev/null 2>&1 || [ -x "$c" ] || continue
    if "$c" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 12) else 1)' >/dev/null 2>&1; then
      echo "$c"; return 0
    fi
  done
  return 1
}

venv=$here/.venv
if ! "$venv/bin/python" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 12) else 1)' 2>/dev/null; then
  py=$(find_python) || { echo "chemomech needs Python >= 3.12 (set CHEMOMECH_PYTHON)" >&2; exit 1; }
  echo "creating .venv with $py ($("$py" --version))"
  rm -rf "$venv"
  "$py" -m venv "$venv"
fi
stamp=$venv/.chemomech-installed
want=$(cat pyproject.toml | sha256sum | cut -d' ' -f1)
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
  "$venv/bin/python" -m pip install -q --upgrade pip
  "$venv/bin/python" -m pip install -q -e ".[wheel,test]"
  echo "$want" > "$stamp"
fi
export PATH="$venv/bin:$PATH"

case "$what" in
  setup) echo "chemomech installed in $venv" ;;
  demo)
    echo "running cases/demo.toml on 2 MPI ranks into results/demo (replaced if present)"
    mpiexec -n 2 chemomech run cases/demo.toml --output results/demo --force
    echo "synthetic observables: SXDM maps of the last field output, (003) XRD of every output"
    mpiexec -n 2 chemomech sxdm results/demo --force
    chemomech xrd results/demo --force
    echo "results: results/demo (timeseries.csv, fields.bp for ParaView, vtk/fields.pvd, figures/*.png, sxdm/, xrd/)"
    ;;
  test)
    command -v cmake >/dev/null 2>&1 || "$venv/bin/python" -m pip install -q cmake
    cmake -S . -B build -DPython3_EXECUTABLE="$venv/bin/python" >/dev/null
    ctest --test-dir build --output-on-failure
    ;;
esac
