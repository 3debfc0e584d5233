"""Parity cases for the families of models/families.py: one case per component of each family's file.

Recorded with the real pyvene 0.1.8 where pyvene can run the component (with the workarounds below), and with
plain torch forward hooks (`hook_reference`) where it cannot: qwen3, phi3 and olmo2 have no pyvene table, and
pyvene's GPT-NeoX table has no Q/K/V.  Imported by generate.py (`--families`).

pyvene 0.1.8 workarounds (each changes what pyvene looks up, never what the model computes):
  - qwen2: the table sizes head components by `config.head_dim`, which Qwen2Config lacks -> set it to
    hidden_size / num_attention_heads before building the IntervenableModel.
  - gemma: head_value_output's dimension is misspelt `hhead_dim` -> set config.hhead_dim = config.head_dim.
  - gpt_neo: the table's paths miss the `attn.attention` level (h[%s].attn.q_proj / out_proj do not exist) and its
    `n_head` entry is a bare string -> the table is replaced by the corrected one (the paths of rewrites/gpt_neo).
"""
import json
import os
import shutil

import numpy as np
import pyvene as pv
import torch
import transformers
from safetensors.numpy import save_file

import families as FM
import pvc_cases as C
from pvc_fixtures import lm_input_ids, to_np

HERE = os.path.dirname(os.path.abspath(__file__))
loc = C.loc
vec = C.vec

WIDTH = {"hidden": 64, "mlp": 128, "kv": 32, "head": 16}
MLP_WIDTH = {"gemma2": 96}
GQA = {"mistral", "qwen2", "qwen3", "gemma", "gemma2", "olmo", "olmo2", "phi3"}
HOOKED = {"qwen3", "phi3", "olmo2"}  # no pyvene table in 0.1.8
NEOX_QKV = {"query_output", "key_output", "value_output", "head_query_output", "head_key_output",
            "head_value_output"}


def family_file(name):
    with open(os.path.join(HERE, "..", "rewrites", name, "components.json")) as f:
        return json.load(f)


def models_of(name):
    return [f"{name}_legacy.onnx", f"{name}_dynamo.onnx"]


# ----------------------------------------------------------------------------------------------------------------
# one case per component
# ----------------------------------------------------------------------------------------------------------------
def component_cases(family, components, seed):
    """A case for every component: the kind rotates, head components use h / h.pos with kv-head indices on K/V."""
    cases = []
    kv_heads = 2 if family in GQA else 4
    for i, comp in enumerate(sorted(components)):
        s = seed * 100 + i
        head = comp.startswith("head_")
        kv = comp in ("head_key_output", "head_value_output")
        narrow = comp in ("key_output", "value_output") and family in GQA
        if head:
            hi = kv_heads - 1
            if i % 2 == 0:
                r = dict(layer=i % 2, component=comp, unit="h.pos", intervention_type="vanilla")
                top = dict(unit_locations={"sources->base": [[[loc([hi], [0]), loc([2], [4])]],
                                                             [[loc([0], [hi]), loc([5], [1])]]]})
                note, sources = f"h.pos interchange, heads {hi}/0 -> 0/{hi}, source position 2/4 -> base 5/1", [21]
            else:
                r = dict(layer=i % 2, component=comp, unit="h", intervention_type="addition",
                         source_representation=vec(s, n=WIDTH["head"]))
                top = dict(unit_locations={"base": [loc([0, hi], [hi, 0])]})
                note, sources = f"h Addition of a 16-d vector at heads 0,{hi} / {hi},0, every position", None
            kind = r["intervention_type"]
        else:
            k = i % 3
            if k == 0 or narrow:
                r = dict(layer=i % 2, component=comp, unit="pos", intervention_type="zero")
                top = dict(unit_locations={"base": [1, 3]})
                note, sources = "Zero at base position 3 (pair shorthand)", None
            elif k == 1 or comp == "mlp_activation":
                r = dict(layer=i % 2, component=comp, unit="pos", intervention_type="vanilla")
                top = dict(unit_locations={"sources->base": [[loc([2], [0])], [loc([4], [5])]]})
                note, sources = "interchange, source position 2/0 -> base 4/5", [22]
            else:
                r = dict(layer=i % 2, component=comp, unit="pos", intervention_type="addition",
                         source_representation=vec(s, n=WIDTH["hidden"], scale=0.5))
                top = dict(unit_locations={"base": [0, 2, 5]})
                note, sources = "Addition of a 64-d vector at positions 0,2,5", None
            kind = r["intervention_type"]
        cases.append(dict(name=f"{family}_{comp}_{kind}", family=family, models=models_of(family), form="list",
                          sources=sources, reprs=[r], top=top,
                          description=f"{family} {comp} L{r['layer']}: {note}"))
    return cases


