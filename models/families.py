"""Tiny random-init fixtures for the families beyond gpt2 and llama: one model per family, both exporters.

Imported by generate.py (`--families`).  Each model: hidden 64, 2 layers, vocab 100, 4 heads of 16 and, where the
family has grouped-query attention, 2 key/value heads.  Seeded noise on every parameter (see pvc_fixtures.perturb_).
"""
import os

import torch
import transformers

import pvc_fixtures as F

V = F.VOCAB
COMMON = dict(vocab_size=V, max_position_embeddings=32, use_cache=False, attn_implementation="eager",
              pad_token_id=0, bos_token_id=1, eos_token_id=2)
DECODER = dict(hidden_size=64, num_attention_heads=4, num_key_value_heads=2, num_hidden_layers=2,
               intermediate_size=128, **COMMON)


def _lm(cls, cfg, seed):
    torch.manual_seed(seed)
    return F.perturb_(cls(cfg), seed + 100)


def build_mistral(seed=40):
    return _lm(transformers.MistralForCausalLM, transformers.MistralConfig(sliding_window=None, **DECODER), seed)


def build_qwen2(seed=41):
    return _lm(transformers.Qwen2ForCausalLM, transformers.Qwen2Config(**DECODER), seed)


def build_qwen3(seed=42):
    return _lm(transformers.Qwen3ForCausalLM, transformers.Qwen3Config(head_dim=16, **DECODER), seed)


def build_gemma(seed=43):
    return _lm(transformers.GemmaForCausalLM, transformers.GemmaConfig(head_dim=16, **DECODER), seed)


def build_gemma2(seed=44):
    cfg = transformers.Gemma2Config(head_dim=16, sliding_window=4, query_pre_attn_scalar=16,
                                    **{**DECODER, "intermediate_size": 96})
    return _lm(transformers.Gemma2ForCausalLM, cfg, seed)


def build_olmo(seed=45):
    return _lm(transformers.OlmoForCausalLM, transformers.OlmoConfig(**DECODER), seed)


def build_olmo2(seed=46):
    return _lm(transformers.Olmo2ForCausalLM, transformers.Olmo2Config(**DECODER), seed)


def build_phi3(seed=47):
    cfg = transformers.Phi3Config(original_max_position_embeddings=32, **DECODER)
    return _lm(transformers.Phi3ForCausalLM, cfg, seed)


def build_gpt_neo(seed=48):
    cfg = transformers.GPTNeoConfig(hidden_size=64, num_layers=2, num_heads=4, intermediate_size=128,
                                    attention_types=[[["global", "local"], 1]], window_size=4, **COMMON)
    return _lm(transformers.GPTNeoForCausalLM, cfg, seed)


def build_gpt_neox(seed=49):
    cfg = transformers.GPTNeoXConfig(hidden_size=64, num_attention_heads=4, num_hidden_layers=2,
                                     intermediate_size=128, rotary_pct=0.5, **COMMON)
    return _lm(transformers.GPTNeoXForCausalLM, cfg, seed)


def build_pv_mlp(seed=50):
    from pyvene.models.mlp.modelings_mlp import MLPConfig, MLPModel
    cfg = MLPConfig(h_dim=16, n_layer=2, pdrop=0.0, include_emb=False)
    torch.manual_seed(seed)
    return F.perturb_(MLPModel(cfg), seed + 100)


def build_pv_gru(seed=51):
    from pyvene.models.gru.modelings_gru import GRUConfig, GRUModel
    cfg = GRUConfig(h_dim=16, n_layer=2, pdrop=0.0, include_emb=False)
    torch.manual_seed(seed)
    return F.perturb_(GRUModel(cfg), seed + 100)


LMS = {"mistral": build_mistral, "qwen2": build_qwen2, "qwen3": build_qwen3, "gemma": build_gemma,
       "gemma2": build_gemma2, "olmo": build_olmo, "olmo2": build_olmo2, "phi3": build_phi3,
       "gpt_neo": build_gpt_neo, "gpt_neox": build_gpt_neox}
OTHERS = {"pv_mlp": build_pv_mlp, "pv_gru": build_pv_gru}


