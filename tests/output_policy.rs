//! Issue 7, "nothing lost": every command that writes follows one output policy. No input of the
//! run is replaced however its path is spelled, only regular files are written, another model's
//! data file is never replaced, `--check` runs before anything is replaced, and a failed write
//! leaves nothing behind. Inputs that are not regular files are refused before they are opened.

use crate::util;
use pvc::onnx::{encode_model, pb};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::Output;

const ZERO_MLP: &str = "../rewrites/examples/zero_mlp.json";
const EMPTY: &str = r#"{"representations": []}"#;

fn run(args: &[&std::ffi::OsStr]) -> (i32, String) {
    finish(util::pvc().args(args).output().unwrap())
}

fn finish(o: Output) -> (i32, String) {
    (o.status.code().unwrap_or(-1), String::from_utf8_lossy(&o.stderr).into_owned())
}

fn os<P: AsRef<std::ffi::OsStr> + ?Sized>(p: &P) -> &std::ffi::OsStr {
    p.as_ref()
}

/// Names in `dir`, sorted (hidden ones included).
fn listing(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> =
        std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
    v.sort();
    v
}

/// Asserts a refusal: exit 2, one `error:` line naming `path` and containing `needle`.
fn refused(code: i32, err: &str, path: &Path, needle: &str) {
    assert_eq!(code, 2, "expected a refusal: {err}");
    assert_eq!(err.lines().filter(|l| l.starts_with("error:")).count(), 1, "{err}");
    assert!(err.contains(&path.display().to_string()), "`{}` not named in: {err}", path.display());
    assert!(err.contains(needle), "`{needle}` not in: {err}");
}

/// A scratch copy of the gpt2 model with external data: (dir, model path, data path).
fn external_copy(dir: &Path) -> (PathBuf, PathBuf) {
    let (m, d) = (dir.join("model.onnx"), dir.join("model.onnx.data"));
    std::fs::copy(util::model("gpt2_external/model.onnx"), &m).unwrap();
    std::fs::copy(util::model("gpt2_external/model.onnx.data"), &d).unwrap();
    (m, d)
}

fn mlp_input(dir: &Path) -> PathBuf {
    let p = dir.join("in.safetensors");
    let x = pvc::runtime::tensor_from_json("x", "[[[1,2,3,4,5,6,7,8]]]", pvc::runtime::DType::F32).unwrap();
    pvc::runtime::write_safetensors(&p, &vec![("x".to_string(), x)]).unwrap();
    p
}

#[test]
fn run_output_never_replaces_the_model_its_data_or_its_inputs() {
    let dir = util::tempdir();
    let d = dir.path();
    let m = d.join("m.onnx");
    std::fs::copy(util::model("mlp_legacy.onnx"), &m).unwrap();
    let inputs = mlp_input(d);
    std::fs::create_dir(d.join("sub")).unwrap();
    std::os::unix::fs::symlink(&m, d.join("alias.onnx")).unwrap();
    std::fs::hard_link(&m, d.join("hard.onnx")).unwrap();
    let before = (std::fs::read(&m).unwrap(), std::fs::read(&inputs).unwrap());
    let targets = [m.clone(), inputs.clone(), d.join("sub/../m.onnx"), d.join("alias.onnx"), d.join("hard.onnx")];
    for target in &targets {
        let (code, err) = run(&[os("run"), os(&m), os("--inputs"), os(&inputs), os("-o"), os(target)]);
        refused(code, &err, target, "an input of this run");
    }
    assert_eq!((std::fs::read(&m).unwrap(), std::fs::read(&inputs).unwrap()), before);
    assert_eq!(listing(d), ["alias.onnx", "hard.onnx", "in.safetensors", "m.onnx", "sub"]);

    let ext = d.join("ext");
    std::fs::create_dir(&ext).unwrap();
    let (model, data) = external_copy(&ext);
    let data_before = std::fs::read(&data).unwrap();
    let (code, err) = run(&[os("run"), os(&model), os("--input"), os("input_ids=[[1,2,3]]"), os("-o"), os(&data)]);
    refused(code, &err, &data, "an input of this run");
    assert_eq!(std::fs::read(&data).unwrap(), data_before);
    assert_eq!(listing(&ext), ["model.onnx", "model.onnx.data"]);
}

