"""pyvene 0.1.8 generate() parity cases on the KV-cache fixtures (imported by generate.py).

Each case is recorded by the real `IntervenableModel.generate(..., do_sample=False, use_cache=True)` on the torch
model the KV fixtures were exported from, and written to models/gen_cases/<name>/: schema.json (pvc's schema: the
representations plus pyvene's generate arguments `intervene_on_prompt` / `unit_locations` at the top level),
inputs.safetensors (`input_ids`, the prompt; for an interchange from a source run also `source.0.input_ids`, the
source prompt pyvene runs once and pvc's patched decoder reads on every call) and expected.safetensors:
  sequences    int64 [1, prompt + new]   pyvene's intervened ids
  logits       float32 [1, new, vocab]  the raw logits of each call's last position (HF `output_logits`)
  collected.<i> float32 [1, units, d]    pyvene's collected list for Collect i, concatenated over calls
  hf_sequences int64                     HF generate without interventions (pvc on the unpatched model)
The schema is round-tripped through JSON before pyvene sees it.
"""
import json
import os
import shutil

import numpy as np
import pyvene as pv
import torch
from safetensors.numpy import save_file

from pvc_cases import intervention_class, vec, write_json
from pvc_fixtures import lm_input_ids, to_np

GPT2 = ["gpt2_kv_legacy.onnx", "gpt2_kv_dynamo.onnx"]
LLAMA = ["llama_kv_legacy.onnx", "llama_kv_dynamo.onnx"]
NEW_TOKENS = 8
PROMPT = 5

