"""Bad input raises a pvc.PvcError subclass with the CLI's message and the JSON path, and
writes nothing."""

import json

import pvc
import pytest
from conftest import CASES, MODELS, cli

MODEL = MODELS / "gpt2_legacy.onnx"


def cli_message(*args):
    code, err = cli(*args, ok=False)
    assert code == 2 and err.startswith("error: ")
    return err.splitlines()[-1][len("error: ") :]


def test_an_unknown_component_names_its_json_path(tmp_path):
    doc = {"model_type": "gpt2", "representations": [{"layer": 0, "component": "mlp_outptu", "intervention_type": "zero"}]}
    (tmp_path / "s.json").write_text(json.dumps(doc))
    want = cli_message("rewrite", MODEL, tmp_path / "s.json", "-o", tmp_path / "cli.onnx")
    with pytest.raises(pvc.SchemaError) as e:
        pvc.rewrite(MODEL, doc, tmp_path / "out.onnx")
    assert e.value.json_path == "representations[0].component"
    assert e.value.message == str(e.value) == want
    assert isinstance(e.value, pvc.PvcError)
    assert not (tmp_path / "out.onnx").exists()


def test_bad_call_time_locations_name_unit_locations(tmp_path):
    schema = CASES / "gpt2_zero_mlp_output_pos" / "schema.json"
    with pytest.raises(pvc.SchemaError) as e:
        pvc.rewrite(MODEL, schema, tmp_path / "out.onnx", unit_locations={"base": 99})
    assert e.value.json_path is not None and e.value.json_path.startswith("unit_locations")
    want = cli_message("rewrite", MODEL, schema, "-o", tmp_path / "o.onnx", "--unit-locations", '{"base": 99}')
    assert e.value.message == want
    assert list(tmp_path.iterdir()) == []


def test_writing_over_an_input_is_an_output_error(tmp_path):
    schema = CASES / "gpt2_zero_mlp_output_pos" / "schema.json"
    with pytest.raises(pvc.OutputError) as e:
        pvc.rewrite(MODEL, schema, MODEL)
    assert e.value.json_path is None
    assert "an input of this run" in e.value.message


def test_a_file_that_is_no_model_is_a_model_error(tmp_path):
    (tmp_path / "junk.onnx").write_bytes(b"\xff" * 64)
    with pytest.raises(pvc.ModelError) as e:
        pvc.inspect(tmp_path / "junk.onnx")
    assert e.value.message == cli_message("inspect", tmp_path / "junk.onnx")


def test_wrong_argument_types_are_python_errors(tmp_path):
    schema = CASES / "gpt2_zero_mlp_output_pos" / "schema.json"
    with pytest.raises(ValueError, match="external_data"):
        pvc.rewrite(MODEL, schema, tmp_path / "o.onnx", external_data="move")
    with pytest.raises(TypeError, match="interventions"):
        pvc.rewrite(MODEL, 42, tmp_path / "o.onnx")
    assert list(tmp_path.iterdir()) == []


def test_errors_pickle_with_their_attributes():
    import pickle

    e = pickle.loads(pickle.dumps(pvc.SchemaError("schema x: bad", "x")))
    assert (type(e), e.message, e.json_path) == (pvc.SchemaError, "schema x: bad", "x")
