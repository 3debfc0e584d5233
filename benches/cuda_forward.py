"""GPU part of benches/cuda_check.sh: python benches/cuda_forward.py PVC N OUT_DIR.

GPT-2 small (random init, seed 0, as benches/make_gpt2_small.py), batch 1, 64 tokens, one forward:
- ONNX Runtime 1.31.1 CUDA EP (IO binding, logits left on the GPU), unpatched vs pvc-patched with an
  Addition at all 12 block_outputs (whole tensor; the vector of benches/rewrite.rs), in fp32 and fp16
  (fp16: the same weights exported with model.half() on the GPU, then patched by pvc);
- PyTorch 2.15 forward and pyvene 0.1.8 with the same 12 Additions, fp32 and fp16, on the same GPU.
Each variant: 5 untimed calls, then N timed ones, variants interleaved in a shuffled order each
round; medians in ms. Writes OUT_DIR/forward.md (a table) and prints it.
"""

import json
import os
import random
import statistics
import subprocess
import sys
import time

import numpy as np
import onnxruntime as ort
import pyvene as pv
import torch
from transformers import GPT2Config, GPT2LMHeadModel

PVC, N, OUT = sys.argv[1], int(sys.argv[2]), sys.argv[3]
ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
FP32 = os.path.join(ROOT, "target", "bench-models", "gpt2_small", "model.onnx")
FP16 = os.path.join(ROOT, "target", "bench-models", "gpt2_small_fp16", "model.onnx")
VEC = [((i * 37 % 101) - 50.0) / 500.0 for i in range(768)]
IDS = np.array([[(i * 131 + 7) % 50257 for i in range(64)]], dtype=np.int64)

torch.manual_seed(0)
model = GPT2LMHeadModel(GPT2Config(attn_implementation="eager")).eval()


class LogitsOnly(torch.nn.Module):
    def __init__(self, m):
        super().__init__()
        self.m = m

    def forward(self, input_ids):
        return self.m(input_ids=input_ids, use_cache=False).logits


if not os.path.exists(FP16):
    os.makedirs(os.path.dirname(FP16), exist_ok=True)
    half = GPT2LMHeadModel(GPT2Config(attn_implementation="eager")).eval()
    half.load_state_dict(model.state_dict())
    half = half.half().cuda()
    torch.onnx.export(
        LogitsOnly(half), (torch.tensor(IDS[:, :8]).cuda(),), FP16, dynamo=False, opset_version=17,
        input_names=["input_ids"], output_names=["logits"],
        dynamic_axes={"input_ids": {0: "batch", 1: "seq"}, "logits": {0: "batch", 1: "seq"}},
    )
    del half

schema = os.path.join(OUT, "add12.json")
with open(schema, "w") as f:
    reps = [{"layer": l, "component": "block_output", "intervention_type": "addition",
             "source_representation": [round(v, 4) for v in VEC]} for l in range(12)]
    json.dump({"model_type": "gpt2", "representations": reps, "unit_locations": None}, f)
paths = {}
for prec, src in (("fp32", FP32), ("fp16", FP16)):
    dst = os.path.join(os.path.dirname(src), "cuda_add12.onnx")
    subprocess.run([PVC, "rewrite", src, schema, "-o", dst], check=True, stderr=subprocess.DEVNULL)
    paths[(prec, "unpatched")], paths[(prec, "add12")] = src, dst


def ort_variant(path):
    s = ort.InferenceSession(path, providers=["CUDAExecutionProvider"])
    assert s.get_providers()[0] == "CUDAExecutionProvider", s.get_providers()
    b = s.io_binding()
    b.bind_cpu_input("input_ids", IDS)
    b.bind_output("logits", "cuda")

    def run():
        s.run_with_iobinding(b)

    return run


def torch_variant(prec, patched):
    m = GPT2LMHeadModel(GPT2Config(attn_implementation="eager")).eval()
    m.load_state_dict(model.state_dict())
    m = (m.half() if prec == "fp16" else m).cuda()
    ids = torch.tensor(IDS).cuda()
    if patched:
        dt = torch.float16 if prec == "fp16" else torch.float32
        vec = torch.tensor(VEC, dtype=dt).cuda()
        reps = [{"layer": l, "component": "block_output",
                 "intervention": pv.AdditionIntervention(embed_dim=768, source_representation=vec)} for l in range(12)]
        ivm = pv.IntervenableModel(reps, m)
        ivm.set_device("cuda")

        def run():
            with torch.no_grad():
                ivm({"input_ids": ids})
            torch.cuda.synchronize()
    else:
        def run():
            with torch.no_grad():
                m(input_ids=ids)
            torch.cuda.synchronize()

    return run


variants = {}
for (prec, kind), path in paths.items():
    variants[("ONNX Runtime 1.31.1 CUDA EP (pvc-patched)", prec, kind)] = ort_variant(path)
    variants[("PyTorch 2.15 / pyvene 0.1.8", prec, kind)] = torch_variant(prec, kind == "add12")
times = {k: [] for k in variants}
for f in variants.values():
    for _ in range(5):
        f()
for _ in range(N):
    order = list(variants)
    random.shuffle(order)
    for k in order:
        t = time.perf_counter()
        variants[k]()
        times[k].append((time.perf_counter() - t) * 1000)
med = {k: statistics.median(v) for k, v in times.items()}
lines = [f"GPT-2 small, batch 1, 64 tokens, medians of {N} (ms), {torch.cuda.get_device_name()}:", "",
         "| engine | precision | unpatched | 12 Additions | overhead |", "|---|---|---|---|---|"]
for engine in ("ONNX Runtime 1.31.1 CUDA EP (pvc-patched)", "PyTorch 2.15 / pyvene 0.1.8"):
    for prec in ("fp32", "fp16"):
        u, a = med[(engine, prec, "unpatched")], med[(engine, prec, "add12")]
        lines.append(f"| {engine} | {prec} | {u:.2f} | {a:.2f} | {100 * (a - u) / u:+.1f}% |")
for prec in ("fp32", "fp16"):
    r = med[("PyTorch 2.15 / pyvene 0.1.8", prec, "add12")] / med[("ONNX Runtime 1.31.1 CUDA EP (pvc-patched)", prec, "add12")]
    lines.append(f"\n{prec}: pvc + ONNX Runtime runs the 12-Addition job {r:.2f}x as fast as pyvene + PyTorch.")
text = "\n".join(lines) + "\n"
with open(os.path.join(OUT, "forward.md"), "w") as f:
    f.write(text)
print(text)
