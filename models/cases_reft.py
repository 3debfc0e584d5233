#!/usr/bin/env python3
"""pyreft 0.1.0 parity cases for pvc (LoReFT, NoReFT, ConsReFT, DiReFT, LobiReFT, NodiReFT), saved with pyvene's
`save` into models/cases/<case>/pyvene_save and fed to pvc from there.

pyreft 0.1.0 pins transformers 4.45.1, so these are recorded in an environment of their own, reusing the pinned
torch and pyvene:
    pip install --no-deps --target REFT pyreft==0.1.0 transformers==4.45.1 'tokenizers>=0.20,<0.21'
    PYTHONPATH=REFT /work/pyref/bin/python models/cases_reft.py
Only `pyreft/interventions.py` is loaded (by file, under its own module name `pyreft.interventions`): the package's
`__init__` imports `datasets` and the trainer, which inference does not need.  The fixtures are rebuilt here and
checked against the torch logits recorded with transformers 4.51.3 before anything is written.
"""
import importlib.util
import os
import sys
import warnings

sys.dont_write_bytecode = True
HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
warnings.filterwarnings("ignore")

import numpy as np  # noqa: E402
import torch  # noqa: E402
import transformers  # noqa: E402
import pyvene as pv  # noqa: E402
from safetensors.numpy import load_file  # noqa: E402

import pvc_fixtures as F  # noqa: E402
import pvc_cases as C  # noqa: E402
import cases_trained as T  # noqa: E402


def pyreft_interventions():
    spec = importlib.util.find_spec("pyreft")
    path = os.path.join(os.path.dirname(spec.origin), "interventions.py")
    mod_spec = importlib.util.spec_from_file_location("pyreft.interventions", path)
    mod = importlib.util.module_from_spec(mod_spec)
    sys.modules["pyreft.interventions"] = mod
    mod_spec.loader.exec_module(mod)
    return mod


R = pyreft_interventions()


def linear_(g, lin, scale):
    with torch.no_grad():
        for p in lin.parameters():
            p.copy_(T.randn(g, *p.shape, scale=scale))


def weights_rotated_source(it, g):
    T.set_rotation(it, g, 0.3)
    if isinstance(it.learned_source, torch.nn.Linear):
        linear_(g, it.learned_source, 0.4)
    else:
        with torch.no_grad():
            it.learned_source.copy_(T.randn(g, it.learned_source.shape[0], scale=1.5))


def weights_proj(it, g):
    linear_(g, it.learned_source, 0.4)
    linear_(g, it.proj_layer, 0.4)


def inst(cls, n, r, **kw):
    return lambda: cls(embed_dim=n, low_rank_dimension=r, dtype=torch.float32, **kw)


