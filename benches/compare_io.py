"""Load + save of the GPT-2-small-sized external-data model: pvc against Python's onnx.

Every measured operation runs in its own process. A first round warms the page cache and is not
counted; then ROUNDS rounds run the variants in a freshly shuffled order. For each variant the
script reports the median time of the operation itself (timed inside the process, so process
start-up and Python imports are excluded), the median wall time of the whole process, and the
largest peak RSS of the process (getrusage(RUSAGE_CHILDREN) in a wrapper that runs only it).

Variants:
- pvc, same dir:     `load_save MODEL DIR/x.onnx` (examples/load_save.rs): Model::load + save
                     next to the input; no data moves;
- pvc, link:         the same into another directory, data hard-linked (DataPolicy::Link);
- pvc, copy:         the same, data copied (DataPolicy::Copy, what `pvc rewrite` does by default);
- pvc rewrite:       `pvc rewrite MODEL empty.json -o DIR/x.onnx`, next to the input: the CLI end
                     to end (load, verify, rewrite nothing, save);
- onnx full:         onnx.load (weights read) + onnx.save with external data into another dir;
- onnx graph only:   onnx.load(load_external_data=False) + onnx.save next to the input.

Usage (after `python3 benches/make_gpt2_small.py` and
`cargo build --release --bin pvc --example load_save`):
    python3 benches/compare_io.py [ROUNDS]
"""

import json
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile

ROOT = os.path.abspath(os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
MODEL = os.path.join(ROOT, "target", "bench-models", "gpt2_small", "model.onnx")
HERE = os.path.dirname(MODEL)
LOAD_SAVE = os.path.join(ROOT, "target", "release", "examples", "load_save")
PVC = os.path.join(ROOT, "target", "release", "pvc")

PY_FULL = """
import onnx, sys, time
t = time.perf_counter()
m = onnx.load(sys.argv[1])
onnx.save(m, sys.argv[2], save_as_external_data=True, all_tensors_to_one_file=True, location="model.onnx.data")
print("op_ms", (time.perf_counter() - t) * 1e3)
"""
PY_GRAPH = """
import onnx, sys, time
t = time.perf_counter()
m = onnx.load(sys.argv[1], load_external_data=False)
onnx.save(m, sys.argv[2])
print("op_ms", (time.perf_counter() - t) * 1e3)
"""

# Runs argv[1:] and prints "<op ms or -> <process wall ms> <peak RSS KB of that process>".
MEASURE = """
import resource, subprocess, sys, time
t = time.perf_counter()
out = subprocess.run(sys.argv[1:], check=True, capture_output=True, text=True).stdout
wall = (time.perf_counter() - t) * 1e3
op = [l.split()[-1] for l in out.splitlines() if l.startswith(("op_ms", "load_save_ms"))]
print(op[-1] if op else "-", wall, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)
"""


def measure(cmd):
    out = subprocess.run([sys.executable, "-c", MEASURE] + cmd, check=True, capture_output=True, text=True)
    op, wall, rss = out.stdout.split()
    wall = float(wall)
    return (wall if op == "-" else float(op)), wall, int(rss) / 1024


def variants(scratch, empty):
    """name -> function(run index) returning the command; outputs go to fresh paths."""
    def other(i, name):
        d = os.path.join(scratch, f"{name}-{i}")
        os.makedirs(d)
        return os.path.join(d, "model.onnx")

    return {
        "pvc load+save, same dir": lambda i: [LOAD_SAVE, MODEL, os.path.join(HERE, "cmp_same.onnx")],
        "pvc load+save, other dir, link": lambda i: [LOAD_SAVE, MODEL, other(i, "link")],
        "pvc load+save, other dir, copy": lambda i: [LOAD_SAVE, MODEL, other(i, "copy"), "--copy"],
        "pvc rewrite (empty schema), same dir": lambda i: [PVC, "rewrite", MODEL, empty, "-o",
                                                           os.path.join(HERE, "cmp_cli.onnx")],
        "onnx load+save, full, other dir": lambda i: [sys.executable, "-c", PY_FULL, MODEL, other(i, "py")],
        "onnx load+save, graph only, same dir": lambda i: [sys.executable, "-c", PY_GRAPH, MODEL,
                                                           os.path.join(HERE, "cmp_py_graph.onnx")],
    }


def main():
    rounds = int(sys.argv[1]) if len(sys.argv) > 1 else 7
    for f in (MODEL, LOAD_SAVE, PVC):
        if not os.path.exists(f):
            sys.exit(f"missing {f}: see the usage in this script's docstring")
    scratch = tempfile.mkdtemp(prefix="compare_io-", dir=os.path.join(ROOT, "target"))
    empty = os.path.join(scratch, "empty.json")
    with open(empty, "w") as f:
        json.dump({"representations": []}, f)
    cmds = variants(scratch, empty)
    results = {k: [] for k in cmds}
    run = 0
    try:
        for r in range(rounds + 1):
            order = list(cmds)
            random.shuffle(order)
            for k in order:
                run += 1
                m = measure(cmds[k](run))
                if r > 0:
                    results[k].append(m)
                for d in os.listdir(scratch):  # free the disk the copies took
                    if d != "empty.json":
                        shutil.rmtree(os.path.join(scratch, d))
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
        for f in ("cmp_same.onnx", "cmp_cli.onnx", "cmp_py_graph.onnx"):
            if os.path.exists(os.path.join(HERE, f)):
                os.remove(os.path.join(HERE, f))

    size = os.path.getsize(MODEL) + os.path.getsize(MODEL + ".data")
    print(f"model: {MODEL} ({size / 1e6:.0f} MB with its data); {rounds} rounds, {os.cpu_count()} CPUs")
    print(f"| variant | operation, median (min-max) | process wall, median | peak RSS |")
    print(f"|---|---|---|---|")
    med = {}
    for k, runs in results.items():
        ops = [o for o, _, _ in runs]
        walls = [w for _, w, _ in runs]
        med[k] = statistics.median(ops)
        print(f"| {k} | {med[k]:.1f} ms ({min(ops):.1f}-{max(ops):.1f}) | {statistics.median(walls):.0f} ms "
              f"| {max(r for _, _, r in runs):.0f} MB |")
    full = med["onnx load+save, full, other dir"]
    for k in ("pvc load+save, other dir, link", "pvc load+save, other dir, copy", "pvc load+save, same dir"):
        print(f"onnx full / {k}: {full / med[k]:.0f}x")
    graph = med["onnx load+save, graph only, same dir"]
    print(f"onnx graph only / pvc load+save, same dir: {graph / med['pvc load+save, same dir']:.1f}x")


if __name__ == "__main__":
    main()
