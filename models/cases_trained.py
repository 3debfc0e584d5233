"""pyvene 0.1.8 parity cases for pvc's trained interventions, fed to pvc from pyvene's own save directory.

Each case builds an IntervenableModel with one trained intervention, gives it seeded random weights with a large
effect on the logits (for orthogonal parametrizations: a random `original`, so R = base @ map(original) is far from
the initial rotation), runs pyvene's forward, saves with `pv_model.save(<case>/pyvene_save)`, and checks that
`IntervenableModel.load` of that directory gives the same numbers (recorded in case.json as `reload_diff`, or the
reason pyvene cannot reload it).  case.json's "schema" is the save directory and "call" the call-time arguments
(unit_locations, subspaces) that pvc takes as overrides.  Imported by generate.py.
"""
import json
import os
import shutil
import types

import numpy as np
import pyvene as pv
import torch
from safetensors.numpy import save_file

from pvc_fixtures import BATCH, lm_input_ids
import pvc_cases as C

B = BATCH
GPT2 = ["gpt2_legacy.onnx", "gpt2_dynamo.onnx"]
LLAMA = ["llama_legacy.onnx", "llama_dynamo.onnx"]


def same(*units):
    """One intervention's [batch][units] locations, the same for every example."""
    return [list(units) for _ in range(B)]


def pair(src, base):
    return {"sources->base": [[src], [base]]}


def heads_pos(heads, positions):
    return [[list(heads) for _ in range(B)], [list(positions) for _ in range(B)]]


def randn(g, *shape, scale=1.0):
    return torch.randn(*shape, generator=g) * scale


def set_rotation(it, g, scale):
    """A random point of torch's orthogonal parametrization: `original` random (Householder: keep its +-1
    diagonal, randomise below it)."""
    orig = it.rotate_layer.parametrizations.weight.original
    with torch.no_grad():
        x = randn(g, *orig.shape, scale=scale)
        if orig.shape[0] != orig.shape[1]:
            diag = torch.zeros_like(orig)
            diag.diagonal().copy_(orig.diagonal())
            x = torch.tril(x, diagonal=-1) + diag
        orig.copy_(x)


def weights_das(it, g):
    set_rotation(it, g, 0.3)


def weights_boundless(it, g):
    set_rotation(it, g, 0.3)
    with torch.no_grad():
        it.intervention_boundaries.fill_(0.4)
        it.temperature.fill_(2.0)


def weights_sigmoid_rotated(it, g):
    set_rotation(it, g, 0.3)
    with torch.no_grad():
        it.masks.copy_(randn(g, it.masks.shape[0], scale=3.0))
        it.temperature.fill_(1.5)


def weights_sigmoid_mask(it, g):
    with torch.no_grad():
        it.mask.copy_(randn(g, it.mask.shape[0], scale=2.0))
        it.temperature.fill_(0.5)


def weights_autoencoder(it, g):
    with torch.no_grad():
        for p in it.autoencoder.parameters():
            p.copy_(randn(g, *p.shape, scale=0.3))


def weights_jumprelu(it, g):
    n, r = it.W_enc.shape
    with torch.no_grad():
        it.W_enc.copy_(randn(g, n, r, scale=0.4))
        it.W_dec.copy_(randn(g, r, n, scale=0.4))
        it.b_enc.copy_(randn(g, r, scale=0.2))
        it.b_dec.copy_(randn(g, n, scale=0.2))
        it.threshold.copy_(torch.rand(r, generator=g) * 0.5)


def pca_intervention(n, k, seed):
    """PCARotatedSpaceIntervention takes an sklearn-style object with `components_`: k orthonormal rows."""
    g = torch.Generator().manual_seed(seed)
    q, _ = torch.linalg.qr(torch.randn(n, k, generator=g))
    pca = types.SimpleNamespace(components_=q.T.numpy())
    mean = (torch.randn(n, generator=g) * 0.1).numpy()
    std = (torch.rand(n, generator=g) + 0.5).numpy()
    return pv.PCARotatedSpaceIntervention(embed_dim=n, pca=pca, pca_mean=mean, pca_std=std)


