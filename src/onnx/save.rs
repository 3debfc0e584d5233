//! Writing a model: exact encoding, staging, and relocation of external data.
//!
//! Every write follows [`crate::fsio`]'s policy: the model and its data files are staged in a
//! hidden directory next to the output, may be checked there, and only then moved into place;
//! no input of the run and no other model's data file is ever replaced.

use super::external_data::ExternalRef;
use super::load::MappedSource;
use super::{OnnxError, pb};
use crate::fsio::{self, InputSet, OutputError, Stage};
use prost::Message;
use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Component, Path, PathBuf};

/// How external data files follow a model saved into another directory.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum DataPolicy {
    /// Copy each data file next to the output (holes stay holes). The default: `onnx.checker`
    /// rejects data files with several hard links as a possible hard-link attack.
    #[default]
    Copy,
    /// Hard-link each data file next to the output (instant, no extra disk; copies across file
    /// systems). ONNX Runtime loads such models; `onnx.checker` refuses them.
    Link,
    /// Write every tensor of [`super::SPLIT_THRESHOLD`] bytes or more, embedded or external, into
    /// one `<output>.data` at [`super::SPLIT_ALIGN`]-aligned offsets (ONNX's external-data
    /// convention), so the output loads without reading its weights.
    Split,
}

impl DataPolicy {
    /// The policy named `copy`, `link` or `split` (the spelling of `--external-data`).
    pub fn from_name(name: &str) -> Option<DataPolicy> {
        match name {
            "copy" => Some(DataPolicy::Copy),
            "link" => Some(DataPolicy::Link),
            "split" => Some(DataPolicy::Split),
            _ => None,
        }
    }
}

/// Options for [`save`](SaveOptions::save).
#[derive(Debug, Clone, Default)]
pub struct SaveOptions {
    /// What to do with external data when the output directory differs from the input's.
    pub data: DataPolicy,
    /// The model file the model was loaded from, when the model is unchanged: its bytes are
    /// copied instead of encoded (ignored with [`DataPolicy::Split`], which changes the model).
    pub verbatim: Option<PathBuf>,
    /// The mapped file the model's byte fields are slices of: untouched weights are copied
    /// from it inside the kernel instead of through the map (same bytes either way).
    pub source: Option<MappedSource>,
    /// Sync every written file and the output directory before returning (see
    /// [`Stage::durable`]); off by default, as in `cp` and `onnx.save`.
    pub durable: bool,
}

/// Encodes a model; decoding then encoding an untouched model gives back the same bytes.
pub fn encode_model(model: &pb::ModelProto) -> Vec<u8> {
    model.encode_to_vec()
}

/// A model written into a staging directory next to its output, not yet in place.
#[derive(Debug)]
pub struct Staged {
    stage: Stage,
    name: PathBuf,
    target: PathBuf,
    out: PathBuf,
    inputs: InputSet,
    new_data: Vec<PathBuf>,
    present_data: Vec<PathBuf>,
}

impl SaveOptions {
    /// Writes `model` to `out` so that every external reference in `external` stays valid next to
    /// `out`; see [`SaveOptions::stage`] for what is refused.
    pub fn save(
        &self,
        model: &pb::ModelProto,
        external: &[ExternalRef],
        out: &Path,
        inputs: &InputSet,
    ) -> Result<(), OnnxError> {
        self.stage(model, external, out, inputs)?.commit()
    }

    /// Stages `model` and the data files it needs next to `out` without touching `out` or
    /// anything else there. Refuses, before writing anything, an `out` that is not a regular
    /// file, is any file of `inputs` or of `external`, or lies where a data file goes, and a data
    /// file whose place already holds different bytes (another model's data).
    pub fn stage(
        &self,
        model: &pb::ModelProto,
        external: &[ExternalRef],
        out: &Path,
        inputs: &InputSet,
    ) -> Result<Staged, OnnxError> {
        let mut inputs = inputs.clone();
        for r in external {
            inputs.add(&r.file);
        }
        let target = fsio::check_output(out, &inputs)?;
        let out_dir = fsio::parent_dir(&target);
        let name = PathBuf::from(
            target
                .file_name()
                .ok_or_else(|| OutputError::NotRegular { path: out.to_path_buf(), kind: "not a file name" })?,
        );
        if self.data == DataPolicy::Split {
            return self.stage_split(model, external, out, target, name, inputs);
        }
        let files: BTreeMap<PathBuf, &Path> =
            external.iter().map(|r| (normalize(&r.location), r.file.as_path())).collect();
        if files.contains_key(&name) {
            return Err(
                OutputError::Collides { path: out.into(), why: "the model's external data is placed there" }.into()
            );
        }
        let (mut new_data, mut present_data) = (Vec::new(), Vec::new());
        for (location, src) in &files {
            match data_at(&out_dir, location, src, &inputs)? {
                true => present_data.push(location.clone()),
                false => new_data.push(location.clone()),
            }
        }
        let mut stage = Stage::new(&out_dir)?.durable(self.durable);
        for location in &new_data {
            stage.copy_in(location, files[location], self.data == DataPolicy::Link)?;
        }
        match &self.verbatim {
            Some(src) => stage.copy_in(&name, src, false)?,
            None => {
                stage.write_in(&name, |f| super::stream::write_model_file(model, f, self.source.as_ref()).map(drop))?
            }
        }
        Ok(Staged { stage, name, target, out: out.to_path_buf(), inputs, new_data, present_data })
    }

