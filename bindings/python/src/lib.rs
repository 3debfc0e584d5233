//! `pvc._pvc`: the native half of the `pvc` Python package. Each function converts Python
//! arguments into a [`pvc::job`] call, runs it with the GIL released, and converts the report
//! (as JSON text) or the error (a `pvc.errors` exception carrying the CLI's message and the JSON
//! path) back. No compiler logic lives here.

use pvc::job::{ErrorClass, JobError, JsonArg, RewriteJob, SchemaSource};
use pvc::onnx::DataPolicy;
use pvc::schema::StateDicts;
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict};
use std::collections::BTreeMap;
use std::path::PathBuf;

/// The `pvc.errors` exception for `e`: its class's name, the CLI's message, the JSON path.
fn to_py(py: Python<'_>, e: &JobError) -> PyErr {
    let class = match e.class() {
        ErrorClass::Schema => "SchemaError",
        ErrorClass::Model => "ModelError",
        ErrorClass::Output => "OutputError",
        ErrorClass::Check => "CheckError",
    };
    let message = pvc::onnx::escape(&e.message()).into_owned();
    let made = py
        .import("pvc.errors")
        .and_then(|m| m.getattr(class))
        .and_then(|c| c.call1((message, e.json_path().map(str::to_string))));
    match made {
        Ok(err) => PyErr::from_value(err),
        Err(import_failed) => import_failed,
    }
}

/// Compiles a schema into `model` and writes `out`; returns the report as JSON text and the
/// progress lines `pvc rewrite` prints. The schema is `schema_path` (a file or save directory),
/// or `schema_text` with `schema_dir` anchoring its relative paths and, for an in-memory
/// `IntervenableModel`, `state_dicts` (`torch.save` bytes by key).
#[pyfunction]
#[pyo3(signature = (
    model, out, *, schema_path=None, schema_text=None, schema_dir=None, state_dicts=None,
    original=false, unit_locations=None, subspaces=None, check=false, external_data="copy",
    ort_lib=None, verify=false, dry_run=false,
))]
#[allow(clippy::too_many_arguments)]
fn rewrite(
    py: Python<'_>,
    model: PathBuf,
    out: PathBuf,
    schema_path: Option<PathBuf>,
    schema_text: Option<String>,
    schema_dir: Option<PathBuf>,
    state_dicts: Option<Bound<'_, PyDict>>,
    original: bool,
    unit_locations: Option<String>,
    subspaces: Option<String>,
    check: bool,
    external_data: &str,
    ort_lib: Option<PathBuf>,
    verify: bool,
    dry_run: bool,
) -> PyResult<(String, Vec<String>)> {
    let schema = match (schema_path, schema_text) {
        (Some(path), None) => SchemaSource::Path(path),
        (None, Some(text)) => {
            let state_dicts = match state_dicts {
                None => StateDicts::Files,
                Some(d) => {
                    let mut map = BTreeMap::new();
                    for (k, v) in d.iter() {
                        map.insert(k.extract::<String>()?, v.cast_into::<PyBytes>()?.as_bytes().to_vec());
                    }
                    StateDicts::Memory(map)
                }
            };
            SchemaSource::Text { text, dir: schema_dir.unwrap_or_else(|| PathBuf::from(".")), state_dicts }
        }
        _ => return Err(PyValueError::new_err("give exactly one of schema_path and schema_text")),
    };
    let data = DataPolicy::from_name(external_data).ok_or_else(|| {
        PyValueError::new_err(format!("external_data: expected \"copy\", \"link\" or \"split\", got {external_data:?}"))
    })?;
    let mut job = RewriteJob::new(model, schema, out);
    job.original = original;
    job.external_data = data;
    job.unit_locations = unit_locations.map(JsonArg::Text);
    job.subspaces = subspaces.map(JsonArg::Text);
    job.check = check;
    job.ort_lib = ort_lib;
    job.verify = verify;
    job.dry_run = dry_run;
    let result = py.detach(move || {
        let mut notes = Vec::new();
        let report = pvc::job::rewrite(&job, &mut |line| notes.push(line.to_string()));
        report.map(|r| (r, notes))
    });
    match result {
        Ok((report, notes)) => {
            let json = serde_json::to_string(&report).map_err(|e| PyValueError::new_err(e.to_string()))?;
            Ok((json, notes))
        }
        Err(e) => Err(to_py(py, &e)),
    }
}

/// The module tree of `model` as JSON text (what `pvc inspect --json` prints).
#[pyfunction]
fn inspect(py: Python<'_>, model: PathBuf) -> PyResult<String> {
    match py.detach(move || pvc::job::inspect(&model, None)) {
        Ok(report) => serde_json::to_string(&report).map_err(|e| PyValueError::new_err(e.to_string())),
        Err(e) => Err(to_py(py, &e)),
    }
}

/// The native module.
#[pymodule]
fn _pvc(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(rewrite, m)?)?;
    m.add_function(wrap_pyfunction!(inspect, m)?)?;
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    Ok(())
}
