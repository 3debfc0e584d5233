"""Single-file models (weights embedded): pvc against Python's onnx doing the same edit.

Models (make them first):
- GPT-2 small, 653 MB single file: `python3 benches/make_gpt2_small.py --single`
- MiniLM-sized BERT, 90 MB single file: `python3 benches/make_bert_minilm.py`

Jobs, each a whole process (start-up and imports included):
- `pvc rewrite` with an Addition at every block output (GPT-2: `block_output` of its 12 layers;
  BERT: the output of its 6 `model.encoder.layer[i]` modules), written into a scratch directory;
- Python `onnx` doing the same edit: `onnx.load`, one Add node and one constant per site with the
  site's consumers rewired, `onnx.save` (single file, as the input);
- `pvc rewrite` with an empty schema (the byte-identical copy);
- `pvc inspect`.
One untimed warm-up round fills the page cache; then ROUNDS rounds run every job in a freshly
shuffled order. Reported: median wall time (min-max) and the largest peak RSS (ru_maxrss of a
wrapper process whose only child is the job).

Usage (after `cargo build --release --locked --bin pvc`): python3 benches/compare_embedded.py [ROUNDS]
"""

import json
import os
import random
import re
import shutil
import statistics
import subprocess
import sys
import tempfile

ROOT = os.path.abspath(os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
PVC = os.environ.get("PVC_BIN", os.path.join(ROOT, "target", "release", "pvc"))
MODELS = {
    "GPT-2 small": (os.path.join(ROOT, "target", "bench-models", "gpt2_small_single", "model.onnx"),
                    [{"layer": i, "component": "block_output"} for i in range(12)], 768, "gpt2"),
    "MiniLM-sized BERT": (os.path.join(ROOT, "target", "bench-models", "bert_minilm", "model.onnx"),
                          [{"component": f"model.encoder.layer[{i}].output"} for i in range(6)], 384, None),
}

PY_EDIT = """
import json, sys, numpy as np, onnx
from onnx import helper, numpy_helper
src, out, sites = sys.argv[1], sys.argv[2], json.loads(sys.argv[3])
m = onnx.load(src)
g = m.graph
for i, (name, dim) in enumerate(sites):
    new = f"py/{i}/out"
    for n in g.node:
        for j, x in enumerate(n.input):
            if x == name:
                n.input[j] = new
    for o in g.output:
        if o.name == name:
            o.name = new
    g.initializer.append(numpy_helper.from_array(np.full(dim, 0.5, np.float32), f"py/{i}/vec"))
    g.node.append(helper.make_node("Add", [name, f"py/{i}/vec"], [new], name=f"py/{i}/add"))
onnx.save(m, out)
"""

MEASURE = """
import resource, subprocess, sys, time
t = time.perf_counter()
subprocess.run(sys.argv[1:], check=True, capture_output=True)
print((time.perf_counter() - t) * 1e3, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)
"""


def measure(cmd):
    out = subprocess.run([sys.executable, "-c", MEASURE] + cmd, check=True, capture_output=True, text=True)
    wall, rss = out.stdout.split()
    return float(wall), int(rss) / 1024


def schemas(scratch, name, sites, dim, family):
    reps = [dict(s, intervention_type="addition", source_representation=[0.5] * dim) for s in sites]
    add = os.path.join(scratch, f"{name}-add.json")
    with open(add, "w") as f:
        json.dump({**({"model_type": family} if family else {}), "representations": reps}, f)
    empty = os.path.join(scratch, "empty.json")
    with open(empty, "w") as f:
        json.dump({"representations": []}, f)
    return add, empty


def site_values(model, schema, scratch):
    """The tensors pvc's dry run resolves the sites to (what the Python edit patches)."""
    err = subprocess.run([PVC, "rewrite", model, schema, "-o", os.path.join(scratch, "dry.onnx"), "--dry-run"],
                         check=True, capture_output=True, text=True).stderr
    return re.findall(r"→ `([^`]+)`", err)


def main():
    rounds = int(sys.argv[1]) if len(sys.argv) > 1 else 5
    for f in [PVC] + [m[0] for m in MODELS.values()]:
        if not os.path.exists(f):
            sys.exit(f"missing {f}: see the usage in this script's docstring")
    scratch = tempfile.mkdtemp(prefix="compare_embedded-", dir=os.path.join(ROOT, "target"))
    jobs = {}
    for name, (model, sites, dim, family) in MODELS.items():
        add, empty = schemas(scratch, name.split()[0], sites, dim, family)
        values = site_values(model, add, scratch)
        assert len(values) == len(sites), (name, values)
        out = os.path.join(scratch, "out.onnx")
        n = len(sites)
        jobs[(name, f"pvc rewrite, {n} Additions")] = [PVC, "rewrite", model, add, "-o", out]
        jobs[(name, f"Python onnx, same {n} Additions")] = [sys.executable, "-c", PY_EDIT, model, out,
                                                          json.dumps([[v, dim] for v in values])]
        jobs[(name, f"pvc rewrite --durable, {n} Additions")] = [PVC, "rewrite", model, add, "-o", out, "--durable"]
        jobs[(name, "pvc rewrite, empty schema (copy)")] = [PVC, "rewrite", model, empty, "-o", out]
        jobs[(name, "pvc rewrite --durable, empty schema")] = [PVC, "rewrite", model, empty, "-o", out, "--durable"]
        jobs[(name, "cp (for scale)")] = ["cp", model, out]
        jobs[(name, "pvc inspect")] = [PVC, "inspect", model]
    results = {k: [] for k in jobs}
    try:
        for r in range(rounds + 1):
            order = list(jobs)
            random.shuffle(order)
            for k in order:
                m = measure(jobs[k])
                if r > 0:
                    results[k].append(m)
                if os.path.exists(os.path.join(scratch, "out.onnx")):
                    os.remove(os.path.join(scratch, "out.onnx"))
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    print(f"{rounds} rounds, {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f} at the end")
    print("| model | job | wall, median (min-max) | peak RSS | RSS / file |")
    print("|---|---|---|---|---|")
    for (name, job), runs in results.items():
        walls = [w for w, _ in runs]
        rss = max(r for _, r in runs)
        size = os.path.getsize(MODELS[name][0]) / 2**20
        print(f"| {name} ({size:.0f} MiB) | {job} | {statistics.median(walls):.0f} ms "
              f"({min(walls):.0f}-{max(walls):.0f}) | {rss:.0f} MiB | {rss / size:.2f} |")
    for name, (_, sites, _, _) in MODELS.items():
        n = len(sites)
        pvc = statistics.median(w for w, _ in results[(name, f"pvc rewrite, {n} Additions")])
        py = statistics.median(w for w, _ in results[(name, f"Python onnx, same {n} Additions")])
        print(f"{name}: Python / pvc = {py / pvc:.1f}x")


if __name__ == "__main__":
    main()
