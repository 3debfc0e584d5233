"""pyvene 0.1.8 parity cases for pvc: schema.json / inputs / expected recorded from the real pyvene.

Every case is a plain dict in CASES.  The schema written to disk is round-tripped through JSON *before* it is
turned into pyvene calls, so what pyvene ran is exactly what schema.json says.  Imported by generate.py.
"""
import json
import os
import shutil

import numpy as np
import pyvene as pv
import torch
from safetensors.numpy import save_file

from pvc_fixtures import BATCH, TinyMLP, lm_input_ids, mlp_input, to_np

B = BATCH
GPT2 = ["gpt2_legacy.onnx", "gpt2_dynamo.onnx"]
GPT2_EXT = GPT2 + ["gpt2_external/model.onnx"]
LLAMA = ["llama_legacy.onnx", "llama_dynamo.onnx"]
MLP = ["mlp_legacy.onnx", "mlp_dynamo.onnx"]
FAMILY = {"gpt2": ("input_ids", "logits"), "llama": ("input_ids", "logits"), "mlp": ("x", "y")}

# short names and class names accepted by pvc; pyvene needs the classes
INTERVENTIONS = {c.__name__: c for c in (pv.ZeroIntervention, pv.VanillaIntervention, pv.AdditionIntervention,
                                         pv.SubtractionIntervention, pv.CollectIntervention,
                                         pv.NoiseIntervention, pv.SkipIntervention)}
SHORT = {"zero": "ZeroIntervention", "vanilla": "VanillaIntervention", "addition": "AdditionIntervention",
         "subtraction": "SubtractionIntervention", "collect": "CollectIntervention",
         "noise": "NoiseIntervention", "skip": "SkipIntervention"}


def vec(seed, n=64, scale=1.0):
    """Seeded vector rounded to 3 decimals, so an inline JSON list is exactly the float32 pyvene used."""
    rs = np.random.RandomState(seed)
    return [round(float(v), 3) for v in rs.randn(n) * scale]


def source_ids(seed):
    return lm_input_ids(seed)


def loc(*rows):
    """One intervention's locations: [batch][units]."""
    return [list(r) for r in rows]


