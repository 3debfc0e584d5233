"""Load + save of the GPT-2-small-sized external-data model: pvc against Python's onnx.

Each run is its own process; 7 rounds in a shuffled order; median wall time (for Python, timed
inside the process so imports are excluded) and peak RSS of the process.
- pvc: `pvc rewrite MODEL empty.json -o OUT` (load, verify, save; the weights are not read),
  next to the input, and into another directory (data copied, the default);
- onnx full: onnx.load (weights read) + onnx.save with external data into another directory;
- onnx graph only: onnx.load(load_external_data=False) + onnx.save.

Usage: python3 benches/compare_io.py   (after `cargo build --release` and make_gpt2_small.py)
"""

import json
import os
import random
import statistics
import subprocess
import sys
import tempfile

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
MODEL = os.path.join(ROOT, "target", "bench-models", "gpt2_small", "model.onnx")
PVC = os.path.join(ROOT, "target", "release", "pvc")

PY_FULL = """
import onnx, sys, time
t = time.perf_counter()
m = onnx.load(sys.argv[1])
onnx.save(m, sys.argv[2], save_as_external_data=True, all_tensors_to_one_file=True, location="model.onnx.data")
print(time.perf_counter() - t)
"""
PY_GRAPH = """
import onnx, sys, time
t = time.perf_counter()
m = onnx.load(sys.argv[1], load_external_data=False)
onnx.save(m, sys.argv[2])
print(time.perf_counter() - t)
"""

# Runs a command and prints "<inner seconds or -> <wall seconds> <peak RSS in KB>".
MEASURE = """
import resource, subprocess, sys, time
t = time.perf_counter()
out = subprocess.run(sys.argv[1:], check=True, capture_output=True, text=True).stdout.strip()
wall = time.perf_counter() - t
inner = out.splitlines()[-1] if out else "-"
print(inner, wall, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)
"""


def measure(cmd):
    out = subprocess.run([sys.executable, "-c", MEASURE] + cmd, check=True, capture_output=True, text=True)
    inner, wall, rss = out.stdout.split()
    return (float(wall) if inner == "-" else float(inner)), int(rss) // 1024


def main():
    here = os.path.dirname(MODEL)
    empty = os.path.join(tempfile.mkdtemp(), "empty.json")
    json.dump({"representations": []}, open(empty, "w"))
    other = tempfile.mkdtemp(dir=os.path.join(ROOT, "target"))
    commands = {
        "pvc load+save (same dir)": [PVC, "rewrite", MODEL, empty, "-o", os.path.join(here, "io_cli.onnx")],
        "pvc load+save (other dir, data copied)": [PVC, "rewrite", MODEL, empty, "-o", os.path.join(other, "pvc.onnx")],
        "onnx load+save (full, other dir)": [sys.executable, "-c", PY_FULL, MODEL, os.path.join(other, "py.onnx")],
        "onnx load+save (graph only)": [sys.executable, "-c", PY_GRAPH, MODEL, os.path.join(other, "pyg.onnx")],
    }
    results = {k: [] for k in commands}
    for _ in range(7):
        order = list(commands)
        random.shuffle(order)
        for k in order:
            results[k].append(measure(commands[k]))
    for k, runs in results.items():
        times = [t for t, _ in runs]
        print(f"{k}: median {statistics.median(times) * 1000:.0f} ms (min {min(times) * 1000:.0f}), peak RSS {max(r for _, r in runs)} MB")


if __name__ == "__main__":
    main()