    /// [`DataPolicy::Split`]: stages `<out>.data` with the large tensors (see
    /// [`super::split`]) and the model that references it; a data file already there is kept
    /// when it holds the same bytes and refused otherwise.
    fn stage_split(
        &self,
        model: &pb::ModelProto,
        external: &[ExternalRef],
        out: &Path,
        target: PathBuf,
        name: PathBuf,
        inputs: InputSet,
    ) -> Result<Staged, OnnxError> {
        let out_dir = fsio::parent_dir(&target);
        let data = PathBuf::from(format!("{}.data", name.display()));
        let mut proto = model.clone();
        let pieces = super::split::move_out(&mut proto, external, &data.to_string_lossy(), out)?;
        let mut stage = Stage::new(&out_dir)?.durable(self.durable);
        let (mut new_data, mut present_data) = (Vec::new(), Vec::new());
        if !pieces.is_empty() {
            stage.write_in(&data, |f| {
                let mut w = std::io::BufWriter::new(f);
                super::split::write_pieces(&pieces, &mut w)?;
                w.flush()
            })?;
            match data_at(&out_dir, &data, &stage.path(&data), &inputs)? {
                true => {
                    std::fs::remove_file(stage.path(&data)).map_err(|e| OutputError::io(out_dir.join(&data), e))?;
                    present_data.push(data);
                }
                false => new_data.push(data),
            }
        }
        stage.write_in(&name, |f| super::stream::write_model_file(&proto, f, self.source.as_ref()).map(drop))?;
        Ok(Staged { stage, name, target, out: out.to_path_buf(), inputs, new_data, present_data })
    }
}

impl Staged {
    /// The staged model, loadable with all its external data (data already in place is
    /// hard-linked, or copied, into the stage for this).
    pub fn checkable(&mut self) -> Result<PathBuf, OnnxError> {
        let out_dir = fsio::parent_dir(&self.target);
        for location in std::mem::take(&mut self.present_data) {
            self.stage.copy_in(&location, &out_dir.join(&location), true)?;
        }
        Ok(self.stage.path(&self.name))
    }

    /// Moves the new data files into place, then renames the model over the output. On failure
    /// nothing stays: placed data files are removed and the output keeps its old contents.
    pub fn commit(mut self) -> Result<(), OnnxError> {
        for location in &self.new_data {
            self.stage.place(location)?;
        }
        self.stage.finish(&self.name, &self.target, &self.out, &self.inputs)?;
        Ok(())
    }
}

/// Whether `location` in `out_dir` already holds `src`'s bytes (then nothing is moved); refuses
/// a different file there, naming the model it belongs to when one in `out_dir` references it.
fn data_at(out_dir: &Path, location: &Path, src: &Path, inputs: &InputSet) -> Result<bool, OutputError> {
    let dst = out_dir.join(location);
    if std::fs::symlink_metadata(&dst).is_err() {
        return Ok(false);
    }
    let shown = fsio::check_output(&dst, &InputSet::new())?;
    if fsio::FileId::of_path(&shown) == fsio::FileId::of_path(src) {
        return Ok(true);
    }
    if let Some(id) = fsio::FileId::of_path(&shown)
        && let Some(input) = inputs.find(id)
    {
        return Err(OutputError::IsInput { path: dst, input: input.into() });
    }
    if fsio::same_contents(src, &shown).map_err(|e| OutputError::io(&dst, e))? {
        return Ok(true);
    }
    let owner = match owner_of(out_dir, location) {
        Some(m) => format!(" (it belongs to another model, {})", m.display()),
        None => " (it may belong to another model)".to_string(),
    };
    Err(OutputError::ForeignData { path: dst, owner })
}

/// A `.onnx` file in `dir` (at most 64 of them, each under 64 MiB, are looked at) that keeps
/// external data at `location`.
fn owner_of(dir: &Path, location: &Path) -> Option<PathBuf> {
    let mut models: Vec<PathBuf> = std::fs::read_dir(dir)
        .ok()?
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "onnx"))
        .collect();
    models.sort();
    models.into_iter().take(64).find(|p| {
        if std::fs::metadata(p).map_or(true, |m| m.len() > 64 << 20) {
            return false;
        }
        let Ok(m) = super::ModelFile::load(p) else { return false };
        m.external.iter().any(|r| normalize(&r.location) == location)
    })
}

/// A checked (relative, `..`-free) location without `.` components.
fn normalize(location: &str) -> PathBuf {
    Path::new(location).components().filter(|c| !matches!(c, Component::CurDir)).collect()
}

/// Writes `bytes` to `path` through a temporary file in the same directory and a rename, so
/// readers see the old file or the new one, never a partial one; refuses a path that is not a
/// regular file.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), OnnxError> {
    Ok(fsio::write_atomic(path, &InputSet::new(), bytes)?)
}