# ----------------------------------------------------------------------------------------------------------------
# the cases
#   form:     "saved" = pyvene's own config.json (+ pvc keys), "list" = {"representations": [...]},
#             "single" = one representation dict with "component"/"intervention"
#   sources:  one entry per pyvene group (None = no source forward for that group); values are seeds for
#             source input_ids / mlp x.  "base" = the base input itself (SkipIntervention).
# ----------------------------------------------------------------------------------------------------------------
CASES = [
    dict(name="gpt2_zero_mlp_output_pos", family="gpt2", models=GPT2_EXT, form="saved", save=True, original=True,
         reprs=[dict(layer=1, component="mlp_output", unit="pos", max_number_of_units=1,
                     intervention_type="ZeroIntervention")],
         top=dict(unit_locations={"base": 3}),
         description="Zero at GPT-2 mlp_output L1, base position 3 (int shorthand under 'base'); schema = pyvene's "
                     "saved config.json + unit_locations"),
    dict(name="llama_zero_block_output_pos", family="llama", models=LLAMA, form="list",
         reprs=[dict(layer=0, component="block_output", unit="pos", intervention_type="zero")],
         top=dict(unit_locations={"base": [loc([2], [5])]}),
         description="Zero at Llama block_output L0, per-example positions 2 / 5 (full [intervention][batch][units] "
                     "form under 'base')"),
    dict(name="mlp_zero_net2_pos", family="mlp", models=MLP, form="single",
         single=dict(component="net[2].output", intervention="ZeroIntervention"),
         top=dict(unit_locations={"base": [1, 4, 5]}),
         description="Zero at MLP net[2].output (string component, single-dict schema), positions 1,4,5 for every "
                     "example (flat-list shorthand)"),
    dict(name="mlp_zero_net2_input_whole", family="mlp", models=MLP, form="single",
         single=dict(component="net[2].input", intervention="ZeroIntervention"),
         description="Zero on the whole tensor of MLP net[2].input, which feeds a MatMul (no unit_locations; a fuzz "
                     "finding: tract refused the ConstantOfShape form)"),
    dict(name="gpt2_zero_whole_string", family="gpt2", models=GPT2, form="single",
         single=dict(component="transformer.h[1].mlp.output", intervention="zero"),
         description="Zero on the whole tensor of transformer.h[1].mlp.output (string component, no unit_locations)"),
    dict(name="gpt2_vanilla_block_output", family="gpt2", models=GPT2, form="list", original=True, sources=[21],
         reprs=[dict(layer=0, component="block_output", unit="pos", intervention_type="VanillaIntervention",
                     max_number_of_units=1, subspace_partition=None, group_key=None)],
         top=dict(unit_locations={"sources->base": [[loc([2], [2])], [loc([4], [4])]]}),
         description="Interchange GPT-2 block_output L0: source position 2 -> base position 4 (full form)"),
    dict(name="llama_vanilla_mlp_output", family="llama", models=LLAMA, form="list", sources=[21],
         reprs=[dict(layer=1, component="mlp_output", unit="pos", intervention_type="vanilla")],
         top=dict(unit_locations={"sources->base": [1, 3]}),
         description="Interchange Llama mlp_output L1: source position 1 -> base position 3 ([src, base] pair "
                     "shorthand)"),
    dict(name="gpt2_vanilla_runtime_locations", family="gpt2", models=GPT2, form="list", sources=[22],
         reprs=[dict(layer=1, component="block_input", unit="pos", intervention_type="vanilla")],
         runtime_locations={0: (loc([3], [0]), loc([1], [4]))},
         description="Interchange GPT-2 block_input L1 with locations given at run time (inputs "
                     "unit_locations.0.source = [[3],[0]], unit_locations.0.base = [[1],[4]])"),
    dict(name="gpt2_addition_all_positions", family="gpt2", models=GPT2, form="list",
         reprs=[dict(layer=1, component="mlp_output", unit="pos", intervention_type="addition",
                     source_representation=vec(101))],
         description="Steering: add an inline 64-d vector to GPT-2 mlp_output L1 at every position (no "
                     "unit_locations)"),
    dict(name="gpt2_addition_pos", family="gpt2", models=GPT2_EXT, form="saved", save=True, original=True,
         reprs=[dict(layer=0, component="block_output", unit="pos", intervention_type="AdditionIntervention")],
         weights={0: vec(102)},
         top=dict(unit_locations={"base": 5}),
         description="Add a vector (weights.safetensors '0.source_representation') to GPT-2 block_output L0 at "
                     "base position 5; schema = pyvene's saved config.json + unit_locations + weights"),
    dict(name="llama_addition_pos", family="llama", models=LLAMA, form="list",
         reprs=[dict(layer=1, component="block_output", unit="pos", intervention_type="AdditionIntervention")],
         weights={0: vec(103)},
         top=dict(unit_locations={"base": [0, 2, 5]}),
         description="Add a vector from weights.safetensors to Llama block_output L1 at positions 0,2,5"),
    dict(name="llama_subtraction_string", family="llama", models=LLAMA, form="list",
         reprs=[dict(component="model.layers[0].input", unit="pos", intervention_type="subtraction",
                     source_representation=vec(104, scale=0.5))],
         top=dict(unit_locations={"base": 2}),
         description="Subtract an inline vector from model.layers[0].input (string component) at position 2"),
    dict(name="gpt2_vanilla_constant_source", family="gpt2", models=GPT2, form="list",
         reprs=[dict(layer=1, component="block_output", unit="pos", intervention_type="vanilla")],
         weights={0: vec(105)},
         top=dict(unit_locations={"base": [loc([1], [1])]}),
         description="Constant-source interchange: GPT-2 block_output L1 position 1 := a fixed vector "
                     "(weights.safetensors)"),
    dict(name="gpt2_vanilla_runtime_activation", family="gpt2", models=GPT2, form="list",
         reprs=[dict(layer=1, component="mlp_output", unit="pos", intervention_type="vanilla")],
         runtime_activation={0: (B, 1, 64)},
         top=dict(unit_locations={"base": 2}),
         description="Interchange with the source activation given at run time (input source_representations.0, "
                     "[2,1,64]) at GPT-2 mlp_output L1 position 2; no source forward"),
    dict(name="gpt2_collect", family="gpt2", models=GPT2, form="list",
         reprs=[dict(layer=1, component="block_output", unit="pos", intervention_type="collect")],
         top=dict(unit_locations={"base": 2}),
         description="Collect GPT-2 block_output L1 at position 2 (collected.0 is [2,1,64]; logits untouched)"),
    dict(name="gpt2_collect_with_interchange", family="gpt2", models=GPT2, form="list", original=True,
         sources=[21, None],
         reprs=[dict(layer=0, component="block_output", unit="pos", intervention_type="vanilla"),
                dict(layer=1, component="block_output", unit="pos", intervention_type="collect")],
         top=dict(unit_locations={"sources->base": [[loc([2], [3]), loc([0], [0])],
                                                    [loc([4], [4]), loc([4], [4])]]}),
         description="Interchange block_output L0 (src 2/3 -> base 4) and collect block_output L1 at position 4 "
                     "in the same run (collected.1)"),
    dict(name="gpt2_noise_block_input", family="gpt2", models=GPT2, form="list",
         reprs=[dict(layer=1, component="block_input", unit="pos", max_number_of_units=1,
                     intervention_type="noise")],
         top=dict(unit_locations={"base": [0, 1, 2, 3]}),
         description="pyvene NoiseIntervention (RandomState(1).randn(1,4,64) * 0.13462981581687927) on GPT-2 "
                     "block_input L1, exactly 4 units (positions 0-3)"),
    dict(name="gpt2_skip_mlp_output", family="gpt2", models=GPT2, form="list", sources=["base"],
         reprs=[dict(layer=1, component="mlp_output", unit="pos", intervention_type="skip")],
         top=dict(unit_locations={"sources->base": 3}),
         description="SkipIntervention on GPT-2 mlp_output L1 at position 3: the mlp output is replaced by the "
                     "mlp input of the source run; the source is the base input itself (source.0.input_ids == "
                     "input_ids), as in pyvene's own usage"),
    dict(name="gpt2_vanilla_subspaces_flat", family="gpt2", models=GPT2, form="list", sources=[22],
         reprs=[dict(layer=0, component="block_output", unit="pos", intervention_type="vanilla")],
         top=dict(unit_locations={"sources->base": 2}, subspaces=list(range(0, 16))),
         description="Interchange dims 0..15 only (flat-list subspaces) of GPT-2 block_output L0 at position 2"),
    dict(name="llama_vanilla_subspace_partition", family="llama", models=LLAMA, form="list", sources=[21],
         reprs=[dict(layer=1, component="block_output", unit="pos", intervention_type="VanillaIntervention",
                     subspace_partition=[[0, 16], [16, 48], [48, 64]])],
         top=dict(unit_locations={"sources->base": [[loc([3], [3])], [loc([3], [3])]]},
                  subspaces=[[[1], [1]]]),
         description="Interchange partition 1 (dims 16..47) of Llama block_output L1 at position 3 "
                     "(subspace_partition + partition ids, full-form subspaces)"),
    dict(name="gpt2_addition_subspaces", family="gpt2", models=GPT2, form="list",
         reprs=[dict(layer=1, component="block_output", unit="pos", intervention_type="addition",
                     source_representation=vec(106, scale=2.0))],
         top=dict(unit_locations={"base": [1, 4]}, subspaces=[[[0, 1, 2, 3, 32, 33], [0, 1, 2, 3, 32, 33]]]),
         description="Add an inline vector on dims {0,1,2,3,32,33} only of GPT-2 block_output L1. NOTE "
                     "unit_locations {'base': [1, 4]} is pyvene's (source, base) pair shorthand: base position 4 "
                     "ONLY"),
    dict(name="mlp_vanilla_net0_input_subspace", family="mlp", models=MLP, form="list", sources=[31],
         reprs=[dict(component="net[0].input", unit="pos", intervention_type="vanilla")],
         top=dict(unit_locations={"sources->base": [4, 1]}, subspaces=3),
         description="Interchange feature 3 (int subspaces shorthand) of the MLP graph input net[0].input: "
                     "source position 4 -> base position 1"),
    dict(name="gpt2_vanilla_two_units", family="gpt2", models=GPT2, form="list", sources=[22],
         reprs=[dict(layer=1, component="mlp_output", unit="pos", max_number_of_units=2,
                     intervention_type="vanilla")],
         top=dict(unit_locations={"sources->base": [[loc([0, 1], [2, 3])], [loc([4, 5], [1, 2])]]}),
         description="max_number_of_units=2: interchange 2 positions per example at GPT-2 mlp_output L1 "
                     "(example 0: src 0,1 -> base 4,5; example 1: src 2,3 -> base 1,2)"),
    dict(name="gpt2_multi_zero_addition", family="gpt2", models=GPT2, form="list",
         reprs=[dict(layer=0, component="mlp_output", unit="pos", intervention_type="zero"),
                dict(layer=1, component="block_output", unit="pos", intervention_type="addition",
                     source_representation=vec(107, scale=0.5))],
         top=dict(unit_locations={"base": [loc([1], [1]), None]}),
         description="Two interventions: Zero mlp_output L0 at position 1 and Addition block_output L1 at every "
                     "position (None entry in unit_locations)"),
    dict(name="gpt2_group_key_interchange", family="gpt2", models=GPT2, form="saved", save=True, original=True,
         sources=[21, 22],
         reprs=[dict(layer=0, component="block_output", unit="pos", intervention_type="vanilla", group_key=0),
                dict(layer=1, component="mlp_output", unit="pos", intervention_type="vanilla", group_key=1)],
         top=dict(unit_locations={"sources->base": [[loc([1], [1]), loc([5], [0])],
                                                    [loc([2], [2]), loc([5], [5])]]}),
         description="Two source groups (group_key 0 and 1) with different source inputs: block_output L0 from "
                     "source.0, mlp_output L1 from source.1; schema = pyvene's saved config.json + unit_locations"),
    dict(name="llama_addition_all_positions_string", family="llama", models=LLAMA, form="list",
         reprs=[dict(component="model.layers[0].mlp.output", intervention_type="AdditionIntervention")],
         weights={0: vec(108, scale=0.5)},
         description="Steering on Llama: add a vector (weights.safetensors) to model.layers[0].mlp.output (string "
                     "component) at every position"),
    dict(name="llama_collect_string_two_units", family="llama", models=LLAMA, form="list",
         reprs=[dict(component="model.layers[1].self_attn.o_proj.input", unit="pos", intervention_type="collect")],
         top=dict(unit_locations={"base": [loc([0, 5], [1, 2])]}),
         description="Collect the o_proj input of Llama layer 1 (string component, pre-hook) at 2 positions per "
                     "example (0,5 / 1,2): collected.0 is [2,2,64]"),
    dict(name="gpt2_collect_two_units_max1_quirk", family="gpt2", models=GPT2, form="list",
         reprs=[dict(layer=0, component="attention_output", unit="pos", max_number_of_units=1,
                     intervention_type="collect")],
         top=dict(unit_locations={"base": [loc([2, 3], [0, 5])]}),
         description="pyvene quirk pinned as returned: Collect 2 units/example with max_number_of_units=1 on GPT-2 "
                     "attention_output L0; pyvene flattens to (b, 2*64), keeps [..., :64] (interchange_dim) and "
                     "reshapes to (b, 2, -1), so collected.0 is [2,2,32] = the FIRST unit's 64 dims split in two"),
    dict(name="gpt2_serial_two_vanilla", family="gpt2", models=GPT2, form="list", sources=[21, 22],
         reprs=[dict(layer=0, component="block_output", unit="pos", intervention_type="vanilla"),
                dict(layer=1, component="block_output", unit="pos", intervention_type="vanilla")],
         top=dict(mode="serial", unit_locations={"source_0->source_1": [[loc([1], [2])], [loc([2], [3])]],
                                                 "source_1->base": [[loc([3], [3])], [loc([4], [5])]]}),
         description="Serial mode: source_0 block_output L0 (pos 1/2) -> source_1 (pos 2/3), then the intervened "
                     "source_1's block_output L1 (pos 3) -> base (pos 4/5)"),
    dict(name="llama_serial_same_site_addition", family="llama", models=LLAMA, form="list", sources=[21, 22],
         reprs=[dict(layer=0, component="mlp_output", unit="pos", intervention_type="addition"),
                dict(layer=0, component="mlp_output", unit="pos", intervention_type="vanilla")],
         top=dict(mode="serial", unit_locations={"source_0->source_1": [[loc([2], [2])], [loc([2], [2])]],
                                                 "source_1->base": [[loc([2], [2])], [loc([4], [4])]]}),
         description="Serial mode at one site: source_0's Llama mlp_output L0 pos 2 is added into source_1 at pos 2, "
                     "and the intervened source_1's value there replaces the base's pos 4 (the getter sees the "
                     "setter's result)"),
    dict(name="gpt2_collect_runtime_locations", family="gpt2", models=GPT2, form="list",
         reprs=[dict(layer=1, component="block_output", unit="pos", max_number_of_units=2,
                     intervention_type="collect")],
         top=dict(unit_locations="runtime"),
         runtime_locations={0: (None, loc([1, 3], [0, 4]))},
         description="Collect GPT-2 block_output L1 at 2 positions per example given at run time "
                     "(unit_locations.0.base = [[1,3],[0,4]]), max_number_of_units=2: collected.0 is [2,2,64]"),
    dict(name="gpt2_collect_whole_string", family="gpt2", models=GPT2, form="single",
         single=dict(component="transformer.h[1].output", intervention="CollectIntervention"),
         description="Collect the whole tensor of transformer.h[1].output (string component, no unit_locations): "
                     "collected.0 is the [2,6,64] block output"),
    dict(name="llama_zero_attention_output_whole", family="llama", models=LLAMA, form="list", original=True,
         reprs=[dict(layer=1, component="attention_output", unit="pos", intervention_type="ZeroIntervention")],
         description="Zero Llama attention_output L1 (self_attn output) on the whole tensor"),
    # head units (h, h.pos): pyvene's split_head_and_permute (b,s,H*d) -> (b,H,s,d), then heads (x positions)
    dict(name="gpt2_hpos_vanilla_head_attention_value_output", family="gpt2", models=GPT2, form="list",
         sources=[21], original=True,
         reprs=[dict(layer=1, component="head_attention_value_output", unit="h.pos",
                     intervention_type="VanillaIntervention")],
         top=dict(unit_locations={"sources->base": [[[loc([0, 2], [1, 3]), loc([3], [4])]],
                                                    [[loc([0, 2], [1, 3]), loc([5], [1])]]]}),
         description="h.pos interchange at GPT-2 head_attention_value_output L1 (c_proj input; dynamo keeps it "
                     "only as [b,s,4,16]): heads 0,2 (example 0) / 1,3 (example 1), source position 3/4 -> base 5/1"),
    dict(name="gpt2_h_zero_head_query_output", family="gpt2", models=GPT2, form="list",
         reprs=[dict(layer=0, component="head_query_output", unit="h", intervention_type="zero")],
         top=dict(unit_locations={"base": [loc([1, 2], [3, 0])]}),
         description="Zero heads 1,2 (example 0) / 3,0 (example 1) of GPT-2 head_query_output L0 at every "
                     "position: the first third of the fused c_attn output, split into 4 heads"),
    dict(name="llama_hpos_vanilla_head_value_output_gqa", family="llama", models=LLAMA, form="list",
         sources=[22],
         reprs=[dict(layer=1, component="head_value_output", unit="h.pos", intervention_type="vanilla")],
         top=dict(unit_locations={"sources->base": [[[loc([1], [0]), loc([2, 3], [4, 5])]],
                                                    [[loc([1], [0]), loc([4, 5], [0, 1])]]]}),
         description="GQA: h.pos interchange at Llama head_value_output L1 (v_proj output, 2 key/value heads of "
                     "16): kv head 1 / 0, two positions per example"),
    dict(name="llama_iti_addition_heads", family="llama", models=LLAMA, form="list",
         reprs=[dict(layer=1, component="head_attention_value_output", unit="h",
                     intervention_type="AdditionIntervention")],
         weights={0: vec(109, n=16)},
         top=dict(unit_locations={"base": [0, 2, 3]}),
         description="ITI-style steering: add a 16-d (head_dim) vector to heads 0,2,3 of Llama "
                     "head_attention_value_output L1 (o_proj input) at every position (flat shorthand: the same "
                     "heads for every example)"),
    dict(name="gpt2_hpos_collect_max1_quirk", family="gpt2", models=GPT2, form="list",
         reprs=[dict(layer=0, component="head_attention_value_output", unit="h.pos", intervention_type="collect")],
         top=dict(unit_locations={"base": [[loc([0, 3], [1, 2]), loc([2], [4])]]}),
         description="Collect at h.pos (2 heads x 1 position) with max_number_of_units=1: pyvene flattens "
                     "(b,2,1,16) to (b,1,32), keeps [..., :16] and views it as (b,2,1,8): the first head, split"),
    dict(name="llama_h_collect_head_key_output", family="llama", models=LLAMA, form="list",
         reprs=[dict(layer=0, component="head_key_output", unit="h", max_number_of_units=2,
                     intervention_type="collect")],
         top=dict(unit_locations={"base": [loc([1, 0], [0, 1])]}),
         description="Collect both key/value heads of Llama head_key_output L0 (k_proj output, pre-RoPE) at every "
                     "position, max_number_of_units=2: collected.0 is [2,2,6,16]"),
    dict(name="llama_hpos_vanilla_subspaces_head_query_output", family="llama", models=LLAMA, form="list",
         sources=[21],
         reprs=[dict(layer=0, component="head_query_output", unit="h.pos", intervention_type="vanilla")],
         top=dict(unit_locations={"sources->base": [[[loc([3], [3]), loc([1], [1])]],
                                                    [[loc([2], [2]), loc([4], [4])]]]},
                  subspaces=list(range(0, 8))),
         description="Interchange dims 0..7 of one head (source head 3 -> base head 2) of Llama head_query_output "
                     "L0 at source position 1 -> base position 4"),
    dict(name="llama_h_zero_and_addition_two_heads", family="llama", models=LLAMA, form="list",
         reprs=[dict(layer=1, component="head_attention_value_output", unit="h", intervention_type="zero"),
                dict(layer=1, component="head_attention_value_output", unit="h", intervention_type="addition",
                     source_representation=vec(110, n=16))],
         top=dict(unit_locations={"base": [loc([0], [1]), loc([2], [3])]}),
         description="Two interventions on one site, different heads: Zero head 0/1 and Add a 16-d vector to "
                     "head 2/3 of Llama head_attention_value_output L1"),
    dict(name="llama_hpos_skip_head_query_output", family="llama", models=LLAMA, form="list", sources=["base"],
         reprs=[dict(layer=0, component="head_query_output", unit="h.pos", intervention_type="skip")],
         top=dict(unit_locations={"sources->base": [[[loc([1], [2]), loc([3], [3])]],
                                                    [[loc([1], [2]), loc([3], [3])]]]}),
         description="SkipIntervention at h.pos of Llama head_query_output L0: head 1/2 at position 3 of the "
                     "q_proj output := the same head of q_proj's input (the source is the base input)"),
    dict(name="gpt2_hpos_vanilla_constant_head_key_output", family="gpt2", models=GPT2, form="list",
         reprs=[dict(layer=1, component="head_key_output", unit="h.pos", intervention_type="vanilla",
                     source_representation=vec(111, n=16))],
         top=dict(unit_locations={"base": [[loc([3], [0]), loc([2, 5], [1, 4])]]}),
         description="Constant-source interchange at h.pos of GPT-2 head_key_output L1 (middle third of c_attn): "
                     "head 3/0, positions 2,5 / 1,4 := a fixed 16-d vector"),
    dict(name="llama_h_subtraction_head_query_output", family="llama", models=LLAMA, form="list",
         reprs=[dict(layer=1, component="head_query_output", unit="h", intervention_type="subtraction",
                     source_representation=vec(112, n=16, scale=0.5))],
         top=dict(unit_locations={"base": [1, 3, 2]}),
         description="Subtract a 16-d vector from heads 1,3,2 of Llama head_query_output L1 at every position"),
    dict(name="gpt2_hpos_vanilla_runtime_activation", family="gpt2", models=GPT2, form="list",
         reprs=[dict(layer=0, component="head_attention_value_output", unit="h.pos",
                     intervention_type="vanilla")],
         runtime_activation={0: (B, 2, 1, 16)},
         top=dict(unit_locations={"base": [[loc([0, 1], [2, 3]), loc([3], [5])]]}),
         description="h.pos interchange with the source activation given at run time (input "
                     "source_representations.0, [2,2,1,16] = [batch, heads, positions, head_dim])"),
    dict(name="gpt2_hpos_collect_runtime_locations", family="gpt2", models=GPT2, form="list",
         reprs=[dict(layer=0, component="head_attention_value_output", unit="h.pos", max_number_of_units=2,
                     intervention_type="collect")],
         top=dict(unit_locations="runtime"),
         runtime_head_locations={0: (None, (loc([0, 3], [1, 2]), loc([1, 2, 3], [0, 4, 5])))},
         description="Collect at h.pos with heads and positions given at run time (2 heads x 3 positions per "
                     "example), max_number_of_units=2: collected.0 is [2,2,3,16]"),
    dict(name="gpt2_hpos_vanilla_runtime_locations", family="gpt2", models=GPT2, form="list", sources=[22],
         reprs=[dict(layer=1, component="head_value_output", unit="h.pos", intervention_type="vanilla")],
         runtime_head_locations={0: ((loc([2], [0]), loc([1], [3])), (loc([2], [3]), loc([4], [2])))},
         description="h.pos interchange at GPT-2 head_value_output L1 (last third of c_attn) with heads and "
                     "positions given at run time: int64 inputs unit_locations.0.source.heads / .source / "
                     ".base.heads / .base, each [batch, units]"),
    dict(name="gpt2_vanilla_whole_block_output", family="gpt2", models=GPT2, form="list", sources=[21],
         reprs=[dict(layer=0, component="block_output", unit="pos", intervention_type="vanilla")],
         top=dict(unit_locations=None),
         description="Interchange the whole tensor of GPT-2 block_output L0 ('unit_locations': null, pyvene's "
                     "None): every position of the base takes the source run's activation"),
    dict(name="llama_vanilla_whole_mlp_output", family="llama", models=LLAMA, form="list", sources=[21],
         reprs=[dict(layer=1, component="mlp_output", unit="pos", intervention_type="VanillaIntervention")],
         top=dict(unit_locations=None),
         description="Interchange the whole tensor of Llama mlp_output L1 ('unit_locations': null)"),
    dict(name="gpt2_vanilla_whole_subspaces", family="gpt2", models=GPT2, form="list", sources=[22],
         reprs=[dict(layer=1, component="block_output", unit="pos", intervention_type="vanilla")],
         top=dict(unit_locations=None, subspaces=list(range(8, 24))),
         description="Interchange dims 8..23 (flat-list subspaces) of GPT-2 block_output L1 on the whole tensor "
                     "('unit_locations': null)"),
]



