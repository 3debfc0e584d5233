"""The package's output is byte-identical to the CLI's, for each way of giving the schema."""

import json

import pvc
import pytest
from conftest import CASES, MODELS, cli

CASE_NAMES = [
    "gpt2_addition_pos",  # pyvene config + weights file + unit_locations
    "gpt2_vanilla_block_output",  # interchange with a source run
    "llama_iti_addition_heads",  # head units
    "mlp_zero_net2_pos",  # module path on a plain MLP
    "gpt2_collect",  # a Collect tap
]


def case(name):
    c = json.loads((CASES / name / "case.json").read_text())
    return CASES / name, c


@pytest.mark.parametrize("name", CASE_NAMES)
def test_schema_file_and_dict_give_the_cli_bytes(name, tmp_path, monkeypatch):
    d, c = case(name)
    model = MODELS / c["models"][0]
    schema = d / c["schema"]
    flags = ["--original"] if c.get("original") else []
    cli("rewrite", model, schema, "-o", tmp_path / "cli.onnx", *flags)
    expected = (tmp_path / "cli.onnx").read_bytes()

    report = pvc.rewrite(model, schema, tmp_path / "file.onnx", original=bool(c.get("original")))
    assert (tmp_path / "file.onnx").read_bytes() == expected
    assert report["output"] == str(tmp_path / "file.onnx")
    assert report["interventions"] and report["notes"][-1] == f"wrote {tmp_path / 'file.onnx'}"

    monkeypatch.chdir(d)  # the dict's relative "weights" path is read from the current directory
    doc = json.loads(schema.read_text())
    pvc.rewrite(model, doc, tmp_path / "dict.onnx", original=bool(c.get("original")))
    assert (tmp_path / "dict.onnx").read_bytes() == expected


def test_save_directory_and_call_time_arguments_give_the_cli_bytes(tmp_path):
    d, c = case("gpt2_addition_pos")
    model = MODELS / "gpt2_legacy.onnx"
    locs = {"base": 3}
    cli("rewrite", model, d / "pyvene_save", "-o", tmp_path / "cli.onnx", "--unit-locations", json.dumps(locs))
    pvc.rewrite(model, d / "pyvene_save", tmp_path / "py.onnx", unit_locations=locs)
    assert (tmp_path / "py.onnx").read_bytes() == (tmp_path / "cli.onnx").read_bytes()


def test_external_data_split_gives_the_cli_files(tmp_path):
    d, c = case("gpt2_addition_pos")
    model = MODELS / "gpt2_external" / "model.onnx"
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    cli("rewrite", model, d / "schema.json", "-o", tmp_path / "a" / "m.onnx", "--external-data", "split")
    pvc.rewrite(model, d / "schema.json", tmp_path / "b" / "m.onnx", external_data="split")
    for name in ("m.onnx", "m.onnx.data"):
        assert (tmp_path / "b" / name).read_bytes() == (tmp_path / "a" / name).read_bytes()


@pytest.mark.parametrize("fixture", ["gpt2_legacy.onnx", "llama_dynamo.onnx", "mlp_legacy.onnx"])
def test_inspect_is_the_cli_json(fixture):
    import subprocess

    from conftest import pvc_bin

    out = subprocess.run([str(pvc_bin()), "inspect", "--json", str(MODELS / fixture)], capture_output=True, check=True)
    tree = pvc.inspect(MODELS / fixture)
    assert tree == json.loads(out.stdout)
    assert tree["modules"] and all("path" in m and "pyvene" in m for m in tree["modules"])
