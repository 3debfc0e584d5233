"""Check models written by `pvc rewrite` with the reference tools.

Usage: python3 models/check_patched.py MANIFEST.json

MANIFEST is a JSON list of {"model": path, "inputs": safetensors, "expected": safetensors}.
Each model must pass `onnx.checker.check_model(full_check=True)`, load and run in Python
onnxruntime on the inputs, and match every expected tensor to 1e-4. Prints one line per model
and a closing "N passed, N failed" line; exits 1 on any failure.

Pinned: onnx==1.23.2, onnxruntime==1.31.1, safetensors, numpy.
"""

import json
import sys

import numpy as np
import onnx
import onnxruntime as ort
from safetensors.numpy import load_file

TOLERANCE = 1e-4


def check(entry):
    onnx.checker.check_model(entry["model"], full_check=True)
    opts = ort.SessionOptions()
    opts.log_severity_level = 3
    sess = ort.InferenceSession(entry["model"], opts, providers=["CPUExecutionProvider"])
    inputs = load_file(entry["inputs"])
    feed = {i.name: inputs[i.name] for i in sess.get_inputs()}
    names = [o.name for o in sess.get_outputs()]
    got = dict(zip(names, sess.run(None, feed)))
    worst = 0.0
    for name, want in load_file(entry["expected"]).items():
        if name not in got:
            raise AssertionError(f"no output `{name}`")
        if got[name].shape != want.shape:
            raise AssertionError(f"`{name}` has shape {got[name].shape}, expected {want.shape}")
        diff = float(np.max(np.abs(got[name].astype(np.float64) - want.astype(np.float64))))
        if diff > TOLERANCE:
            raise AssertionError(f"`{name}` differs by {diff:.3e}")
        worst = max(worst, diff)
    return worst


def main():
    entries = json.load(open(sys.argv[1]))
    passed = failed = 0
    for entry in entries:
        label = entry.get("label", entry["model"])
        try:
            worst = check(entry)
            print(f"ok   {label}: checker full_check passed, onnxruntime max diff {worst:.2e}")
            passed += 1
        except Exception as e:  # report every model, then fail
            print(f"FAIL {label}: {type(e).__name__}: {e}")
            failed += 1
    print(f"{passed} passed, {failed} failed")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