def all_cases():
    cases = []
    for seed, fam in enumerate(("mistral", "qwen2", "qwen3", "gemma", "gemma2", "olmo", "phi3", "gpt_neo",
                                "gpt_neox"), start=60):
        cases += component_cases(fam, family_file(fam)["components"], seed)
    # olmo2: no family file; pvc infers its map (the schema names no model_type)
    cases += component_cases("olmo2", ["block_output", "mlp_output", "attention_value_output",
                                        "head_query_output", "head_key_output", "query_output", "mlp_activation"],
                             70)
    cases += component_cases("olmo2", ["block_input", "mlp_input", "attention_input", "attention_output",
                                        "key_output", "value_output", "head_value_output",
                                        "head_attention_value_output"], 71)
    for c in cases:
        if c["family"] == "olmo2":
            c["no_model_type"] = True
    # a tuple output: rotary_emb returns (cos, sin); pyvene's hook takes output[0] (cos)
    for fam in ("mistral", "gpt_neox"):
        root = "gpt_neox" if fam == "gpt_neox" else "model"
        cases.append(dict(name=f"{fam}_rotary_emb_tuple_addition", family=fam, models=models_of(fam), form="list",
                          reprs=[dict(component=f"{root}.rotary_emb.output", intervention_type="addition",
                                      source_representation=vec(7100 + len(fam), n=8 if fam == "gpt_neox" else 16,
                                                                scale=0.5))],
                          top={},
                          description=f"{fam} {root}.rotary_emb.output, a (cos, sin) tuple: add a vector to what "
                                      "pyvene's hook sees, output[0] = cos, at every position"))
    # pyvene's own MLP (schema names the family)
    cases.append(dict(name="pv_mlp_block_output_zero", family="pv_mlp", models=models_of("pv_mlp"), form="list",
                      reprs=[dict(layer=1, component="block_output", unit="pos", intervention_type="zero")],
                      top=dict(unit_locations={"base": 2}), description="pyvene MLPModel block_output L1, position 2"))
    cases.append(dict(name="pv_mlp_block_input_vanilla", family="pv_mlp", models=models_of("pv_mlp"), form="list",
                      sources=[23],
                      reprs=[dict(layer=1, component="block_input", unit="pos", intervention_type="vanilla")],
                      top=dict(unit_locations={"sources->base": [3, 1]}),
                      description="pyvene MLPModel block_input L1, source position 3 -> base 1"))
    cases.append(dict(name="pv_mlp_mlp_activation_addition", family="pv_mlp", models=models_of("pv_mlp"),
                      form="list",
                      reprs=[dict(layer=0, component="mlp_activation", unit="pos", intervention_type="addition",
                                  source_representation=vec(7001, n=16))],
                      top=dict(unit_locations={"base": [0, 4, 5]}),
                      description="pyvene MLPModel mlp_activation L0, Addition at positions 0,4,5"))
    return cases


