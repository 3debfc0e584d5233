#!/usr/bin/env bash
# Python package tests: builds the pvc wheel once (release, the slow part), installs it into a
# venv with the pinned pyvene/torch stack, and runs bindings/python/tests with pytest.
# Downloads are cached by pip under $HOME/.cache/pip; the venv itself is cached under
# $HOME/.cache/pvc, keyed by the pins below, so a rerun only rebuilds and reinstalls the wheel.
# Needs target/debug/pvc (built by the root `cargo test --locked`) or $PVC_BIN.
set -euo pipefail
cd "$(dirname "$0")/.."
start=$SECONDS
stamp() { echo "python_tests: $1 ($((SECONDS - start)) s)" >&2; }

PINS=(
  maturin==1.16.0 pytest==9.2.0 numpy==2.4.6 torch==2.15.0 transformers==4.51.3
  onnx==1.23.2 onnxruntime==1.31.1 safetensors==0.8.0
  matplotlib==3.11.2 seaborn==0.13.2 networkx==3.6.1
)
PYVENE=pyvene==0.1.8 # installed with --no-deps: its own pins would replace torch and transformers
export PIP_CACHE_DIR="$HOME/.cache/pip" PIP_DISABLE_PIP_VERSION_CHECK=1
key=$(printf '%s\n' "${PINS[@]}" "$PYVENE" "$(python3 --version)" | sha256sum | cut -c1-16)
venv="$HOME/.cache/pvc/python-ci/venv-$key"
if [[ ! -f "$venv/.complete" ]]; then
  rm -rf "$venv"
  python3 -m venv "$venv"
  "$venv/bin/python" -m pip install --quiet "${PINS[@]}"
  "$venv/bin/python" -m pip install --quiet --no-deps "$PYVENE"
  touch "$venv/.complete"
  stamp "venv installed"
else
  stamp "venv reused from $venv"
fi

wheels=target/python-wheels
rm -rf "$wheels"
"$venv/bin/maturin" build --release --locked --quiet -m bindings/python/Cargo.toml -o "$wheels"
stamp "wheel built"
"$venv/bin/python" -m pip install --quiet --force-reinstall --no-deps "$wheels"/pvc-*.whl
stamp "wheel installed"

export PVC_BIN="${PVC_BIN:-$PWD/target/debug/pvc}"
[[ -x "$PVC_BIN" ]] || cargo build --locked --bin pvc
status=0
(cd bindings/python && "$venv/bin/python" -m pytest -q -p no:cacheprovider tests) || status=$?
if [[ $status -eq 5 ]]; then
  echo "python_tests: pytest collected no tests" >&2
  exit 1
fi
stamp "pytest exit $status"
exit "$status"
