#!/usr/bin/env bash
# Fetches the ONNX Runtime C API headers that the C host test (tests/c_host) compiles against, and prints the
# include directory.
#
#   export PVC_ORT_INCLUDE="$(bash .ci/fetch_ort_headers.sh)"
#
# The onnxruntime wheel ships no headers, and neither do Debian or the onnxruntime npm packages. The npm package
# com.github.asus4.onnxruntime (a Unity plugin, MIT) bundles the official iOS framework, whose Headers/ directory
# holds the ONNX Runtime 1.29 C API headers (ORT_API_VERSION 29). The host asks for API 29, which the 1.31
# library serves. The tarball (about 150 MB) is fetched with `npm pack`, its sha256 checked, and the three headers
# the C API needs are kept in a cache directory (default $HOME/.cache/pvc/ort-headers/<package version>;
# override with PVC_ORT_HEADERS_CACHE). Progress goes to stderr; stdout is the include directory.
set -euo pipefail

PKG=com.github.asus4.onnxruntime
PKG_VERSION=0.4.9
TGZ_SHA256=e59788788818fdde1b2e522e766a21ba0f7d8391de55737abf81e32cc801785d
HEADERS_DIR='package/Plugins/iOS~/onnxruntime.xcframework/ios-arm64_x86_64-simulator/onnxruntime.framework/Headers'
HEADERS=(onnxruntime_c_api.h onnxruntime_error_code.h onnxruntime_ep_c_api.h)
CACHE="${PVC_ORT_HEADERS_CACHE:-$HOME/.cache/pvc/ort-headers/$PKG_VERSION}"
STAMP="$CACHE/include/.complete"

log() { echo "fetch_ort_headers: $*" >&2; }

if [ -f "$STAMP" ] && grep -q "$TGZ_SHA256" "$STAMP"; then
  echo "$CACHE/include"
  exit 0
fi

mkdir -p "$CACHE"
work="$(mktemp -d "$CACHE/.fetch.XXXXXX")"
trap 'rm -rf "$work"' EXIT

log "downloading $PKG@$PKG_VERSION with npm pack"
(cd "$work" && npm pack --silent "$PKG@$PKG_VERSION" >&2)
tgz="$work/$PKG-$PKG_VERSION.tgz"

got="$(sha256sum "$tgz" | cut -d' ' -f1)"
if [ "$got" != "$TGZ_SHA256" ]; then
  log "sha256 mismatch for $(basename "$tgz"): expected $TGZ_SHA256, got $got"
  exit 1
fi

members=()
for h in "${HEADERS[@]}"; do members+=("$HEADERS_DIR/$h"); done
tar -xzf "$tgz" -C "$work" "${members[@]}"
rm -rf "$CACHE/include"
mkdir -p "$CACHE/include"
for h in "${HEADERS[@]}"; do cp "$work/$HEADERS_DIR/$h" "$CACHE/include/$h"; done
grep -q '^#define ORT_API_VERSION ' "$CACHE/include/onnxruntime_c_api.h"
echo "$TGZ_SHA256" >"$STAMP"
log "headers in $CACHE/include ($(grep '^#define ORT_API_VERSION ' "$CACHE/include/onnxruntime_c_api.h"))"
echo "$CACHE/include"
