//! Bounded on any input: hostile pickles, absurd declared dims and schema numbers, huge thread
//! counts and very long names each fail fast with one clear line and write nothing; thousands of
//! interventions still give a valid model (issue 7, requirements 2 and 3; the bad-input report's
//! C1–C3, M1, M3, H1–H3 and W6).

use crate::util;
use prost::Message;
use pvc::onnx::pb;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

/// The pyvene save directory whose `.bin` the pickle tests replace.
const SAVE: &str = "cases/gpt2_addition_pos/pyvene_save";

/// Runs pvc with `args`, where `{out}` stands for an output path in a fresh directory; returns
/// (exit code, stderr, output path, directory).
fn pvc(args: &[&str]) -> (i32, String, PathBuf, tempfile::TempDir) {
    let dir = util::tempdir();
    let out = dir.path().join("out.onnx");
    let args: Vec<String> = args.iter().map(|a| a.replace("{out}", out.to_str().unwrap())).collect();
    let o = util::pvc().args(&args).output().unwrap();
    (o.status.code().unwrap_or(-1), String::from_utf8_lossy(&o.stderr).into_owned(), out, dir)
}

/// Asserts a clean failure: exit code 2, one `error:` line naming every needle, nothing written.
fn fails(args: &[&str], needles: &[&str]) -> String {
    let (code, err, out, _dir) = pvc(args);
    util::assert_refused(Some(code), &err, &out, needles);
    err
}

/// A copy of the pyvene save directory whose `.bin` holds `pickle` as its `data.pkl`, the other
/// entries unchanged, written with `method`.
fn save_dir_with(pickle: &[u8], method: zip::CompressionMethod) -> tempfile::TempDir {
    let dir = util::tempdir();
    let src = util::model(SAVE);
    for e in std::fs::read_dir(&src).unwrap() {
        let path = e.unwrap().path();
        let to = dir.path().join(path.file_name().unwrap());
        if path.extension().is_some_and(|x| x == "bin") {
            std::fs::write(&to, repack(&path, pickle, method)).unwrap();
        } else {
            std::fs::copy(&path, &to).unwrap();
        }
    }
    dir
}

fn repack(bin: &Path, pickle: &[u8], method: zip::CompressionMethod) -> Vec<u8> {
    let mut zin = zip::ZipArchive::new(std::fs::File::open(bin).unwrap()).unwrap();
    let mut zout = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let opts = zip::write::SimpleFileOptions::default().compression_method(method).large_file(true);
    for i in 0..zin.len() {
        let mut f = zin.by_index(i).unwrap();
        let name = f.name().unwrap().into_owned();
        let mut data = Vec::new();
        f.read_to_end(&mut data).unwrap();
        zout.start_file(&name, opts).unwrap();
        zout.write_all(if name.ends_with("data.pkl") { pickle } else { &data }).unwrap();
    }
    zout.finish().unwrap().into_inner()
}

/// The original `data.pkl` of the save directory.
fn original_pickle() -> Vec<u8> {
    let bin = std::fs::read_dir(util::model(SAVE))
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.extension().is_some_and(|x| x == "bin"))
        .unwrap();
    let mut z = zip::ZipArchive::new(std::fs::File::open(bin).unwrap()).unwrap();
    let name = z.file_names().map(|n| n.unwrap().into_owned()).find(|n| n.ends_with("data.pkl")).unwrap();
    let mut out = Vec::new();
    z.by_name(&name).unwrap().read_to_end(&mut out).unwrap();
    out
}

/// `original_pickle()` with the bytes `from` (which must occur once) replaced by `to`.
fn patched_pickle(from: &[u8], to: &[u8]) -> Vec<u8> {
    let p = original_pickle();
    let at: Vec<usize> = (0..p.len()).filter(|&i| p[i..].starts_with(from)).collect();
    assert_eq!(at.len(), 1, "{from:?} must occur once in the fixture pickle");
    [&p[..at[0]], to, &p[at[0] + from.len()..]].concat()
}

fn rewrite_save_dir(dir: &Path) -> Vec<String> {
    let d = dir.to_str().unwrap().to_string();
    vec![
        "rewrite".into(),
        util::model("gpt2_legacy.onnx").to_str().unwrap().into(),
        d,
        "-o".into(),
        "{out}".into(),
        "--unit-locations".into(),
        r#"{"base":5}"#.into(),
    ]
}

