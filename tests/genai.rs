//! ONNX Runtime GenAI 0.18 runs pvc's patched decoders unchanged: `pvc rewrite --genai-config`
//! writes the folder, `og.Generator` (models/check_genai.py) gives `pvc generate`'s tokens, and
//! the `collected.*` taps read back per call match; an interchange's source prompt is fed with
//! `generator.set_model_input`. Skips without the `onnxruntime_genai`
//! package unless `PVC_REQUIRE_GENAI=1` (CI).

use crate::util;

#[test]
fn onnx_runtime_genai_generates_pvc_generates_tokens_from_the_patched_file() {
    let cases = [
        ("gen_gpt2_collect_decode", "gpt2_kv_legacy.onnx"),
        ("gen_gpt2_addition_prompt", "gpt2_kv_dynamo.onnx"),
        ("gen_gpt2_addition_every", "gpt2_kv_legacy.onnx"),
        ("gen_llama_addition_decode", "llama_kv_dynamo.onnx"),
        ("gen_llama_collect_prompt", "llama_kv_legacy.onnx"),
        ("gen_gpt2_vanilla_source_decode", "gpt2_kv_dynamo.onnx"),
        ("gen_llama_vanilla_source_decode", "llama_kv_legacy.onnx"),
    ];
    let tmp = util::tempdir();
    let mut manifest = Vec::new();
    for (case, model) in cases {
        let dir = util::models().join("gen_cases").join(case);
        let folder = tmp.path().join(format!("{case}.{model}"));
        std::fs::create_dir(&folder).unwrap();
        let out = folder.join("model.onnx");
        let o = util::pvc()
            .args(["rewrite", util::model(model).to_str().unwrap(), dir.join("schema.json").to_str().unwrap()])
            .args(["-o", out.to_str().unwrap(), "--genai-config", "--eos-token-id", "0", "--context-length", "32"])
            .output()
            .unwrap();
        assert!(o.status.success(), "{case}: {}", String::from_utf8_lossy(&o.stderr));
        let config: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(folder.join("genai_config.json")).unwrap()).unwrap();
        assert_eq!(config["model"]["decoder"]["filename"], "model.onnx");
        let kv = if model.starts_with("llama") { 2 } else { 4 };
        assert_eq!(config["model"]["decoder"]["num_key_value_heads"], kv, "{case}");
        let inputs = util::tensors(&dir.join("inputs.safetensors"));
        let ids = |t: &pvc::runtime::Tensor| t.to_f64().iter().map(|&v| v as i64).collect::<Vec<i64>>();
        let prompt = ids(util::get(&inputs, "input_ids").unwrap());
        let sources: serde_json::Map<String, serde_json::Value> = inputs
            .iter()
            .filter(|(n, _)| n.starts_with("source."))
            .map(|(n, t)| (n.clone(), serde_json::json!(ids(t))))
            .collect();
        let source_args: Vec<String> =
            sources.values().flat_map(|v| ["--source-ids".to_string(), v.to_string()]).collect();
        let expected = tmp.path().join(format!("{case}.{model}.safetensors"));
        let g = util::pvc()
            .args(["generate", out.to_str().unwrap(), "--input-ids", &serde_json::to_string(&prompt).unwrap()])
            .args(["--max-new-tokens", "8", "-o", expected.to_str().unwrap()])
            .args(&source_args)
            .output()
            .unwrap();
        assert!(g.status.success(), "{case}: {}", String::from_utf8_lossy(&g.stderr));
        manifest.push(serde_json::json!({"label": format!("{case} on {model}"), "folder": folder,
            "prompt": prompt, "inputs": sources, "max_new_tokens": 8, "expected": expected}));
    }
    let path = tmp.path().join("manifest.json");
    std::fs::write(&path, serde_json::to_string(&manifest).unwrap()).unwrap();
    util::python_script_gated("check_genai.py", &[&path], "onnxruntime_genai, safetensors, numpy", "PVC_REQUIRE_GENAI");
}

#[test]
fn genai_config_needs_a_kv_cache_and_an_eos_id() {
    let tmp = util::tempdir();
    let out = tmp.path().join("m.onnx");
    let schema = util::models().join("cases").join("gpt2_collect").join("schema.json");
    let run = |model: &str, extra: &[&str]| {
        util::pvc()
            .args([
                "rewrite",
                util::model(model).to_str().unwrap(),
                schema.to_str().unwrap(),
                "-o",
                out.to_str().unwrap(),
            ])
            .arg("--genai-config")
            .args(extra)
            .output()
            .unwrap()
    };
    let o = run("gpt2_legacy.onnx", &["--eos-token-id", "0"]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(err.contains("--genai-config: the model has no KV cache"), "{err}");
    assert!(!out.exists() && !tmp.path().join("genai_config.json").exists());
    let o = run("gpt2_kv_legacy.onnx", &[]);
    assert!(!o.status.success());
    assert!(String::from_utf8_lossy(&o.stderr).contains("--eos-token-id"));
}