CASES = [
    dict(name="gen_gpt2_addition_decode", family="gpt2", models=GPT2,
         reprs=[dict(layer=0, component="block_output", unit="pos", intervention_type="addition",
                     source_representation=vec(201, scale=3.0))],
         top=dict(intervene_on_prompt=False),
         description="Steering while generating: Addition at block_output L0, intervene_on_prompt false (pyvene's "
                     "default): the prompt pass untouched, each decode step at its one token ({'base': 0})"),
    dict(name="gen_gpt2_addition_prompt", family="gpt2", models=GPT2,
         reprs=[dict(layer=1, component="block_output", unit="pos", intervention_type="addition",
                     source_representation=vec(202, scale=4.0))],
         top=dict(intervene_on_prompt=True, unit_locations={"base": [1, 2, 4]}),
         description="Addition at block_output L1 positions 1,2,4 of the prompt pass only (intervene_on_prompt "
                     "true with locations)"),
    dict(name="gen_gpt2_addition_every", family="gpt2", models=GPT2,
         reprs=[dict(layer=1, component="mlp_output", unit="pos", intervention_type="addition",
                     source_representation=vec(203, scale=2.0))],
         top=dict(intervene_on_prompt=True, unit_locations=None),
         description="Addition at mlp_output L1 at every position of every call (intervene_on_prompt true, "
                     "unit_locations null)"),
    dict(name="gen_gpt2_zero_decode", family="gpt2", models=GPT2,
         reprs=[dict(layer=1, component="block_output", unit="pos", intervention_type="zero")],
         top=dict(intervene_on_prompt=False, unit_locations={"base": 0}),
         description="Zero block_output L1 on each decode step (explicit {'base': 0})"),
    dict(name="gen_gpt2_vanilla_constant_prompt", family="gpt2", models=GPT2,
         reprs=[dict(layer=0, component="block_output", unit="pos", intervention_type="vanilla",
                     source_representation=vec(204, scale=3.0))],
         top=dict(intervene_on_prompt=True, unit_locations={"base": 4}),
         description="Constant-source interchange: block_output L0 at the last prompt position := a fixed vector, "
                     "prompt pass only"),
    dict(name="gen_gpt2_collect_decode", family="gpt2", models=GPT2,
         reprs=[dict(layer=0, component="block_output", unit="pos", intervention_type="addition",
                     source_representation=vec(205, scale=3.0)),
                dict(layer=1, component="block_output", unit="pos", intervention_type="collect")],
         top=dict(intervene_on_prompt=False),
         description="Addition at block_output L0 and Collect block_output L1 on each decode step: collected.1 "
                     "holds one [1,1,64] per decode call"),
    dict(name="gen_llama_addition_decode", family="llama", models=LLAMA,
         reprs=[dict(layer=0, component="block_output", unit="pos", intervention_type="addition",
                     source_representation=vec(211, scale=3.0))],
         top=dict(intervene_on_prompt=False),
         description="Llama (GQA): Addition at block_output L0 on each decode step"),
    dict(name="gen_llama_zero_every", family="llama", models=LLAMA,
         reprs=[dict(layer=0, component="mlp_output", unit="pos", intervention_type="zero")],
         top=dict(intervene_on_prompt=True, unit_locations=None),
         description="Llama: Zero mlp_output L0 at every position of every call"),
    dict(name="gen_llama_vanilla_constant_prompt", family="llama", models=LLAMA,
         reprs=[dict(layer=0, component="block_output", unit="pos", intervention_type="vanilla",
                     source_representation=vec(212, scale=6.0))],
         top=dict(intervene_on_prompt=True, unit_locations={"base": [3, 4]}),
         description="Llama: block_output L0 at prompt position 4 := a fixed vector, prompt pass only ({'base': "
                     "[3, 4]} is pyvene's (source, base) pair: base position 4 only)"),
    dict(name="gen_llama_collect_prompt", family="llama", models=LLAMA,
         reprs=[dict(layer=1, component="block_output", unit="pos", intervention_type="collect")],
         top=dict(intervene_on_prompt=True, unit_locations={"base": 2}),
         description="Llama: Collect block_output L1 at prompt position 2 (one [1,1,64], from the prompt pass)"),
    dict(name="gen_gpt2_vanilla_source_decode", family="gpt2", models=GPT2, source=41,
         reprs=[dict(layer=0, component="block_output", unit="pos", intervention_type="vanilla")],
         top=dict(intervene_on_prompt=False, unit_locations={"sources->base": [[[[2]]], [[[0]]]]}),
         description="Interchange from a source run while generating: each decode step's one token at block_output "
                     "L0 := the source prompt's position 2 (intervene_on_prompt false); the source is fed as "
                     "source.0.input_ids"),
    dict(name="gen_gpt2_vanilla_source_prompt", family="gpt2", models=GPT2, source=42,
         reprs=[dict(layer=1, component="block_output", unit="pos", intervention_type="vanilla")],
         top=dict(intervene_on_prompt=True, unit_locations={"sources->base": [[[[0, 5]]], [[[1, 4]]]]}),
         description="Interchange from a source run on the prompt pass only: block_output L1, source positions 0,5 "
                     "-> prompt positions 1,4 (the source prompt is longer than the base's)"),
    dict(name="gen_llama_vanilla_source_decode", family="llama", models=LLAMA, source=43,
         reprs=[dict(layer=0, component="block_output", unit="pos", intervention_type="vanilla")],
         top=dict(intervene_on_prompt=False, unit_locations={"sources->base": [[[[3]]], [[[0]]]]}),
         description="Llama (GQA): each decode step's token at block_output L0 := the source prompt's position 3"),
    dict(name="gen_gpt2_lowrank_das_source_decode", family="gpt2", models=GPT2, source=44,
         trained=dict(cls="LowRankRotatedSpaceIntervention", low_rank_dimension=4),
         reprs=[dict(layer=0, component="block_output", unit="pos")],
         top=dict(intervene_on_prompt=False, unit_locations={"sources->base": [[[[2]]], [[[0]]]]}),
         description="A trained intervention while generating: low-rank DAS (r=4, seeded random rotation) at "
                     "block_output L0 of each decode step's token, from the source prompt's position 2; pvc reads "
                     "pyvene's saved config.json (plus the generate arguments) and its .bin"),
    dict(name="gen_llama_subtraction_decode", family="llama", models=LLAMA,
         reprs=[dict(layer=1, component="mlp_output", unit="pos", intervention_type="subtraction",
                     source_representation=vec(213, scale=4.0))],
         top=dict(intervene_on_prompt=False),
         description="Llama: Subtraction at mlp_output L1 on each decode step"),
]


def prompt_ids():
    return lm_input_ids(31)[:1, :PROMPT]


SOURCE = 6


def source_ids(seed):
    return lm_input_ids(seed)[:1, :SOURCE]


def schema_of(case):
    s = {"model_type": case["family"], "representations": [dict(r) for r in case["reprs"]]}
    s.update(case["top"])
    return json.loads(json.dumps(s))


def pyvene_model(schema, model):
    reprs = []
    for r in schema["representations"]:
        kw = dict(r)
        kw["intervention_type"] = intervention_class(kw["intervention_type"])
        if kw.get("source_representation") is not None:
            kw["source_representation"] = torch.tensor(kw["source_representation"], dtype=torch.float32)
        reprs.append(pv.RepresentationConfig(**kw))
    return pv.IntervenableModel(pv.IntervenableConfig(representations=reprs), model)