def component_case(family, component, kind, layer, note, vector=None, sources=None, top=None):
    """One intervention at one abstract component: each entry of a family's component map gets a recorded case."""
    r = dict(layer=layer, component=component, unit="pos", intervention_type=kind)
    if vector is not None:
        r["source_representation"] = vector
    return dict(name=f"{family}_component_{component}_{kind}", family=family, models=GPT2 if family == "gpt2" else LLAMA,
                form="list", sources=sources, reprs=[r], top=top or {},
                description=f"{kind} at {family} {component} L{layer}: {note}")


CASES += [
    component_case("gpt2", "query_output", "vanilla", 1, "first third of the fused c_attn output, source position 2 -> "
                   "base 4", sources=[21], top=dict(unit_locations={"sources->base": [2, 4]})),
    component_case("gpt2", "key_output", "zero", 0, "middle third of c_attn, position 3",
                   top=dict(unit_locations={"base": 3})),
    component_case("gpt2", "value_output", "addition", 1, "last third of c_attn, positions 1,3,5",
                   vector=vec(120), top=dict(unit_locations={"base": [1, 3, 5]})),
    component_case("gpt2", "attention_value_output", "vanilla", 0, "c_proj input (dynamo: only [b,s,4,16], merged)",
                   sources=[22], top=dict(unit_locations={"sources->base": [[loc([1], [2])], [loc([3], [0])]]})),
    component_case("gpt2", "attention_weight", "zero", 1, "attn_dropout input = the Softmax (b,h,s,s); pyvene's pos "
                   "unit gathers axis 1, so location 2 is head 2", top=dict(unit_locations={"base": 2})),
    component_case("gpt2", "mlp_activation", "zero", 0, "mlp.act output (256 wide), position 4",
                   top=dict(unit_locations={"base": 4})),
    component_case("gpt2", "mlp_input", "addition", 1, "mlp pre-hook (ln_2 output), every position",
                   vector=vec(121, scale=0.5)),
    component_case("gpt2", "attention_input", "subtraction", 0, "attn pre-hook (ln_1 output), position 0",
                   vector=vec(122, scale=0.5), top=dict(unit_locations={"base": 0})),
    component_case("llama", "query_output", "vanilla", 0, "q_proj output (pre-RoPE), source 1 -> base 3",
                   sources=[21], top=dict(unit_locations={"sources->base": [1, 3]})),
    component_case("llama", "key_output", "vanilla", 1, "k_proj output, 32 wide under GQA (2 kv heads of 16)",
                   sources=[22], top=dict(unit_locations={"sources->base": [[loc([0], [5])], [loc([2], [2])]]})),
    component_case("llama", "value_output", "zero", 0, "v_proj output (32 wide), positions 2,4,5",
                   top=dict(unit_locations={"base": [2, 4, 5]})),
    component_case("llama", "attention_value_output", "addition", 1, "o_proj input, position 5",
                   vector=vec(123), top=dict(unit_locations={"base": 5})),
    component_case("llama", "mlp_activation", "zero", 1, "act_fn output (before the up_proj product), 128 wide",
                   top=dict(unit_locations={"base": 1})),
    component_case("llama", "mlp_input", "vanilla", 0, "mlp pre-hook, source 4 -> base 4", sources=[21],
                   top=dict(unit_locations={"sources->base": 4})),
    component_case("llama", "attention_input", "zero", 1, "self_attn pre-hook, every position"),
    component_case("llama", "block_input", "vanilla", 1, "layer pre-hook, source 0 -> base 2", sources=[22],
                   top=dict(unit_locations={"sources->base": [0, 2]})),
]