# ----------------------------------------------------------------------------------------------------------------
# pyvene 0.1.8 workarounds
# ----------------------------------------------------------------------------------------------------------------
def apply_workarounds(models):
    q = models["qwen2"].config
    if not hasattr(q, "head_dim"):
        q.head_dim = q.hidden_size // q.num_attention_heads
    g = models["gemma"].config
    g.hhead_dim = g.head_dim
    neo = transformers.GPTNeoForCausalLM
    table = {}
    for comp, rule in family_file("gpt_neo")["components"].items():
        path = "transformer." + rule["module"].replace("{layer}", "%s")
        hook = pv.models.constants.CONST_INPUT_HOOK if rule["hook"] == "input" else pv.models.constants.CONST_OUTPUT_HOOK
        entry = (path, hook)
        if "heads" in rule:
            entry += ((pv.models.constants.split_head_and_permute, "n_head"),)
        table[comp] = entry
    pv.type_to_module_mapping[neo] = table
    dims = dict(pv.type_to_dimension_mapping[neo])
    dims["n_head"] = ("num_heads",)
    pv.type_to_dimension_mapping[neo] = dims
    from pyvene.models.mlp.modelings_mlp import MLPModel
    assert MLPModel in pv.type_to_module_mapping


# ----------------------------------------------------------------------------------------------------------------
# torch forward hooks, for what pyvene 0.1.8 cannot run
# ----------------------------------------------------------------------------------------------------------------
def _module(model, path):
    m = model
    for atom in path.replace("[", ".").replace("]", "").split("."):
        if atom:
            m = m[int(atom)] if atom.isdigit() else getattr(m, atom)
    return m


def _columns(rule, full, geom):
    """The columns of a full-wide axis a rule's split takes (rewrites/README: split layouts)."""
    sp = rule.get("split")
    if sp is None:
        return list(range(full))
    n_q, n_kv, d = geom
    layout = sp.get("layout", "equal")
    if layout == "equal":
        w = full // sp["parts"]
        return list(range(sp["index"] * w, (sp["index"] + 1) * w))
    if layout == "interleaved":
        d = full // (n_q * sp["parts"])
        return [h * sp["parts"] * d + sp["index"] * d + j for h in range(n_q) for j in range(d)]
    sizes = [(n_q if c == "query" else n_kv) * d for c in layout["heads"]]
    lo = sum(sizes[:sp["index"]])
    return list(range(lo, lo + sizes[sp["index"]]))


