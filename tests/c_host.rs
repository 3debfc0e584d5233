//! Deployment proof: a plain C program (`tests/c_host/run_model.c`) runs models through the ONNX Runtime C API
//! and gets the same outputs as `pvc run`.
//!
//! Needs gcc, the ONNX Runtime library (see `util::ort_lib`) and the C API headers: `PVC_ORT_INCLUDE`, or the
//! cache that `.ci/fetch_ort_headers.sh` fills. Without them the test prints why and passes, unless
//! `PVC_REQUIRE_ORT=1`, where it fails.

use crate::util;
use pvc::runtime::{DType, NamedTensors, Tensor};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

/// Models the C host runs: (model relative to models/, safetensors file relative to models/ holding the inputs,
/// prefix of the input tensors' names in that file: "input." for fixture refs, "" for a case's inputs file).
const CASES: &[(&str, &str, &str)] = &[
    ("gpt2_legacy.onnx", "gpt2_legacy.ref.safetensors", "input."),
    ("gpt2_external/model.onnx", "gpt2_legacy.ref.safetensors", "input."),
    ("llama_dynamo.onnx", "llama_dynamo.ref.safetensors", "input."),
    ("mlp_fp16.onnx", "mlp_fp16.ref.safetensors", "input."),
];

const MAGIC: &[u8; 8] = b"PVCT1\0\0\0";

/// The header version pinned by `.ci/fetch_ort_headers.sh` (its npm package version).
const HEADERS_PKG_VERSION: &str = "0.4.9";

/// Skips (returns `None`, printing why) or, under `PVC_REQUIRE_ORT=1`, fails.
fn unavailable<T>(why: String) -> Option<T> {
    if util::require_ort() {
        panic!("PVC_REQUIRE_ORT=1 but the C host cannot run: {why}");
    }
    eprintln!("skipping the C host check: {why}");
    None
}

fn include_dir() -> Option<PathBuf> {
    let from_env = std::env::var_os("PVC_ORT_INCLUDE").filter(|s| !s.is_empty()).map(PathBuf::from);
    let cached = std::env::var_os("HOME")
        .map(|h| Path::new(&h).join(".cache/pvc/ort-headers").join(HEADERS_PKG_VERSION).join("include"));
    match from_env.or(cached) {
        Some(d) if d.join("onnxruntime_c_api.h").is_file() => Some(d),
        other => unavailable(format!(
            "no ONNX Runtime C API headers ({}); run `export PVC_ORT_INCLUDE=$(bash .ci/fetch_ort_headers.sh)`",
            other.map_or("PVC_ORT_INCLUDE unset".into(), |d| format!("none in {}", d.display()))
        )),
    }
}

/// The compiled host and the library it loads, built once per test process.
fn host() -> Option<(PathBuf, PathBuf)> {
    static HOST: OnceLock<Option<(PathBuf, PathBuf)>> = OnceLock::new();
    HOST.get_or_init(|| {
        let lib = util::ort_lib()?;
        let include = include_dir()?;
        let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("c_host");
        std::fs::create_dir_all(&dir).unwrap();
        let exe = dir.join(format!("run_model-{}", std::process::id()));
        let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/c_host/run_model.c");
        let out = match Command::new("gcc")
            .args(["-std=c11", "-O1", "-Wall", "-Wextra", "-Werror", "-I"])
            .arg(&include)
            .arg(&src)
            .arg("-o")
            .arg(&exe)
            .arg("-ldl")
            .output()
        {
            Ok(o) => o,
            Err(e) => return unavailable(format!("cannot run gcc: {e}")),
        };
        assert!(out.status.success(), "gcc failed:\n{}", String::from_utf8_lossy(&out.stderr));
        Some((exe, lib))
    })
    .clone()
}

fn write_pvct(path: &Path, tensors: &NamedTensors) {
    let mut b = MAGIC.to_vec();
    b.extend((tensors.len() as u32).to_le_bytes());
    for (name, t) in tensors {
        b.extend((name.len() as u32).to_le_bytes());
        b.extend(name.as_bytes());
        b.extend(t.dtype.onnx().to_le_bytes());
        b.extend((t.shape.len() as u32).to_le_bytes());
        for d in &t.shape {
            b.extend((*d as i64).to_le_bytes());
        }
        b.extend((t.bytes.len() as u64).to_le_bytes());
        b.extend(&t.bytes);
    }
    std::fs::write(path, b).unwrap();
}

fn read_pvct(path: &Path) -> NamedTensors {
    let b = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    assert_eq!(&b[..8], MAGIC, "{}: not a PVCT1 file", path.display());
    let mut at = 8;
    let mut take = |n: usize| {
        let s = &b[at..at + n];
        at += n;
        s
    };
    let u32_ = |s: &[u8]| u32::from_le_bytes(s.try_into().unwrap());
    let count = u32_(take(4));
    (0..count)
        .map(|_| {
            let len = u32_(take(4)) as usize;
            let name = String::from_utf8(take(len).to_vec()).unwrap();
            let code = i32::from_le_bytes(take(4).try_into().unwrap());
            let dtype = DType::from_onnx(code).unwrap_or_else(|| panic!("`{name}`: element type {code}"));
            let rank = u32_(take(4)) as usize;
            let shape = (0..rank).map(|_| i64::from_le_bytes(take(8).try_into().unwrap()) as usize).collect();
            let n = u64::from_le_bytes(take(8).try_into().unwrap()) as usize;
            (name.clone(), Tensor::new(dtype, shape, take(n).to_vec()).unwrap())
        })
        .collect()
}

