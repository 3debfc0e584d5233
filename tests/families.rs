//! Families: detection from the graph, `--model-type`, inferred maps for families with no
//! file, tuple outputs, refused components, and bad head addressing on the new families.

use crate::util;
use pvc::ir::Model;
use pvc::locate::Locator;
use pvc::runtime::{Backend, TractBackend};

fn locator(model: &str) -> Locator {
    Locator::new(&Model::load(&util::model(model)).unwrap())
}

/// Runs pvc with `args`; returns (exit code, stdout, stderr).
fn pvc(args: &[&str]) -> (Option<i32>, String, String) {
    let o = util::pvc().args(args).output().unwrap();
    (o.status.code(), String::from_utf8_lossy(&o.stdout).into(), String::from_utf8_lossy(&o.stderr).into())
}

/// `pvc rewrite MODEL <schema> -o OUT [extra]` fails with one `error:` line holding every
/// needle, and writes nothing.
fn fails(model: &str, schema: &str, extra: &[&str], needles: &[&str]) {
    let dir = util::tempdir();
    let schema_path = dir.path().join("schema.json");
    std::fs::write(&schema_path, schema).unwrap();
    let out = dir.path().join("out.onnx");
    let m = util::model(model);
    let mut args = vec!["rewrite", m.to_str().unwrap(), schema_path.to_str().unwrap(), "-o", out.to_str().unwrap()];
    args.extend(extra);
    let (code, _, err) = pvc(&args);
    util::assert_refused(code, &err, &out, needles);
}

#[test]
fn each_fixture_is_detected_as_its_family() {
    let same = [("mistral", "mistral"), ("qwen2", "qwen2"), ("gemma", "gemma"), ("olmo", "olmo")];
    for (fam, _) in same {
        let dynamo = locator(&format!("{fam}_dynamo.onnx"));
        assert_eq!(dynamo.family.as_ref().unwrap().family, fam, "{}", dynamo.detection);
        let legacy = locator(&format!("{fam}_legacy.onnx"));
        let got = &legacy.family.as_ref().unwrap().family;
        assert!(
            got == fam || legacy.detection.contains(fam) && legacy.detection.contains("the choice changes nothing"),
            "{fam}_legacy: {got}: {}",
            legacy.detection
        );
    }
    for (model, fam) in [
        ("qwen3_legacy.onnx", "qwen3"),
        ("qwen3_dynamo.onnx", "qwen3"),
        ("gemma2_legacy.onnx", "gemma2"),
        ("gemma2_dynamo.onnx", "gemma2"),
        ("phi3_legacy.onnx", "phi3"),
        ("phi3_dynamo.onnx", "phi3"),
        ("gpt_neo_legacy.onnx", "gpt_neo"),
        ("gpt_neo_dynamo.onnx", "gpt_neo"),
        ("gpt_neox_legacy.onnx", "gpt_neox"),
        ("gpt_neox_dynamo.onnx", "gpt_neox"),
        ("pv_mlp_legacy.onnx", "mlp"),
        ("pv_gru_dynamo.onnx", "gru"),
        ("gpt2_legacy.onnx", "gpt2"),
        ("llama_dynamo.onnx", "llama"),
        ("olmo2_legacy.onnx", "inferred"),
        ("olmo2_dynamo.onnx", "inferred"),
    ] {
        let loc = locator(model);
        assert_eq!(loc.family.as_ref().map(|f| f.family.as_str()), Some(fam), "{model}: {}", loc.detection);
    }
    assert!(locator("mlp_legacy.onnx").family.is_none(), "a plain Sequential has no family");
}

#[test]
fn model_type_names_a_family_a_class_string_or_a_file() {
    let m = util::model("olmo2_legacy.onnx");
    let m = m.to_str().unwrap();
    let (code, out, err) = pvc(&["inspect", m, "--components", "--model-type", "qwen2"]);
    assert_eq!(code, Some(0), "{err}");
    assert!(out.starts_with("family: qwen2 (qwen2 named by the model type `qwen2`)"), "{out}");
    let class = "<class 'transformers.models.mistral.modeling_mistral.MistralForCausalLM'>";
    let (_, out, _) = pvc(&["inspect", m, "--components", "--model-type", class]);
    assert!(out.starts_with("family: mistral"), "{out}");
    let dir = util::tempdir();
    let file = dir.path().join("components.json");
    let text = std::fs::read_to_string(util::models().join("../rewrites/llama/components.json")).unwrap();
    std::fs::write(&file, text.replace("\"family\": \"llama\"", "\"family\": \"my_olmo2\"")).unwrap();
    let (code, out, err) = pvc(&["inspect", m, "--components", "--model-type", file.to_str().unwrap()]);
    assert_eq!(code, Some(0), "{err}");
    assert!(out.starts_with("family: my_olmo2"), "{out}");
    // a file map runs a rewrite: the recorded olmo2 case, with the map given as a file
    let case = util::models().join("cases/olmo2_block_output_vanilla/schema.json");
    let out_model = dir.path().join("p.onnx");
    let (code, _, err) = pvc(&[
        "rewrite",
        m,
        case.to_str().unwrap(),
        "-o",
        out_model.to_str().unwrap(),
        "--model-type",
        file.to_str().unwrap(),
    ]);
    assert_eq!(code, Some(0), "{err}");
    let case = case.parent().unwrap();
    let got = TractBackend::load(&out_model).unwrap().run(&util::tensors(&case.join("inputs.safetensors"))).unwrap();
    let want = util::tensors(&case.join("expected.safetensors"));
    let d = util::get(&got, "logits").unwrap().max_abs_diff(util::get(&want, "logits").unwrap()).unwrap();
    assert!(d <= 1e-4, "the user's file gives the recorded numbers: differs by {d:e}");
    let (code, _, err) = pvc(&["inspect", m, "--model-type", "falcon"]);
    assert_eq!(code, Some(2));
    assert!(err.contains("--model-type") && err.contains("unknown model type `falcon`"), "{err}");
    std::fs::write(&file, "{\"family\": 3}").unwrap();
    let (code, _, err) = pvc(&["inspect", m, "--model-type", file.to_str().unwrap()]);
    assert_eq!(code, Some(2));
    assert!(err.contains("model type file") && err.contains("components.json"), "{err}");
}

