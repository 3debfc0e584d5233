//! `pvc run` input checks: the same bad input gives the same one-line error on tract and ONNX
//! Runtime (ONNX Runtime cases skip without the library, unless `PVC_REQUIRE_ORT=1`).

use crate::util;
use std::path::Path;

/// Runs `pvc run MODEL --input ...` on each available backend; returns (backend, code, stderr).
fn run_all(model: &Path, inputs: &[&str]) -> Vec<(&'static str, Option<i32>, String)> {
    let mut backends = vec!["tract"];
    if util::ort_lib().is_some() {
        backends.push("ort");
    }
    backends
        .into_iter()
        .map(|b| {
            let mut cmd = util::pvc();
            cmd.arg("run").arg(model).args(["--backend", b]);
            for i in inputs {
                cmd.args(["--input", i]);
            }
            let out = cmd.output().expect("run pvc");
            (b, out.status.code(), String::from_utf8_lossy(&out.stderr).into_owned())
        })
        .collect()
}

fn assert_error(model: &Path, inputs: &[&str], want: &str) {
    for (b, code, err) in run_all(model, inputs) {
        assert_eq!(code, Some(2), "{b}: {err}");
        assert_eq!(err, format!("error: {want}\n"), "{b}");
    }
}

/// gpt2 with an interchange whose positions are run-time inputs.
fn runtime_model(dir: &Path) -> std::path::PathBuf {
    let schema = dir.join("s.json");
    std::fs::write(
        &schema,
        r#"{"model_type":"gpt2","representations":[{"layer":1,"component":"block_output","unit":"pos","intervention_type":"vanilla"}]}"#,
    )
    .unwrap();
    let out = dir.join("p.onnx");
    let o = util::pvc()
        .arg("rewrite")
        .arg(util::model("gpt2_legacy.onnx"))
        .arg(&schema)
        .arg("-o")
        .arg(&out)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    out
}

#[test]
fn runtime_locations_are_checked_the_same_on_both_backends() {
    let dir = util::tempdir();
    let m = runtime_model(dir.path());
    let ids = "input_ids=[[1,2,3,4,5]]";
    let src = "source.0.input_ids=[[1,2,3,4,5]]";
    assert_error(
        &m,
        &[ids, src, "unit_locations.0.base=[[-1]]", "unit_locations.0.source=[[1]]"],
        "input `unit_locations.0.base`[0][0] = -1 is out of range: positions must be in [0, 5), the sequence length of `input_ids`",
    );
    assert_error(
        &m,
        &[ids, "source.0.input_ids=[[1,2,3]]", "unit_locations.0.base=[[2]]", "unit_locations.0.source=[[3]]"],
        "input `unit_locations.0.source`[0][0] = 3 is out of range: positions must be in [0, 3), the sequence length of `source.0.input_ids`",
    );
    assert_error(
        &m,
        &[ids, src, "unit_locations.0.base=[[2,3]]", "unit_locations.0.source=[[3]]"],
        "input `unit_locations.0.source`: dimension 1 (`units_0`) is 1 but input `unit_locations.0.base` has 2 there (dimension 1)",
    );
    assert_error(
        &m,
        &[
            ids,
            "source.0.input_ids=[[1,2,3,4,5],[1,2,3,4,5]]",
            "unit_locations.0.base=[[2]]",
            "unit_locations.0.source=[[1]]",
        ],
        "input `source.0.input_ids`: dimension 0 (`batch`) is 2 but input `input_ids` has 1 there (dimension 0)",
    );
    for (b, code, err) in run_all(&m, &[ids, src, "unit_locations.0.base=[[4]]", "unit_locations.0.source=[[0]]"]) {
        assert_eq!(code, Some(0), "{b}: {err}");
    }
}

#[test]
fn token_ids_and_lengths_are_checked_against_their_tables() {
    let m = util::model("gpt2_legacy.onnx");
    assert_error(
        &m,
        &["input_ids=[[1,2,3,6464]]"],
        "input `input_ids`[0][3] = 6464 is out of range for the table `transformer.wte.weight` (100 rows)",
    );
    let long = format!("input_ids=[[{}]]", (1..=40).map(|i| i.to_string()).collect::<Vec<_>>().join(","));
    assert_error(
        &m,
        &[&long],
        "input `input_ids`: dimension 1 is 40, longer than the table `transformer.wpe.weight` it indexes (32 rows)",
    );
    assert_error(
        &util::model("mlp_legacy.onnx"),
        &["x=[[1,2,3,4,5,6,7,8]]"],
        "input `x`: has shape [1, 8] (rank 2) but the model declares rank 3 ([batch, seq, 8])",
    );
}