def trained_model(case, model, d):
    """A trained intervention with seeded weights (cases_trained's), saved by pyvene; the case's schema.json is
    pyvene's saved config.json plus the generate arguments, next to pyvene's .bin files."""
    import cases_trained as T
    import pvc_cases as C
    torch.manual_seed(C.hash_name(case["name"]))
    kw = dict(case["trained"])
    tcase = dict(name=case["name"], cls=getattr(pv, kw.pop("cls")), set=T.weights_das,
                 repr=dict(case["reprs"][0], **kw))
    pv_model = T.build(tcase, model)
    save = os.path.join(d, "pyvene_save")
    pv_model.save(save)
    schema = json.load(open(os.path.join(save, "config.json")))
    schema.update(json.loads(json.dumps(case["top"])))
    for f in os.listdir(save):
        if f.endswith(".bin"):
            shutil.move(os.path.join(save, f), os.path.join(d, f))
    shutil.rmtree(save)
    write_json(os.path.join(d, "schema.json"), schema)
    return pv_model, schema


# Collect on the whole tensor (unit_locations null) is left out: pyvene 0.1.8 flattens it to [b, s*d], keeps
# [:, :64] and fails to reshape that to [b, s, -1] ("shape '[1, 5, 12]' is invalid for input of size 64").
GEN = dict(max_new_tokens=NEW_TOKENS, do_sample=False, use_cache=True, output_logits=True,
           return_dict_in_generate=True, eos_token_id=None, pad_token_id=0)


def make_case(out_root, case, model):
    d = os.path.join(out_root, "gen_cases", case["name"])
    if os.path.exists(d):
        shutil.rmtree(d)
    os.makedirs(d)
    schema = schema_of(case)
    ids = prompt_ids()
    with torch.no_grad():
        hf = model.generate(input_ids=ids, attention_mask=torch.ones_like(ids), **GEN)
        if "trained" in case:
            pv_model, schema = trained_model(case, model, d)
        else:
            write_json(os.path.join(d, "schema.json"), schema)
            pv_model = pyvene_model(schema, model)
        kw = {"unit_locations": schema["unit_locations"]} if "unit_locations" in schema else {}
        inputs = {"input_ids": to_np(ids)}
        if "source" in case:
            src = source_ids(case["source"])
            kw["sources"] = [{"input_ids": src, "attention_mask": torch.ones_like(src)}]
            inputs["source.0.input_ids"] = to_np(src)
        base, cf = pv_model.generate({"input_ids": ids, "attention_mask": torch.ones_like(ids)},
                                     intervene_on_prompt=schema["intervene_on_prompt"], **kw, **GEN)
    expected = {"sequences": to_np(cf.sequences), "hf_sequences": to_np(hf.sequences),
                "logits": np.ascontiguousarray(np.stack([to_np(l) for l in cf.logits], axis=1))}
    collect = [i for i, r in enumerate(case["reprs"]) if r.get("intervention_type") == "collect"]
    if collect:
        acts = base[1]
        assert len(collect) == 1, "one Collect per case: pyvene's flat list does not say which key a tensor is"
        expected[f"collected.{collect[0]}"] = np.ascontiguousarray(
            np.concatenate([to_np(a).reshape(1, -1, to_np(a).shape[-1]) for a in acts], axis=1))
    save_file(inputs, os.path.join(d, "inputs.safetensors"))
    save_file(expected, os.path.join(d, "expected.safetensors"))
    write_json(os.path.join(d, "case.json"), {"models": case["models"], "schema": "schema.json",
                                              "inputs": "inputs.safetensors", "expected": "expected.safetensors",
                                              "max_new_tokens": NEW_TOKENS, "description": case["description"]})
    changed = (expected["sequences"] != expected["hf_sequences"]).any()
    return f"tokens {'changed' if changed else 'UNCHANGED'}: {expected['sequences'][0, PROMPT:].tolist()} " \
           f"(plain {expected['hf_sequences'][0, PROMPT:].tolist()})"


def make_cases(out_root, models, only=None):
    report = {}
    for case in CASES:
        if only and case["name"] not in only:
            continue
        try:
            report[case["name"]] = make_case(out_root, case, models[case["family"]])
        except Exception as e:  # noqa: BLE001
            report[case["name"]] = f"ERROR {type(e).__name__}: {str(e).splitlines()[0][:200]}"
    return report