fn fails_on_save_dir(pickle: &[u8], needles: &[&str]) -> String {
    let dir = save_dir_with(pickle, zip::CompressionMethod::Stored);
    let args = rewrite_save_dir(dir.path());
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let mut needles = needles.to_vec();
    needles.push("intkey_");
    fails(&args, &needles)
}

#[test]
fn deflated_and_stored_save_dirs_give_the_same_model() {
    let mut outs = Vec::new();
    for method in [zip::CompressionMethod::Stored, zip::CompressionMethod::Deflated] {
        let dir = save_dir_with(&original_pickle(), method);
        let args = rewrite_save_dir(dir.path());
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let (code, err, out, _tmp) = pvc(&args);
        assert_eq!(code, 0, "{method:?}: {err}");
        outs.push(std::fs::read(out).unwrap());
    }
    assert!(outs[0] == outs[1], "stored and deflated archives must give identical bytes");
}

#[test]
fn a_deeply_nested_pickle_is_refused() {
    const N: usize = 1_000_000;
    let lists = [&b"\x80\x02"[..], &b"]".repeat(N), &b"a".repeat(N - 1), b"."].concat();
    fails_on_save_dir(&lists, &["nests deeper than"]);
    let tuples = [&b"\x80\x02"[..], &b"(".repeat(N), &b"t".repeat(N), b"."].concat();
    fails_on_save_dir(&tuples, &["nests deeper than"]);
}

#[test]
fn a_deep_chain_built_through_the_memo_drops_without_recursion() {
    const N: u32 = 1_000_000;
    let mut p = b"\x80\x02]r\x00\x00\x00\x00b".to_vec();
    for k in 1..N {
        p.extend_from_slice(b"]j");
        p.extend_from_slice(&(k - 1).to_le_bytes());
        p.extend_from_slice(b"ar");
        p.extend_from_slice(&k.to_le_bytes());
        p.push(b'b');
    }
    p.extend_from_slice(b"j");
    p.extend_from_slice(&(N - 1).to_le_bytes());
    p.push(b'.');
    fails_on_save_dir(&p, &["not a state_dict"]);
}

#[test]
fn a_billion_laughs_pickle_is_shared_not_copied() {
    let mut p = b"\x80\x02]q\x00".to_vec();
    for k in 1u8..40 {
        p.extend_from_slice(&[b']', b'(', b'h', k - 1, b'h', k - 1, b'e', b'q', k]);
    }
    p.push(b'.');
    assert!(p.len() < 400);
    fails_on_save_dir(&p, &["not a state_dict"]);
}

#[test]
fn a_pickle_calling_os_system_is_refused_and_nothing_runs() {
    let marker = util::tempdir();
    let flag = marker.path().join("ran");
    let cmd = format!("touch {}", flag.display());
    let mut p = b"\x80\x02cos\nsystem\nX".to_vec();
    p.extend_from_slice(&(cmd.len() as u32).to_le_bytes());
    p.extend_from_slice(cmd.as_bytes());
    p.extend_from_slice(b"\x85R.");
    fails_on_save_dir(&p, &["refusing to call `os.system`"]);
    assert!(!flag.exists(), "the pickle's command ran");
}

#[test]
fn tensor_offsets_and_shapes_that_overflow_are_refused() {
    let big = [&[0x8a, 8][..], &(1u64 << 62).to_le_bytes()].concat();
    // source_representation: storage offset `K\x00` then shape `K@\x85`; replace the offset.
    let p = patched_pickle(b"K\x00K@\x85", &[&big[..], b"K@\x85"].concat());
    fails_on_save_dir(&p, &["source_representation", "overflows"]);
    // shape (2^62, 4) with strides (4, 1).
    let shape = [&b"K\x00("[..], &big, b"K\x04tq\x16(K\x04K\x01t"].concat();
    let p = patched_pickle(b"K\x00K@\x85q\x16K\x01\x85", &shape);
    let err = fails_on_save_dir(&p, &["overflows"]);
    assert!(!err.contains("0 values"), "{err}");
}

