"""Make a 7B-class Llama graph: target/bench-models/llama7b/model.onnx + a sparse model.onnx.data.

Llama-2-7B's shape: 32 layers, hidden 4096, 32 query heads and 8 key/value heads (GQA, head dim
128), intermediate 11008, vocab 32000 (6.6B parameters, 26.5 GB of float32). Nothing that large
is computed or written: a tiny `LlamaForCausalLM` with the same layer count, head counts and vocab
(hidden 320 = 32 x head dim 10, key/value 80, intermediate 860) is exported with the legacy
exporter (opset 17, `input_ids` [batch, seq] -> `logits`), so the node structure is the
exporter's own; then every dimension is scaled up (320 -> 4096, 80 -> 1024, 860 -> 11008,
head dim 10 -> 128 and its half 5 -> 64) in initializer dims and in the int64 shape constants,
and every weight of 1 KiB or more becomes an external reference into ONE data file made with
`truncate` (sparse: no weight byte is written; 4 KiB-aligned offsets).

The scaled graph is a benchmark for graph work (load, rewrite, save), not for running: its
weights read as zeros. Idempotent unless `--force`. Pinned: torch 2.15.0, transformers 4.51.3,
onnx 1.23.2.
"""

import math
import os
import sys

import numpy as np
import onnx
import torch
from onnx import numpy_helper
from transformers import LlamaConfig, LlamaForCausalLM

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
OUT = os.path.join(ROOT, "target", "bench-models", "llama7b")
SCALE = {320: 4096, 80: 1024, 860: 11008, 10: 128, 5: 64}
ALIGN = 4096


class LogitsOnly(torch.nn.Module):
    def __init__(self, model):
        super().__init__()
        self.model = model

    def forward(self, input_ids):
        return self.model(input_ids=input_ids, use_cache=False).logits


def scale_constant(t):
    """Scales an int64 shape constant's values, and a head-dim float scalar, in place."""
    a = numpy_helper.to_array(t)
    if t.data_type == onnx.TensorProto.INT64 and a.size <= 8:
        b = np.vectorize(lambda v: SCALE.get(int(v), int(v)), otypes=[np.int64])(a) if a.size else a
    elif t.data_type == onnx.TensorProto.FLOAT and a.size == 1 and math.isclose(float(a), math.sqrt(10), rel_tol=1e-5):
        b = np.full_like(a, math.sqrt(128))
    elif any(d in SCALE for d in a.shape):
        b = np.resize(a, [SCALE.get(d, d) for d in a.shape])
    else:
        return
    t.CopyFrom(numpy_helper.from_array(b.astype(a.dtype), t.name))


def main():
    path = os.path.join(OUT, "model.onnx")
    if os.path.exists(path) and "--force" not in sys.argv:
        print(f"{path} exists")
        return
    os.makedirs(OUT, exist_ok=True)
    torch.manual_seed(0)
    cfg = LlamaConfig(hidden_size=320, num_attention_heads=32, num_key_value_heads=8, num_hidden_layers=32,
                      intermediate_size=860, vocab_size=32000, max_position_embeddings=4096, use_cache=False,
                      attn_implementation="eager")
    tiny = os.path.join(OUT, "tiny.onnx")
    ids = torch.randint(0, 32000, (1, 8))
    torch.onnx.export(LogitsOnly(LlamaForCausalLM(cfg).eval()), (ids,), tiny, dynamo=False, opset_version=17,
                      input_names=["input_ids"], output_names=["logits"],
                      dynamic_axes={"input_ids": {0: "batch", 1: "seq"}, "logits": {0: "batch", 1: "seq"}})
    m = onnx.load(tiny)
    os.remove(tiny)
    for n in m.graph.node:
        for a in n.attribute:
            if a.type == onnx.AttributeProto.TENSOR:
                scale_constant(a.t)
    end = 0
    for t in m.graph.initializer:
        small = numpy_helper.to_array(t).nbytes < 1024
        if small:
            scale_constant(t)
            continue
        t.dims[:] = [SCALE.get(d, d) for d in t.dims]
        length = 4 * int(np.prod(t.dims))
        offset = -(-end // ALIGN) * ALIGN
        end = offset + length
        t.ClearField("raw_data")
        t.ClearField("float_data")
        t.data_location = onnx.TensorProto.EXTERNAL
        for k, v in (("location", "model.onnx.data"), ("offset", str(offset)), ("length", str(length))):
            e = t.external_data.add()
            e.key, e.value = k, v
    del m.graph.value_info[:]
    with open(os.path.join(OUT, "model.onnx.data"), "wb") as f:
        f.truncate(end)
    onnx.save(m, path)
    print(f"wrote {path} ({os.path.getsize(path) / 1e6:.1f} MB graph, {end / 1e9:.1f} GB sparse data)")


if __name__ == "__main__":
    main()
