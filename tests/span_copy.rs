//! Saving embedded weights by copying their spans of the input file inside the kernel
//! (`copy_file_range`): the same bytes as the streaming encoder, on one file system or across
//! two, and nothing left behind when the write fails.

use crate::util;
use pvc::ir::Model;
use pvc::onnx::{ModelFile, write_model, write_model_file};
use pvc::rewrite::{Options, rewrite};
use pvc::schema::Plan;
use std::path::{Path, PathBuf};

/// The embedded-weight fixture, copied into `dir` (so its file system is `dir`'s).
fn copy_of_fixture(dir: &Path) -> PathBuf {
    let at = dir.join("model.onnx");
    std::fs::copy(util::model("gpt2_legacy.onnx"), &at).unwrap();
    at
}

/// `case`'s plan applied to `file` (so the saved proto differs from the loaded one).
fn rewritten(file: &ModelFile, case: &str) -> Model {
    let mut m = Model::from_file(file.clone());
    let dir = util::models().join("cases").join(case);
    let meta: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("case.json")).unwrap()).unwrap();
    let plan = Plan::from_path(&dir.join(meta["schema"].as_str().unwrap())).unwrap();
    rewrite(&mut m, &plan, &Options::default()).unwrap();
    m
}

/// Writes `model` from `src_dir` into `out_dir` with the kernel-copy writer and checks it against
/// the in-memory encoding; returns the bytes the kernel copied.
fn kernel_write_matches(src_dir: &Path, out_dir: &Path) -> u64 {
    let src = copy_of_fixture(src_dir);
    let file = ModelFile::load(&src).unwrap();
    let source = file.source.as_ref().expect("a loaded file keeps its map");
    let out = out_dir.join("written.onnx");
    let _ = std::fs::remove_file(&out);
    let copied = write_model_file(&file.proto, &mut std::fs::File::create_new(&out).unwrap(), Some(source)).unwrap();
    assert!(std::fs::read(&out).unwrap() == std::fs::read(&src).unwrap(), "an untouched model differs");

    let patched = rewritten(&file, "gpt2_addition_pos").to_proto();
    let mut expected = Vec::new();
    write_model(&patched, &mut expected).unwrap();
    std::fs::remove_file(&out).unwrap();
    let copied_patched =
        write_model_file(&patched, &mut std::fs::File::create_new(&out).unwrap(), Some(source)).unwrap();
    assert!(std::fs::read(&out).unwrap() == expected, "a rewritten model differs from its encoding");
    assert_eq!(copied, copied_patched, "the rewrite keeps every large weight");
    copied
}

#[test]
fn kernel_copied_weights_give_the_same_bytes_on_one_file_system() {
    let dir = util::tempdir();
    let copied = kernel_write_matches(dir.path(), dir.path());
    assert!(copied >= 64 * 1024, "the kernel copied only {copied} bytes");
}

#[test]
fn kernel_copies_across_file_systems_fall_back_to_the_same_bytes() {
    let shm = Path::new("/dev/shm");
    if !shm.is_dir() {
        eprintln!("skipping: no /dev/shm");
        return;
    }
    let here = util::tempdir();
    let there = tempfile::tempdir_in(shm).unwrap();
    let same = |a: &Path, b: &Path| {
        use std::os::unix::fs::MetadataExt;
        std::fs::metadata(a).unwrap().dev() == std::fs::metadata(b).unwrap().dev()
    };
    assert!(!same(here.path(), there.path()), "the two directories share a file system");
    kernel_write_matches(here.path(), there.path());
    kernel_write_matches(there.path(), here.path());
}

#[test]
fn cli_rewrites_of_embedded_models_are_byte_identical_with_and_without_durable() {
    let dir = util::tempdir();
    let src = copy_of_fixture(dir.path());
    let schema = addition_schema();
    let mut expected = Vec::new();
    write_model(&rewritten(&ModelFile::load(&src).unwrap(), "gpt2_addition_pos").to_proto(), &mut expected).unwrap();
    for extra in [&[][..], &["--durable"][..]] {
        let out = dir.path().join("out.onnx");
        let o = util::pvc().arg("rewrite").arg(&src).arg(&schema).arg("-o").arg(&out).args(extra).output().unwrap();
        assert!(o.status.success(), "{extra:?}: {}", String::from_utf8_lossy(&o.stderr));
        assert!(std::fs::read(&out).unwrap() == expected, "{extra:?}: the output differs from the encoding");
    }
}

#[test]
fn a_failed_kernel_copy_leaves_nothing_behind() {
    let dir = util::tempdir();
    let src = copy_of_fixture(dir.path());
    let schema = addition_schema();
    let out_dir = dir.path().join("out");
    std::fs::create_dir(&out_dir).unwrap();
    let out = out_dir.join("x.onnx");
    std::fs::write(&out, b"previous").unwrap();
    // The 523 KiB output passes a 200 KiB file-size limit inside a copied weight span.
    let mut cmd = std::process::Command::new("bash");
    cmd.arg("-c").arg("trap '' XFSZ; ulimit -f 200; exec \"$0\" \"$@\"").arg(env!("CARGO_BIN_EXE_pvc"));
    let o = cmd.arg("rewrite").arg(&src).arg(&schema).arg("-o").arg(&out).output().unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(err.contains("File too large") && err.contains("x.onnx"), "{err}");
    let left: Vec<_> = std::fs::read_dir(&out_dir).unwrap().map(|e| e.unwrap().file_name()).collect();
    assert_eq!(left, vec![std::ffi::OsString::from("x.onnx")], "left behind");
    assert_eq!(std::fs::read(&out).unwrap(), b"previous", "the previous output was replaced");
}

/// The schema of the `gpt2_addition_pos` case (its case.json names it).
fn addition_schema() -> std::path::PathBuf {
    let case = util::models().join("cases").join("gpt2_addition_pos");
    let meta: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(case.join("case.json")).unwrap()).unwrap();
    case.join(meta["schema"].as_str().unwrap())
}
