#!/usr/bin/env bash
# The CUDA check, in one go, on a machine with an NVIDIA GPU:
#   1. parity: every parity case (models/cases) rewritten into each fixture it lists, run by
#      `pvc run --backend ort` on CPU and with `--device cuda`; max abs difference per case;
#   2. GPT-2 small (benches/make_gpt2_small.py, random init, 124M), one forward, batch 1, 64
#      tokens: unpatched vs 12 Additions (every block_output), fp32 and fp16, ONNX Runtime CUDA EP;
#   3. the same forward and the same 12 Additions in pyvene 0.1.8 + PyTorch on the same GPU;
# and prints a table (also written to target/cuda_check.md).
#
#   bash benches/cuda_check.sh            # N=50 timed runs per variant
#
# Python: $PVC_CUDA_PYTHON, a python that has onnxruntime-gpu 1.31.1 (with its CUDA/cuDNN wheels),
# torch 2.15.0 built for the machine's CUDA, transformers 4.51.3, pyvene 0.1.8, onnx 1.23.2,
# safetensors and numpy; else a venv at $HOME/.cache/pvc/cuda-venv is made with pip (needs a
# registry or PIP_FIND_LINKS wheels). onnxruntime-gpu 1.31.1 is built for CUDA 13 and cuDNN 9;
# the driver must support CUDA 13 (see benches/ORT_NOTES.md).
set -euo pipefail
cd "$(dirname "$0")/.."
N="${N:-50}"

nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader || {
  echo "cuda_check: nvidia-smi failed: no GPU here" >&2
  exit 1
}

PY="${PVC_CUDA_PYTHON:-}"
if [ -z "$PY" ]; then
  VENV="$HOME/.cache/pvc/cuda-venv"
  if [ ! -x "$VENV/bin/python" ]; then
    python3 -m venv "$VENV"
    "$VENV/bin/python" -m pip install --quiet "onnxruntime-gpu[cuda,cudnn]==1.31.1" torch==2.15.0 \
      transformers==4.51.3 onnx==1.23.2 safetensors numpy
    "$VENV/bin/python" -m pip install --quiet --no-deps pyvene==0.1.8
  fi
  PY="$VENV/bin/python"
fi

# ONNX Runtime's C library and the CUDA/cuDNN libraries of the onnxruntime-gpu wheels.
SITE="$("$PY" -c 'import onnxruntime, os; print(os.path.dirname(os.path.dirname(onnxruntime.__file__)))')"
export ORT_DYLIB_PATH="$SITE/onnxruntime/capi/libonnxruntime.so.1.31.1"
LIBS="$(find "$SITE/nvidia" -maxdepth 2 -name lib -type d 2>/dev/null | tr '\n' ':')"
export LD_LIBRARY_PATH="${LIBS}${LD_LIBRARY_PATH:-}"

cargo build --release --locked
PVC="$(cargo metadata --format-version 1 --no-deps | "$PY" -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')/release/pvc"
OUT="target/cuda_check"
mkdir -p "$OUT"

# 1. Parity of the patched fixtures, CUDA against CPU.
: > "$OUT/parity.tsv"
for case in models/cases/*/; do
  name="$(basename "$case")"
  for model in $("$PY" -c 'import json,sys; print(" ".join(json.load(open(sys.argv[1]))["models"]))' "$case/case.json"); do
    patched="$OUT/$name.${model%.onnx}.onnx"
    orig="$("$PY" -c 'import json,sys; print("--original" if json.load(open(sys.argv[1])).get("original") else "")' "$case/case.json")"
    "$PVC" rewrite "models/$model" "$case/schema.json" -o "$patched" $orig 2>/dev/null
    for dev in cpu cuda; do
      "$PVC" run "$patched" --backend ort --device "$dev" --inputs "$case/inputs.safetensors" -o "$OUT/$name.$dev.safetensors" >/dev/null
    done
    "$PY" - "$OUT/$name.cpu.safetensors" "$OUT/$name.cuda.safetensors" "$name ($model)" >> "$OUT/parity.tsv" <<'PYEOF'
import sys
import numpy as np
from safetensors.numpy import load_file
a, b = load_file(sys.argv[1]), load_file(sys.argv[2])
d = max(float(np.max(np.abs(a[k].astype(np.float64) - b[k].astype(np.float64)))) if a[k].size else 0.0 for k in a)
print(f"{sys.argv[3]}\t{d:.3g}")
PYEOF
  done
done

# 2 and 3. GPT-2 small on the GPU: ONNX Runtime (pvc-patched) and pyvene + PyTorch.
"$PY" benches/make_gpt2_small.py
"$PY" benches/cuda_forward.py "$PVC" "$N" "$OUT"

{
  echo "## CUDA check ($(nvidia-smi --query-gpu=name --format=csv,noheader | head -1), $(date -u +%F))"
  echo
  echo "| parity case (fixture) | max abs diff, CUDA vs CPU |"
  echo "|---|---|"
  awk -F'\t' '{print "| " $1 " | " $2 " |"}' "$OUT/parity.tsv"
  echo
  cat "$OUT/forward.md"
} | tee target/cuda_check.md
worst="$(cut -f2 "$OUT/parity.tsv" | sort -g | tail -1)"
"$PY" -c "import sys; sys.exit(0 if float(sys.argv[1]) <= 1e-3 else 1)" "$worst" || {
  echo "cuda_check: CUDA and CPU differ by $worst (limit 1e-3)" >&2
  exit 1
}
