"""Parity cases for unit `t` on pyvene's GRU (models/pv_gru_{legacy,dynamo}.onnx): every component of
rewrites/gru/components.json, recorded with torch hooks that count the module's calls (one call per time step).

pvc reads unit `t` as pyvene documents it, "t = time step": per example, the listed steps (calls) are intervened,
the others are left alone, and an interchange pairs the i-th base step with the i-th source step.  pyvene 0.1.8's
own unit `t` does not do that (a constant-source intervention is applied at every step whatever the locations;
an interchange writes zeros at every step it does not select), so it can only be compared where those two agree:
the cases marked `pyvene` select every step, and they are recorded with the real pyvene 0.1.8 and checked here
against the hook reference (they must agree to 1e-5, or the case is not written).

Usage (from the repository root):  /work/pyref/bin/python models/generate.py --gru [--case NAME ...]
"""
import json
import os
import shutil

import numpy as np
import pyvene as pv
import torch
from safetensors.numpy import save_file

import families as FM
import pvc_cases as C

HERE = os.path.dirname(os.path.abspath(__file__))
MODELS = ["pv_gru_legacy.onnx", "pv_gru_dynamo.onnx"]
H = 16
STEPS = 6
ALL = list(range(STEPS))
B = 2


def rules():
    with open(os.path.join(HERE, "..", "rewrites", "gru", "components.json")) as f:
        return json.load(f)["components"]


def case(name, comp, layer, kind, base, source=None, top=None, pyvene=False, **extra):
    """base / source: steps per example (B rows).  top: the schema's unit_locations etc. (default: the full form)."""
    r = dict(layer=layer, component=comp, unit="t", intervention_type=kind)
    r.update({k: v for k, v in extra.items() if k in ("source_representation", "max_number_of_units")})
    if top is None:
        top = {"unit_locations": {"sources->base": [[source], [base]]} if source else {"base": [base]}}
    return dict(name=f"gru_t_{name}", reprs=[r], top=top, base=base, source=source, pyvene=pyvene,
                subspaces=extra.get("subspaces"), runtime_source=extra.get("runtime_source"),
                runtime_steps=extra.get("runtime_steps"), original=bool(extra.get("original")))


def all_cases():
    v = C.vec
    return [
        # pyvene 0.1.8 agrees with pvc when every step is selected (and runs unit t at batch 1 only)
        case("zero_cell_output_every_step", "cell_output", 0, "zero", [ALL], top={"unit_locations": None},
             pyvene=True),
        case("addition_new_gate_output_every_step", "new_gate_output", 1, "addition", [ALL],
             top={"unit_locations": {"base": [[ALL]]}}, pyvene=True, source_representation=v(8101, n=H, scale=0.5)),
        case("vanilla_cell_output_every_step", "cell_output", 1, "vanilla", [ALL], [ALL], pyvene=True),
        # pvc's steps, against torch hooks
        case("subtraction_update_x2h_output_every_step", "update_x2h_output", 0, "subtraction", [ALL] * B,
             top={"unit_locations": None}, source_representation=v(8108, n=H, scale=0.5)),
        case("zero_cell_output_step3", "cell_output", 0, "zero", [[3]] * B, top={"unit_locations": {"base": 3}}),
        case("zero_cell_input_step2", "cell_input", 1, "zero", [[2]] * B),
        case("addition_reset_gate_input_steps", "reset_gate_input", 0, "addition", [[1, 4]] * B,
             source_representation=v(8102, n=H, scale=0.5)),
        case("vanilla_update_gate_input", "update_gate_input", 1, "vanilla", [[5]] * B, [[0]] * B),
        case("subtraction_new_gate_input", "new_gate_input", 0, "subtraction", [[3]] * B,
             source_representation=v(8103, n=H, scale=0.5)),
        case("zero_reset_gate_output_per_example", "reset_gate_output", 1, "zero", [[0], [2]]),
        case("vanilla_update_gate_output_per_example_subspaces", "update_gate_output", 0, "vanilla",
             [[4], [2]], [[1], [3]], subspaces=[list(range(8)), list(range(4, 14))]),
        case("collect_new_gate_output", "new_gate_output", 1, "collect", [[1, 3, 5]] * B, max_number_of_units=3),
        case("addition_x2h_output", "x2h_output", 0, "addition", [[0]] * B,
             source_representation=v(8104, n=3 * H, scale=0.5)),
        case("zero_h2h_output_subspaces", "h2h_output", 1, "zero", [[2, 3]] * B, subspaces=[list(range(0, 48, 3))] * B),
        case("vanilla_reset_x2h_output", "reset_x2h_output", 1, "vanilla", [[3, 4]] * B, [[2, 3]] * B),
        case("zero_update_x2h_output", "update_x2h_output", 0, "zero", [[5]] * B),
        case("addition_new_x2h_output", "new_x2h_output", 1, "addition", [[1]] * B,
             source_representation=v(8105, n=H, scale=0.5)),
        case("vanilla_reset_h2h_output", "reset_h2h_output", 0, "vanilla", [[1]] * B, [[1]] * B),
        case("subtraction_update_h2h_output", "update_h2h_output", 1, "subtraction", [[4]] * B,
             source_representation=v(8106, n=H, scale=0.5)),
        case("collect_new_h2h_output_per_example", "new_h2h_output", 0, "collect", [[2], [4]]),
        case("skip_cell_output", "cell_output", 0, "skip", [[2]] * B, [[2]] * B),
        case("vanilla_cell_output_per_example_steps", "cell_output", 1, "vanilla", [[1, 4], [0, 2]],
             [[3, 5], [2, 2]], original=True),
        case("addition_cell_output_runtime_source", "cell_output", 0, "addition", [[1, 3, 4]] * B,
             top={"unit_locations": {"base": [1, 3, 4]}}, runtime_source=True),
        # steps given at run time (int64 inputs unit_locations.0.base / .source)
        case("vanilla_cell_output_runtime_steps", "cell_output", 1, "vanilla", [[1, 4], [0, 2]], [[3, 5], [2, 2]],
             top={}, runtime_steps=True),
        case("zero_update_gate_input_runtime_steps", "update_gate_input", 0, "zero", [[2], [4]],
             top={"unit_locations": "runtime"}, runtime_steps=True),
        case("collect_reset_gate_output_runtime_steps", "reset_gate_output", 1, "collect", [[0, 5], [3, 1]],
             top={"unit_locations": "runtime"}, runtime_steps=True, max_number_of_units=2),
    ]