CASES = [
    dict(name="gpt2_das_block_output", family="gpt2", models=GPT2, cls=pv.RotatedSpaceIntervention,
         repr=dict(layer=0, component="block_output", unit="pos"), set=weights_das, interchange_dim=16,
         call=dict(unit_locations=pair(same(3), same(3))), sources=[21],
         description="DAS: RotatedSpace at GPT-2 block_output L0, position 3 <- source 3, first 16 rotated dims "
                     "(set_interchange_dim(16)); R = base @ matrix_exp(original)"),
    dict(name="llama_das_partition", family="llama", models=LLAMA, cls=pv.RotatedSpaceIntervention,
         repr=dict(layer=1, component="block_output", unit="pos", subspace_partition=[[0, 8], [8, 24], [24, 64]]),
         set=weights_das, call=dict(unit_locations=pair(same(1), same(4)), subspaces=[[[1], [1]]]), sources=[22],
         description="DAS at Llama block_output L1, source 1 -> base 4, subspace 1 of partition [[0,8],[8,24],[24,64]]"),
    dict(name="gpt2_das_heads_flattened", family="gpt2", models=GPT2, cls=pv.RotatedSpaceIntervention,
         repr=dict(layer=1, component="head_attention_value_output", unit="h.pos", max_number_of_units=2),
         set=weights_das,
         call=dict(unit_locations={"sources->base": [[heads_pos([0, 2], [2])], [heads_pos([0, 2], [4])]]}),
         sources=[21],
         description="DAS at GPT-2 heads 0 and 2 (h.pos, max_number_of_units=2): pyvene flattens (b,2,1,16) to "
                     "(b,1,32), R is 32x32"),
    dict(name="llama_autoencoder_two_units", family="llama", models=LLAMA, cls=pv.AutoencoderIntervention,
         repr=dict(layer=0, component="block_output", unit="pos", max_number_of_units=2, latent_dim=8),
         set=weights_autoencoder, interchange_dim=[0, 2, 3, 6], call=dict(unit_locations=pair(same(0, 3), same(1, 5))),
         sources=[21],
         description="Autoencoder (8 latents) at Llama block_output L0 over 2 positions: pyvene flattens (b,2,64) to "
                     "(b,128); latents 0,2,3,6 from the source"),
    dict(name="gpt2_lowrank_mlp_output", family="gpt2", models=GPT2, cls=pv.LowRankRotatedSpaceIntervention,
         repr=dict(layer=1, component="mlp_output", unit="pos", low_rank_dimension=4), set=weights_das,
         call=dict(unit_locations=pair(same(2), same(5))), sources=[22],
         description="Low-rank DAS (r=4, Householder parametrization, column-major base) at GPT-2 mlp_output L1"),
    dict(name="llama_lowrank_subspaces", family="llama", models=LLAMA, cls=pv.LowRankRotatedSpaceIntervention,
         repr=dict(layer=1, component="mlp_output", unit="pos", low_rank_dimension=8), set=weights_das,
         call=dict(unit_locations=pair(same(3), same(3)), subspaces=[[[0, 2, 5], [0, 2, 5]]]), sources=[21],
         description="Low-rank DAS (r=8) at Llama mlp_output L1 with subspaces [0,2,5] of the 8 columns"),
    dict(name="gpt2_boundless_block_output", family="gpt2", models=GPT2, cls=pv.BoundlessRotatedSpaceIntervention,
         repr=dict(layer=1, component="block_output", unit="pos"), set=weights_boundless,
         call=dict(unit_locations=pair(same(1), same(2))), sources=[21],
         description="Boundless DAS at GPT-2 block_output L1: boundary 0.4, temperature 2"),
    dict(name="llama_sigmoid_mask_rotated", family="llama", models=LLAMA, cls=pv.SigmoidMaskRotatedSpaceIntervention,
         repr=dict(layer=0, component="block_output", unit="pos"), set=weights_sigmoid_rotated,
         call=dict(unit_locations=pair(same(2), same(2))), sources=[22],
         description="SigmoidMaskRotatedSpace at Llama block_output L0: random masks, temperature 1.5"),
    dict(name="gpt2_sigmoid_mask_whole", family="gpt2", models=GPT2, cls=pv.SigmoidMaskIntervention,
         repr=dict(layer=0, component="mlp_output", unit="pos"), set=weights_sigmoid_mask,
         call=dict(unit_locations=None), sources=[21],
         description="SigmoidMask (Localist, not flattened) on the whole tensor of GPT-2 mlp_output L0"),
    dict(name="llama_pca_block_output", family="llama", models=LLAMA, pca=(64, 16), cls=pv.PCARotatedSpaceIntervention,
         repr=dict(layer=1, component="block_output", unit="pos"), interchange_dim=6,
         call=dict(unit_locations=pair(same(0), same(5))), sources=[21],
         description="PCA basis (16 components) at Llama block_output L1, first 6 components; pyvene saves no .bin "
                     "for it, so its tensors are in weights.safetensors"),
    dict(name="gpt2_autoencoder_block_output", family="gpt2", models=GPT2, cls=pv.AutoencoderIntervention,
         repr=dict(layer=1, component="block_output", unit="pos", latent_dim=24), set=weights_autoencoder,
         interchange_dim=[0, 3, 7, 11, 20], call=dict(unit_locations=pair(same(4), same(4))), sources=[22],
         description="Autoencoder (24 latents) at GPT-2 block_output L1, latents 0,3,7,11,20 from the source"),
    dict(name="gpt2_autoencoder_whole", family="gpt2", models=GPT2, cls=pv.AutoencoderIntervention,
         repr=dict(layer=1, component="mlp_output", unit="pos", latent_dim=4, max_number_of_units=6),
         set=weights_autoencoder, interchange_dim=[1, 3], call=dict(unit_locations=None), sources=[21],
         description="Autoencoder on the whole GPT-2 mlp_output L1 tensor (max_number_of_units=6 = the sequence): "
                     "pyvene flattens (b,6,64) to (b,384)"),
    dict(name="llama_jumprelu_mlp_output", family="llama", models=LLAMA, cls=pv.JumpReLUAutoencoderIntervention,
         repr=dict(layer=0, component="mlp_output", unit="pos", low_rank_dimension=96), set=weights_jumprelu,
         call=dict(unit_locations=pair(same(1, 3), same(2, 4))), sources=[22],
         description="JumpReLU SAE (96 latents, keep_last_dim) at Llama mlp_output L0, 2 positions; interchange_dim "
                     "defaults to 64, so latents 0..63 come from the source"),
    dict(name="gpt2_jumprelu_heads", family="gpt2", models=GPT2, cls=pv.JumpReLUAutoencoderIntervention,
         repr=dict(layer=0, component="head_attention_value_output", unit="h", low_rank_dimension=24),
         set=weights_jumprelu, call=dict(unit_locations={"sources->base": [[same(1)], [same(3)]]}, subspaces=[[[2, 5, 9, 17], [2, 5, 9, 17]]]),
         sources=[21],
         description="JumpReLU SAE (24 latents) on GPT-2 head 3 <- source head 1 (unit h), latents 2,5,9,17"),
    dict(name="llama_boundless_shorthand", family="llama", models=LLAMA, cls=pv.BoundlessRotatedSpaceIntervention,
         repr=dict(layer=1, component="mlp_output", unit="pos"), set=weights_boundless,
         call=dict(unit_locations={"sources->base": [1, 5]}), sources=[21],
         description="Boundless DAS at Llama mlp_output L1 with pyvene's (source, base) pair shorthand [1, 5]: "
                     "batch-agnostic, so the source keeps its own batch symbol"),
    dict(name="gpt2_das_heads_shorthand", family="gpt2", models=GPT2, cls=pv.RotatedSpaceIntervention,
         repr=dict(layer=0, component="head_attention_value_output", unit="h", max_number_of_units=3),
         set=weights_das, interchange_dim=20, call=dict(unit_locations={"sources->base": [0, 1, 3]}), sources=[22],
         description="DAS over GPT-2 heads 0,1,3 at every position (unit h, flat-list shorthand, "
                     "max_number_of_units=3): (b,3,s,16) flattened to (b,s,48), first 20 rotated dims"),
    dict(name="llama_saelens_jumprelu", family="llama", models=LLAMA, cls=pv.JumpReLUAutoencoderIntervention,
         repr=dict(layer=1, component="block_output", unit="pos", low_rank_dimension=48), set=weights_jumprelu,
         call=dict(unit_locations=pair(same(2), same(2)), subspaces=[[[0, 5, 9, 30], [0, 5, 9, 30]]]), sources=[22],
         sae="jumprelu",
         description="A SAELens-style JumpReLU SAE directory (cfg.json + sae_weights.safetensors, 48 features) as "
                     "the weights of JumpReLUAutoencoderIntervention at Llama block_output L1; features 0,5,9,30 "
                     "from the source"),
    dict(name="gpt2_saelens_relu", family="gpt2", models=GPT2, cls=pv.AutoencoderIntervention,
         repr=dict(layer=0, component="block_output", unit="pos", latent_dim=32), set=weights_autoencoder,
         interchange_dim=[1, 4, 17], call=dict(unit_locations=pair(same(3), same(1))), sources=[21], sae="standard",
         description="A SAELens-style standard (ReLU, apply_b_dec_to_input) SAE directory as the weights of "
                     "AutoencoderIntervention at GPT-2 block_output L0; features 1,4,17 from the source"),
]