# ----------------------------------------------------------------------------------------------------------------
# schema construction (pvc form) and translation to pyvene calls
# ----------------------------------------------------------------------------------------------------------------
def dict_schema(case):
    """The schema in dict form (list or single), before any pyvene run."""
    if case["form"] == "single":
        schema = dict(case["single"])
    else:
        schema = {"model_type": case["family"]} if case["family"] != "mlp" else {}
        schema["representations"] = [dict(r) for r in case["reprs"]]
    schema.update(case.get("top", {}))
    if case.get("weights"):
        schema["weights"] = "weights.safetensors"
    return json.loads(json.dumps(schema))


def intervention_class(name):
    return INTERVENTIONS[SHORT.get(name, name)]


def pyvene_model(schema, weights, model):
    """Build the IntervenableModel a dict-form schema describes."""
    if "representations" not in schema:  # single-dict form, README style: an intervention *instance*
        return pv.IntervenableModel(
            {"component": schema["component"], "intervention": intervention_class(schema["intervention"])()}, model)
    reprs = []
    for i, r in enumerate(schema["representations"]):
        kw = {k: v for k, v in r.items()}
        kw["intervention_type"] = intervention_class(kw["intervention_type"])
        if i in weights:
            kw["source_representation"] = torch.tensor(weights[i], dtype=torch.float32)
        elif kw.get("source_representation") is not None:
            kw["source_representation"] = torch.tensor(kw["source_representation"], dtype=torch.float32)
        reprs.append(pv.RepresentationConfig(**kw))
    return pv.IntervenableModel(pv.IntervenableConfig(representations=reprs, mode=schema.get("mode", "parallel")),
                                model)