def embeds_input(seed=13):
    """pyvene's MLP and GRU models take `inputs_embeds` [batch, seq, 16]."""
    g = torch.Generator().manual_seed(seed)
    return torch.randn(F.BATCH, F.SEQ, 16, generator=g)


def build_models():
    models = {name: build() for name, build in LMS.items()}
    models.update({name: build() for name, build in OTHERS.items()})
    return models


def embeds_output(out):
    """The tensor the exported graph returns: MLPModel's last_hidden_state, GRUModel's hidden_states."""
    return out.hidden_states if out.hidden_states is not None else out.last_hidden_state


def _plain(model, name):
    with torch.no_grad():
        if name in OTHERS:
            return F.to_np(embeds_output(model(inputs_embeds=embeds_input(), return_dict=True)))
        return F.to_np(model(input_ids=F.lm_input_ids()).logits)


def plain_outputs(models):
    return {name: _plain(m, name) for name, m in models.items()}


def _bind_embeds(model):
    cls_forward = type(model).forward

    def forward(inputs_embeds):
        return embeds_output(cls_forward(model, inputs_embeds=inputs_embeds, return_dict=True))
    model.forward = forward


def export_embeds(model, example, path, dynamo):
    _bind_embeds(model)
    try:
        with torch.no_grad():
            if dynamo:
                dims = {0: torch.export.Dim("batch", max=1024), 1: torch.export.Dim("seq", max=32)}
                torch.onnx.export(model, (example,), path, dynamo=True, opset_version=18, external_data=False,
                                  input_names=["inputs_embeds"], output_names=["hidden_states"],
                                  dynamic_shapes={"inputs_embeds": dims}, verbose=False)
            else:
                axes = {0: "batch", 1: "seq"}
                torch.onnx.export(model, (example,), path, dynamo=False, opset_version=17,
                                  input_names=["inputs_embeds"], output_names=["hidden_states"],
                                  dynamic_axes={"inputs_embeds": axes, "hidden_states": axes})
    finally:
        if "forward" in model.__dict__:
            del model.forward
    import onnx
    onnx.checker.check_model(path)


def make_fixtures(out_dir, models, only=None):
    """<family>_legacy.onnx / <family>_dynamo.onnx (+ .ref.safetensors) for every family; returns a report of
    max |onnxruntime - torch| or the exporter's error."""
    report = {}
    for name, model in models.items():
        if name.startswith("_") or (only and name not in only):
            continue
        for flavour, dynamo in (("legacy", False), ("dynamo", True)):
            fx = f"{name}_{flavour}"
            path = os.path.join(out_dir, fx + ".onnx")
            try:
                if name in OTHERS:
                    x = embeds_input()
                    export_embeds(model, x, path, dynamo)
                    ref = _write_embeds_ref(os.path.join(out_dir, fx + ".ref.safetensors"), x, model)
                    diff = F.ort_max_diff(path, {"inputs_embeds": x.numpy()}, ref)
                else:
                    ids = F.lm_input_ids()
                    F.export(model, ids, path, "input_ids", "logits", dynamo)
                    ref = F.write_ref(os.path.join(out_dir, fx + ".ref.safetensors"), "input_ids", ids, "logits",
                                      model)
                    diff = F.ort_max_diff(path, {"input_ids": ids.numpy()}, ref)
                report[fx] = f"{diff} ({os.path.getsize(path)} bytes)"
            except Exception as e:  # the exporter's failure is a result: keep it, write nothing
                for p in (path, os.path.join(out_dir, fx + ".ref.safetensors")):
                    if os.path.exists(p):
                        os.remove(p)
                report[fx] = f"EXPORT FAILED {type(e).__name__}: {str(e).splitlines()[0][:200]}"
    return report


def _write_embeds_ref(path, x, model):
    from safetensors.numpy import save_file
    out, mods = F.record_modules(model, {"inputs_embeds": x, "return_dict": True})
    tensors = {"input.inputs_embeds": F.to_np(x), "output.hidden_states": F.to_np(embeds_output(out))}
    tensors.update(mods)
    save_file(tensors, path)
    return tensors["output.hidden_states"]
