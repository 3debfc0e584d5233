"""Make the MiniLM-sized BERT benchmark model: target/bench-models/bert_minilm/model.onnx.

A random-init `BertModel` with all-MiniLM-L6-v2's configuration (hidden 384, 6 layers, 12 heads,
intermediate 1536, vocab 30522; seed 0), exported with the legacy exporter (opset 17; input
`input_ids` [batch, seq] -> `last_hidden_state`) as one file with its weights embedded (about
90 MB). Idempotent unless `--force`. Pinned: torch 2.15.0, transformers 4.51.3.
"""

import os
import sys

import torch
from transformers import BertConfig, BertModel

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
OUT = os.path.join(ROOT, "target", "bench-models", "bert_minilm")


class HiddenOnly(torch.nn.Module):
    def __init__(self, model):
        super().__init__()
        self.model = model

    def forward(self, input_ids):
        return self.model(input_ids=input_ids).last_hidden_state


def main():
    path = os.path.join(OUT, "model.onnx")
    if os.path.exists(path) and "--force" not in sys.argv:
        print(f"{path} exists")
        return
    os.makedirs(OUT, exist_ok=True)
    torch.manual_seed(0)
    config = BertConfig(hidden_size=384, num_hidden_layers=6, num_attention_heads=12,
                        intermediate_size=1536, vocab_size=30522, attn_implementation="eager")
    model = BertModel(config).eval()
    ids = torch.randint(0, 30522, (1, 8))
    torch.onnx.export(
        HiddenOnly(model), (ids,), path, dynamo=False, opset_version=17,
        input_names=["input_ids"], output_names=["last_hidden_state"],
        dynamic_axes={"input_ids": {0: "batch", 1: "seq"}, "last_hidden_state": {0: "batch", 1: "seq"}},
    )
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
