#!/usr/bin/env bash
# Fetches the ONNX Runtime C library that pvc's ort backend loads at run time, and prints its path.
#
#   export ORT_DYLIB_PATH="$(bash .ci/fetch_ort.sh)"
#
# It downloads the pinned onnxruntime wheel with pip (the wheel holds a standalone C-API library that needs only
# libc, libstdc++ and libgcc_s), checks the wheel's sha256, and extracts the library into a cache directory
# (default $HOME/.cache/pvc/ort/<version>; override with PVC_ORT_CACHE). A later run finds the library there
# and only re-checks it against the hash recorded at extraction. Progress goes to stderr; stdout is the path.
set -euo pipefail

VERSION=1.31.1
WHEEL_SHA256=5752bd508126ae7c49894d3b9d2e83f0c3d487319246d04c444b393308d7ad7f
LIB=libonnxruntime.so.$VERSION
CACHE="${PVC_ORT_CACHE:-$HOME/.cache/pvc/ort/$VERSION}"
STAMP="$CACHE/$LIB.sha256"

log() { echo "fetch_ort: $*" >&2; }

if [ -f "$CACHE/$LIB" ] && [ -f "$STAMP" ] &&
  [ "$(sha256sum "$CACHE/$LIB" | cut -d' ' -f1)" = "$(cut -d' ' -f1 "$STAMP")" ] &&
  grep -q "wheel=$WHEEL_SHA256" "$STAMP"; then
  echo "$CACHE/$LIB"
  exit 0
fi

mkdir -p "$CACHE"
work="$(mktemp -d "$CACHE/.fetch.XXXXXX")"
trap 'rm -rf "$work"' EXIT

log "downloading onnxruntime==$VERSION (manylinux_2_28_x86_64 wheel) with pip"
python3 -m pip download --quiet --disable-pip-version-check --no-deps --only-binary=:all: \
  --python-version 3.11 --platform manylinux_2_28_x86_64 "onnxruntime==$VERSION" -d "$work" >&2
wheel="$(ls "$work"/onnxruntime-"$VERSION"-*.whl)"

got="$(sha256sum "$wheel" | cut -d' ' -f1)"
if [ "$got" != "$WHEEL_SHA256" ]; then
  log "sha256 mismatch for $(basename "$wheel"): expected $WHEEL_SHA256, got $got"
  exit 1
fi

python3 - "$wheel" "onnxruntime/capi/$LIB" "$work/$LIB" <<'EOF'
import shutil, sys, zipfile
wheel, member, dest = sys.argv[1:]
with zipfile.ZipFile(wheel) as z, z.open(member) as src, open(dest, "wb") as out:
    shutil.copyfileobj(src, out)
EOF
chmod 0755 "$work/$LIB"
mv -f "$work/$LIB" "$CACHE/$LIB"
echo "$(sha256sum "$CACHE/$LIB" | cut -d' ' -f1) wheel=$WHEEL_SHA256" >"$STAMP"
log "extracted $CACHE/$LIB"
echo "$CACHE/$LIB"
