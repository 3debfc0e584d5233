#!/usr/bin/env python3
"""Writes the seed corpora fuzz/corpus/<target>/seed-* from the repository's fixtures and from the
reproducers of /work/shared/notes/bad-input-report.md (as small variants). Deterministic: rerun
after fixtures change; the output is committed. Needs Python's `onnx` for the hand-made models.

    python3 fuzz/seeds.py
"""
import glob
import io
import json
import os
import random
import shutil
import struct
import zipfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CORPUS = os.path.join(ROOT, "fuzz", "corpus")


def put(target, name, data):
    d = os.path.join(CORPUS, target)
    os.makedirs(d, exist_ok=True)
    if isinstance(data, str):
        data = data.encode()
    with open(os.path.join(d, "seed-" + name), "wb") as f:
        f.write(data)


def read(path):
    with open(os.path.join(ROOT, path), "rb") as f:
        return f.read()


def model_load():
    for p in ["mlp_legacy", "mlp_dynamo", "mlp_fp16", "mlp_bf16", "gpt2_legacy"]:
        put("model_load", p, read(f"models/{p}.onnx"))
    put("model_load", "gpt2_external", read("models/gpt2_external/model.onnx"))
    try:
        import onnx
    except ImportError:
        print("onnx missing: hand-made model seeds skipped")
        return
    from onnx import TensorProto, helper

    base = onnx.load(os.path.join(ROOT, "models/mlp_legacy.onnx"))

    def variant(name, edit):
        m = onnx.ModelProto()
        m.CopyFrom(base)
        edit(m)
        put("model_load", name, m.SerializeToString())

    # C2: a bad declared dim on an intervention site (2^40 and -7).
    for tag, dim in [("huge_dim", 1 << 40), ("negative_dim", -7)]:
        variant(tag, lambda m, dim=dim: m.graph.value_info.append(
            helper.make_tensor_value_info("/net/net.2/Add_output_0", TensorProto.FLOAT, ["batch", "seq", dim])))
    # B1: a STRING initializer (tract panics in type inference).
    variant("string_init", lambda m: setattr(m.graph.initializer[0], "data_type", TensorProto.STRING))
    # A cycle: the first node reads the last node's output.
    variant("cycle", lambda m: m.graph.node[0].input.__setitem__(0, m.graph.node[-1].output[0]))
    # Unsafe external data locations and a lying offset (refused cleanly today).
    for tag, loc, off in [("ext_dotdot", "../x.data", "0"), ("ext_abs", "/dev/zero", "0"),
                          ("ext_offset", "model.onnx.data", str(2**64 - 1))]:
        def edit(m, loc=loc, off=off):
            t = m.graph.initializer[0]
            t.ClearField("raw_data")
            t.data_location = TensorProto.EXTERNAL
            for k, v in [("location", loc), ("offset", off), ("length", "16")]:
                e = t.external_data.add()
                e.key, e.value = k, v
        variant(tag, edit)
    # No opset, and a re-patched-style duplicate initializer name (W1).
    variant("no_opset", lambda m: m.ClearField("opset_import"))
    variant("dup_init", lambda m: m.graph.initializer.append(m.graph.initializer[0]))


def schema_parse():
    for p in sorted(glob.glob(os.path.join(ROOT, "rewrites/examples/*.json"))):
        put("schema_parse", "example_" + os.path.basename(p)[:-5], read(p))
    for p in sorted(glob.glob(os.path.join(ROOT, "models/cases/*/schema.json"))):
        case = os.path.basename(os.path.dirname(p))
        doc = json.loads(read(p))
        if isinstance(doc, dict) and "weights" in doc:
            doc["weights"] = "../" + doc["weights"]  # the target parses relative to pyvene_save/
        put("schema_parse", "case_" + case, json.dumps(doc, indent=1))
    for p in sorted(glob.glob(os.path.join(ROOT, "models/cases/*/pyvene_save/config.json"))):
        put("schema_parse", "config_" + p.split("/")[-3], read(p))
    rep = lambda **kw: {"layer": 1, "component": "mlp_output", "unit": "pos", "intervention_type": "zero", **kw}
    reports = {
        # W4: a typo'd top-level key; W5: intervention_types shorter than representations.
        "w4_typo": {"model_type": "gpt2", "representations": [rep()], "unit_location": {"base": 2}},
        "w5_short_types": {"intervention_types": [], "representations": [[0, "block_output", "pos", 1] + [None] * 10]},
        # C3, W6: huge partition range, huge max_number_of_units.
        "c3_partition": {"representations": [rep(subspace_partition=[[0, 4611686018427387904]])], "subspaces": [0]},
        "w6_max_units": {"representations": [rep(intervention_type="collect", max_number_of_units=4611686018427387904)]},
        # W3: columns not divisible by units; W2: addition at an int64 site.
        "w3_collect": {"model_type": "gpt2", "representations": [rep(component="block_output", max_number_of_units=2,
                       intervention_type="collect")], "unit_locations": {"base": [[[1, 2]]]}, "subspaces": [0, 1, 2]},
        "w2_int_site": {"representations": [{"component": "input_ids", "intervention_type": "addition",
                        "source_representation": [5]}], "unit_locations": {"base": 1}},
        # H2, H3 in small: duplicate positions, a long dotted component.
        "h2_positions": {"representations": [rep(), rep()], "unit_locations": {"base": [[[0] * 300], [[1] * 300]]}},
        "h3_component": {"representations": [rep(component="a." * 500 + "output")]},
        "weights_missing": {"representations": [rep(intervention_type="addition")], "weights": "nope.safetensors"},
        "weights_real": {"representations": [rep(intervention_type="addition")], "weights": "../weights.safetensors"},
        "sorted_keys": {"representations": [rep()], "sorted_keys": ["layer_0_comp_block_output_unit_pos_nunit_1#0"]},
        "runtime": {"representations": [rep(intervention_type="vanilla")], "unit_locations": "runtime"},
    }
    for k, v in reports.items():
        put("schema_parse", k, json.dumps(v))


