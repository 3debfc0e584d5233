"""Generation with ITI-style steering: pvc's patched decoder on ONNX Runtime CPU against the unpatched one and
against pyvene generate + PyTorch, side by side in one run.

GPT-2 small (random init, GPT2Config(), seed 0) with a KV cache in Optimum's convention (models/kv_fixtures.py,
legacy exporter), built under /tmp/pvc-bench/ (never committed).  Job: a 16-token prompt, 64 new tokens, greedy,
batch 1, 2 threads everywhere.  Steering: an AdditionIntervention at every layer's block_output, at every
position of every call (pyvene: generate(intervene_on_prompt=True, unit_locations=None); pvc: the same schema).
Variants, interleaved in a shuffled order each round, median over rounds, tokens/s = 64 / seconds:
  ort-unpatched   onnxruntime greedy loop over the exported decoder
  ort-patched     the same loop over `pvc rewrite`'s output
  pvc-generate    `pvc generate --backend ort` (release binary; includes process start and session load)
  pyvene          IntervenableModel.generate(..., do_sample=False) on torch
The run also checks that pvc's and pyvene's steered tokens agree.

Usage: /work/pyref/bin/python benches/generate_steering.py [ROUNDS=5]   (PVC=path/to/pvc, default target/release/pvc)
"""
import json
import os
import random
import statistics
import subprocess
import sys
import time
import warnings

sys.dont_write_bytecode = True
HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.join(HERE, "..")
sys.path.insert(0, os.path.join(ROOT, "models"))
warnings.filterwarnings("ignore")

import numpy as np  # noqa: E402
import onnxruntime as ort  # noqa: E402
import torch  # noqa: E402
from transformers import GPT2Config, GPT2LMHeadModel  # noqa: E402

import kv_fixtures as K  # noqa: E402

OUT = "/tmp/pvc-bench/gpt2_small_kv"
PVC = os.environ.get("PVC", os.path.join(ROOT, "target", "release", "pvc"))
ROUNDS = int(sys.argv[1]) if len(sys.argv) > 1 else 5
PROMPT = [(i * 131 + 7) % 50257 for i in range(16)]
NEW = 64
THREADS = 2
torch.set_num_threads(THREADS)


def vec():
    return [round(((i * 37 % 101) - 50.0) / 50.0, 3) for i in range(768)]


def build():
    torch.manual_seed(0)
    model = GPT2LMHeadModel(GPT2Config(attn_implementation="eager")).eval()
    os.makedirs(OUT, exist_ok=True)
    path = os.path.join(OUT, "model.onnx")
    if not os.path.exists(path):
        K.export_kv(model, path, dynamo=False)
    schema = {"model_type": "gpt2", "intervene_on_prompt": True, "unit_locations": None,
              "representations": [{"layer": l, "component": "block_output", "intervention_type": "addition",
                                   "source_representation": vec()} for l in range(12)]}
    spath = os.path.join(OUT, "steer.json")
    json.dump(schema, open(spath, "w"))
    patched = os.path.join(OUT, "steered.onnx")
    if not os.path.exists(patched):
        subprocess.run([PVC, "rewrite", path, spath, "-o", patched], check=True, capture_output=True)
    return model, schema, path, patched


def session(path):
    o = ort.SessionOptions()
    o.intra_op_num_threads = THREADS
    o.inter_op_num_threads = 1
    o.log_severity_level = 3
    return ort.InferenceSession(path, o, providers=["CPUExecutionProvider"])


def ort_generate(sess):
    ids = list(PROMPT)
    feeds = {"input_ids": np.array([ids], np.int64), "attention_mask": np.ones((1, len(ids)), np.int64),
             "position_ids": np.arange(len(ids))[None].astype(np.int64)}
    for i in range(12):
        for kv in ("key", "value"):
            feeds[f"past_key_values.{i}.{kv}"] = np.zeros((1, 12, 0, 64), np.float32)
    names = [o.name for o in sess.get_outputs()]
    for step in range(NEW):
        outs = dict(zip(names, sess.run(None, feeds)))
        tok = int(outs["logits"][0, -1].argmax())
        ids.append(tok)
        if step == NEW - 1:
            break
        feeds = {"input_ids": np.array([[tok]], np.int64), "attention_mask": np.ones((1, len(ids)), np.int64),
                 "position_ids": np.array([[len(ids) - 1]], np.int64)}
        for i in range(12):
            for kv in ("key", "value"):
                feeds[f"past_key_values.{i}.{kv}"] = outs[f"present.{i}.{kv}"]
    return ids


def pvc_generate(path):
    out = subprocess.run([PVC, "generate", path, "--input-ids", json.dumps(PROMPT), "--max-new-tokens", str(NEW),
                          "--backend", "ort", "--threads", str(THREADS)], check=True, capture_output=True, text=True)
    return PROMPT + [int(t) for t in out.stdout.split()]


def pyvene_generate(pv_model):
    ids = torch.tensor([PROMPT])
    with torch.no_grad():
        _, cf = pv_model.generate({"input_ids": ids, "attention_mask": torch.ones_like(ids)},
                                  intervene_on_prompt=True, unit_locations=None, max_new_tokens=NEW,
                                  do_sample=False, use_cache=True, eos_token_id=None, pad_token_id=0)
    return cf[0].tolist()


def main():
    import pyvene as pv
    model, schema, path, patched = build()
    reps = [pv.RepresentationConfig(layer=r["layer"], component="block_output", intervention_type=pv.AdditionIntervention,
                                    source_representation=torch.tensor(r["source_representation"]))
            for r in schema["representations"]]
    pv_model = pv.IntervenableModel(pv.IntervenableConfig(representations=reps), model)
    print(f"load average (1 min) at the start: {os.getloadavg()[0]:.2f}")
    plain, steered = session(path), session(patched)
    variants = {"ort-unpatched": lambda: ort_generate(plain), "ort-patched": lambda: ort_generate(steered),
                "pvc-generate": lambda: pvc_generate(patched), "pyvene": lambda: pyvene_generate(pv_model)}
    if os.environ.get("PVC_GENERATE") == "0":  # only the rewrite needs the pvc binary
        del variants["pvc-generate"]
    tokens = {k: f() for k, f in variants.items()}  # warm-up, and the tokens each gives
    times = {k: [] for k in variants}
    for _ in range(ROUNDS):
        order = list(variants)
        random.shuffle(order)
        for k in order:
            t = time.perf_counter()
            variants[k]()
            times[k].append(time.perf_counter() - t)
    print(f"load average (1 min) at the end: {os.getloadavg()[0]:.2f}; {os.cpu_count()} CPUs; {ROUNDS} rounds")
    med = {k: statistics.median(v) for k, v in times.items()}
    for k in variants:
        print(f"  {k:14s} {med[k]:7.3f} s  {NEW / med[k]:7.1f} tokens/s  (min {min(times[k]):.3f} s)")
    print(f"patched vs unpatched (ORT loop): {100 * (med['ort-patched'] / med['ort-unpatched'] - 1):+.1f}%")
    print(f"pyvene / ort-patched: {med['pyvene'] / med['ort-patched']:.2f}x" +
          (f"; pyvene / pvc-generate: {med['pyvene'] / med['pvc-generate']:.2f}x" if "pvc-generate" in med else ""))
    same = tokens["ort-patched"] == tokens["pyvene"] == tokens.get("pvc-generate", tokens["pyvene"])
    print(f"steered tokens: pvc (ORT loop, pvc generate) {'==' if same else '!='} pyvene; "
          f"steering changed them: {tokens['ort-patched'] != tokens['ort-unpatched']}")


if __name__ == "__main__":
    main()