def _module(model, path):
    m = model
    for atom in path.replace("[", ".").replace("]", "").split("."):
        m = m[int(atom)] if atom.isdigit() else getattr(m, atom)
    return m


def _columns(rule, full):
    sp = rule.get("split")
    if sp is None:
        return list(range(full))
    w = full // sp["parts"]
    return list(range(sp["index"] * w, (sp["index"] + 1) * w))


def _record_calls(model, mod, pre, x):
    """The tensor the hook sees at every call of `mod` (Skip: the module's input)."""
    seen = []
    if pre:
        h = mod.register_forward_pre_hook(lambda m, a: seen.append(a[0].detach().clone()))
    else:
        h = mod.register_forward_hook(lambda m, a, out: seen.append(out.detach().clone()))
    with torch.no_grad():
        model(inputs_embeds=x.clone(), return_dict=True)
    h.remove()
    return seen


def hook_reference(c, model, x, src_x, runtime_source):
    """pvc's unit t with torch hooks: a hook on the component's module counts its calls; at call k, example e with
    k in its steps (unit u = the index of k there) is intervened in place on the component's columns, as pyvene's
    hooks write; an interchange reads the source run's call at the e-th example's u-th source step."""
    r = c["reprs"][0]
    rule = rules()[r["component"]]
    mod = _module(model, rule["module"].replace("{layer}", str(r["layer"])))
    pre = rule["hook"] == "input"
    kind = r["intervention_type"]
    srcs = None
    if kind in ("vanilla", "skip"):
        srcs = _record_calls(model, mod, pre or kind == "skip", src_x)
    subspaces = c["subspaces"]
    collected = []
    calls = {"k": 0}

    def edit(t):
        k = calls["k"]
        calls["k"] += 1
        cols = _columns(rule, t.shape[-1])
        if kind == "collect":
            collected.append(t[:, cols].clone())
            return
        for e in range(t.shape[0]):
            if k not in c["base"][e]:
                continue
            u = c["base"][e].index(k)
            cur = t[e, cols]
            if kind == "zero":
                new = torch.zeros_like(cur)
            elif kind in ("addition", "subtraction"):
                vec = runtime_source[e, u] if runtime_source is not None else torch.tensor(r["source_representation"])
                new = cur + vec if kind == "addition" else cur - vec
            else:
                j = c["source"][e][u]
                full = srcs[j][e]
                new = full[cols] if kind == "vanilla" else full
            if subspaces is not None:
                keep = torch.zeros(len(cols), dtype=torch.bool)
                keep[subspaces[e]] = True
                new = torch.where(keep, new, cur)
            t[e, cols] = new

    if pre:
        h = mod.register_forward_pre_hook(lambda m, a: edit(a[0]))
    else:
        h = mod.register_forward_hook(lambda m, a, out: edit(out))
    with torch.no_grad():
        out = FM.embeds_output(model(inputs_embeds=x.clone(), return_dict=True))
    h.remove()
    assert calls["k"] == STEPS, calls
    res = {"hidden_states": C.to_np(out)}
    if kind == "collect":
        stacked = torch.stack(collected, dim=1)  # [b, steps, d]
        res["collected.0"] = C.to_np(torch.stack([stacked[e, c["base"][e]] for e in range(x.shape[0])]))
    return res