/// mlp_legacy with a value_info declaring `/net/net.2/Add_output_0` as `[batch, seq, dim]`.
fn mlp_declaring(dim: i64, dir: &Path) -> PathBuf {
    let bytes = std::fs::read(util::model("mlp_legacy.onnx")).unwrap();
    let mut m = pb::ModelProto::decode(bytes.as_slice()).unwrap();
    let g = m.graph.as_mut().unwrap();
    let d = |v: pb::tensor_shape_proto::dimension::Value| pb::tensor_shape_proto::Dimension {
        value: Some(v),
        ..Default::default()
    };
    use pb::tensor_shape_proto::dimension::Value as V;
    let shape = pb::TensorShapeProto {
        dim: vec![d(V::DimParam("batch".into())), d(V::DimParam("seq".into())), d(V::DimValue(dim))],
    };
    let tensor = pb::type_proto::Tensor { elem_type: Some(1), shape: Some(shape) };
    g.value_info.retain(|v| v.name.as_deref() != Some("/net/net.2/Add_output_0"));
    g.value_info.push(pb::ValueInfoProto {
        name: Some("/net/net.2/Add_output_0".into()),
        r#type: Some(pb::TypeProto { value: Some(pb::type_proto::Value::TensorType(tensor)), ..Default::default() }),
        ..Default::default()
    });
    let path = dir.join(format!("declared_{dim}.onnx"));
    std::fs::write(&path, m.encode_to_vec()).unwrap();
    path
}

fn schema_file(dir: &Path, name: &str, text: &str) -> String {
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p.to_str().unwrap().to_string()
}

#[test]
fn absurd_declared_dims_at_the_site_are_refused() {
    let dir = util::tempdir();
    let zero = schema_file(
        dir.path(),
        "zero.json",
        r#"{"component":"net[2].output","intervention":"zero","unit_locations":{"base":[1]},"subspaces":[0,1]}"#,
    );
    let noise = schema_file(
        dir.path(),
        "noise.json",
        r#"{"component":"net[2].output","intervention":"noise","unit_locations":{"base":[0,1,2,3]}}"#,
    );
    for (dim, needle) in [(1i64 << 40, "1099511627776 wide"), (-7, "-7, which is negative")] {
        let model = mlp_declaring(dim, dir.path());
        for schema in [&zero, &noise] {
            fails(
                &["rewrite", model.to_str().unwrap(), schema, "-o", "{out}"],
                &["component", "/net/net.2/Add_output_0", needle],
            );
        }
    }
}

