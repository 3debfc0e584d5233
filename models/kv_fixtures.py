"""KV-cache decoder fixtures in the Optimum convention (imported by generate.py).

Inputs `input_ids`, `attention_mask`, `position_ids`, `past_key_values.<i>.key/.value`
[batch, kv_heads, past, head_dim]; outputs `logits`, `present.<i>.key/.value`.  One model serves the prompt pass
(past of length 0) and the decode steps.  Same weights as the no-cache gpt2/llama fixtures, exported with both
torch exporters (recipe: ../shared/notes/generation.md §3); each file is checked against the torch model with
onnxruntime on a prompt pass and three decode steps.
"""
import os

import numpy as np
import onnx
import onnxruntime as ort
import torch
import transformers

KV_FIXTURES = {"gpt2": "gpt2_kv", "llama": "llama_kv"}


def layers_heads(model):
    c = model.config
    if c.model_type == "gpt2":
        return c.n_layer, c.n_head, c.n_embd // c.n_head
    return c.num_hidden_layers, c.num_key_value_heads, c.hidden_size // c.num_attention_heads


def _bind_kv(model):
    """Give `model` a flat forward(input_ids, attention_mask, position_ids, *past) -> (logits, *present).

    Bound on the instance so the legacy exporter keeps the module scopes (/transformer/h.0/...)."""
    cls_forward = type(model).forward
    n_layers = layers_heads(model)[0]

    def forward(input_ids, attention_mask, position_ids, *past):
        legacy = tuple((past[2 * i], past[2 * i + 1]) for i in range(n_layers))
        cache = transformers.DynamicCache.from_legacy_cache(legacy)
        out = cls_forward(model, input_ids=input_ids, attention_mask=attention_mask, position_ids=position_ids,
                          past_key_values=cache, use_cache=True, return_dict=True)
        present = out.past_key_values
        if hasattr(present, "to_legacy_cache"):
            present = present.to_legacy_cache()
        flat = [t for kv in present for t in kv]
        return (out.logits, *flat)
    model.forward = forward


def io_names(n_layers):
    past = [f"past_key_values.{i}.{kv}" for i in range(n_layers) for kv in ("key", "value")]
    present = [f"present.{i}.{kv}" for i in range(n_layers) for kv in ("key", "value")]
    return ["input_ids", "attention_mask", "position_ids"] + past, ["logits"] + present


def dummy(model, batch=2, seq=3, past=4, seed=5):
    n, kv, hd = layers_heads(model)
    g = torch.Generator().manual_seed(seed)
    ids = torch.randint(0, model.config.vocab_size, (batch, seq), generator=g)
    mask = torch.ones(batch, past + seq, dtype=torch.int64)
    pos = torch.arange(past, past + seq).unsqueeze(0).expand(batch, -1).contiguous()
    pkv = [torch.randn(batch, kv, past, hd, generator=g) for _ in range(2 * n)]
    return (ids, mask, pos, *pkv)


def export_kv(model, path, dynamo):
    n = layers_heads(model)[0]
    ins, outs = io_names(n)
    args = dummy(model)
    model.config.use_cache = True
    _bind_kv(model)
    try:
        with torch.no_grad():
            if dynamo:
                B = torch.export.Dim("batch_size", max=1024)
                # S + P <= n_positions (32) lets torch drop the Min(32, ...) of GPT-2's position slice
                S = torch.export.Dim("sequence_length", max=16)
                P = torch.export.Dim("past_sequence_length", max=16)
                T = torch.export.Dim("total_sequence_length", max=32)
                shapes = ({0: B, 1: S}, {0: B, 1: T}, {0: B, 1: S}, tuple({0: B, 2: P} for _ in range(2 * n)))
                torch.onnx.export(model, args, path, dynamo=True, opset_version=18, external_data=False,
                                  input_names=ins, output_names=outs, dynamic_shapes=shapes, verbose=False)
            else:
                axes = {"input_ids": {0: "batch_size", 1: "sequence_length"},
                        "attention_mask": {0: "batch_size", 1: "total_sequence_length"},
                        "position_ids": {0: "batch_size", 1: "sequence_length"},
                        "logits": {0: "batch_size", 1: "sequence_length"}}
                for name in ins[3:]:
                    axes[name] = {0: "batch_size", 2: "past_sequence_length"}
                for name in outs[1:]:
                    axes[name] = {0: "batch_size", 2: "total_sequence_length"}
                torch.onnx.export(model, args, path, dynamo=False, opset_version=18, input_names=ins,
                                  output_names=outs, dynamic_axes=axes)
    finally:
        del model.forward
        model.config.use_cache = False
    _optimum_total_dim(path)
    onnx.checker.check_model(path)


TOTAL = "past_sequence_length + sequence_length"


def _optimum_total_dim(path):
    """Name the attention_mask / present length `past_sequence_length + sequence_length`, as Optimum does.

    torch.export cannot state that a third dim is the sum of two others, and tract refuses to unify an
    independent `total_sequence_length` with `past_sequence_length + sequence_length` (GPT-2 dynamo)."""
    m = onnx.load(path)
    for vi in list(m.graph.input) + list(m.graph.output) + list(m.graph.value_info):
        for d in vi.type.tensor_type.shape.dim:
            if d.dim_param == "total_sequence_length":
                d.dim_param = TOTAL
    onnx.save(m, path)


def greedy_check(model, path, prompt, steps=3):
    """max |onnxruntime - torch| over a prompt pass (empty past) and `steps` greedy decode steps."""
    n, kv, hd = layers_heads(model)
    sess = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
    ins, _ = io_names(n)
    b, s = prompt.shape
    feeds = {"input_ids": prompt.numpy(), "attention_mask": np.ones((b, s), np.int64),
             "position_ids": np.tile(np.arange(s), (b, 1))}
    for name in ins[3:]:
        feeds[name] = np.zeros((b, kv, 0, hd), np.float32)
    ids = prompt
    worst = 0.0
    for _ in range(steps + 1):
        out = sess.run(None, feeds)
        with torch.no_grad():
            want = model(input_ids=ids, use_cache=False).logits[:, -ids.shape[1] + 0:][:, -out[0].shape[1]:]
        worst = max(worst, float(np.abs(out[0] - want.numpy()).max()))
        nxt = torch.from_numpy(out[0][:, -1].argmax(-1)).unsqueeze(1)
        past = ids.shape[1]
        ids = torch.cat([ids, nxt], 1)
        feeds = {"input_ids": nxt.numpy(), "attention_mask": np.ones((b, past + 1), np.int64),
                 "position_ids": np.full((b, 1), past, np.int64)}
        for name, t in zip(ins[3:], out[1:]):
            feeds[name] = t
    return worst


def make_kv_fixtures(out_dir, models, prompt):
    report = {}
    for fam, stem in KV_FIXTURES.items():
        for flavour, dynamo in (("legacy", False), ("dynamo", True)):
            fx = f"{stem}_{flavour}"
            path = os.path.join(out_dir, fx + ".onnx")
            try:
                export_kv(models[fam], path, dynamo)
                report[fx] = f"{greedy_check(models[fam], path, prompt):.2e} ({os.path.getsize(path)} bytes)"
            except Exception as e:  # noqa: BLE001  reported, the other fixtures still get made
                report[fx] = f"ERROR {type(e).__name__}: {str(e).splitlines()[0][:160]}"
    return report