def write_saelens(d, it, arch, hook):
    """The intervention's weights as SAELens keeps an SAE: cfg.json + sae_weights.safetensors."""
    os.makedirs(d)
    if arch == "jumprelu":
        t = {k: C.to_np(getattr(it, k)) for k in ("W_enc", "W_dec", "b_enc", "b_dec", "threshold")}
    else:
        enc, dec = it.autoencoder.encoder[0], it.autoencoder.decoder[0]
        t = {"W_enc": C.to_np(enc.weight.T.contiguous()), "W_dec": C.to_np(dec.weight.T.contiguous()),
             "b_enc": C.to_np(enc.bias), "b_dec": C.to_np(dec.bias)}
    n, r = t["W_enc"].shape
    save_file(t, os.path.join(d, "sae_weights.safetensors"))
    C.write_json(os.path.join(d, "cfg.json"), {"architecture": arch, "d_in": int(n), "d_sae": int(r), "dtype": "float32",
                                               "apply_b_dec_to_input": arch == "standard", "hook_name": hook})


def sae_schema(case):
    r = dict(case["repr"], intervention_type=case["cls"].__name__, sae="sae")
    if case.get("interchange_dim") is not None:
        r["interchange_dim"] = case["interchange_dim"]
    return {"model_type": case["family"], "representations": [r], **case["call"]}


