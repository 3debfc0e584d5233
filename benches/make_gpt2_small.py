"""Make the GPT-2-small-sized benchmark model: target/bench-models/gpt2_small/model.onnx.

Random-init GPT2LMHeadModel(GPT2Config()) (124M parameters, seed 0), exported with the legacy
exporter (opset 17; input `input_ids` [batch, seq] -> `logits`), every initializer saved as
external data in `model.onnx.data` (about 650 MB: the exporter writes the tied lm_head twice).
Idempotent: does nothing when the model exists. Pinned: torch 2.15.0, transformers 4.51.3,
onnx 1.23.2.

With `--single`, writes target/bench-models/gpt2_small_single/model.onnx instead: the exporter's
own single file, weights embedded (653 MB), without the external-data step.
"""

import os
import sys

import onnx
import torch
from transformers import GPT2Config, GPT2LMHeadModel

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
OUT = os.path.join(ROOT, "target", "bench-models", "gpt2_small")


class LogitsOnly(torch.nn.Module):
    def __init__(self, model):
        super().__init__()
        self.model = model

    def forward(self, input_ids):
        return self.model(input_ids=input_ids, use_cache=False).logits


def main():
    single = "--single" in sys.argv
    out = OUT + "_single" if single else OUT
    path = os.path.join(out, "model.onnx")
    if os.path.exists(path) and "--force" not in sys.argv:
        print(f"{path} exists")
        return
    os.makedirs(out, exist_ok=True)
    torch.manual_seed(0)
    model = GPT2LMHeadModel(GPT2Config(attn_implementation="eager")).eval()
    tmp = os.path.join(out, "single.onnx")
    ids = torch.randint(0, 50257, (1, 8))
    torch.onnx.export(
        LogitsOnly(model), (ids,), tmp, dynamo=False, opset_version=17,
        input_names=["input_ids"], output_names=["logits"],
        dynamic_axes={"input_ids": {0: "batch", 1: "seq"}, "logits": {0: "batch", 1: "seq"}},
    )
    if single:
        os.replace(tmp, path)
        print(f"wrote {path}")
        return
    m = onnx.load(tmp)
    onnx.save(m, path, save_as_external_data=True, all_tensors_to_one_file=True,
              location="model.onnx.data", size_threshold=1024)
    os.remove(tmp)
    os.chmod(os.path.join(OUT, "model.onnx.data"), 0o644)
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
