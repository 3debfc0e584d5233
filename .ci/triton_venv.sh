#!/usr/bin/env bash
# Prepares the Python environment of the Triton serving test and prints its python's path.
#
#   PVC_TRITON_PYTHON="$(bash .ci/triton_venv.sh)"
#
# A venv made from Debian's /usr/bin/python3.11 (the tritonserver that nvidia-pytriton bundles and
# its Python-backend stub link Debian's libpython3.11), with the pinned packages installed by pip,
# by package name. It lives under $HOME/.cache/pvc/triton (override with PVC_TRITON_CACHE), never
# in the repository; a later run that finds the same pins there reuses it at once. Progress goes to
# stderr; stdout is the path. Exits non-zero when the packages cannot be installed.
set -euo pipefail

PINS="nvidia-pytriton==0.7.0 tritonclient[all]==2.73.0 onnxruntime==1.31.1 numpy==1.26.4"
CACHE="${PVC_TRITON_CACHE:-$HOME/.cache/pvc/triton}"
VENV="$CACHE/venv"
STAMP="$VENV/.pvc-pins"

log() { echo "triton_venv: $*" >&2; }

if [ -x "$VENV/bin/python" ] && [ -f "$STAMP" ] && [ "$(cat "$STAMP")" = "$PINS" ]; then
  echo "$VENV/bin/python"
  exit 0
fi
if [ ! -x /usr/bin/python3.11 ]; then
  log "/usr/bin/python3.11 is missing: the bundled tritonserver needs Debian's python3.11"
  exit 1
fi
mkdir -p "$CACHE"
rm -rf "$VENV"
log "creating $VENV from /usr/bin/python3.11"
/usr/bin/python3.11 -m venv "$VENV" >&2
log "installing $PINS"
# shellcheck disable=SC2086
"$VENV/bin/python" -m pip install --quiet --disable-pip-version-check $PINS >&2
echo "$PINS" > "$STAMP"
echo "$VENV/bin/python"