def key_of(pv_model):
    (key,) = pv_model.sorted_keys
    return key


def build(case, model):
    r = dict(case["repr"])
    if case.get("pca"):
        r["intervention"] = pca_intervention(*case["pca"], seed=C.hash_name(case["name"]))
    else:
        r["intervention_type"] = case["cls"]
    cfg = pv.IntervenableConfig(representations=[pv.RepresentationConfig(**r)])
    pv_model = pv.IntervenableModel(cfg, model)
    it = pv_model.interventions[key_of(pv_model)]
    if case.get("set"):
        case["set"](it, torch.Generator().manual_seed(C.hash_name(case["name"])))
    if case.get("interchange_dim") is not None:
        it.set_interchange_dim(case["interchange_dim"])
    return pv_model


def forward_kwargs(case, call):
    base = lm_input_ids()
    kwargs = dict(base={"input_ids": base}, return_dict=True, output_original_output=False)
    inputs = {"input_ids": base}
    srcs = []
    for g, s in enumerate(case["sources"]):
        t = lm_input_ids(s)
        inputs[f"source.{g}.input_ids"] = t
        srcs.append({"input_ids": t})
    if srcs:
        kwargs["sources"] = srcs
    kwargs["unit_locations"] = call.get("unit_locations")
    if "subspaces" in call:
        kwargs["subspaces"] = call["subspaces"]
    return kwargs, inputs