def pyvene_reference(c, schema, model, x, src_x):
    pv_model = C.pyvene_model(schema, {}, model)
    kw = dict(base={"inputs_embeds": x.clone(), "return_dict": True}, return_dict=True,
              unit_locations=schema["unit_locations"])
    if c["source"]:
        kw["sources"] = [{"inputs_embeds": src_x.clone(), "return_dict": True}]
    with torch.no_grad():
        res = pv_model(**kw)
    return {"hidden_states": C.to_np(FM.embeds_output(res.intervened_outputs))}


def make_case(c, model):
    d = os.path.join(HERE, "cases", c["name"])
    if os.path.exists(d):
        shutil.rmtree(d)
    schema = {"model_type": "gru", "representations": [dict(r) for r in c["reprs"]]}
    schema.update(c["top"])
    if c["subspaces"] is not None:
        schema["subspaces"] = [c["subspaces"]]
    schema = json.loads(json.dumps(schema))
    x, src_x = FM.embeds_input(), FM.embeds_input(31)
    if c["pyvene"]:  # pyvene 0.1.8 fails at unit t with a batch of 2 (a [2, 16] value for a [2, 1, 16] index)
        x, src_x = x[:1], src_x[:1]
    inputs = {"inputs_embeds": x}
    if c["source"]:
        inputs["source.0.inputs_embeds"] = src_x
    if c["runtime_steps"]:
        inputs["unit_locations.0.base"] = np.array(c["base"], dtype=np.int64)
        if c["source"]:
            inputs["unit_locations.0.source"] = np.array(c["source"], dtype=np.int64)
    runtime = None
    if c["runtime_source"]:
        runtime = torch.randn(B, len(c["base"][0]), H, generator=torch.Generator().manual_seed(8107))
        inputs["source_representations.0"] = runtime
    expected = hook_reference(c, model, x, src_x, runtime)
    how = "torch hooks"
    if c["pyvene"]:
        got = pyvene_reference(c, schema, model, x, src_x)
        diff = float(np.abs(got["hidden_states"] - expected["hidden_states"]).max())
        if diff > 1e-5:
            raise RuntimeError(f"pyvene 0.1.8 and the hook reference differ by {diff:.3g}")
        expected = got
        how = f"the real pyvene 0.1.8, batch 1; max |diff| to the torch-hook reference {diff:.2g}"
    with torch.no_grad():
        plain = C.to_np(FM.embeds_output(model(inputs_embeds=x, return_dict=True)))
    if c["original"]:
        expected["original.hidden_states"] = plain
    os.makedirs(d)
    C.write_json(os.path.join(d, "schema.json"), schema)
    save_file(C.np_dict(inputs), os.path.join(d, "inputs.safetensors"))
    save_file(expected, os.path.join(d, "expected.safetensors"))
    r = c["reprs"][0]
    C.write_json(os.path.join(d, "case.json"), {
        "models": MODELS, "schema": "schema.json", "inputs": "inputs.safetensors",
        "expected": "expected.safetensors", "original": c["original"],
        "description": f"pyvene GRU {r['component']} L{r['layer']}, unit t: {r['intervention_type']} at base steps "
                       f"{c['base']}" + (f" from source steps {c['source']}" if c["source"] else "")
                       + f" (recorded with {how})"})
    return f"{how}: max|intervened - plain|={float(np.abs(expected['hidden_states'] - plain).max()):.3g}"


def make_cases(only=None):
    model = FM.build_pv_gru()
    model.eval()
    report = {}
    for c in all_cases():
        if only and c["name"] not in only:
            continue
        try:
            report[c["name"]] = make_case(c, model)
        except Exception as e:  # record, don't invent numbers
            report[c["name"]] = f"ERROR {type(e).__name__}: {str(e)[:300]}"
            shutil.rmtree(os.path.join(HERE, "cases", c["name"]), ignore_errors=True)
    return report