fn tolerance(d: DType) -> f64 {
    match d {
        DType::F16 | DType::BF16 => 1e-2,
        _ => 1e-5,
    }
}

/// Runs `model` on `inputs` (named after its graph inputs) through the C host, and through `pvc run` on tract
/// and on ONNX Runtime, and checks that all three agree. Returns false (after printing why) when the C host is
/// unavailable and not required.
pub fn check_c_host(model: &Path, inputs: &NamedTensors) -> bool {
    let Some((exe, lib)) = host() else { return false };
    let dir = util::tempdir();
    let (in_bin, out_bin) = (dir.path().join("in.bin"), dir.path().join("out.bin"));
    write_pvct(&in_bin, inputs);
    let out = Command::new(&exe).arg(&lib).arg(model).arg(&in_bin).arg(&out_bin).output().expect("run the C host");
    assert!(out.status.success(), "C host on {}: {}", model.display(), String::from_utf8_lossy(&out.stderr));
    let host_out = read_pvct(&out_bin);

    let in_st = dir.path().join("in.safetensors");
    pvc::runtime::write_safetensors(&in_st, inputs).unwrap();
    for backend in ["tract", "ort"] {
        let out_st = dir.path().join(format!("{backend}.safetensors"));
        let mut cmd = util::pvc();
        cmd.arg("run").arg(model).arg("--inputs").arg(&in_st).arg("-o").arg(&out_st).args(["--backend", backend]);
        if backend == "ort" {
            cmd.arg("--ort-lib").arg(&lib);
        }
        let o = cmd.output().expect("run pvc");
        assert!(o.status.success(), "pvc run --backend {backend}: {}", String::from_utf8_lossy(&o.stderr));
        // pvc writes outputs sorted by name; the host writes them in graph order.
        let pvc_out = util::tensors(&out_st);
        assert_eq!(pvc_out.len(), host_out.len(), "{}: output count", model.display());
        for (name, h) in &host_out {
            let p = util::get(&pvc_out, name).unwrap_or_else(|| panic!("pvc run has no output `{name}`"));
            assert_eq!(p.dtype, h.dtype, "`{name}` type");
            let d = p.max_abs_diff(h).unwrap_or_else(|| panic!("`{name}` shapes {:?} vs {:?}", p.shape, h.shape));
            let tol = tolerance(h.dtype);
            assert!(d <= tol, "{}: C host vs pvc run --backend {backend}, `{name}`: {d:e} > {tol:e}", model.display());
        }
    }
    true
}

#[test]
fn c_host_matches_pvc_run() {
    for (model, inputs, prefix) in CASES {
        let path = util::model(model);
        let file = util::tensors(&util::model(inputs));
        let named: NamedTensors = if prefix.is_empty() {
            file
        } else {
            let refs: NamedTensors = file
                .into_iter()
                .filter_map(|(n, t)| n.strip_prefix(prefix).map(|n| (format!("input.{n}"), t)))
                .collect();
            util::fixture_inputs(&path, &refs)
        };
        if !check_c_host(&path, &named) {
            return;
        }
    }
}

#[test]
fn c_host_pvct_roundtrip() {
    let dir = util::tempdir();
    let ts: NamedTensors = vec![
        ("a".into(), Tensor::from_f32(vec![2, 1], &[1.5, -2.0])),
        ("input_ids".into(), Tensor::from_i64(vec![1, 3], &[1, 2, 3])),
        ("empty".into(), Tensor::from_f32(vec![0, 4], &[])),
    ];
    let p = dir.path().join("t.bin");
    write_pvct(&p, &ts);
    assert_eq!(read_pvct(&p), ts);
}

/// A patched model (two source groups' worth of inputs, an interchange, a Collect and the
/// original outputs) runs in the C host exactly as under `pvc run`.
#[test]
fn c_host_runs_patched_models() {
    for case in ["gpt2_collect_with_interchange", "gpt2_group_key_interchange", "llama_vanilla_subspace_partition"] {
        let dir = util::models().join("cases").join(case);
        let spec: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(dir.join("case.json")).unwrap()).unwrap();
        let model = util::models().join(spec["models"][0].as_str().unwrap());
        let out = util::tempdir();
        let patched = out.path().join("patched.onnx");
        let st = util::pvc()
            .arg("rewrite")
            .arg(&model)
            .arg(dir.join("schema.json"))
            .args(["-o", patched.to_str().unwrap(), "--original"])
            .output()
            .unwrap();
        assert!(st.status.success(), "{case}: {}", String::from_utf8_lossy(&st.stderr));
        if !check_c_host(&patched, &util::tensors(&dir.join("inputs.safetensors"))) {
            return;
        }
    }
}
