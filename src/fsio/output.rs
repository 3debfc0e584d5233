//! Where pvc may write, and the atomic writer.

use super::identity::{FileId, InputSet};
use std::io::Write;
use std::path::{Path, PathBuf};

/// Why an output was refused or could not be written. Every variant names the path.
#[derive(Debug, thiserror::Error)]
pub enum OutputError {
    /// The path is (or links to) a file this run reads.
    #[error("refusing to write {path}: it is {input}, an input of this run")]
    IsInput {
        /// The refused output.
        path: PathBuf,
        /// The input it would replace, as the input was named.
        input: PathBuf,
    },
    /// The path exists and is not a regular file (or a symlink to one).
    #[error("refusing to write {path}: it is {kind}; pvc writes regular files only: choose a file path")]
    NotRegular {
        /// The refused output.
        path: PathBuf,
        /// What is there.
        kind: &'static str,
    },
    /// The output's directory does not exist; pvc creates no directories for its output.
    #[error("refusing to write {path}: the directory {dir} does not exist: create it first")]
    NoDirectory {
        /// The refused output.
        path: PathBuf,
        /// The missing directory.
        dir: PathBuf,
    },
    /// An external-data file of the output would replace a different file already there.
    #[error("refusing to write {path}: a different file is already there{owner}; choose another directory")]
    ForeignData {
        /// The data file's destination.
        path: PathBuf,
        /// ` (it belongs to another model, x.onnx)` or ` (it may belong to another model)`.
        owner: String,
    },
    /// The output collides with a file the same write places.
    #[error("refusing to write {path}: {why}")]
    Collides {
        /// The refused output.
        path: PathBuf,
        /// Why.
        why: &'static str,
    },
    /// The write failed (full disk, permissions, ...); nothing was left behind.
    #[error("{path}: {error}")]
    Io {
        /// The file involved.
        path: PathBuf,
        /// The underlying error.
        error: std::io::Error,
    },
}

impl OutputError {
    /// An I/O error at `path`.
    pub fn io(path: impl Into<PathBuf>, error: std::io::Error) -> OutputError {
        OutputError::Io { path: path.into(), error }
    }
}

/// The directory holding `path` (`.` for a bare file name).
pub fn parent_dir(path: &Path) -> PathBuf {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    }
}

/// Checks that `path` may be written: it is absent or a regular file (a symlink to one counts,
/// and then its target is written), it is no file in `inputs`, and its directory exists.
/// Returns the path to replace: `path`, or the symlink's target.
pub fn check_output(path: &Path, inputs: &InputSet) -> Result<PathBuf, OutputError> {
    let target = match std::fs::symlink_metadata(path) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => path.to_path_buf(),
        Err(e) => return Err(OutputError::io(path, e)),
        Ok(m) if m.file_type().is_symlink() => match std::fs::metadata(path) {
            Err(_) => return Err(OutputError::NotRegular { path: path.into(), kind: "a symbolic link to nothing" }),
            Ok(_) => path.canonicalize().map_err(|e| OutputError::io(path, e))?,
        },
        Ok(_) => path.to_path_buf(),
    };
    if let Ok(meta) = std::fs::metadata(&target) {
        if let Some(kind) = super::kind::irregular(meta.file_type()) {
            return Err(OutputError::NotRegular { path: path.into(), kind });
        }
        if let Some(input) = inputs.find(FileId::of(&meta)) {
            return Err(OutputError::IsInput { path: path.into(), input: input.into() });
        }
    }
    let dir = parent_dir(&target);
    if !std::fs::metadata(&dir).is_ok_and(|m| m.is_dir()) {
        return Err(OutputError::NoDirectory { path: path.into(), dir });
    }
    Ok(target)
}

/// A fresh hidden name next to `path`, unique within this process and across processes.
pub(super) fn temp_name(path: &Path, what: &str) -> PathBuf {
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    path.with_file_name(format!(".{name}.pvc-{what}-{}-{n}", std::process::id()))
}

/// Removes the temporary files and staging directories that pvc processes which no longer run
/// (killed mid-write) left in `dir`. Only names pvc makes are touched, and only when their
/// process id is gone.
pub(super) fn sweep_stale(dir: &Path) {
    let Ok(entries) = std::fs::read_dir(dir) else { return };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(pid) = stale_pid(&name.to_string_lossy()) else { continue };
        // SAFETY: kill with signal 0 only checks whether the process exists.
        let gone =
            unsafe { libc::kill(pid, 0) } == -1 && std::io::Error::last_os_error().raw_os_error() == Some(libc::ESRCH);
        if gone {
            let path = entry.path();
            let _ = if path.is_dir() { std::fs::remove_dir_all(&path) } else { std::fs::remove_file(&path) };
        }
    }
}

/// The process id in a name made by [`temp_name`] (`.<name>.pvc-<what>-<pid>-<n>`).
fn stale_pid(name: &str) -> Option<libc::pid_t> {
    let rest = name.strip_prefix('.')?;
    let (_, tail) = rest.rsplit_once(".pvc-")?;
    let (what, numbers) = tail.split_once('-')?;
    if what != "tmp" && what != "stage" {
        return None;
    }
    let (pid, n) = numbers.split_once('-')?;
    n.parse::<u64>().ok()?;
    pid.parse().ok().filter(|&p: &libc::pid_t| p > 0)
}

/// Writes `path` through `write` into a temporary file next to it, then renames it into place, so
/// readers see the old file or the new one, never a partial one. The output is checked first
/// ([`check_output`]); on any failure the temporary file is removed and `path` is untouched.
pub fn write_atomic_with(
    path: &Path,
    inputs: &InputSet,
    write: impl FnOnce(&mut dyn Write) -> std::io::Result<()>,
) -> Result<(), OutputError> {
    let target = check_output(path, inputs)?;
    sweep_stale(&parent_dir(&target));
    let tmp = temp_name(&target, "tmp");
    let file = std::fs::File::create_new(&tmp).map_err(|e| OutputError::io(path, e))?;
    let result = (|| {
        let mut w = std::io::BufWriter::new(file);
        write(&mut w)?;
        let file = w.into_inner().map_err(std::io::IntoInnerError::into_error)?;
        file.sync_all()
    })()
    .map_err(|e| OutputError::io(path, e))
    .and_then(|()| check_output(path, inputs).map(drop))
    .and_then(|()| std::fs::rename(&tmp, &target).map_err(|e| OutputError::io(path, e)));
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

/// [`write_atomic_with`] for bytes already in memory.
pub fn write_atomic(path: &Path, inputs: &InputSet, bytes: &[u8]) -> Result<(), OutputError> {
    write_atomic_with(path, inputs, |w| w.write_all(bytes))
}