def pickle_bin(pkl, template):
    """The template `.bin` with its data.pkl replaced by `pkl`."""
    src = zipfile.ZipFile(io.BytesIO(template))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_STORED) as z:
        for i in src.infolist():
            z.writestr(i.filename, pkl if i.filename.endswith("data.pkl") else src.read(i.filename))
    return out.getvalue()


def torch_bin():
    bins = sorted(glob.glob(os.path.join(ROOT, "models/cases/*/pyvene_save/*.bin")))
    for p in bins:
        put("torch_bin", p.split("/")[-3], read(p))
    template = read(bins[0])
    pkl = zipfile.ZipFile(io.BytesIO(template))
    orig = next(pkl.read(n) for n in pkl.namelist() if n.endswith("data.pkl"))
    n = 2000  # C1 in small (the report's overflow needs 10^6 levels)
    put("torch_bin", "c1_nested_list", pickle_bin(b"\x80\x02" + b"]" * n + b"a" * (n - 1) + b".", template))
    put("torch_bin", "c1_nested_tuple", pickle_bin(b"\x80\x02" + b"(" * n + b"t" * n + b".", template))
    # M1 ("billion laughs") with 12 levels instead of 39.
    laughs = b"\x80\x02]q\x00" + b"".join(b"](h%ch%ceq%c" % (k - 1, k - 1, k) for k in range(1, 12)) + b"."
    put("torch_bin", "m1_laughs", pickle_bin(laughs, template))
    put("torch_bin", "os_system", pickle_bin(b"\x80\x02cos\nsystem\nq\x00X\x04\x00\x00\x00trueq\x01\x85q\x02Rq\x03.", template))
    put("torch_bin", "orig_pkl_deflated", _deflated(template))
    put("torch_bin", "truncated", template[: len(template) // 2])
    # W6: the storage offset and a shape near 2^62, patched into the original pickle's ints.
    put("torch_bin", "raw_pkl", orig)


def _deflated(template):
    src = zipfile.ZipFile(io.BytesIO(template))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as z:
        for i in src.infolist():
            z.writestr(i.filename, src.read(i.filename))
    return out.getvalue()


def st(header, data=b""):
    h = json.dumps(header).encode()
    return struct.pack("<Q", len(h)) + h + data


def run_safetensors():
    put("run_safetensors", "mlp_ref", read("models/mlp_legacy.ref.safetensors"))
    for c in ["mlp_zero_net2_pos", "gpt2_zero_mlp_output_pos"]:
        put("run_safetensors", c + "_inputs", read(f"models/cases/{c}/inputs.safetensors"))
    x = struct.pack("<8f", *range(8))
    put("run_safetensors", "x_f32", st({"x": {"dtype": "F32", "shape": [1, 1, 8], "data_offsets": [0, 32]}}, x))
    put("run_safetensors", "x_f64", st({"x": {"dtype": "F64", "shape": [1, 1, 4], "data_offsets": [0, 32]}}, x))
    ids = struct.pack("<3q", 1, 2, 6464)
    put("run_safetensors", "ids_past_vocab", st({"input_ids": {"dtype": "I64", "shape": [1, 3], "data_offsets": [0, 24]}}, ids))
    put("run_safetensors", "overflow_shape",
        st({"x": {"dtype": "F32", "shape": [2**62, 4], "data_offsets": [0, 32]}}, x))
    put("run_safetensors", "lying_header", struct.pack("<Q", 2**40) + b"{}")
    put("run_safetensors", "truncated", read("models/mlp_legacy.ref.safetensors")[:100])


def run_json_input():
    seeds = {
        "mlp_x": "x=[[[1,2,3,4,5,6,7,8]]]",
        "gpt2_ids": "input_ids=[[1,2,3,4]]",
        "gpt2_two_lines": "input_ids=[[1,2,3]]\ninput_ids=[[4,5,6],[7,8,9]]",
        # W9: silent casts; B4: a token id past the vocabulary, a sequence past wpe.
        "w9_i32": "i32=[4294967297]",
        "w9_u8": "u8=[-1,300]",
        "w9_i64": "input_ids=[[9007199254740993]]",
        "w9_bool": "bool=[2,255,true]",
        "b4_vocab": "input_ids=[[6464]]",
        "b4_wpe": "input_ids=[[" + ",".join(["1"] * 40) + "]]",
        "ragged": "x=[[1,2],[3]]",
        "floats": "f16=[70000, 1e300, -0.0]\nbf16=[[1.5]]\nf64=[1e308]",
        "empty": "x=[]",
        "nan_like": "x=[[[1e39,1,1,1,1,1,1,1]]]",
    }
    for k, v in seeds.items():
        put("run_json_input", k, v)


def rewrite_e2e():
    rng = random.Random(7)
    for i in range(24):
        put("rewrite_e2e", f"random{i:02}", bytes(rng.randrange(256) for _ in range(rng.choice([16, 64, 256]))))


if __name__ == "__main__":
    if os.path.isdir(CORPUS):
        for p in glob.glob(os.path.join(CORPUS, "*", "seed-*")):
            os.remove(p)
    for f in [model_load, schema_parse, torch_bin, run_safetensors, run_json_input, rewrite_e2e]:
        f()
    total = sum(os.path.getsize(p) for p in glob.glob(os.path.join(CORPUS, "*", "seed-*")))
    print(f"{total / 1e6:.2f} MB of seeds in {CORPUS}")