#[test]
fn json_inputs_are_exact_and_range_checked() {
    let gpt2 = util::model("gpt2_legacy.onnx");
    assert_error(
        &gpt2,
        &["input_ids=[[1,9007199254740993]]"],
        "input `input_ids`[0][1] = 9007199254740993 is out of range for the table `transformer.wte.weight` (100 rows)",
    );
    assert_error(&gpt2, &["input_ids=[[1,2.5]]"], "input `input_ids`[0][1] = 2.5 is not an integer");
    assert_error(&gpt2, &["input_ids=[[1,true]]"], "input `input_ids`[0][1] = true is a bool, but the input is int64");
    assert_error(
        &gpt2,
        &["input_ids=[[1,99999999999999999999]]"],
        "input `input_ids`[0][1] = 1e+20 is out of range for int64 [-9223372036854775808, 9223372036854775807]",
    );
    assert_error(
        &util::model("mlp_legacy.onnx"),
        &["x=[[[1,2,3,4,5,6,7,1e300]]]"],
        "input `x`[0][0][7] = 1e+300 overflows float32 (largest finite value 3.4028234663852886e38)",
    );
}

#[test]
fn json_integers_fit_their_dtype() {
    use pvc::runtime::{DType, tensor_from_json};
    let err = |text: &str, d: DType| tensor_from_json("v", text, d).unwrap_err().to_string();
    assert_eq!(
        err("[4294967297]", DType::I32),
        "input `v`[0] = 4294967297 is out of range for int32 [-2147483648, 2147483647]"
    );
    assert_eq!(err("[[-1]]", DType::U8), "input `v`[0][0] = -1 is out of range for uint8 [0, 255]");
    assert_eq!(err("[300]", DType::U8), "input `v`[0] = 300 is out of range for uint8 [0, 255]");
    assert_eq!(err("[2]", DType::Bool), "input `v`[0] = 2 is not a bool: bool inputs take true or false");
    assert_eq!(err("[70000]", DType::F16), "input `v`[0] = 70000 overflows float16 (largest finite value 6.5504e4)");
    let t = tensor_from_json("v", "[9007199254740993]", DType::I64).unwrap();
    assert_eq!(t.bytes, 9007199254740993i64.to_le_bytes());
    assert_eq!(tensor_from_json("v", "[true,false]", DType::Bool).unwrap().bytes, vec![1, 0]);
}

/// A Collect at an abstract component with run-time positions takes exactly
/// `max_number_of_units` positions per example (pyvene's view of the kept columns needs that
/// count): another count is refused on both backends, naming the input.
#[test]
fn runtime_collect_takes_max_number_of_units_positions() {
    let dir = util::tempdir();
    let schema = dir.path().join("s.json");
    std::fs::write(
        &schema,
        r#"{"model_type":"gpt2","representations":[{"layer":1,"component":"block_output","max_number_of_units":2,"intervention_type":"collect"}],"unit_locations":"runtime"}"#,
    )
    .unwrap();
    let m = dir.path().join("p.onnx");
    let o = util::pvc()
        .arg("rewrite")
        .arg(util::model("gpt2_legacy.onnx"))
        .arg(&schema)
        .arg("-o")
        .arg(&m)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let ids = "input_ids=[[1,2,3,4,5]]";
    assert_error(
        &m,
        &[ids, "unit_locations.0.base=[[1,2,3]]"],
        "input `unit_locations.0.base`: the model fixes its dimension 1 to 2, got 3 (shape [1, 3])",
    );
    for (b, code, err) in run_all(&m, &[ids, "unit_locations.0.base=[[1,3]]"]) {
        assert_eq!(code, Some(0), "{b}: {err}");
    }
}

/// `pvc run`'s summary gives the statistics of the finite values and counts the NaN and
/// infinite ones, on both backends.
#[test]
fn summaries_count_nan_and_infinite_values() {
    let dir = util::tempdir();
    let inputs = dir.path().join("in.safetensors");
    let mut x: Vec<f32> = (0..16).map(|i| i as f32 * 0.1).collect();
    x[0] = f32::NAN;
    let t = pvc::runtime::Tensor::from_f32(vec![1, 2, 8], &x);
    pvc::runtime::write_safetensors(&inputs, &vec![("x".to_string(), t)]).unwrap();
    let mut engines = vec!["tract"];
    if util::ort_lib().is_some() {
        engines.push("ort");
    }
    for b in engines {
        let out = util::pvc()
            .arg("run")
            .arg(util::model("mlp_legacy.onnx"))
            .args(["--backend", b, "--inputs"])
            .arg(&inputs)
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(out.status.success(), "{b}: {}", String::from_utf8_lossy(&out.stderr));
        assert!(stdout.starts_with("y: float32[1, 2, 4] min "), "{b}: {stdout}");
        assert!(stdout.contains(" (of the finite values; 4 NaN)  [NaN, NaN, NaN, NaN, "), "{b}: {stdout}");
        assert!(!stdout.contains("mean NaN"), "{b}: {stdout}");
    }
}
