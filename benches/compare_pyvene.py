"""pyvene + PyTorch on CPU doing what the pvc benchmarks do, for comparison.

GPT-2 small (random init, GPT2Config()), batch 1, 64 tokens, 2 threads:
- torch forward (no interventions),
- pyvene with an AdditionIntervention at all 12 block_outputs (whole tensor),
- pyvene with 4 CollectInterventions (block_output of layers 2, 5, 8, 11).
Each variant: 3 untimed calls, then the median of N timed calls, variants interleaved in a
shuffled order each round (see shared notes on measuring). Prints milliseconds.

Usage: python3 benches/compare_pyvene.py [N=15]
Pinned: torch 2.15.0, transformers 4.51.3, pyvene 0.1.8.
"""

import random
import statistics
import sys
import time

import pyvene as pv
import torch
from transformers import GPT2Config, GPT2LMHeadModel

torch.set_num_threads(2)
torch.manual_seed(0)
N = int(sys.argv[1]) if len(sys.argv) > 1 else 15

model = GPT2LMHeadModel(GPT2Config()).eval()
ids = torch.tensor([[(i * 131 + 7) % 50257 for i in range(64)]])
vec = torch.tensor([((i * 37 % 101) - 50.0) / 500.0 for i in range(768)])


def build(kind):
    if kind == "add12":
        reps = [{"layer": l, "component": "block_output", "intervention": pv.AdditionIntervention(embed_dim=768, source_representation=vec)} for l in range(12)]
    else:
        reps = [{"layer": l, "component": "block_output", "intervention": pv.CollectIntervention()} for l in (2, 5, 8, 11)]
    return pv.IntervenableModel(reps, model)


pv_add = build("add12")
pv_collect = build("collect4")


def torch_forward():
    with torch.no_grad():
        model(input_ids=ids)


def pyvene_add():
    with torch.no_grad():
        pv_add({"input_ids": ids})


def pyvene_collect():
    with torch.no_grad():
        pv_collect({"input_ids": ids})


variants = {"torch": torch_forward, "pyvene_add12": pyvene_add, "pyvene_collect4": pyvene_collect}
times = {k: [] for k in variants}
for f in variants.values():
    for _ in range(3):
        f()
for _ in range(N):
    order = list(variants)
    random.shuffle(order)
    for k in order:
        variants[k]()
        t = time.perf_counter()
        variants[k]()
        times[k].append((time.perf_counter() - t) * 1000)
        time.sleep(0.05)
for k, v in times.items():
    print(f"{k}: median {statistics.median(v):.1f} ms (min {min(v):.1f}, max {max(v):.1f}, n={len(v)})")