CASES = [
    dict(name="gpt2_loreft_block_output", family="gpt2", models=T.GPT2, make=inst(R.LoreftIntervention, 64, 4),
         repr=dict(layer=1, component="block_output", unit="pos", low_rank_dimension=4), set=weights_rotated_source,
         call=dict(unit_locations={"base": [[[0, 2, 5]] * 2]}),
         description="LoReFT (r=4) at GPT-2 block_output L1, positions 0,2,5: h + R^T(Wh + b - Rh); pyreft saves R "
                     "itself (`rotate_layer`) and the learned source Linear (`weight`, `bias`)"),
    dict(name="llama_loreft_block_output", family="llama", models=T.LLAMA, make=inst(R.LoreftIntervention, 64, 8),
         repr=dict(layer=0, component="block_output", unit="pos", low_rank_dimension=8), set=weights_rotated_source,
         call=dict(unit_locations={"base": [[[3], [3]]]}),
         description="LoReFT (r=8) at Llama block_output L0, position 3"),
    dict(name="llama_noreft_mlp_output", family="llama", models=T.LLAMA,
         make=inst(R.NoreftIntervention, 64, 4, add_bias=True),
         repr=dict(layer=1, component="mlp_output", unit="pos", low_rank_dimension=4), set=weights_proj,
         call=dict(unit_locations={"base": [[[1, 4], [1, 4]]]}),
         description="NoReFT (r=4, proj bias) at Llama mlp_output L1: h + W2^T(W1h + b - (W2h + b2))"),
    dict(name="gpt2_consreft_mlp_output", family="gpt2", models=T.GPT2, make=inst(R.ConsreftIntervention, 64, 4),
         repr=dict(layer=0, component="mlp_output", unit="pos", low_rank_dimension=4), set=weights_rotated_source,
         call=dict(unit_locations={"base": [[[2], [2]]]}),
         description="ConsReFT (r=4) at GPT-2 mlp_output L0: h + R^T(b - Rh)"),
    dict(name="llama_direft_block_output", family="llama", models=T.LLAMA, make=inst(R.DireftIntervention, 64, 4),
         repr=dict(layer=1, component="block_output", unit="pos", low_rank_dimension=4), set=weights_rotated_source,
         call=dict(unit_locations={"base": [[[0, 5], [0, 5]]]}),
         description="DiReFT (r=4) at Llama block_output L1: h + R^T(Wh + b)"),
    dict(name="gpt2_lobireft_block_output", family="gpt2", models=T.GPT2, make=inst(R.LobireftIntervention, 64, 4),
         repr=dict(layer=0, component="block_output", unit="pos", low_rank_dimension=4), set=weights_rotated_source,
         call=dict(unit_locations={"base": [[[4], [4]]]}),
         description="LobiReFT (r=4) at GPT-2 block_output L0: h + R^T b"),
    dict(name="gpt2_nodireft_mlp_output", family="gpt2", models=T.GPT2,
         make=inst(R.NodireftIntervention, 64, 4, add_bias=False),
         repr=dict(layer=1, component="mlp_output", unit="pos", low_rank_dimension=4), set=weights_proj,
         call=dict(unit_locations={"base": [[[1], [1]]]}),
         description="NodiReFT (r=4) at GPT-2 mlp_output L1: h + W2^T(W1h + b)"),
]


def build(case, model):
    it = case["make"]()
    case["set"](it, torch.Generator().manual_seed(C.hash_name(case["name"])))
    r = dict(case["repr"], intervention=it)
    return pv.IntervenableModel(pv.IntervenableConfig(representations=[pv.RepresentationConfig(**r)]), model)


def fixtures_match(models):
    """The models rebuilt under transformers 4.45.1 must be the ones the fixtures were exported from."""
    for fam in ("gpt2", "llama"):
        ref = load_file(os.path.join(HERE, f"{fam}_legacy.ref.safetensors"))
        want = next(v for k, v in ref.items() if k.startswith("output."))
        got = models["_plain"][fam]
        d = float(np.abs(got - want).max())
        assert d < 1e-5, f"{fam} rebuilt under transformers {transformers.__version__} differs from the fixture by {d}"


def main():
    torch.manual_seed(0)
    torch.set_num_threads(1)
    torch.use_deterministic_algorithms(True)
    models = {"gpt2": F.build_gpt2(), "llama": F.build_llama()}
    with torch.no_grad():
        models["_plain"] = {f: F.to_np(models[f](input_ids=F.lm_input_ids()).logits) for f in ("gpt2", "llama")}
    fixtures_match(models)
    for case in CASES:
        case.setdefault("sources", [])
        try:
            print(f"  {case['name']:32s} {T.make_case(HERE, case, models, build)}")
        except Exception as e:
            import traceback
            traceback.print_exc()
            print(f"  {case['name']:32s} PYREFT/PYVENE ERROR {type(e).__name__}: {e}")


if __name__ == "__main__":
    print(f"transformers {transformers.__version__}, torch {torch.__version__}, pyvene {pv.__version__ if hasattr(pv, '__version__') else '0.1.8'}")
    main()
