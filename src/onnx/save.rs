//! Writing a model: exact encoding, atomic replacement, and relocation of external data.

use super::external_data::ExternalRef;
use super::{OnnxError, pb};
use prost::Message;
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// How external data files follow a model saved into another directory.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum DataPolicy {
    /// Copy each data file next to the output. The default: `onnx.checker` rejects data files
    /// with several hard links as a possible hard-link attack.
    #[default]
    Copy,
    /// Hard-link each data file next to the output (instant, no extra disk; copies across file
    /// systems). ONNX Runtime loads such models; `onnx.checker` refuses them.
    Link,
}

/// Options for [`save`](SaveOptions::save).
#[derive(Debug, Clone, Default)]
pub struct SaveOptions {
    /// What to do with external data when the output directory differs from the input's.
    pub data: DataPolicy,
}

/// Encodes a model; decoding then encoding an untouched model gives back the same bytes.
pub fn encode_model(model: &pb::ModelProto) -> Vec<u8> {
    model.encode_to_vec()
}

impl SaveOptions {
    /// Writes `model` to `out` so that every external reference in `external` (locations relative
    /// to `src_dir`) stays valid next to `out`. Refuses to overwrite any path in `inputs`.
    pub fn save(
        &self,
        model: &pb::ModelProto,
        src_dir: &Path,
        external: &[ExternalRef],
        out: &Path,
        inputs: &[PathBuf],
    ) -> Result<(), OnnxError> {
        let files: BTreeMap<&str, &Path> = external.iter().map(|r| (r.location.as_str(), r.file.as_path())).collect();
        let out_abs = absolute(out);
        let is_out = |p: &Path| p == out || (out_abs.is_some() && absolute(p) == out_abs);
        let sources: BTreeSet<&Path> = inputs.iter().map(PathBuf::as_path).chain(files.values().copied()).collect();
        if sources.into_iter().any(is_out) {
            return Err(OnnxError::OverwritesInput { path: out.to_path_buf(), why: "it is an input of this run" });
        }
        let out_dir = super::external_data::model_dir(out);
        if files.keys().any(|location| is_out(&out_dir.join(location))) {
            return Err(OnnxError::OverwritesInput {
                path: out.to_path_buf(),
                why: "the model's external data is placed there",
            });
        }
        if !same_path(&out_dir, src_dir) {
            for (location, file) in files {
                self.place(file, &out_dir.join(location))?;
            }
        }
        super::stream::write_atomic_with(out, |f| super::stream::write_model(model, f))
    }

    fn place(&self, src: &Path, dst: &Path) -> Result<(), OnnxError> {
        if dst.exists() && same_path(src, dst) {
            return Ok(());
        }
        if let Some(parent) = dst.parent() {
            std::fs::create_dir_all(parent).map_err(|e| OnnxError::io(parent, e))?;
        }
        let tmp = temp_name(dst);
        let linked = self.data == DataPolicy::Link && std::fs::hard_link(src, &tmp).is_ok();
        if !linked {
            std::fs::copy(src, &tmp).map_err(|e| OnnxError::io(dst, e))?;
        }
        std::fs::rename(&tmp, dst).map_err(|e| {
            let _ = std::fs::remove_file(&tmp);
            OnnxError::io(dst, e)
        })
    }
}

/// Whether two paths name the same file or directory (after resolving what exists).
fn same_path(a: &Path, b: &Path) -> bool {
    match (absolute(a), absolute(b)) {
        (Some(a), Some(b)) => a == b,
        _ => false,
    }
}

fn absolute(p: &Path) -> Option<PathBuf> {
    if let Ok(c) = p.canonicalize() {
        return Some(c);
    }
    let parent = super::external_data::model_dir(p).canonicalize().ok()?;
    Some(parent.join(p.file_name()?))
}

/// A fresh temporary name next to `path`, unique within this process (concurrent saves to the
/// same path must not share one).
fn temp_name(path: &Path) -> PathBuf {
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    path.with_file_name(format!(".{name}.pvc-tmp-{}-{n}", std::process::id()))
}

/// Writes `bytes` to `path` through a temporary file in the same directory and a rename, so
/// readers see the old file or the new one, never a partial one.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), OnnxError> {
    use std::io::Write;
    let tmp = temp_name(path);
    let mut f = std::fs::File::create_new(&tmp).map_err(|e| OnnxError::io(path, e))?;
    let result = (|| {
        f.write_all(bytes)?;
        f.sync_all()?;
        std::fs::rename(&tmp, path)
    })();
    result.map_err(|e| {
        let _ = std::fs::remove_file(&tmp);
        OnnxError::io(path, e)
    })
}