def base_input(family):
    return lm_input_ids() if family != "mlp" else mlp_input()


def source_input(family, seed):
    if seed == "base":
        return base_input(family)
    return source_ids(seed) if family != "mlp" else mlp_input(seed)


def forward_args(case, schema):
    """pyvene forward() kwargs + the pvc run-time inputs (name -> tensor)."""
    in_name, _ = FAMILY[case["family"]]
    base = base_input(case["family"])
    inputs = {in_name: base}
    kwargs = dict(base={in_name: base}, return_dict=True, output_original_output=bool(case.get("original")))
    if case.get("sources"):
        srcs, g = [], 0
        for s in case["sources"]:
            if s is None:
                srcs.append(None)
                continue
            t = source_input(case["family"], s)
            inputs[f"source.{g}.{in_name}"] = t
            srcs.append({in_name: t})
            g += 1
        kwargs["sources"] = srcs
    if "unit_locations" in schema:
        kwargs["unit_locations"] = schema["unit_locations"]
    if "subspaces" in schema:
        kwargs["subspaces"] = schema["subspaces"]
    if case.get("runtime_locations"):
        n = len(schema["representations"])
        src_side, base_side = [None] * n, [None] * n
        for i, (s, b) in case["runtime_locations"].items():
            src_side[i], base_side[i] = s, b
            if s is not None:
                inputs[f"unit_locations.{i}.source"] = torch.tensor(s, dtype=torch.int64)
            inputs[f"unit_locations.{i}.base"] = torch.tensor(b, dtype=torch.int64)
        if all(x is None for x in src_side):
            kwargs["unit_locations"] = {"base": base_side}
        else:
            kwargs["unit_locations"] = {"sources->base": (src_side, base_side)}
    if case.get("runtime_head_locations"):
        n = len(schema["representations"])
        src_side, base_side = [None] * n, [None] * n
        for i, (src, (bh, bp)) in case["runtime_head_locations"].items():
            src_side[i], base_side[i] = (None if src is None else list(src)), [bh, bp]
            for side, locs in (("source", src), ("base", (bh, bp))):
                if locs is not None:
                    inputs[f"unit_locations.{i}.{side}.heads"] = torch.tensor(locs[0], dtype=torch.int64)
                    inputs[f"unit_locations.{i}.{side}"] = torch.tensor(locs[1], dtype=torch.int64)
        if all(x is None for x in src_side):
            kwargs["unit_locations"] = {"base": base_side}
        else:
            kwargs["unit_locations"] = {"sources->base": (src_side, base_side)}
    if case.get("runtime_activation"):
        g = torch.Generator().manual_seed(hash_name(case["name"]))
        acts = []
        for i in range(len(schema["representations"])):
            shape = case["runtime_activation"].get(i)
            t = None if shape is None else torch.randn(*shape, generator=g)
            if t is not None:
                inputs[f"source_representations.{i}"] = t
            acts.append(t)
        kwargs["source_representations"] = acts
    return kwargs, inputs


