#!/usr/bin/env bash
# Builds the fuzz targets with coverage instrumentation in pvc and this harness only, not in
# their dependencies (tract, prost, serde...): the same flags cargo-fuzz gives every crate, set
# per package through nightly's profile-rustflags. The dependencies then run at release speed,
# which made rewrite_e2e about 4x faster (most of its time is tract loading the patched model).
# No sanitizer, debug assertions and overflow checks on, as `cargo fuzz build -O -s none`.
# Binaries: fuzz/target/focused/x86_64-unknown-linux-gnu/release/<target>.
# Usage: fuzz/build_focused.sh [target...]   (default: every target)
set -euo pipefail
cd "$(dirname "$0")"
san='["-Cpasses=sancov-module","-Cllvm-args=-sanitizer-coverage-level=4",
"-Cllvm-args=-sanitizer-coverage-inline-8bit-counters","-Cllvm-args=-sanitizer-coverage-pc-table",
"-Cllvm-args=-sanitizer-coverage-trace-compares","-Cllvm-args=-simplifycfg-branch-fold-threshold=0",
"-Cllvm-args=-sanitizer-coverage-stack-depth"]'
san=${san//$'\n'/}
bins=()
for t in "$@"; do bins+=(--bin "$t"); done
RUSTFLAGS="--cfg fuzzing -Cdebug-assertions -Ccodegen-units=16" \
  cargo +nightly build -Zprofile-rustflags --release --target x86_64-unknown-linux-gnu \
  --target-dir target/focused --config 'profile.release.debug="line-tables-only"' \
  --config "profile.release.package.pvc.rustflags=$san" \
  --config "profile.release.package.pvc-fuzz.rustflags=$san" "${bins[@]}"