def hook_reference(case, rule, model, root, geom, head_dim):
    """pyvene's semantics for one representation, computed with a torch forward (pre-)hook on the rule's module:
    the component is `cols` of the hooked tensor, heads are `head_dim`-wide groups of it (split_head_and_permute),
    and the result is written into the hooked tensor in place, as pyvene does."""
    r = case["reprs"][0]
    path = root + rule["module"].replace("{layer}", str(r["layer"]))
    mod = _module(model, path)
    pre = rule["hook"] == "input"
    unit = r["unit"]
    locs = case["top"]["unit_locations"]

    def normalise(side):  # -> per example: (heads or None, positions or None)
        if unit == "h.pos":
            return [(side[0][b], side[1][b]) for b in range(len(side[0]))]
        if unit == "h":
            return [(side[b], None) for b in range(len(side))]
        return [(None, side[b]) for b in range(len(side))]

    def base_side():
        if "base" in locs:
            v = locs["base"]
            if isinstance(v, list) and len(v) == 2 and all(isinstance(x, int) for x in v):
                v = [v[1]]  # pyvene's (source, base) pair shorthand
            if isinstance(v, list) and all(isinstance(x, int) for x in v):
                return [(list(v), None) if unit == "h" else (None, list(v))] * 2
            return normalise(v[0])
        return normalise(locs["sources->base"][1][0])

    def view(x):
        cols = _columns(rule, x.shape[-1], geom)
        part = x[..., cols]
        if unit == "pos":
            return cols, part
        return cols, part.reshape(*part.shape[:-1], -1, head_dim)  # (b, s, n, d)

    def select(part, b, heads, positions):
        p = slice(None) if positions is None else positions
        if heads is None:
            return part[b, p]
        return part[b][p][:, heads] if positions is not None else part[b][:, heads]

    captured = {}
    if r["intervention_type"] == "vanilla":
        src = normalise(locs["sources->base"][0][0])

        def grab(x):
            _, part = view(x.detach().clone())
            captured["v"] = [select(part, b, h, p).clone() for b, (h, p) in enumerate(src)]
        if pre:
            h = mod.register_forward_pre_hook(lambda m, a, kw: grab(_first_input(a, kw)), with_kwargs=True)
        else:
            h = mod.register_forward_hook(lambda m, a, out: grab(out[0] if isinstance(out, tuple) else out))
        with torch.no_grad():
            model(input_ids=lm_input_ids(case["sources"][0]))
        h.remove()

    base = base_side()

    def edit(x):
        """Writes the intervention into `x` in place, as pyvene's scatter_neurons does: every later reader of
        the hooked tensor sees it (OLMo-2's residual branch reads the same tensor as its attention)."""
        cols, part = view(x)
        part = part.clone()
        for b, (heads, positions) in enumerate(base):
            cur = select(part, b, heads, positions)
            kind = r["intervention_type"]
            if kind == "zero":
                new = torch.zeros_like(cur)
            elif kind == "addition":
                new = cur + torch.tensor(r["source_representation"], dtype=cur.dtype)
            else:
                new = captured["v"][b]
            if heads is None:
                part[b, slice(None) if positions is None else positions] = new
            elif positions is None:
                part[b][:, heads] = new
            else:
                sub = part[b][positions]
                sub[:, heads] = new
                part[b][positions] = sub
        x[..., cols] = part.reshape(*part.shape[:2], -1)

    if pre:
        h = mod.register_forward_pre_hook(lambda m, a, kw: edit(_first_input(a, kw)), with_kwargs=True)
    else:
        h = mod.register_forward_hook(lambda m, a, out: edit(out[0] if isinstance(out, tuple) else out))
    with torch.no_grad():
        out = model(input_ids=lm_input_ids()).logits
    h.remove()
    return {"logits": to_np(out)}


def _first_input(args, kwargs):
    """What pyvene's pre-hook takes: the first positional tensor, else `hidden_states` (HF decoder layers)."""
    return args[0] if args else kwargs["hidden_states"]


INFERRED_OLMO2 = {  # what pvc infers for olmo2 (no family file), written out for the hook reference
    "block_output": {"module": "layers[{layer}]", "hook": "output"},
    "mlp_output": {"module": "layers[{layer}].mlp", "hook": "output"},
    "mlp_activation": {"module": "layers[{layer}].mlp.act_fn", "hook": "output"},
    "attention_value_output": {"module": "layers[{layer}].self_attn.o_proj", "hook": "input"},
    "query_output": {"module": "layers[{layer}].self_attn.q_proj", "hook": "output"},
    "head_query_output": {"module": "layers[{layer}].self_attn.q_proj", "hook": "output"},
    "head_key_output": {"module": "layers[{layer}].self_attn.k_proj", "hook": "output"},
    "block_input": {"module": "layers[{layer}]", "hook": "input"},
    "mlp_input": {"module": "layers[{layer}].mlp", "hook": "input"},
    "attention_input": {"module": "layers[{layer}].self_attn", "hook": "input"},
    "attention_output": {"module": "layers[{layer}].self_attn", "hook": "output"},
    "key_output": {"module": "layers[{layer}].self_attn.k_proj", "hook": "output"},
    "value_output": {"module": "layers[{layer}].self_attn.v_proj", "hook": "output"},
    "head_value_output": {"module": "layers[{layer}].self_attn.v_proj", "hook": "output"},
    "head_attention_value_output": {"module": "layers[{layer}].self_attn.o_proj", "hook": "input"},
}