def hash_name(name):
    return sum((i + 1) * ord(c) for i, c in enumerate(name))  # stable across runs (unlike hash())


def run_pyvene(pv_model, kwargs, family):
    _, out_name = FAMILY[family]
    with torch.no_grad():
        res = pv_model(**kwargs)
    pick = (lambda o: o.logits) if family != "mlp" else (lambda o: o)
    expected = {out_name: to_np(pick(res.intervened_outputs))}
    if kwargs.get("output_original_output"):
        expected[f"original.{out_name}"] = to_np(pick(res.original_outputs))
    if res.collected_activations is not None:
        collect_idx = [i for i, k in enumerate(pv_model.sorted_keys)
                       if isinstance(pv_model.interventions[k], pv.CollectIntervention)]
        assert len(collect_idx) == len(res.collected_activations)
        for i, t in zip(collect_idx, res.collected_activations):
            expected[f"collected.{i}"] = to_np(t)
    return expected


# ----------------------------------------------------------------------------------------------------------------
# driver
# ----------------------------------------------------------------------------------------------------------------
def _dumps(obj, indent=0):
    """JSON with dicts indented and lists that hold no dict kept on one line (readable nested locations)."""
    pad = "  " * (indent + 1)
    if isinstance(obj, dict) and obj:
        items = [f"{pad}{json.dumps(k)}: {_dumps(v, indent + 1)}" for k, v in obj.items()]
        return "{\n" + ",\n".join(items) + "\n" + "  " * indent + "}"
    if isinstance(obj, list) and any(isinstance(v, dict) for v in obj):
        return "[\n" + ",\n".join(pad + _dumps(v, indent + 1) for v in obj) + "\n" + "  " * indent + "]"
    return json.dumps(obj)


