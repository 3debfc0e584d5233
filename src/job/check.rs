//! `check`: loading a staged model in every runtime pvc has before it replaces anything.

use super::CheckError;
use crate::runtime::{OrtBackend, OrtOptions, TractBackend};
use std::path::Path;

/// Loads the model at `path` in tract always and in ONNX Runtime when its library is found
/// (`ort_lib`, or the usual search); reports each step through `note`. A library named in
/// `ort_lib` that cannot be loaded is an error; one merely not found skips ONNX Runtime.
pub(super) fn check(path: &Path, ort_lib: Option<&Path>, note: &mut dyn FnMut(&str)) -> Result<(), CheckError> {
    TractBackend::load(path).map_err(CheckError::Tract)?;
    note("check: tract loads and plans the model");
    match OrtBackend::find_library(ort_lib) {
        Ok(lib) => {
            let opts = OrtOptions { lib: Some(lib.clone()), ..Default::default() };
            OrtBackend::load(path, &opts).map_err(CheckError::Ort)?;
            note(&format!("check: ONNX Runtime ({}) loads the model", lib.display()));
        }
        Err(e) if ort_lib.is_some() => return Err(CheckError::Library(e)),
        Err(e) => note(&format!("check: ONNX Runtime skipped: {e}")),
    }
    Ok(())
}
