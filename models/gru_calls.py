#!/usr/bin/env python3
"""Every call of every module of pyvene's GRU fixture (models/pv_gru_*.onnx), recorded with torch hooks.

pyvene's GRUModel calls cells[l] (and its x2h, h2h, reset_act, update_act, new_act) once per time step.
Writes models/pv_gru_calls.ref.safetensors: `input.inputs_embeds` and, for call k of module <path>,
`module.<path>.input.<k>` (the pre-hook's first positional tensor) and `module.<path>.output.<k>`.
tests/module_map.rs checks that pvc's split of each module into calls finds each of these tensors.

Usage (from the repository root):  /work/pyref/bin/python models/gru_calls.py
"""
import os
import sys

sys.dont_write_bytecode = True
HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import torch  # noqa: E402
from safetensors.numpy import save_file  # noqa: E402

import families as FM  # noqa: E402
from pvc_fixtures import to_np  # noqa: E402


def record(model, x):
    seen, handles = {}, []

    def pre(name):
        def hook(mod, args):
            k = sum(1 for key in seen if key.startswith(f"module.{name}.input."))
            seen[f"module.{name}.input.{k}"] = to_np(args[0])
        return hook

    def post(name):
        def hook(mod, args, out):
            k = sum(1 for key in seen if key.startswith(f"module.{name}.output."))
            seen[f"module.{name}.output.{k}"] = to_np(out)
        return hook

    for name, mod in model.named_modules():
        if name.startswith("cells."):
            handles.append(mod.register_forward_pre_hook(pre(name)))
            handles.append(mod.register_forward_hook(post(name)))
    with torch.no_grad():
        model(inputs_embeds=x, return_dict=True)
    for h in handles:
        h.remove()
    return seen


def main():
    torch.manual_seed(0)
    torch.set_num_threads(1)
    model = FM.build_pv_gru()
    x = FM.embeds_input()
    tensors = {"input.inputs_embeds": to_np(x)}
    tensors.update(record(model, x))
    save_file(tensors, os.path.join(HERE, "pv_gru_calls.ref.safetensors"))
    print(len(tensors), "tensors")


if __name__ == "__main__":
    main()