def write_json(path, obj):
    with open(path, "w") as f:
        f.write(_dumps(obj) + "\n")


def np_dict(d):
    return {k: (to_np(v) if isinstance(v, torch.Tensor) else np.ascontiguousarray(v)) for k, v in d.items()}


def make_case(out_root, case, models):
    model = models[case["family"]]
    d = os.path.join(out_root, "cases", case["name"])
    if os.path.exists(d):
        shutil.rmtree(d)
    os.makedirs(d)
    schema = dict_schema(case)
    weights = {i: v for i, v in case.get("weights", {}).items()}
    if weights:
        save_file({f"{i}.source_representation": np.asarray(v, dtype=np.float32) for i, v in weights.items()},
                  os.path.join(d, "weights.safetensors"))

    pv_model = pyvene_model(schema, weights, model)
    kwargs, inputs = forward_args(case, schema)
    expected = run_pyvene(pv_model, kwargs, case["family"])
    note = ""
    if case.get("save"):
        save_dir = os.path.join(d, "pyvene_save")
        pv_model.save(save_dir)
        with open(os.path.join(save_dir, "config.json")) as f:
            saved = json.load(f)
        extras = {k: schema[k] for k in ("unit_locations", "subspaces", "weights") if k in schema}
        schema = {**saved, **extras}  # form (a): pyvene's config.json as written, plus pvc keys
        # check: pyvene's own load of that directory reproduces the numbers
        reloaded = pv.IntervenableModel.load(save_dir, model)
        again = run_pyvene(reloaded, forward_args(case, schema)[0], case["family"])
        note = " reload-diff=%.1e" % max(float(np.abs(again[k] - expected[k]).max()) for k in expected)
    write_json(os.path.join(d, "schema.json"), schema)
    save_file(np_dict(inputs), os.path.join(d, "inputs.safetensors"))
    save_file(expected, os.path.join(d, "expected.safetensors"))
    out_name = FAMILY[case["family"]][1]
    base_out = models["_plain"][case["family"]]
    changed = float(np.abs(expected[out_name] - base_out).max())
    write_json(os.path.join(d, "case.json"), {
        "models": case["models"], "schema": "schema.json", "inputs": "inputs.safetensors",
        "expected": "expected.safetensors", "original": bool(case.get("original")),
        "description": case["description"]})
    return f"max|intervened - plain|={changed:.3g}{note}"


def make_cases(out_root, models, only=None):
    pv.type_to_dimension_mapping.setdefault(TinyMLP, {})  # pyvene KeyErrors on unregistered model types
    report = {}
    for case in CASES:
        if only and case["name"] not in only:
            continue
        try:
            report[case["name"]] = make_case(out_root, case, models)
        except Exception as e:  # record, don't invent numbers
            report[case["name"]] = f"PYVENE ERROR {type(e).__name__}: {e}"
            shutil.rmtree(os.path.join(out_root, "cases", case["name"]), ignore_errors=True)
    return report
