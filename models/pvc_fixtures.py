"""Fixture models for pvc: build, export to ONNX, verify with onnxruntime, record torch references.

Imported by generate.py (see its header for pinned versions).  Every function here is deterministic given the
seeds set in generate.py; the ONNX bytes of the dynamo exports may still differ between runs (see README.md).
"""
import copy
import os

import numpy as np
import onnx
import onnxruntime as ort
import torch
import transformers
from safetensors.numpy import save_file
from torch import nn

BATCH, SEQ, VOCAB = 2, 6, 100
NOISE_STD = 0.05  # seeded noise added to every parameter (HF leaves biases at 0; dynamo would drop them)


# ----------------------------------------------------------------------------------------------------------------
# model builders
# ----------------------------------------------------------------------------------------------------------------
class TinyMLP(nn.Module):
    """Plain MLP with `.config` and `.device` (pyvene reads both) and a keyword input `x`."""

    def __init__(self):
        super().__init__()
        self.config = transformers.PretrainedConfig(hidden_size=16)
        self.net = nn.Sequential(nn.Linear(8, 16), nn.ReLU(), nn.Linear(16, 16), nn.ReLU(), nn.Linear(16, 4))

    @property
    def device(self):  # pyvene's gather/scatter read model.device
        return next(self.parameters()).device

    def forward(self, x):
        return self.net(x)


def perturb_(model, seed):
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for _, p in model.named_parameters():  # tied weights appear once
            p.add_(torch.randn(p.shape, generator=g, dtype=torch.float32).to(p.dtype) * NOISE_STD)
    return model.eval()


def build_gpt2(seed=1):
    torch.manual_seed(seed)
    cfg = transformers.GPT2Config(n_embd=64, n_head=4, n_layer=2, vocab_size=VOCAB, n_positions=32,
                                  use_cache=False, attn_implementation="eager")
    return perturb_(transformers.GPT2LMHeadModel(cfg), seed + 100)


def build_llama(seed=2):
    torch.manual_seed(seed)
    cfg = transformers.LlamaConfig(hidden_size=64, num_attention_heads=4, num_key_value_heads=2,
                                   num_hidden_layers=2, intermediate_size=128, vocab_size=VOCAB,
                                   max_position_embeddings=32, use_cache=False, attn_implementation="eager")
    return perturb_(transformers.LlamaForCausalLM(cfg), seed + 100)


def build_mlp(seed=3):
    torch.manual_seed(seed)
    return perturb_(TinyMLP(), seed + 100)


def lm_input_ids(seed=11):
    g = torch.Generator().manual_seed(seed)
    return torch.randint(0, VOCAB, (BATCH, SEQ), generator=g, dtype=torch.int64)


def mlp_input(seed=12, dtype=torch.float32):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(BATCH, SEQ, 8, generator=g).to(dtype)


# ----------------------------------------------------------------------------------------------------------------
# export
# ----------------------------------------------------------------------------------------------------------------
def _bind_single_input(model, input_name):
    """Temporarily give `model` a one-argument forward returning a plain tensor (logits for LMs).

    Binding on the instance keeps the module scopes (/transformer/h.0/...) and avoids Llama's extra
    `logits_to_keep` input in the legacy exporter."""
    cls_forward = type(model).forward
    if input_name == "input_ids":
        def forward(input_ids):
            return cls_forward(model, input_ids=input_ids, use_cache=False).logits
    else:
        def forward(x):
            return cls_forward(model, x)
    model.forward = forward


def _unbind(model):
    if "forward" in model.__dict__:
        del model.forward


def export(model, example, path, input_name, output_name, dynamo):
    _bind_single_input(model, input_name)
    try:
        with torch.no_grad():
            if dynamo:
                dims = {0: torch.export.Dim("batch", max=1024), 1: torch.export.Dim("seq", max=32)}
                torch.onnx.export(model, (example,), path, dynamo=True, opset_version=18, external_data=False,
                                  input_names=[input_name], output_names=[output_name],
                                  dynamic_shapes={input_name: dims}, verbose=False)
            else:
                axes = {0: "batch", 1: "seq"}
                torch.onnx.export(model, (example,), path, dynamo=False, opset_version=17,
                                  input_names=[input_name], output_names=[output_name],
                                  dynamic_axes={input_name: axes, output_name: axes})
    finally:
        _unbind(model)
    onnx.checker.check_model(path)


def save_external(src_path, dst_dir):
    os.makedirs(dst_dir, exist_ok=True)
    m = onnx.load(src_path)
    dst = os.path.join(dst_dir, "model.onnx")
    data = os.path.join(dst_dir, "model.onnx.data")
    if os.path.exists(data):
        os.remove(data)  # onnx.save appends to an existing data file
    onnx.save(m, dst, save_as_external_data=True, all_tensors_to_one_file=True, location="model.onnx.data",
              size_threshold=0)
    return dst