#[test]
fn huge_subspace_partitions_and_unit_counts_are_refused() {
    let dir = util::tempdir();
    let model = util::model("gpt2_legacy.onnx");
    let rep = |extra: &str| {
        format!(
            r#"{{"model_type":"gpt2","representations":[{{"layer":0,"component":"block_output","intervention_type":"zero"{extra}}}],"unit_locations":{{"base":1}},"subspaces":[0]}}"#
        )
    };
    for (range, needle) in
        [("4611686018427387904", "range end 4611686018427387904"), ("1000000000", "range end 1000000000")]
    {
        let s = schema_file(dir.path(), "p.json", &rep(&format!(r#","subspace_partition":[[0,{range}]]"#)));
        fails(
            &["rewrite", model.to_str().unwrap(), &s, "-o", "{out}"],
            &["representations[0].subspace_partition[0]", needle],
        );
    }
    let many = format!(r#","subspace_partition":[{}]"#, ["[0,16000000]"; 3].join(","));
    let s = schema_file(dir.path(), "p.json", &rep(&many).replace(r#""subspaces":[0]"#, r#""subspaces":[0,1,2]"#));
    fails(
        &["rewrite", model.to_str().unwrap(), &s, "-o", "{out}"],
        &["subspace_partition", "more than 16777216 columns"],
    );
    let collect = r#"{"model_type":"gpt2","representations":[{"layer":1,"component":"block_output","unit":"pos","max_number_of_units":4611686018427387904,"intervention_type":"collect"}],"unit_locations":{"base":[[[1]]]}}"#;
    let s = schema_file(dir.path(), "c.json", collect);
    fails(
        &["rewrite", model.to_str().unwrap(), &s, "-o", "{out}"],
        &["representations[0].max_number_of_units", "must be 1 to 1048576"],
    );
}

#[test]
fn huge_ort_thread_counts_are_refused_before_loading() {
    let model = util::model("mlp_legacy.onnx");
    for flag in ["--threads", "--inter-threads"] {
        fails(
            &[
                "run",
                model.to_str().unwrap(),
                "--backend",
                "ort",
                flag,
                "100000",
                "--input",
                "x=[[[1,2,3,4,5,6,7,8]]]",
                "-o",
                "{out}",
            ],
            &[flag, "100000 is out of range"],
        );
    }
}

#[test]
fn duplicate_positions_are_refused_and_long_position_lists_check_fast() {
    let dir = util::tempdir();
    let model = util::model("gpt2_legacy.onnx");
    let two = |a: &str, b: &str| {
        format!(
            r#"{{"model_type":"gpt2","representations":[{{"layer":0,"component":"block_output","intervention_type":"zero"}},{{"layer":0,"component":"block_output","intervention_type":"zero"}}],"unit_locations":{{"base":[[{a}],[{b}]]}}}}"#
        )
    };
    let s = schema_file(dir.path(), "dup.json", &two("[1,2,1]", "[3]"));
    fails(
        &["rewrite", model.to_str().unwrap(), &s, "-o", "{out}"],
        &["representations[0]", "position 1 is listed twice"],
    );
    let long = |v: usize| format!("[{}]", vec![v.to_string(); 300_000].join(","));
    let s = schema_file(dir.path(), "long.json", &two(&long(0), &long(1)));
    fails(&["rewrite", model.to_str().unwrap(), &s, "-o", "{out}"], &["listed twice"]);
}

#[test]
fn a_very_long_component_fails_fast_with_a_short_line() {
    let dir = util::tempdir();
    let component = format!("{}output", "a.".repeat(250_000));
    let s = schema_file(
        dir.path(),
        "long.json",
        &format!(r#"{{"representations":[{{"component":"{component}","intervention_type":"zero"}}]}}"#),
    );
    let model = util::model("gpt2_legacy.onnx");
    let err = fails(
        &["rewrite", model.to_str().unwrap(), &s, "-o", "{out}"],
        &["representations[0].component", "500006 bytes"],
    );
    assert!(err.len() < 1000, "{} bytes of error", err.len());
}

/// `n` Zero interventions on distinct (layer, component, position, subspace) of the tiny GPT-2.
pub fn many_zeros(n: usize) -> String {
    const SITES: [(u32, &str); 6] = [
        (0, "block_output"),
        (0, "mlp_output"),
        (0, "attention_output"),
        (1, "block_output"),
        (1, "mlp_output"),
        (1, "attention_output"),
    ];
    assert!(n <= SITES.len() * 32 * 64);
    let (mut reps, mut base, mut subs) = (Vec::new(), Vec::new(), Vec::new());
    for i in 0..n {
        let (layer, comp) = SITES[i % SITES.len()];
        let j = i / SITES.len();
        reps.push(format!(r#"{{"layer":{layer},"component":"{comp}","intervention_type":"zero"}}"#));
        base.push(format!("[[{}]]", j % 32));
        subs.push(format!("[[{}]]", j / 32));
    }
    format!(
        r#"{{"model_type":"gpt2","representations":[{}],"unit_locations":{{"base":[{}]}},"subspaces":[{}]}}"#,
        reps.join(","),
        base.join(","),
        subs.join(",")
    )
}

#[test]
fn two_thousand_interventions_give_a_verified_model_that_tract_runs() {
    use pvc::runtime::{Backend, Tensor, TractBackend};
    let dir = util::tempdir();
    let s = schema_file(dir.path(), "zeros.json", &many_zeros(2000));
    let model = util::model("gpt2_legacy.onnx");
    let (code, err, out, _tmp) = pvc(&["rewrite", model.to_str().unwrap(), &s, "-o", "{out}", "--verify"]);
    assert_eq!(code, 0, "{err}");
    let mut b = TractBackend::load(&out).unwrap();
    let ids = Tensor::from_i64(vec![1, 32], &(0..32).map(|i| i % 100).collect::<Vec<_>>());
    let res = b.run(&vec![("input_ids".to_string(), ids)]).unwrap();
    assert!(!res.is_empty());
}
