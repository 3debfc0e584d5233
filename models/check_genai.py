"""Generate with ONNX Runtime GenAI from a folder pvc wrote (`pvc rewrite --genai-config`) and compare with pvc.

Usage: python3 check_genai.py MANIFEST.json, a list of {"label", "folder", "prompt": [ids], "max_new_tokens",
"expected": pvc generate's -o safetensors, optionally "inputs": {name: [ids]}, the model's other int64 inputs (an
interchange's `source.0.input_ids`), set once with generator.set_model_input and fed by GenAI to every call}.  GenAI's tokens must equal pvc's `sequences`; each `collected.<i>` in
the expected file is read back per call with generator.get_output and, joined over calls, must match to 1e-4.
"""
import json
import sys

import numpy as np
import onnxruntime_genai as og
from safetensors.numpy import load_file


def run(item):
    want = load_file(item["expected"])
    model = og.Model(item["folder"])
    params = og.GeneratorParams(model)
    prompt = item["prompt"]
    params.set_search_options(max_length=len(prompt) + item["max_new_tokens"], do_sample=False)
    gen = og.Generator(model, params)
    names = [k for k in want if k.startswith("collected.")]
    calls = {n: [] for n in names}

    def grab():
        for n in names:
            calls[n].append(np.array(gen.get_output(n)))

    for name, ids in item.get("inputs", {}).items():
        gen.set_model_input(name, np.array([ids], dtype=np.int64))
    gen.append_tokens(np.array([prompt], dtype=np.int64))
    grab()  # the prompt pass ran in append_tokens
    first = True
    while not gen.is_done():
        gen.generate_next_token()
        if not first:
            grab()  # each later call ran the model on the previous token
        first = False
    seq = list(gen.get_sequence(0))
    errors = []
    if seq != want["sequences"][0].tolist():
        errors.append(f"tokens {seq}, pvc {want['sequences'][0].tolist()}")
    for n in names:
        got = np.concatenate(calls[n], axis=1)
        if got.shape != want[n].shape or float(np.abs(got - want[n]).max(initial=0.0)) > 1e-4:
            errors.append(f"{n}: {got.shape} vs pvc {want[n].shape}")
    return errors


def main():
    items = json.load(open(sys.argv[1]))
    failed = 0
    for item in items:
        errors = run(item)
        print(("FAIL " if errors else "ok   ") + item["label"] + ("".join("\n     " + e for e in errors)))
        failed += bool(errors)
    print(f"{len(items) - failed} passed, {failed} failed")
    sys.exit(1 if failed or not items else 0)


if __name__ == "__main__":
    main()
