//! [`Model`]: a decoded model with its main graph as a [`Graph`].

use super::Graph;
use crate::onnx::{ExternalRef, MappedSource, ModelFile, OnnxError, pb, s};
use std::path::{Path, PathBuf};

/// A model being inspected or rewritten.
#[derive(Debug, Clone)]
pub struct Model {
    /// Every model-level field except the main graph, which lives in `graph`.
    pub proto: pb::ModelProto,
    /// The main graph.
    pub graph: Graph,
    /// The file it was loaded from; external-data locations are relative to its directory.
    pub path: PathBuf,
    /// Checked external-data references of the loaded file.
    pub external: Vec<ExternalRef>,
    /// The mapped file its embedded weights are slices of, when loaded from a file.
    pub source: Option<MappedSource>,
}

impl Model {
    /// Loads and checks the model at `path`; external weights are not read.
    pub fn load(path: &Path) -> Result<Model, OnnxError> {
        Ok(Model::from_file(ModelFile::load(path)?))
    }

    /// Wraps a loaded file.
    pub fn from_file(file: ModelFile) -> Model {
        let ModelFile { mut proto, path, external, source } = file;
        let graph = Graph::from_proto(proto.graph.take().unwrap_or_default());
        Model { proto, graph, path, external, source }
    }

    /// The full `ModelProto`; for an untouched model, identical to what was loaded.
    pub fn to_proto(&self) -> pb::ModelProto {
        let mut p = self.proto.clone();
        p.graph = Some(self.graph.to_proto());
        p
    }

    /// Writes the model to `out` atomically, keeping its external data reachable; refuses to
    /// overwrite the loaded file or its data.
    pub fn save(&self, out: &Path, opts: &crate::onnx::SaveOptions) -> Result<(), OnnxError> {
        let opts =
            crate::onnx::SaveOptions { source: opts.source.clone().or_else(|| self.source.clone()), ..opts.clone() };
        opts.save(&self.to_proto(), &self.external, out, &crate::fsio::InputSet::of([&self.path]))
    }

    /// The directory external-data locations are relative to.
    pub fn dir(&self) -> PathBuf {
        crate::onnx::model_dir(&self.path)
    }

    /// The imported opset version of `domain` (`""` and `"ai.onnx"` are the same domain).
    pub fn opset(&self, domain: &str) -> Option<i64> {
        let want = normalize_domain(domain);
        self.proto.opset_import.iter().find(|o| normalize_domain(s(&o.domain)) == want).and_then(|o| o.version)
    }

    /// The value of model metadata `key`.
    pub fn metadata(&self, key: &str) -> Option<&str> {
        self.proto.metadata_props.iter().find(|p| s(&p.key) == key).map(|p| s(&p.value))
    }

    /// Sets model metadata `key`, replacing an earlier value.
    pub fn set_metadata(&mut self, key: &str, value: String) {
        match self.proto.metadata_props.iter_mut().find(|p| s(&p.key) == key) {
            Some(p) => p.value = Some(value),
            None => self
                .proto
                .metadata_props
                .push(pb::StringStringEntryProto { key: Some(key.to_string()), value: Some(value) }),
        }
    }
}

/// Maps `"ai.onnx"` to `""`, the default domain's two spellings.
pub fn normalize_domain(d: &str) -> &str {
    if d == "ai.onnx" { "" } else { d }
}