def ort_max_diff(path, feeds, expected):
    """Run the ONNX file with onnxruntime; return max |ort - torch| (or the error text)."""
    try:
        sess = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
        got = sess.run(None, feeds)[0]
    except Exception as e:  # onnxruntime's CPU provider has no bfloat16 MatMul: use onnx's reference runtime
        from onnx.reference import ReferenceEvaluator
        got = ReferenceEvaluator(path).run(None, feeds)[0]
        diff = float(np.abs(got.astype(np.float32) - expected.astype(np.float32)).max())
        return f"{diff} (onnx.reference; onnxruntime failed: {str(e).splitlines()[0][:90]})"
    return float(np.abs(got.astype(np.float32) - expected.astype(np.float32)).max())


# ----------------------------------------------------------------------------------------------------------------
# torch references
# ----------------------------------------------------------------------------------------------------------------
def _first_tensor(obj):
    if isinstance(obj, torch.Tensor):
        return obj
    if isinstance(obj, (tuple, list)):
        return _first_tensor(obj[0]) if len(obj) else None
    if isinstance(obj, dict):  # includes transformers ModelOutput
        for v in obj.values():
            return _first_tensor(v)
    return None


def to_np(t):
    t = t.detach()
    if t.dtype.is_floating_point:
        t = t.float()
    else:
        t = t.to(torch.int64)
    return np.array(t.cpu().numpy(), copy=True, order="C")  # copy: hooked tensors may be modified in place


def record_modules(model, kwargs):
    """Run model(**kwargs) with a pre-hook and a forward hook on every named module (root skipped).

    Returns (output, {"module.<path>.input": arr, "module.<path>.output": arr}).  The first call of each
    module is recorded; the input is the first positional tensor, else the first tensor kwarg."""
    seen, handles = {}, []

    def pre(name):
        def hook(mod, args, kw):
            key = f"module.{name}.input"
            if key in seen:
                return
            t = next((a for a in args if isinstance(a, torch.Tensor)), None)
            if t is None:
                t = next((v for v in kw.values() if isinstance(v, torch.Tensor)), None)
            if t is not None:
                seen[key] = to_np(t)
        return hook

    def post(name):
        def hook(mod, args, out):
            key = f"module.{name}.output"
            t = _first_tensor(out)
            if key not in seen and t is not None:
                seen[key] = to_np(t)
        return hook

    for name, mod in model.named_modules():
        if name == "":
            continue
        handles.append(mod.register_forward_pre_hook(pre(name), with_kwargs=True))
        handles.append(mod.register_forward_hook(post(name)))
    try:
        with torch.no_grad():
            out = model(**kwargs)
    finally:
        for h in handles:
            h.remove()
    return out, seen


def _output_tensor(out):
    return out.logits if hasattr(out, "logits") else out


def write_ref(path, input_name, input_tensor, output_name, model):
    out, mods = record_modules(model, {input_name: input_tensor})
    tensors = {f"input.{input_name}": to_np(input_tensor), f"output.{output_name}": to_np(_output_tensor(out))}
    tensors.update(mods)
    save_file(tensors, path)
    return tensors[f"output.{output_name}"]


# ----------------------------------------------------------------------------------------------------------------
# fixture sets
# ----------------------------------------------------------------------------------------------------------------
def make_lm_fixtures(out_dir, name, model, external_dir=None):
    """<name>_legacy.onnx + <name>_dynamo.onnx from one module instance, with torch refs for each."""
    ids = lm_input_ids()
    report = {}
    for flavour, dynamo in (("legacy", False), ("dynamo", True)):
        fx = f"{name}_{flavour}"
        path = os.path.join(out_dir, fx + ".onnx")
        export(model, ids, path, "input_ids", "logits", dynamo)
        ref = write_ref(os.path.join(out_dir, fx + ".ref.safetensors"), "input_ids", ids, "logits", model)
        report[fx] = ort_max_diff(path, {"input_ids": ids.numpy()}, ref)
        if flavour == "legacy" and external_dir is not None:
            ext = save_external(path, os.path.join(out_dir, external_dir))
            report[external_dir] = ort_max_diff(ext, {"input_ids": ids.numpy()}, ref)
    return report


def make_mlp_fixtures(out_dir, model):
    x = mlp_input()
    report = {}
    for flavour, dynamo in (("legacy", False), ("dynamo", True)):
        fx = f"mlp_{flavour}"
        path = os.path.join(out_dir, fx + ".onnx")
        export(model, x, path, "x", "y", dynamo)
        ref = write_ref(os.path.join(out_dir, fx + ".ref.safetensors"), "x", x, "y", model)
        report[fx] = ort_max_diff(path, {"x": x.numpy()}, ref)
    for fx, dtype in (("mlp_fp16", torch.float16), ("mlp_bf16", torch.bfloat16)):
        m = copy.deepcopy(model).to(dtype)
        xd = x.to(dtype)
        path = os.path.join(out_dir, fx + ".onnx")
        export(m, xd, path, "x", "y", dynamo=False)
        ref = write_ref(os.path.join(out_dir, fx + ".ref.safetensors"), "x", xd, "y", m)
        feed = xd.numpy() if dtype == torch.float16 else _bf16_feed(xd)
        report[fx] = ort_max_diff(path, {"x": feed}, ref)
    return report


def _bf16_feed(t):
    """numpy has no bfloat16; onnxruntime accepts ml_dtypes.bfloat16 arrays."""
    import ml_dtypes
    return t.float().numpy().astype(ml_dtypes.bfloat16)