def make_case(case, models):
    fam = case["family"]
    model = models[fam]
    d = os.path.join(HERE, "cases", case["name"])
    if os.path.exists(d):
        shutil.rmtree(d)
    os.makedirs(d)
    schema = {} if case.get("no_model_type") else {"model_type": "mlp" if fam == "pv_mlp" else fam}
    schema["representations"] = [dict(r) for r in case["reprs"]]
    schema.update(case.get("top", {}))
    schema = json.loads(json.dumps(schema))
    comp = case["reprs"][0]["component"]
    in_name, out_name = ("inputs_embeds", "hidden_states") if fam == "pv_mlp" else ("input_ids", "logits")
    C.FAMILY[fam] = (in_name, out_name)
    hooked = fam in HOOKED or (fam == "gpt_neox" and comp in NEOX_QKV)
    if hooked:
        rule = INFERRED_OLMO2[comp] if fam == "olmo2" else family_file(fam)["components"][comp]
        cfg = model.config
        geom = (cfg.num_attention_heads, getattr(cfg, "num_key_value_heads", cfg.num_attention_heads),
                cfg.hidden_size // cfg.num_attention_heads)
        root = "gpt_neox." if fam == "gpt_neox" else "model."
        expected = hook_reference(case, rule, model, root, geom, geom[2])
        how = "torch hooks"
    else:
        pv_model = C.pyvene_model(schema, {}, model)
        kwargs, _ = C.forward_args(case, schema) if fam != "pv_mlp" else _mlp_args(case, schema)
        with torch.no_grad():
            res = pv_model(**kwargs)
        out = res.intervened_outputs
        expected = {out_name: to_np(FM.embeds_output(out) if fam == "pv_mlp" else out.logits)}
        how = "pyvene"
    inputs = _inputs(case, in_name)
    C.write_json(os.path.join(d, "schema.json"), schema)
    save_file(C.np_dict(inputs), os.path.join(d, "inputs.safetensors"))
    save_file(expected, os.path.join(d, "expected.safetensors"))
    C.write_json(os.path.join(d, "case.json"), {
        "models": case["models"], "schema": "schema.json", "inputs": "inputs.safetensors",
        "expected": "expected.safetensors", "original": False,
        "description": case["description"] + f" (recorded with {how})"})
    plain = models["_plain_families"][fam]
    return f"{how}: max|intervened - plain|={float(np.abs(expected[out_name] - plain).max()):.3g}"


def _inputs(case, in_name):
    if case["family"] == "pv_mlp":
        inputs = {in_name: FM.embeds_input()}
        for g, s in enumerate(case.get("sources") or []):
            inputs[f"source.{g}.{in_name}"] = FM.embeds_input(s)
        return inputs
    inputs = {in_name: lm_input_ids()}
    for g, s in enumerate(case.get("sources") or []):
        inputs[f"source.{g}.{in_name}"] = lm_input_ids(s)
    return inputs


def _mlp_args(case, schema):
    kw = dict(base={"inputs_embeds": FM.embeds_input(), "return_dict": True}, return_dict=True)
    if case.get("sources"):
        kw["sources"] = [{"inputs_embeds": FM.embeds_input(s), "return_dict": True} for s in case["sources"]]
    kw["unit_locations"] = schema["unit_locations"]
    return kw, None


def make_cases(models, only=None):
    apply_workarounds(models)
    report = {}
    for case in all_cases():
        if only and case["name"] not in only:
            continue
        try:
            report[case["name"]] = make_case(case, models)
        except Exception as e:  # record, don't invent numbers
            import traceback
            report[case["name"]] = f"ERROR {type(e).__name__}: {str(e)[:300]} {traceback.format_exc().splitlines()[-3][:200]}"
            shutil.rmtree(os.path.join(HERE, "cases", case["name"]), ignore_errors=True)
    return report