#[test]
fn inspect_components_shows_where_each_component_lands_and_what_was_inferred() {
    let m = util::model("olmo2_dynamo.onnx");
    let (code, out, err) = pvc(&["inspect", m.to_str().unwrap(), "--components"]);
    assert_eq!(code, Some(0), "{err}");
    let first = out.lines().next().unwrap();
    for needle in [
        "family: inferred",
        "inferred from the module tree",
        "layers `model.layers[0..2]`",
        "`model.rotary_emb` returns (cos, sin)",
    ] {
        assert!(first.contains(needle), "`{needle}` not in: {first}");
    }
    let kv = out.lines().find(|l| l.trim_start().starts_with("head_key_output:")).unwrap();
    assert!(kv.contains("self_attn.k_proj output") && kv.contains("key/value heads of 16"), "{kv}");
    let m = util::model("phi3_legacy.onnx");
    let (_, out, _) = pvc(&["inspect", m.to_str().unwrap(), "--components"]);
    let k = out.lines().find(|l| l.trim_start().starts_with("key_output:")).unwrap();
    assert!(k.contains("qkv_proj output, columns 64..96 of 128"), "{k}");
}

#[test]
fn an_unsure_inference_names_the_file_to_write() {
    fails(
        "mlp_legacy.onnx",
        r#"{"representations": [{"layer": 0, "component": "block_output", "intervention_type": "zero"}]}"#,
        &[],
        &["representations[0].component", "no repeated layer list", "write rewrites/<family>/components.json"],
    );
}

#[test]
fn tuple_outputs_list_every_element_and_hook_the_first() {
    for model in ["llama_legacy.onnx", "llama_dynamo.onnx", "gpt_neox_dynamo.onnx"] {
        let m = util::model(model);
        let (_, out, _) = pvc(&["inspect", m.to_str().unwrap()]);
        let line = out.lines().find(|l| l.contains("(rotary_emb)")).unwrap();
        assert!(
            line.contains("(a tuple: cos: ") && line.contains(", sin: ") && line.contains("hooks see the first"),
            "{line}"
        );
        let loc = locator(model);
        let root = if model.starts_with("gpt_neox") { "gpt_neox" } else { "model" };
        let site = loc.resolve(&format!("{root}.rotary_emb.output"), 0).unwrap();
        let module = loc.modules.get(&format!("{root}.rotary_emb")).unwrap();
        assert_eq!(module.outputs.len(), 2, "{model}");
        assert_eq!(site.value, module.outputs[0], "{model}: the hook sees cos");
    }
}

#[test]
fn bad_head_addressing_on_the_new_families_is_named() {
    fails(
        "gpt_neox_legacy.onnx",
        r#"{"representations": [{"layer": 0, "component": "attention_weight", "intervention_type": "zero"}]}"#,
        &[],
        &["representations[0].component", "component `attention_weight` is not defined for gpt_neox"],
    );
    for model in ["mistral_dynamo.onnx", "gpt_neox_legacy.onnx"] {
        fails(
            model,
            r#"{"representations": [{"layer": 1, "component": "head_query_output", "unit": "h", "intervention_type": "zero"}],
                "unit_locations": {"base": [[[0, 4], [1, 2]]]}}"#,
            &[],
            &["unit_locations (base side of representations[0])", "head 4 is out of range", "has 4 heads"],
        );
    }
    for model in ["phi3_legacy.onnx", "phi3_dynamo.onnx"] {
        fails(
            model,
            r#"{"representations": [{"layer": 0, "component": "head_key_output", "unit": "h", "intervention_type": "zero"}],
                "unit_locations": {"base": [[[3], [1]]]}}"#,
            &[],
            &["unit_locations (base side of representations[0])", "head 3 is out of range", "2 key/value heads"],
        );
    }
    fails(
        "gpt_neox_dynamo.onnx",
        r#"{"representations": [{"layer": 0, "component": "head_value_output", "unit": "h", "intervention_type": "zero"}],
            "unit_locations": {"base": 1}, "head_dim": 24}"#,
        &[],
        &["schema head_dim:", "head_dim 24 does not divide the width 64 of `head_value_output`"],
    );
}

