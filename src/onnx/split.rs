//! Saving with the large tensors moved into one data file next to the model (`--external-data
//! split`), following ONNX's external-data convention.
//!
//! Every main-graph initializer whose `raw_data` has at least [`SPLIT_THRESHOLD`] bytes, and every
//! one already external whatever its size, goes into `<model file name>.data` at a 4 KiB-aligned
//! offset, with `location` / `offset` / `length` keys. The data file is written through a
//! temporary file and a rename, before the model; an existing data file is kept only when it holds
//! exactly the bytes that would be written, otherwise nothing is written.

use super::external_data::{ExternalRef, is_external, model_dir};
use super::pb::{self, tensor_proto::DataLocation};
use super::stream::{temp_name, write_atomic_with, write_model};
use super::{OnnxError, s};
use prost::bytes::Bytes;
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

/// Tensors of at least this many bytes go to the data file (onnx's `size_threshold` default).
pub const SPLIT_THRESHOLD: u64 = 1024;

/// Alignment of each tensor's offset in the data file (a page, so runtimes can map tensors).
pub const SPLIT_ALIGN: u64 = 4096;

enum Source<'a> {
    Embedded(Bytes),
    External(&'a ExternalRef),
}

/// Writes `model` to `out` with its large main-graph initializers in `<out>.data`. `external`
/// are the checked references of the loaded model (their bytes are copied into the new data
/// file). Refuses to write over any path in `inputs` or over a data file of `external`.
pub fn save_split(
    model: &pb::ModelProto,
    external: &[ExternalRef],
    out: &Path,
    inputs: &[PathBuf],
) -> Result<(), OnnxError> {
    let name = out.file_name().ok_or_else(|| OnnxError::io(out, std::io::ErrorKind::InvalidInput.into()))?;
    let data_name = format!("{}.data", name.to_string_lossy());
    let data_path = model_dir(out).join(&data_name);
    let taken = inputs.iter().chain(external.iter().map(|r| &r.file));
    for p in taken {
        if same_file(p, out) {
            return Err(OnnxError::OverwritesInput { path: out.to_path_buf(), why: "it is an input of this run" });
        }
        if same_file(p, &data_path) && !external.iter().any(|r| same_file(&r.file, &data_path)) {
            return Err(OnnxError::OverwritesInput { path: data_path, why: "it is an input of this run" });
        }
    }
    let mut proto = model.clone();
    let pieces = move_out(&mut proto, external, &data_name, out)?;
    let placed = if pieces.is_empty() { false } else { place_data(&pieces, &data_path)? };
    write_atomic_with(out, |f| write_model(&proto, f)).inspect_err(|_| {
        if placed {
            let _ = std::fs::remove_file(&data_path);
        }
    })
}

/// Rewrites the large initializers of `proto` as references into `data_name` and returns what
/// goes where, in offset order.
fn move_out<'a>(
    proto: &mut pb::ModelProto,
    external: &'a [ExternalRef],
    data_name: &str,
    out: &Path,
) -> Result<Vec<(u64, Source<'a>)>, OnnxError> {
    let Some(g) = proto.graph.as_mut() else { return Ok(vec![]) };
    let mut pieces = Vec::new();
    let mut end = 0u64;
    let mut moved_external = 0;
    for t in &mut g.initializer {
        let (len, src) = if is_external(t) {
            let r = external.iter().find(|r| r.tensor == s(&t.name)).ok_or_else(|| OnnxError::ExternalData {
                path: out.to_path_buf(),
                tensor: s(&t.name).to_string(),
                reason: "external reference was not checked at load".into(),
            })?;
            moved_external += 1;
            (r.length, Source::External(r))
        } else {
            match &t.raw_data {
                Some(raw) if raw.len() as u64 >= SPLIT_THRESHOLD => (raw.len() as u64, Source::Embedded(raw.clone())),
                _ => continue,
            }
        };
        let offset = end.next_multiple_of(SPLIT_ALIGN);
        end = offset + len;
        t.raw_data = None;
        t.data_location = Some(DataLocation::External as i32);
        t.external_data =
            [("location", data_name.to_string()), ("offset", offset.to_string()), ("length", len.to_string())]
                .into_iter()
                .map(|(k, v)| pb::StringStringEntryProto { key: Some(k.into()), value: Some(v) })
                .collect();
        pieces.push((offset, src));
    }
    if moved_external != external.len() {
        return Err(OnnxError::ExternalData {
            path: out.to_path_buf(),
            tensor: external
                .iter()
                .find(|r| !g.initializer.iter().any(|t| s(&t.name) == r.tensor))
                .map_or_else(String::new, |r| r.tensor.clone()),
            reason: "--external-data split moves main-graph initializers only; this external tensor lives elsewhere"
                .into(),
        });
    }
    Ok(pieces)
}

/// Writes the data file; returns whether a new file was placed (`false`: an identical one was
/// already there).
fn place_data(pieces: &[(u64, Source)], data_path: &Path) -> Result<bool, OnnxError> {
    let tmp = temp_name(data_path);
    let io = |e| OnnxError::io(data_path, e);
    let written = (|| {
        let mut f = std::fs::File::create_new(&tmp)?;
        for (offset, src) in pieces {
            f.seek(SeekFrom::Start(*offset))?;
            match src {
                Source::Embedded(b) => f.write_all(b)?,
                Source::External(r) => {
                    let mut from = std::fs::File::open(&r.file)?;
                    from.seek(SeekFrom::Start(r.offset))?;
                    let n = std::io::copy(&mut from.take(r.length), &mut f)?;
                    if n != r.length {
                        return Err(std::io::Error::new(
                            std::io::ErrorKind::UnexpectedEof,
                            format!("{} is short", r.file.display()),
                        ));
                    }
                }
            }
        }
        f.sync_all()
    })();
    let result = written.map_err(io).and_then(|()| match std::fs::symlink_metadata(data_path) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            std::fs::rename(&tmp, data_path).map(|()| true).map_err(io)
        }
        Err(e) => Err(io(e)),
        Ok(_) if same_contents(&tmp, data_path).map_err(io)? => Ok(false),
        Ok(_) => Err(OnnxError::OverwritesInput {
            path: data_path.to_path_buf(),
            why: "a different file is already there (the data file of --external-data split)",
        }),
    });
    let _ = std::fs::remove_file(&tmp);
    result
}

fn same_contents(a: &Path, b: &Path) -> std::io::Result<bool> {
    let (fa, fb) = (std::fs::File::open(a)?, std::fs::File::open(b)?);
    if !fb.metadata()?.is_file() || fa.metadata()?.len() != fb.metadata()?.len() {
        return Ok(false);
    }
    let (mut ra, mut rb) = (std::io::BufReader::new(fa), std::io::BufReader::new(fb));
    let (mut ba, mut bb) = (vec![0u8; 1 << 16], vec![0u8; 1 << 16]);
    loop {
        let n = ra.read(&mut ba)?;
        if n == 0 {
            return Ok(true);
        }
        rb.read_exact(&mut bb[..n])?;
        if ba[..n] != bb[..n] {
            return Ok(false);
        }
    }
}

fn same_file(a: &Path, b: &Path) -> bool {
    use std::os::unix::fs::MetadataExt;
    match (std::fs::metadata(a), std::fs::metadata(b)) {
        (Ok(a), Ok(b)) => a.dev() == b.dev() && a.ino() == b.ino(),
        _ => false,
    }
}
