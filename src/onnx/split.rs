//! Saving with the large tensors moved into one data file next to the model (`--external-data
//! split`), following ONNX's external-data convention.
//!
//! Every main-graph initializer whose `raw_data` has at least [`SPLIT_THRESHOLD`] bytes, and every
//! one already external whatever its size, goes into `<model file name>.data` at a 4 KiB-aligned
//! offset, with `location` / `offset` / `length` keys. [`super::SaveOptions`] stages the data
//! file and the model like any other output.

use super::external_data::{ExternalRef, is_external};
use super::pb::{self, tensor_proto::DataLocation};
use super::{OnnxError, s};
use prost::bytes::Bytes;
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::Path;

/// Tensors of at least this many bytes go to the data file (onnx's `size_threshold` default).
pub const SPLIT_THRESHOLD: u64 = 1024;

/// Alignment of each tensor's offset in the data file (a page, so runtimes can map tensors).
pub const SPLIT_ALIGN: u64 = 4096;

/// Where a moved tensor's bytes come from.
pub(super) enum Source<'a> {
    Embedded(Bytes),
    External(&'a ExternalRef),
}

/// Rewrites the large initializers of `proto` as references into `data_name` and returns what
/// goes where, in offset order.
pub(super) fn move_out<'a>(
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

/// Writes the data file's bytes: each piece at its offset, zero bytes in between.
pub(super) fn write_pieces(pieces: &[(u64, Source)], w: &mut dyn Write) -> std::io::Result<()> {
    let mut at = 0u64;
    for (offset, src) in pieces {
        std::io::copy(&mut std::io::repeat(0).take(offset - at), w)?;
        let len = match src {
            Source::Embedded(b) => {
                w.write_all(b)?;
                b.len() as u64
            }
            Source::External(r) => {
                let mut from = std::fs::File::open(&r.file)?;
                from.seek(SeekFrom::Start(r.offset))?;
                let n = std::io::copy(&mut from.take(r.length), w)?;
                if n != r.length {
                    return Err(std::io::Error::new(
                        std::io::ErrorKind::UnexpectedEof,
                        format!("{} is short", r.file.display()),
                    ));
                }
                n
            }
        };
        at = offset + len;
    }
    Ok(())
}
