//! A real Triton Inference Server serves a `pvc export-triton` repository: the tritonserver that
//! nvidia-pytriton bundles, in a venv made by `.ci/triton_venv.sh`, driven by
//! `tests/triton/serve.py` (see there). Skips, with a printed reason, when the venv cannot be
//! made, unless `PVC_REQUIRE_TRITON=1` (CI).

use crate::{serving, util};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// Concurrent requests sent (half over HTTP, half over gRPC).
const REQUESTS: usize = 8;

/// The venv's python: `PVC_TRITON_PYTHON`, else what `.ci/triton_venv.sh` prepares; `None` after
/// printing why when it cannot, which fails instead under `PVC_REQUIRE_TRITON=1`.
fn triton_python() -> Option<PathBuf> {
    if let Ok(p) = std::env::var("PVC_TRITON_PYTHON") {
        return Some(PathBuf::from(p));
    }
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join(".ci/triton_venv.sh");
    let out = std::process::Command::new("bash").arg(script).output();
    match out {
        Ok(o) if o.status.success() => Some(PathBuf::from(String::from_utf8_lossy(&o.stdout).trim())),
        other => {
            let why = match other {
                Ok(o) => String::from_utf8_lossy(&o.stderr).trim().to_string(),
                Err(e) => e.to_string(),
            };
            let required = std::env::var("PVC_REQUIRE_TRITON").is_ok_and(|v| v == "1");
            assert!(!required, "PVC_REQUIRE_TRITON=1 but the Triton venv cannot be made: {why}");
            eprintln!("skipping the Triton server test: the Triton venv cannot be made: {why}");
            None
        }
    }
}

fn pvc_ok(args: &[&std::ffi::OsStr]) {
    let o = util::pvc().args(args).output().unwrap();
    assert!(o.status.success(), "pvc {args:?}: {}", String::from_utf8_lossy(&o.stderr));
}

#[test]
fn a_real_triton_server_batches_requests_and_answers_as_pvc_run() {
    let Some(python) = triton_python() else { return };
    let dir = util::tempdir();
    let model = serving::patched(dir.path(), "gpt2_legacy.onnx", "pv", serving::SCHEMAS[0].1);
    let repo = dir.path().join("repo");
    std::fs::create_dir(&repo).unwrap();
    let flags = ["--name", "pv", "--max-batch-size", "8", "--dynamic-batching", "--queue-delay-us", "500000"];
    let mut args: Vec<&std::ffi::OsStr> =
        vec!["export-triton".as_ref(), model.as_os_str(), "-o".as_ref(), repo.as_os_str()];
    args.extend(flags.iter().map(std::ffi::OsStr::new));
    pvc_ok(&args);
    let reqs = dir.path().join("reqs");
    std::fs::create_dir(&reqs).unwrap();
    for k in 0..REQUESTS {
        let (feeds, _) = serving::bind_inputs(&model, 1, k);
        let req = reqs.join(format!("req_{k}.safetensors"));
        pvc::runtime::write_safetensors(&req, &feeds).unwrap();
        let want = reqs.join(format!("want_{k}.safetensors"));
        pvc_ok(&[
            "run".as_ref(),
            model.as_os_str(),
            "--inputs".as_ref(),
            req.as_os_str(),
            "-o".as_ref(),
            want.as_os_str(),
        ]);
    }
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/triton/serve.py");
    let mut child = std::process::Command::new(&python)
        .arg(script)
        .arg(&repo)
        .arg("pv")
        .arg(&reqs)
        .arg(REQUESTS.to_string())
        .env("PVC_TRITON_DEADLINE", "240")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("start serve.py");
    let start = Instant::now();
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break Some(s);
        }
        if start.elapsed() > Duration::from_secs(300) {
            let _ = child.kill();
            break None;
        }
        std::thread::sleep(Duration::from_millis(200));
    };
    let out = child.wait_with_output().unwrap();
    let (stdout, stderr) = (String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    eprintln!("{stdout}");
    assert!(status.is_some(), "serve.py ran past 300 s and was killed:\n{stdout}\n{stderr}");
    assert!(out.status.success(), "serve.py failed:\n{stdout}\n{stderr}");
    assert!(stdout.contains("serve.py: ok"), "{stdout}");
}