def make_case(out_root, case, models, build=build):
    model = models[case["family"]]
    d = os.path.join(out_root, "cases", case["name"])
    shutil.rmtree(d, ignore_errors=True)
    os.makedirs(d)
    call = json.loads(json.dumps(case["call"]))
    torch.manual_seed(C.hash_name(case["name"]))  # each case alone: the same bytes whichever cases run
    pv_model = build(case, model)
    kwargs, inputs = forward_kwargs(case, call)
    expected = C.run_pyvene(pv_model, kwargs, case["family"])
    save_dir = os.path.join(d, "pyvene_save")
    it = pv_model.interventions[key_of(pv_model)]
    schema = "pyvene_save"
    if case.get("sae"):
        write_saelens(os.path.join(d, "sae"), it, case["sae"], f"blocks.{case['repr']['layer']}.hook_resid_post")
        C.write_json(os.path.join(d, "schema.json"), sae_schema(case))
        schema, call = "schema.json", {}
        reload = "not saved by pyvene: the schema names the SAE directory"
    else:
        pv_model.save(save_dir)
    if case.get("sae"):
        pass
    elif case.get("pca"):  # pyvene's save writes no .bin for a non-trainable intervention
        save_file({f"0.{k}": C.to_np(v) for k, v in it.state_dict().items() if k.startswith("pca_")},
                  os.path.join(save_dir, "weights.safetensors"))
        call["weights"] = "weights.safetensors"
        reload = "pyvene cannot reload it: PCARotatedSpaceIntervention needs a `pca` object at construction"
    else:
        try:
            again = C.run_pyvene(pv.IntervenableModel.load(save_dir, model), forward_kwargs(case, call)[0],
                                 case["family"])
            reload = float(max(np.abs(again[k] - expected[k]).max() for k in expected))
        except Exception as e:  # record what pyvene does, never invent numbers
            reload = f"pyvene cannot reload it: {type(e).__name__}: {e}"
    save_file(C.np_dict(inputs), os.path.join(d, "inputs.safetensors"))
    save_file(expected, os.path.join(d, "expected.safetensors"))
    changed = float(np.abs(expected["logits"] - models["_plain"][case["family"]]).max())
    C.write_json(os.path.join(d, "case.json"), {
        "models": case["models"], "schema": schema, "call": call, "inputs": "inputs.safetensors",
        "expected": "expected.safetensors", "original": False, "reload_diff": reload,
        "effect": round(changed, 4), "description": case["description"]})
    return f"max|intervened - plain|={changed:.3g} reload={reload}"


def make_cases(out_root, models, only=None):
    report = {"orthogonal.ref.safetensors": f"{make_orthogonal_ref(out_root)} tensors"}
    for case in CASES:
        if only and case["name"] not in only:
            continue
        try:
            report[case["name"]] = make_case(out_root, case, models)
        except Exception as e:
            import traceback
            traceback.print_exc()
            report[case["name"]] = f"PYVENE ERROR {type(e).__name__}: {e}"
            shutil.rmtree(os.path.join(out_root, "cases", case["name"]), ignore_errors=True)
    return report


def make_orthogonal_ref(out_root):
    """models/orthogonal.ref.safetensors: torch's weight for each orthogonal map (matrix_exp, cayley, householder),
    square and tall, with trivialization (a random base) and without, from a random `original`; pvc's f64
    materialization is tested against it."""
    torch.manual_seed(7)  # the Linear inits and trivialization bases draw from the global generator
    g = torch.Generator().manual_seed(7)
    out = {}
    for map_ in ("matrix_exp", "cayley", "householder"):
        for n, k in ((8, 8), (8, 3), (3, 8)):
            for triv in (True, False):
                if not triv and map_ != "householder":
                    continue  # torch cannot assign to matrix_exp/cayley without trivialization
                lin = torch.nn.utils.parametrizations.orthogonal(
                    torch.nn.Linear(k, n, bias=False), orthogonal_map=map_, use_trivialization=triv)
                orig = lin.parametrizations.weight.original
                with torch.no_grad():
                    x = torch.randn(orig.shape, generator=g) * 0.4
                    if map_ == "householder":
                        x = x - torch.diag_embed(torch.diagonal(x)).reshape(x.shape) if x.shape[0] == x.shape[1] else x
                        d = torch.zeros_like(orig)
                        d.diagonal().copy_(torch.randint(0, 2, (min(n, k),), generator=g).float() * 2 - 1)
                        x = torch.tril(x, -1) if n >= k else torch.triu(x, 1)
                        x = x + d
                    orig.copy_(x)
                tag = f"{map_}.{n}x{k}.{'triv' if triv else 'plain'}"
                out[f"{tag}.original"] = orig.detach().numpy().copy()
                if triv:
                    out[f"{tag}.base"] = lin.parametrizations.weight[0].base.detach().contiguous().numpy().copy()
                out[f"{tag}.weight"] = lin.weight.detach().contiguous().numpy().copy()
    save_file(out, os.path.join(out_root, "orthogonal.ref.safetensors"))
    return len(out)
