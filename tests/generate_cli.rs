//! `pvc generate`: text through a tokenizer.json, EOS, seeded sampling, the KV cache against
//! full recomputation, the output file, and the tokenizer mismatch error.

use crate::util;

fn generate(args: &[&str]) -> (i32, String, String) {
    let o = util::pvc().arg("generate").args(args).output().unwrap();
    (
        o.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

fn model(name: &str) -> String {
    util::model(name).to_string_lossy().into_owned()
}

fn ids_of(out: &str) -> Vec<i64> {
    out.lines().next().unwrap().split_whitespace().map(|t| t.parse().unwrap()).collect()
}

/// The recorded case's prompt and HF generate's 8 new ids for it.
fn hf_case() -> (Vec<i64>, Vec<i64>) {
    let dir = util::models().join("gen_cases").join("gen_gpt2_addition_decode");
    let ids = |t: &pvc::runtime::Tensor| t.to_f64().iter().map(|&v| v as i64).collect::<Vec<_>>();
    let prompt = ids(util::get(&util::tensors(&dir.join("inputs.safetensors")), "input_ids").unwrap());
    let hf = ids(util::get(&util::tensors(&dir.join("expected.safetensors")), "hf_sequences").unwrap());
    (prompt.clone(), hf[prompt.len()..].to_vec())
}

#[test]
fn kv_cache_and_full_recompute_give_hf_generate_tokens_and_the_output_file() {
    let (prompt, hf) = hf_case();
    let p = serde_json::to_string(&prompt).unwrap();
    let dir = util::tempdir();
    for m in ["gpt2_kv_legacy.onnx", "gpt2_kv_dynamo.onnx", "gpt2_legacy.onnx", "gpt2_dynamo.onnx"] {
        for backend in ["tract", "ort"] {
            if backend == "ort" && util::ort_lib().is_none() {
                continue;
            }
            let out = dir.path().join(format!("{m}.{backend}.safetensors"));
            let (code, stdout, err) = generate(&[
                &model(m),
                "--input-ids",
                &p,
                "--max-new-tokens",
                "8",
                "--backend",
                backend,
                "-o",
                out.to_str().unwrap(),
            ]);
            assert_eq!(code, 0, "{m} {backend}: {err}");
            assert_eq!(ids_of(&stdout), hf, "{m} {backend}");
            let t = util::tensors(&out);
            let seq = util::get(&t, "sequences").unwrap();
            assert_eq!((seq.dtype, seq.shape.clone()), (pvc::runtime::DType::I64, vec![1, 13]), "{m}");
            assert_eq!(util::get(&t, "logits").unwrap().shape, vec![1, 8, 100], "{m}");
        }
    }
}

#[test]
fn eos_stops_generation() {
    let (prompt, hf) = hf_case();
    let p = serde_json::to_string(&prompt).unwrap();
    let eos = hf[1].to_string();
    let (code, stdout, err) =
        generate(&[&model("gpt2_kv_legacy.onnx"), "--input-ids", &p, "--max-new-tokens", "8", "--eos-token-id", &eos]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(ids_of(&stdout), hf[..2].to_vec());
}

#[test]
fn seeded_sampling_repeats_and_the_seed_matters() {
    let run = |seed: &str| {
        let (code, stdout, err) = generate(&[
            &model("gpt2_kv_legacy.onnx"),
            "--input-ids",
            "[2,49,86,3,50]",
            "--max-new-tokens",
            "12",
            "--temperature",
            "1.5",
            "--top-k",
            "40",
            "--top-p",
            "0.95",
            "--seed",
            seed,
        ]);
        assert_eq!(code, 0, "{err}");
        ids_of(&stdout)
    };
    let a = run("7");
    assert_eq!(a, run("7"));
    assert_ne!(a, run("8"));
    let (code, _, err) =
        generate(&[&model("gpt2_kv_legacy.onnx"), "--input-ids", "[1]", "--max-new-tokens", "2", "--seed", "1"]);
    assert_eq!(code, 2);
    assert!(err.contains("--seed applies to sampling only"), "{err}");
}

#[test]
fn a_text_prompt_through_the_tokenizer_gives_the_ids_run() {
    let tok = util::model("tokenizer.json").to_string_lossy().into_owned();
    let (code, text, err) = generate(&[
        &model("gpt2_kv_legacy.onnx"),
        "--prompt",
        "the cat saw a dog",
        "--tokenizer",
        &tok,
        "--max-new-tokens",
        "6",
    ]);
    assert_eq!(code, 0, "{err}");
    let (code, ids, err) =
        generate(&[&model("gpt2_kv_legacy.onnx"), "--input-ids", "[2,49,86,3,50]", "--max-new-tokens", "6"]);
    assert_eq!(code, 0, "{err}");
    let t = pvc::generate::Text::load(&util::model("tokenizer.json")).unwrap();
    assert_eq!(t.encode("the cat saw a dog").unwrap(), vec![2, 49, 86, 3, 50]);
    let words = t.decode(&ids_of(&ids)).unwrap();
    assert_eq!(text.trim_end(), format!("the cat saw a dog {words}"));
}

#[test]
fn a_tokenizer_larger_than_the_models_vocabulary_is_a_one_line_error() {
    let dir = util::tempdir();
    let out = dir.path().join("o.safetensors");
    let tok = util::model("tokenizer_120.json").to_string_lossy().into_owned();
    let (code, _, err) = generate(&[
        &model("gpt2_kv_legacy.onnx"),
        "--prompt",
        "the cat",
        "--tokenizer",
        &tok,
        "--max-new-tokens",
        "4",
        "-o",
        out.to_str().unwrap(),
    ]);
    assert_eq!(code, 2, "{err}");
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    assert!(err.contains("tokenizer_120.json: 120 tokens") && err.contains("`logits` cover 100"), "{err}");
    assert!(!out.exists());
}

/// An interchange from a source run while generating: the source prompt given with
/// `--source-ids` (or in `--inputs`) gives pyvene's tokens; without it, the error names the input.
#[test]
fn a_source_prompt_drives_an_interchange_while_generating() {
    let dir = util::models().join("gen_cases").join("gen_gpt2_vanilla_source_decode");
    let ids = |t: &pvc::runtime::Tensor| t.to_f64().iter().map(|&v| v as i64).collect::<Vec<_>>();
    let inputs = util::tensors(&dir.join("inputs.safetensors"));
    let prompt = ids(util::get(&inputs, "input_ids").unwrap());
    let source = ids(util::get(&inputs, "source.0.input_ids").unwrap());
    let want = ids(util::get(&util::tensors(&dir.join("expected.safetensors")), "sequences").unwrap());
    let tmp = util::tempdir();
    let patched = tmp.path().join("steered.onnx");
    let o = util::pvc()
        .args(["rewrite", &model("gpt2_kv_legacy.onnx"), dir.join("schema.json").to_str().unwrap(), "-o"])
        .arg(&patched)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let (p, s) = (serde_json::to_string(&prompt).unwrap(), serde_json::to_string(&source).unwrap());
    let m = patched.to_str().unwrap();
    let with_ids = ["--source-ids", s.as_str()];
    let file = tmp.path().join("source.safetensors");
    let only_source: Vec<_> = inputs.iter().filter(|(n, _)| n.starts_with("source.")).cloned().collect();
    pvc::runtime::write_safetensors(&file, &only_source).unwrap();
    let with_file = ["--inputs", file.to_str().unwrap()];
    for extra in [&with_ids[..], &with_file[..]] {
        let mut args = vec![m, "--input-ids", &p, "--max-new-tokens", "8"];
        args.extend_from_slice(extra);
        let (code, stdout, err) = generate(&args);
        assert_eq!(code, 0, "{extra:?}: {err}");
        assert_eq!(ids_of(&stdout), want[prompt.len()..].to_vec(), "{extra:?}");
    }
    let (code, _, err) = generate(&[m, "--input-ids", &p, "--max-new-tokens", "8"]);
    assert_ne!(code, 0);
    assert!(err.contains("source.0.input_ids"), "{err}");
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    let all = dir.join("inputs.safetensors");
    let (code, _, err) = generate(&[m, "--input-ids", &p, "--max-new-tokens", "8", "--inputs", all.to_str().unwrap()]);
    assert_ne!(code, 0);
    assert!(err.contains("`input_ids` is fed by generation itself"), "{err}");
}