#[test]
fn rewrite_output_never_replaces_a_schema_file_or_the_model_data() {
    let dir = util::tempdir();
    let d = dir.path();
    let (model, data) = external_copy(d);
    let schema = d.join("z.json");
    std::fs::copy(util::models().join(ZERO_MLP), &schema).unwrap();
    let pv = d.join("pv");
    std::fs::create_dir(&pv).unwrap();
    let save = util::models().join("cases/gpt2_addition_pos/pyvene_save");
    for e in std::fs::read_dir(&save).unwrap() {
        let e = e.unwrap();
        std::fs::copy(e.path(), pv.join(e.file_name())).unwrap();
    }
    let bin = pv.join("intkey_layer_0_comp_block_output_unit_pos_nunit_1#0.bin");
    let case = util::models().join("cases/llama_addition_pos");
    let weighted = d.join("weighted");
    std::fs::create_dir(&weighted).unwrap();
    for f in ["schema.json", "weights.safetensors"] {
        std::fs::copy(case.join(f), weighted.join(f)).unwrap();
    }
    let llama = d.join("llama.onnx");
    std::fs::copy(util::model("llama_legacy.onnx"), &llama).unwrap();
    let snapshot = |paths: &[&Path]| paths.iter().map(|p| std::fs::read(p).unwrap()).collect::<Vec<_>>();
    let watched = [&model, &data, &schema, &pv.join("config.json"), &bin, &weighted.join("weights.safetensors")];
    let watched: Vec<&Path> = watched.iter().map(|p| p.as_path()).collect();
    let before = snapshot(&watched);

    let loc = ["--unit-locations", r#"{"base":5}"#];
    let weighted_schema = weighted.join("schema.json");
    let cases: Vec<(&Path, &Path, PathBuf, &[&str])> = vec![
        (&model, &schema, schema.clone(), &[]),
        (&model, &schema, d.join("pv/../z.json"), &[]),
        (&model, &schema, data.clone(), &[]),
        (&model, &pv, pv.join("config.json"), &loc),
        (&model, &pv, bin.clone(), &loc),
        (&llama, &weighted_schema, weighted.join("weights.safetensors"), &[]),
        (&llama, &weighted_schema, weighted.join("schema.json"), &[]),
    ];
    for (m, s, out, extra) in &cases {
        let o = util::pvc().arg("rewrite").arg(m).arg(s).arg("-o").arg(out).args(*extra).output().unwrap();
        let (code, err) = finish(o);
        refused(code, &err, out, "an input of this run");
    }
    assert_eq!(snapshot(&watched), before, "every input is unchanged");
    assert_eq!(listing(d), ["llama.onnx", "model.onnx", "model.onnx.data", "pv", "weighted", "z.json"]);
}

/// A directory of special files, each also reachable through a symlink.
fn special_files(d: &Path) -> Vec<(PathBuf, &'static str)> {
    let mut out = Vec::new();
    let fifo = d.join("myfifo");
    assert!(std::process::Command::new("mkfifo").arg(&fifo).status().unwrap().success());
    out.push((fifo, "a FIFO"));
    let sock = d.join("mysock");
    std::mem::forget(std::os::unix::net::UnixListener::bind(&sock).unwrap());
    out.push((sock, "a socket"));
    std::fs::create_dir(d.join("adir")).unwrap();
    out.push((d.join("adir"), "a directory"));
    let null = d.join("mynull");
    let is_root = std::process::Command::new("id").arg("-u").output().unwrap().stdout == b"0\n";
    if is_root
        && std::process::Command::new("mknod")
            .args(["-m666", null.to_str().unwrap(), "c", "1", "3"])
            .status()
            .unwrap()
            .success()
    {
        out.push((null.clone(), "a character device"));
        std::os::unix::fs::symlink(&null, d.join("link_to_null")).unwrap();
        out.push((d.join("link_to_null"), "a character device"));
    } else {
        eprintln!("skipping the device-node output cases: mknod needs root (CAP_MKNOD)");
    }
    std::os::unix::fs::symlink(d.join("nothing"), d.join("dangling")).unwrap();
    out.push((d.join("dangling"), "a symbolic link to nothing"));
    out
}

fn file_type(p: &Path) -> std::fs::FileType {
    std::fs::symlink_metadata(p).unwrap().file_type()
}

#[test]
fn only_regular_files_are_written() {
    let dir = util::tempdir();
    let scratch = dir.path().join("scratch");
    std::fs::create_dir(&scratch).unwrap();
    let specials = special_files(&scratch);
    let inputs = mlp_input(dir.path());
    let types: Vec<_> = specials.iter().map(|(p, _)| file_type(p)).collect();
    for (path, kind) in &specials {
        let needle = format!("it is {kind}; pvc writes regular files only: choose a file path");
        let mlp = util::model("mlp_legacy.onnx");
        let (code, err) = run(&[os("rewrite"), os(&mlp), os(&util::models().join(ZERO_MLP)), os("-o"), os(path)]);
        assert!(!err.contains("Permission denied"), "{err}");
        refused(code, &err, path, &needle);
        let (code, err) = run(&[os("run"), os(&mlp), os("--inputs"), os(&inputs), os("-o"), os(path)]);
        refused(code, &err, path, &needle);
        let ext = util::model("gpt2_external/model.onnx");
        let (code, err) = run(&[os("rewrite"), os(&ext), os(&util::models().join(ZERO_MLP)), os("-o"), os(path)]);
        refused(code, &err, path, &needle);
    }
    let after: Vec<_> = specials.iter().map(|(p, _)| file_type(p)).collect();
    assert_eq!(types, after, "every special file is still what it was");
    let mut names: Vec<String> =
        specials.iter().map(|(p, _)| p.file_name().unwrap().to_string_lossy().into()).collect();
    names.sort();
    assert_eq!(listing(&scratch), names, "no data file or temporary file was left");
    assert!(listing(&scratch.join("adir")).is_empty());
}

#[test]
fn output_directories_must_exist_for_inline_and_external_models() {
    let dir = util::tempdir();
    for model in ["mlp_legacy.onnx", "gpt2_external/model.onnx"] {
        let out = dir.path().join("newdir/deep/x.onnx");
        let (code, err) =
            run(&[os("rewrite"), os(&util::model(model)), os(&util::models().join(ZERO_MLP)), os("-o"), os(&out)]);
        refused(code, &err, &out, "newdir/deep does not exist: create it first");
        assert!(listing(dir.path()).is_empty(), "{model}: nothing created");
    }
}

/// A directory holding another model (`other.onnx`) whose data file is `model.onnx.data`.
fn other_model(d: &Path, same_bytes: bool) -> Vec<u8> {
    std::fs::copy(util::model("gpt2_external/model.onnx"), d.join("other.onnx")).unwrap();
    let mut bytes = std::fs::read(util::model("gpt2_external/model.onnx.data")).unwrap();
    if !same_bytes {
        bytes[100] ^= 0xff;
    }
    std::fs::write(d.join("model.onnx.data"), &bytes).unwrap();
    bytes
}

#[test]
fn another_models_data_file_is_never_replaced() {
    let src = util::model("gpt2_external/model.onnx");
    let dir = util::tempdir();
    let shared = dir.path().join("shared");
    std::fs::create_dir(&shared).unwrap();
    let theirs = other_model(&shared, false);
    let schema = dir.path().join("empty.json");
    std::fs::write(&schema, EMPTY).unwrap();
    for policy in ["copy", "link"] {
        let out = shared.join("patched.onnx");
        let (code, err) =
            run(&[os("rewrite"), os(&src), os(&schema), os("-o"), os(&out), os("--external-data"), os(policy)]);
        refused(code, &err, &shared.join("model.onnx.data"), "a different file is already there");
        assert!(err.contains("it belongs to another model") && err.contains("other.onnx"), "{err}");
        assert_eq!(std::fs::read(shared.join("model.onnx.data")).unwrap(), theirs);
        assert_eq!(listing(&shared), ["model.onnx.data", "other.onnx"]);
    }

    let same = dir.path().join("same");
    std::fs::create_dir(&same).unwrap();
    other_model(&same, true);
    let ino = std::fs::metadata(same.join("model.onnx.data")).unwrap().ino();
    let out = same.join("patched.onnx");
    let (code, err) = run(&[os("rewrite"), os(&src), os(&schema), os("-o"), os(&out)]);
    assert_eq!(code, 0, "byte-identical data is shared: {err}");
    assert_eq!(std::fs::metadata(same.join("model.onnx.data")).unwrap().ino(), ino, "left in place");
    assert_eq!(std::fs::read(&out).unwrap(), std::fs::read(&src).unwrap());
    assert_eq!(listing(&same), ["model.onnx.data", "other.onnx", "patched.onnx"]);
}

#[test]
fn a_refused_check_keeps_the_previous_output_and_leaves_nothing() {
    let dir = util::tempdir();
    let d = dir.path();
    let bad = d.join("bad.onnx");
    util::unloadable_model(&bad);
    let schema = d.join("empty.json");
    std::fs::write(&schema, EMPTY).unwrap();
    let precious = d.join("precious.onnx");
    std::fs::write(&precious, b"the user's file").unwrap();
    let (code, err) = run(&[os("rewrite"), os(&bad), os(&schema), os("-o"), os(&precious), os("--check")]);
    refused(code, &err, &precious, "--check refused the patched model");
    assert!(err.contains("was not written"), "{err}");
    assert_eq!(std::fs::read(&precious).unwrap(), b"the user's file");
    assert_eq!(listing(d), ["bad.onnx", "empty.json", "precious.onnx"]);

    // The same with external data copied into another directory: no data file stays.
    let ext = d.join("ext");
    std::fs::create_dir(&ext).unwrap();
    let (model, _) = external_copy(&ext);
    let mut m = pvc::onnx::decode_model(&std::fs::read(&model).unwrap(), &model).unwrap();
    let g = m.graph.as_mut().unwrap();
    g.node.push(pb::NodeProto {
        input: vec![g.input[0].name.clone().unwrap()],
        output: vec!["strange".into()],
        op_type: Some("NoSuchOp".into()),
        domain: Some("com.example".into()),
        ..Default::default()
    });
    g.output.push(pb::ValueInfoProto { name: Some("strange".into()), ..Default::default() });
    m.opset_import.push(pb::OperatorSetIdProto { domain: Some("com.example".into()), version: Some(1) });
    std::fs::write(&model, encode_model(&m)).unwrap();
    let elsewhere = d.join("elsewhere");
    std::fs::create_dir(&elsewhere).unwrap();
    let out = elsewhere.join("precious.onnx");
    std::fs::write(&out, b"keep me").unwrap();
    let (code, err) = run(&[os("rewrite"), os(&model), os(&schema), os("-o"), os(&out), os("--check")]);
    refused(code, &err, &out, "--check refused the patched model");
    assert_eq!(std::fs::read(&out).unwrap(), b"keep me");
    assert_eq!(listing(&elsewhere), ["precious.onnx"], "no data file and no staging directory stay");
}

/// Runs pvc under `ulimit -f` (KiB) with SIGXFSZ ignored, so a write past the limit fails with
/// EFBIG, as a full disk fails with ENOSPC.
fn with_file_limit(kib: u64, args: &[&std::ffi::OsStr]) -> (i32, String) {
    let mut cmd = std::process::Command::new("bash");
    cmd.arg("-c").arg(format!("trap '' XFSZ; ulimit -f {kib}; exec \"$0\" \"$@\"")).arg(env!("CARGO_BIN_EXE_pvc"));
    finish(cmd.args(args).output().unwrap())
}

#[test]
fn a_failure_mid_copy_leaves_no_temporary_or_data_file() {
    let src = util::model("gpt2_external/model.onnx");
    let dir = util::tempdir();
    let schema = dir.path().join("empty.json");
    std::fs::write(&schema, EMPTY).unwrap();
    let out_dir = dir.path().join("out");
    std::fs::create_dir(&out_dir).unwrap();
    let out = out_dir.join("x.onnx");
    // The data file is 449 KiB: the copy fails half way.
    let (code, err) = with_file_limit(200, &[os("rewrite"), os(&src), os(&schema), os("-o"), os(&out)]);
    refused(code, &err, &out_dir.join("model.onnx.data"), "File too large");
    assert_eq!(err.matches("os error").count(), 1, "the I/O error is printed once: {err}");
    assert!(listing(&out_dir).is_empty(), "left behind: {:?}", listing(&out_dir));

    // A real full disk, where this sandbox can mount a small tmpfs.
    let tiny = dir.path().join("tiny");
    std::fs::create_dir(&tiny).unwrap();
    let mounted = std::process::Command::new("mount")
        .args(["-t", "tmpfs", "-o", "size=200k", "tmpfs"])
        .arg(&tiny)
        .stderr(std::process::Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !mounted {
        eprintln!("skipping the ENOSPC case: cannot mount a tmpfs here (needs root)");
        return;
    }
    let out = tiny.join("x.onnx");
    let (code, err) = run(&[os("rewrite"), os(&src), os(&schema), os("-o"), os(&out)]);
    let left = listing(&tiny);
    let _ = std::process::Command::new("umount").arg(&tiny).status();
    refused(code, &err, &tiny.join("model.onnx.data"), "No space left on device");
    assert!(left.is_empty(), "left behind on a full disk: {left:?}");
}

#[test]
fn sparse_data_files_stay_sparse_when_copied() {
    let dir = util::tempdir();
    let src = dir.path().join("big.data");
    let size: u64 = 3 << 30;
    let f = std::fs::File::create(&src).unwrap();
    f.set_len(size).unwrap();
    use std::os::unix::fs::FileExt;
    f.write_all_at(b"head", 0).unwrap();
    f.write_all_at(b"middle", 1 << 30).unwrap();
    f.write_all_at(b"tail", size - 4).unwrap();
    drop(f);
    let dst = dir.path().join("copy.data");
    let start = std::time::Instant::now();
    pvc::fsio::copy_file(&src, &dst).unwrap();
    let took = start.elapsed();
    let meta = std::fs::metadata(&dst).unwrap();
    assert_eq!(meta.len(), size);
    assert!(meta.blocks() * 512 < 1 << 20, "the copy allocates {} bytes", meta.blocks() * 512);
    let g = std::fs::File::open(&dst).unwrap();
    let mut buf = [0u8; 6];
    for (at, want) in [(0u64, &b"head"[..]), (1 << 30, b"middle"), (size - 4, b"tail"), (12345, &[0u8; 6][..])] {
        g.read_exact_at(&mut buf[..want.len()], at).unwrap();
        assert_eq!(&buf[..want.len()], want, "bytes at {at}");
    }
    eprintln!("sparse 3 GiB copy: {took:?}, {} bytes allocated", meta.blocks() * 512);
}

#[test]
fn special_inputs_are_refused_before_they_are_opened() {
    let dir = util::tempdir();
    let d = dir.path();
    let fifo = d.join("fifo");
    assert!(std::process::Command::new("mkfifo").arg(&fifo).status().unwrap().success());
    let mlp = util::model("mlp_legacy.onnx");
    let weighted = d.join("weighted.json");
    std::fs::write(&weighted, r#"{"component": "net[2].output", "intervention": "addition", "weights": "fifo"}"#)
        .unwrap();
    let zero = Path::new("/dev/zero");
    let o = d.join("o.onnx");
    let cases: Vec<(Vec<&std::ffi::OsStr>, &Path, &str)> = vec![
        (vec![os("rewrite"), os(&mlp), os(&fifo), os("-o"), os(&o)], &fifo, "is a FIFO"),
        (vec![os("rewrite"), os(&mlp), os(zero), os("-o"), os(&o)], zero, "is a character device"),
        (vec![os("rewrite"), os(&mlp), os(&weighted), os("-o"), os(&o)], &fifo, "is a FIFO"),
        (vec![os("run"), os(&mlp), os("--inputs"), os(&fifo)], &fifo, "is a FIFO"),
        (vec![os("run"), os(&mlp), os("--inputs"), os(zero)], zero, "is a character device"),
    ];
    for (args, path, needle) in cases {
        let mut child = util::pvc().args(&args).stderr(std::process::Stdio::piped()).spawn().unwrap();
        let start = std::time::Instant::now();
        while child.try_wait().unwrap().is_none() {
            if start.elapsed() > std::time::Duration::from_secs(20) {
                child.kill().unwrap();
                panic!("pvc {args:?} hangs");
            }
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        let (code, err) = finish(child.wait_with_output().unwrap());
        refused(code, &err, path, needle);
        assert!(err.contains("pvc reads regular files only"), "{err}");
    }
    assert_eq!(listing(d), ["fifo", "weighted.json"]);
}

#[test]
fn io_errors_are_printed_once() {
    let dir = util::tempdir();
    let mlp = util::model("mlp_legacy.onnx");
    let (code, err) = run(&[os("rewrite"), os(&mlp), os(dir.path()), os("-o"), os(&dir.path().join("o.onnx"))]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains(&dir.path().join("config.json").display().to_string()), "{err}");
    assert_eq!(err.matches("No such file or directory").count(), 1, "{err}");
    assert_eq!(err.matches("os error").count(), 1, "{err}");
}

#[test]
fn dev_null_as_a_normal_user_gets_the_same_message() {
    let probe = std::process::Command::new("setpriv")
        .args(["--reuid=65534", "--regid=65534", "--clear-groups", "true"])
        .status();
    if !probe.is_ok_and(|s| s.success()) {
        eprintln!("skipping: cannot run as an unprivileged user here (setpriv needs root)");
        return;
    }
    let o = std::process::Command::new("setpriv")
        .args(["--reuid=65534", "--regid=65534", "--clear-groups", env!("CARGO_BIN_EXE_pvc"), "run"])
        .arg(util::model("mlp_legacy.onnx"))
        .args(["--input", "x=[[[1,2,3,4,5,6,7,8]]]", "-o", "/dev/null"])
        .output()
        .unwrap();
    let (code, err) = finish(o);
    refused(code, &err, Path::new("/dev/null"), "it is a character device; pvc writes regular files only");
    assert!(!err.contains("Permission denied"), "{err}");
}

#[test]
fn a_symlink_to_a_regular_file_is_written_through() {
    let dir = util::tempdir();
    let d = dir.path();
    std::fs::create_dir(d.join("real")).unwrap();
    std::fs::write(d.join("real/out.onnx"), b"old").unwrap();
    std::os::unix::fs::symlink("real/out.onnx", d.join("link.onnx")).unwrap();
    let mlp = util::model("mlp_legacy.onnx");
    let schema = d.join("empty.json");
    std::fs::write(&schema, EMPTY).unwrap();
    let (code, err) = run(&[os("rewrite"), os(&mlp), os(&schema), os("-o"), os(&d.join("link.onnx"))]);
    assert_eq!(code, 0, "{err}");
    assert!(file_type(&d.join("link.onnx")).is_symlink(), "the link stays a link");
    assert_eq!(std::fs::read(d.join("real/out.onnx")).unwrap(), std::fs::read(&mlp).unwrap());
    assert_eq!(listing(&d.join("real")), ["out.onnx"]);
}

#[test]
fn what_a_killed_run_left_is_swept_by_the_next_write() {
    let dir = util::tempdir();
    let d = dir.path();
    let mut child = std::process::Command::new("true").spawn().unwrap();
    let dead = child.id();
    child.wait().unwrap();
    let stale_stage = d.join(format!(".stage.pvc-stage-{dead}-0"));
    std::fs::create_dir(&stale_stage).unwrap();
    std::fs::write(stale_stage.join("model.onnx.data"), b"partial").unwrap();
    std::fs::write(d.join(format!(".x.onnx.pvc-tmp-{dead}-3")), b"partial").unwrap();
    let alive = d.join(format!(".y.onnx.pvc-tmp-{}-0", std::process::id()));
    std::fs::write(&alive, b"in use").unwrap();
    std::fs::write(d.join("notes.pvc-tmp-1-1"), b"not ours").unwrap();
    let out = d.join("x.onnx");
    let schema = d.join("empty.json");
    std::fs::write(&schema, EMPTY).unwrap();
    let (code, err) =
        run(&[os("rewrite"), os(&util::model("gpt2_external/model.onnx")), os(&schema), os("-o"), os(&out)]);
    assert_eq!(code, 0, "{err}");
    let alive_name = alive.file_name().unwrap().to_string_lossy().into_owned();
    let mut want =
        vec![alive_name, "empty.json".into(), "model.onnx.data".into(), "notes.pvc-tmp-1-1".into(), "x.onnx".into()];
    want.sort();
    assert_eq!(listing(d), want, "only a dead process's files are removed");
}
