#!/usr/bin/env bash
# Smoke run: every target (or those named) for SECS seconds each, one at a time, collecting every
# crash (fork mode ignores them and goes on); logs in smoke-logs/<target>.log, crashes in
# artifacts/<target>/. Usage: fuzz/smoke.sh [SECS] [target...]
set -u
cd "$(dirname "$0")"
secs=${1:-180}; shift || true
targets=${*:-model_load schema_parse torch_bin run_safetensors run_json_input rewrite_e2e}
mkdir -p smoke-logs
for t in $targets; do
  case $t in model_load) len=1048576 ;; run_json_input|rewrite_e2e) len=4096 ;; *) len=65536 ;; esac
  mkdir -p corpus/$t artifacts/$t
  nice -n 10 cargo +nightly fuzz run --codegen-units 16 $t corpus/$t -- \
    -jobs=1 -fork=1 -ignore_crashes=1 -ignore_ooms=1 -ignore_timeouts=1 \
    -rss_limit_mb=2048 -timeout=1 -max_len=$len -max_total_time=$secs \
    -artifact_prefix=artifacts/$t/ > smoke-logs/$t.log 2>&1
  echo "$t: $(grep -E '^#[0-9]+' smoke-logs/$t.log | tail -n 1)"
done
