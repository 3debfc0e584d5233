//! Reading an input file whole: regular files only, within a size limit.

use std::io::Read;
use std::path::{Path, PathBuf};

/// The default size limit for an input read whole into memory (16 GiB).
pub const MAX_INPUT_BYTES: u64 = 16 << 30;

/// Why an input file was not read.
#[derive(Debug, thiserror::Error)]
pub enum InputError {
    /// A device, FIFO, socket or directory: reading it could hang or never end.
    #[error("{path} is {kind}; pvc reads regular files only")]
    NotRegular {
        /// The input.
        path: PathBuf,
        /// What it is.
        kind: &'static str,
    },
    /// Larger than the caller's limit.
    #[error("{path} is {size} bytes, more than the {limit} bytes pvc reads for it")]
    TooLarge {
        /// The input.
        path: PathBuf,
        /// Its size (at least).
        size: u64,
        /// The limit.
        limit: u64,
    },
    /// The file could not be read.
    #[error("{path}: {error}")]
    Io {
        /// The input.
        path: PathBuf,
        /// The underlying error.
        error: std::io::Error,
    },
}

/// Checks, without opening it, that `path` is a regular file (after symlinks) of at most `limit`
/// bytes, and returns its size.
pub fn check_input(path: &Path, limit: u64) -> Result<u64, InputError> {
    let meta = std::fs::metadata(path).map_err(|error| InputError::Io { path: path.into(), error })?;
    if let Some(kind) = super::kind::irregular(meta.file_type()) {
        return Err(InputError::NotRegular { path: path.into(), kind });
    }
    if meta.len() > limit {
        return Err(InputError::TooLarge { path: path.into(), size: meta.len(), limit });
    }
    Ok(meta.len())
}

/// Reads the regular file at `path` whole, refusing anything else and more than `limit` bytes
/// (checked before opening, and again while reading a file that grows).
pub fn read_input(path: &Path, limit: u64) -> Result<Vec<u8>, InputError> {
    let size = check_input(path, limit)?;
    let io = |error| InputError::Io { path: path.into(), error };
    let file = std::fs::File::open(path).map_err(io)?;
    let mut bytes = Vec::with_capacity(usize::try_from(size).unwrap_or(0));
    file.take(limit.saturating_add(1)).read_to_end(&mut bytes).map_err(io)?;
    if bytes.len() as u64 > limit {
        return Err(InputError::TooLarge { path: path.into(), size: bytes.len() as u64, limit });
    }
    Ok(bytes)
}
