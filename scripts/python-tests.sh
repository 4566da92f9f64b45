#!/usr/bin/env bash
# The Python package's tests (crates/facecmp-py): builds the wheel with
# maturin, installs it into a fresh virtual environment and runs pytest on
# crates/facecmp-py/tests against the real models and tests/data photos.
#
#   scripts/python-tests.sh            # from anywhere in the repository
#   PYTHON=python3.12 scripts/python-tests.sh
#
# Needs: python3 with venv (Debian: apt-get install python3-venv), a Rust
# toolchain, and PyPI for maturin, pytest and numpy. The wheel is built into
# the workspace's target/ with the dev profile (dependencies optimised, as
# in every build here), so after `cargo test --workspace` it compiles only
# PyO3 and the module itself: crates/facecmp-py/Cargo.toml asks for the test
# build's features (tools/structure/wheel_features.py checks that it still
# does). `pip install facecmp` builds the release profile. The gallery tests run the CLI at
# $FACECMP_BIN, else target/debug/facecmp, which is built if it is missing
# (CI's `cargo test --workspace` has already built it).
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$PWD
python=${PYTHON:-python3}

work=$(mktemp -d "${TMPDIR:-/tmp}/facecmp-python-tests.XXXXXX")
trap 'rm -rf "$work"' EXIT

echo "== virtual environment ($("$python" --version 2>&1)) in $work/venv"
if ! "$python" -m venv "$work/venv"; then
  echo "python-tests.sh: \`$python -m venv\` failed; on Debian/Ubuntu install it with" >&2
  echo "  apt-get install python3-venv" >&2
  exit 2
fi
venv_python=$work/venv/bin/python
"$venv_python" -m pip install --quiet --disable-pip-version-check 'maturin>=1.16,<2' pytest numpy
"$venv_python" -m maturin --version

echo "== wheel (maturin build --profile dev)"
"$venv_python" -m maturin build --profile dev -m crates/facecmp-py/Cargo.toml -o "$work/dist"
wheels=("$work"/dist/facecmp-*.whl)
[[ -f ${wheels[0]} && ${#wheels[@]} == 1 ]] || {
  echo "python-tests.sh: expected one wheel in $work/dist, found: ${wheels[*]}" >&2
  exit 1
}
wheel=${wheels[0]}
"$venv_python" -c 'import os, sys; n = os.path.getsize(sys.argv[1]); print(f"wheel: {os.path.basename(sys.argv[1])}, {n} bytes ({n / 2**20:.1f} MiB)")' "$wheel"
"$venv_python" -m pip install --quiet --disable-pip-version-check "$wheel"

echo "== the facecmp CLI (for the gallery shared with Python)"
if [[ -z ${FACECMP_BIN:-} ]]; then
  FACECMP_BIN=$repo/target/debug/facecmp
  [[ -x $FACECMP_BIN ]] || cargo build -p facecmp-cli
fi
[[ -x $FACECMP_BIN ]] || { echo "python-tests.sh: no facecmp binary at $FACECMP_BIN" >&2; exit 1; }
export FACECMP_BIN
echo "FACECMP_BIN=$FACECMP_BIN"

echo "== pytest"
# Run from the repository root, against the installed wheel (not the source
# tree's python/, which lacks the native module): the tests import `facecmp`
# from site-packages.
export FACECMP_REPO=$repo
"$venv_python" -m pytest crates/facecmp-py/tests -p no:cacheprovider "$@"
