"""Cost of a Vanilla interchange: pvc's patched model on ONNX Runtime against pyvene + PyTorch.

pyvene runs one full forward per source, then the base forward: about 2 forwards for one
interchange, whatever the layer. pvc's patched model computes the source run only up to the
site, so an interchange at `block_output` of layer L costs 1 + (L+1)/12 forwards of GPT-2 small
(12 layers; the embeddings and the head are small next to the blocks).

For L in 2, 6, 11: Vanilla interchange at `block_output` of layer L, position 5 of the base
takes position 3 of the source, batch 8, 32 tokens. Each engine's ratio is (intervened run) /
(plain forward of the same engine), so the two engines' absolute speeds cancel out. Timing: 3
untimed calls per variant, then ROUNDS rounds in a freshly shuffled order; medians.

Usage (after `python3 benches/make_gpt2_small.py` and a pvc build):
    python3 benches/compare_interchange.py [ROUNDS]
Pinned: torch 2.15.0, transformers 4.51.3, pyvene 0.1.8, onnxruntime 1.31.1.
"""

import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time

import numpy as np
import onnxruntime as ort
import pyvene as pv
import torch
from transformers import GPT2Config, GPT2LMHeadModel

ROOT = os.path.abspath(os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
MODEL = os.path.join(ROOT, "target", "bench-models", "gpt2_small", "model.onnx")
PVC = next((p for p in (os.path.join(ROOT, "target", d, "pvc") for d in ("release", "debug")) if os.path.exists(p)),
           None)
LAYERS = (2, 6, 11)
BATCH, SEQ, SRC_POS, BASE_POS = 8, 32, 3, 5
THREADS = 2


def session(path):
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = THREADS
    opts.inter_op_num_threads = 1
    opts.log_severity_level = 3
    return ort.InferenceSession(path, opts, providers=["CPUExecutionProvider"])


def patched(scratch, layer):
    schema = os.path.join(scratch, f"vanilla{layer}.json")
    side = lambda pos: [[[pos]] * BATCH]
    with open(schema, "w") as f:
        json.dump({"model_type": "gpt2",
                   "representations": [{"layer": layer, "component": "block_output", "unit": "pos",
                                        "intervention_type": "vanilla"}],
                   "unit_locations": {"sources->base": [side(SRC_POS), side(BASE_POS)]}}, f)
    out = os.path.join(os.path.dirname(MODEL), f"interchange{layer}.onnx")
    subprocess.run([PVC, "rewrite", MODEL, schema, "-o", out], check=True, capture_output=True)
    return out


def main():
    rounds = int(sys.argv[1]) if len(sys.argv) > 1 else 15
    if not os.path.exists(MODEL) or PVC is None:
        sys.exit("missing the model or pvc: see the usage in this script's docstring")
    torch.set_num_threads(THREADS)
    rng = np.random.default_rng(0)
    base = rng.integers(0, 50257, (BATCH, SEQ), dtype=np.int64)
    source = rng.integers(0, 50257, (BATCH, SEQ), dtype=np.int64)
    scratch = tempfile.mkdtemp(prefix="interchange-")
    outs = []
    variants = {}
    plain = session(MODEL)
    variants["ort plain"] = lambda: plain.run(None, {"input_ids": base})
    for layer in LAYERS:
        path = patched(scratch, layer)
        outs.append(path)
        s = session(path)
        feed = {i.name: (source if i.name.startswith("source.") else base) for i in s.get_inputs()}
        variants[f"ort L{layer}"] = lambda s=s, feed=feed: s.run(None, feed)
    torch.manual_seed(0)
    model = GPT2LMHeadModel(GPT2Config()).eval()
    tb, ts = torch.from_numpy(base), torch.from_numpy(source)

    def torch_plain():
        with torch.no_grad():
            model(input_ids=tb)
    variants["torch plain"] = torch_plain
    for layer in LAYERS:
        pvm = pv.IntervenableModel([{"layer": layer, "component": "block_output", "unit": "pos",
                                     "intervention_type": pv.VanillaIntervention}], model)
        loc = {"sources->base": ([[[SRC_POS]] * BATCH], [[[BASE_POS]] * BATCH])}

        def run(pvm=pvm, loc=loc):
            with torch.no_grad():
                pvm({"input_ids": tb}, [{"input_ids": ts}], unit_locations=loc)
        variants[f"pyvene L{layer}"] = run
    times = {k: [] for k in variants}
    try:
        for f in variants.values():
            for _ in range(3):
                f()
        for _ in range(rounds):
            order = list(variants)
            random.shuffle(order)
            for k in order:
                t = time.perf_counter()
                variants[k]()
                times[k].append((time.perf_counter() - t) * 1e3)
    finally:
        for p in outs:
            os.remove(p)
    med = {k: statistics.median(v) for k, v in times.items()}
    print(f"GPT-2 small, batch {BATCH}, {SEQ} tokens, {THREADS} threads, {rounds} rounds; "
          f"ort plain {med['ort plain']:.1f} ms, torch plain {med['torch plain']:.1f} ms")
    print("| layer | pvc on ORT / plain ORT | ideal 1 + (L+1)/12 | pyvene / plain torch | ideal | ORT ms | pyvene ms |")
    print("|---|---|---|---|---|---|---|")
    for layer in LAYERS:
        o, p = med[f"ort L{layer}"], med[f"pyvene L{layer}"]
        print(f"| {layer} | {o / med['ort plain']:.2f} | {1 + (layer + 1) / 12:.2f} | "
              f"{p / med['torch plain']:.2f} | 2.00 | {o:.1f} | {p:.1f} |")


if __name__ == "__main__":
    main()
