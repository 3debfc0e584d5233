"""A pyvene IntervenableModel built here, compiled by pvc.rewrite straight from memory, gives
pyvene's own numbers in ONNX Runtime (within 1e-4), and the same file as its save directory."""

import numpy as np
import onnxruntime as ort
import pvc
import pytest
import pyvene as pv
import torch
from conftest import MODELS
from pvc_fixtures import build_gpt2, lm_input_ids

FIXTURE = MODELS / "gpt2_legacy.onnx"
IDS = lm_input_ids()
SRC = lm_input_ids(21)


@pytest.fixture(scope="module")
def gpt2():
    model = build_gpt2()
    with torch.no_grad():
        ref = model(input_ids=IDS).logits.numpy()
    got = run(FIXTURE, {"input_ids": IDS})
    assert np.abs(got - ref).max() < 1e-4, "the fixture is not the model build_gpt2() rebuilds"
    return model


def run(path, feeds):
    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return sess.run(["logits"], {k: v.numpy() for k, v in feeds.items()})[0]


def intervenable(model, **rep):
    return pv.IntervenableModel(pv.IntervenableConfig(representations=[pv.RepresentationConfig(**rep)]), model)


def vector(n, seed):
    return torch.randn(n, generator=torch.Generator().manual_seed(seed))


CASES = {
    "zero": (
        dict(layer=1, component="block_output", unit="pos", intervention_type=pv.ZeroIntervention),
        {"base": 2},
        False,
    ),
    "vanilla_source": (
        dict(layer=0, component="mlp_output", unit="pos", intervention_type=pv.VanillaIntervention),
        {"sources->base": (3, 3)},
        True,
    ),
    "addition_constant": (
        dict(
            layer=0,
            component="block_output",
            unit="pos",
            intervention_type=pv.AdditionIntervention,
            source_representation=vector(64, 5),
        ),
        {"base": [1, 4]},
        False,
    ),
    "lowrank_das_trained": (
        dict(
            layer=0,
            component="block_output",
            unit="pos",
            intervention_type=pv.LowRankRotatedSpaceIntervention,
            low_rank_dimension=4,
        ),
        {"sources->base": (3, 3)},
        True,
    ),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_in_memory_model_matches_pyvene_and_its_save_directory(name, gpt2, tmp_path):
    rep, locs, with_source = CASES[name]
    torch.manual_seed(0)  # a trained intervention's random rotation
    pv_model = intervenable(gpt2, **rep)
    sources = [{"input_ids": SRC}] if with_source else None
    with torch.no_grad():
        _, out = pv_model(base={"input_ids": IDS}, sources=sources, unit_locations=locs)
    want = out.logits.numpy()

    report = pvc.rewrite(FIXTURE, pv_model, tmp_path / "p.onnx", unit_locations=locs)
    assert [a["intervention"] for a in report["interventions"]] == [rep["intervention_type"].__name__]
    feeds = {"input_ids": IDS, **({"source.0.input_ids": SRC} if with_source else {})}
    got = run(tmp_path / "p.onnx", feeds)
    assert np.abs(got - want).max() < 1e-4
    assert np.abs(got - run(FIXTURE, {"input_ids": IDS})).max() > 1e-3, "the intervention changed nothing"

    pv_model.save(str(tmp_path / "save"))
    pvc.rewrite(FIXTURE, tmp_path / "save", tmp_path / "s.onnx", unit_locations=locs)
    assert (tmp_path / "s.onnx").read_bytes() == (tmp_path / "p.onnx").read_bytes()
