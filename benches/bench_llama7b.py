"""Rewrite of a 7B-class Llama graph with 64 interventions: wall time and peak RSS of `pvc rewrite`.

The graph is `benches/make_llama7b.py`'s (32 layers, hidden 4096, GQA 32/8 heads, weights in one
sparse external data file). The schema has 64 representations: an Addition at `block_output` and
a Collect at `mlp_output` (position 0) of each of the 32 layers. Each run is a whole process
writing next to the input (no data moves); one untimed warm-up, then ROUNDS rounds in a freshly
shuffled order, each with the rewrite, the empty-schema round trip of the same graph, and
`pvc --version` (the process alone: binary, allocator, runtime). Reported: median wall time
(min-max), largest peak RSS (ru_maxrss of a wrapper whose only child is pvc), and that RSS above
the process alone, in MiB and as a multiple of the graph proto (`model.onnx`, weights excluded).

Usage (after `cargo build --release --locked --bin pvc` and `python3 benches/make_llama7b.py`):
    python3 benches/bench_llama7b.py [ROUNDS]
"""

import json
import os
import random
import statistics
import subprocess
import sys

ROOT = os.path.abspath(os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
PVC = os.environ.get("PVC_BIN", os.path.join(ROOT, "target", "release", "pvc"))
MODEL = os.path.join(ROOT, "target", "bench-models", "llama7b", "model.onnx")

MEASURE = """
import resource, subprocess, sys, time
t = time.perf_counter()
subprocess.run(sys.argv[1:], check=True, capture_output=True)
print((time.perf_counter() - t) * 1e3, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)
"""


def main():
    rounds = int(sys.argv[1]) if len(sys.argv) > 1 else 7
    for f in (PVC, MODEL):
        if not os.path.exists(f):
            sys.exit(f"missing {f}: see the usage in this script's docstring")
    here = os.path.dirname(MODEL)
    reps = []
    for layer in range(32):
        reps.append({"layer": layer, "component": "block_output", "intervention_type": "addition",
                     "source_representation": [0.01] * 4096})
        reps.append({"layer": layer, "component": "mlp_output", "unit": "pos", "intervention_type": "collect"})
    schema = os.path.join(here, "schema64.json")
    with open(schema, "w") as f:
        json.dump({"model_type": "llama", "representations": reps, "unit_locations": {"base": 0}}, f)
    out = os.path.join(here, "patched.onnx")
    empty = os.path.join(here, "empty.json")
    with open(empty, "w") as f:
        json.dump({"representations": []}, f)
    jobs = {"pvc rewrite, 64 interventions": [PVC, "rewrite", MODEL, schema, "-o", out],
            "pvc rewrite, empty schema (load, verify, copy)": [PVC, "rewrite", MODEL, empty, "-o", out],
            "pvc --version (the process alone)": [PVC, "--version"]}
    runs = {k: [] for k in jobs}
    for r in range(rounds + 1):
        order = list(jobs)
        random.shuffle(order)
        for k in order:
            res = subprocess.run([sys.executable, "-c", MEASURE] + jobs[k], capture_output=True, text=True)
            if res.returncode != 0:
                sys.exit(res.stderr)
            wall, rss = res.stdout.split()
            if r > 0:
                runs[k].append((float(wall), int(rss) / 1024))
            if os.path.exists(out):
                os.remove(out)
    graph = os.path.getsize(MODEL) / 2**20
    data = os.path.getsize(MODEL + ".data") / 2**30
    print(f"graph proto {graph:.1f} MiB, sparse data {data:.1f} GiB; {rounds} rounds, {os.cpu_count()} CPUs, "
          f"load average {os.getloadavg()[0]:.1f}")
    base = max(r for _, r in runs["pvc --version (the process alone)"])
    for k, v in runs.items():
        walls = [w for w, _ in v]
        rss = max(r for _, r in v)
        print(f"{k}: {statistics.median(walls):.0f} ms ({min(walls):.0f}-{max(walls):.0f}), peak RSS {rss:.0f} MiB "
              f"= process alone + {rss - base:.1f} MiB = + {(rss - base) / graph:.1f}x the graph proto")

if __name__ == "__main__":
    main()