/// On a query component a head index counts query heads: head 3 of phi3's fused Q is valid
/// although phi3 has only 2 key/value heads.
#[test]
fn a_query_component_counts_query_heads_under_gqa() {
    let dir = util::tempdir();
    let schema = dir.path().join("s.json");
    std::fs::write(
        &schema,
        r#"{"representations": [{"layer": 0, "component": "head_query_output", "unit": "h", "intervention_type": "zero"}],
            "unit_locations": {"base": [[[3], [2]]]}}"#,
    )
    .unwrap();
    let out = dir.path().join("p.onnx");
    let m = util::model("phi3_legacy.onnx");
    let (code, _, err) =
        pvc(&["rewrite", m.to_str().unwrap(), schema.to_str().unwrap(), "-o", out.to_str().unwrap(), "--check"]);
    assert_eq!(code, Some(0), "{err}");
}

/// On every llama-like fixture, the map inferred from the module tree (`--model-type infer`)
/// puts each component it infers on the same tensor as the family file; on phi3 it leaves out
/// the fused Q/K/V it cannot name and says so.
#[test]
fn inferred_maps_agree_with_the_family_files() {
    for fam in ["llama", "mistral", "qwen2", "qwen3", "gemma", "gemma2", "olmo"] {
        for flavour in ["legacy", "dynamo"] {
            let name = format!("{fam}_{flavour}.onnx");
            let filed = locator(&name);
            let mut inferred = locator(&name);
            inferred.set_model_type("infer").unwrap();
            let map = inferred.family.clone().unwrap();
            assert!(map.components.len() >= 15, "{name}: {}", inferred.detection);
            for component in map.components.keys() {
                for layer in 0..2 {
                    let a = filed.resolve(component, layer).unwrap();
                    let b = inferred.resolve(component, layer).unwrap();
                    assert_eq!(
                        (&a.value, &a.split, a.heads.is_some()),
                        (&b.value, &b.split, b.heads.is_some()),
                        "{name} {component} L{layer}"
                    );
                }
            }
        }
    }
    let mut phi = locator("phi3_dynamo.onnx");
    phi.set_model_type("infer").unwrap();
    assert!(
        phi.detection
            .contains("not inferred: query_output and head_query_output (no q_proj/query child of `self_attn`)"),
        "{}",
        phi.detection
    );
    assert!(!phi.family.unwrap().components.contains_key("key_output"));
}

/// An encoder-decoder-like tree with two equally long layer lists: inference will not guess,
/// and the error says which file to write.
#[test]
fn two_equal_layer_lists_make_inference_unsure() {
    let mut nodes: Vec<(String, Vec<String>, Vec<String>)> = Vec::new();
    let mut prev = "x".to_string();
    for stack in ["encoder", "decoder"] {
        for layer in 0..2 {
            for part in ["self_attn", "mlp"] {
                let out = format!("{stack}_{layer}_{part}");
                nodes.push((format!("/{stack}/layers.{layer}/{part}/Relu"), vec![prev.clone()], vec![out.clone()]));
                prev = out;
            }
        }
    }
    nodes.push(("/Identity".into(), vec![prev], vec!["y".into()]));
    let spec: Vec<(&str, &str, Vec<&str>, Vec<&str>)> = nodes
        .iter()
        .map(|(n, i, o)| {
            let op = if n == "/Identity" { "Identity" } else { "Relu" };
            (n.as_str(), op, i.iter().map(String::as_str).collect(), o.iter().map(String::as_str).collect())
        })
        .collect();
    let refs: Vec<(&str, &str, &[&str], &[&str])> =
        spec.iter().map(|(n, op, i, o)| (*n, *op, i.as_slice(), o.as_slice())).collect();
    let proto = crate::bad_model::tiny(&refs);
    let dir = util::tempdir();
    let model = dir.path().join("encdec.onnx");
    std::fs::write(&model, prost::Message::encode_to_vec(&proto)).unwrap();
    let schema = dir.path().join("s.json");
    std::fs::write(
        &schema,
        r#"{"representations": [{"layer": 0, "component": "block_output", "intervention_type": "zero"}]}"#,
    )
    .unwrap();
    let out = dir.path().join("o.onnx");
    let (code, _, err) =
        pvc(&["rewrite", model.to_str().unwrap(), schema.to_str().unwrap(), "-o", out.to_str().unwrap()]);
    assert_eq!(code, Some(2), "{err}");
    assert_eq!(err.lines().count(), 1, "{err}");
    for needle in [
        "representations[0].component",
        "inference is unsure: several layer lists (decoder.layers, encoder.layers) repeat 2 times",
        "write rewrites/<family>/components.json",
    ] {
        assert!(err.contains(needle), "`{needle}` not in: {err}");
    }
    assert!(!out.exists());
}
