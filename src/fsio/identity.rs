//! File identity by (device, inode): the same file however its path is spelled (relative,
//! `..`, symlink, hard link).

use std::fs::Metadata;
use std::io::Read;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

/// A file's identity: its device and inode numbers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct FileId {
    dev: u64,
    ino: u64,
}

impl FileId {
    /// The identity of the file `meta` describes.
    pub fn of(meta: &Metadata) -> FileId {
        FileId { dev: meta.dev(), ino: meta.ino() }
    }

    /// The identity of the file at `path` after following symlinks, or `None` when nothing is there.
    pub fn of_path(path: &Path) -> Option<FileId> {
        std::fs::metadata(path).ok().map(|m| FileId::of(&m))
    }
}

/// The files a run reads, which no output of the run may replace.
#[derive(Debug, Clone, Default)]
pub struct InputSet {
    files: Vec<(FileId, PathBuf)>,
}

impl InputSet {
    /// An empty set.
    pub fn new() -> InputSet {
        InputSet::default()
    }

    /// The set of these paths (see [`InputSet::add`]).
    pub fn of<P: AsRef<Path>>(paths: impl IntoIterator<Item = P>) -> InputSet {
        let mut set = InputSet::new();
        for p in paths {
            set.add(p.as_ref());
        }
        set
    }

    /// Adds the file at `path` (following symlinks); a directory adds itself and every file
    /// directly inside it. A path where nothing exists adds nothing: there is nothing to lose.
    pub fn add(&mut self, path: &Path) {
        let Ok(meta) = std::fs::metadata(path) else { return };
        self.insert(FileId::of(&meta), path);
        if !meta.is_dir() {
            return;
        }
        let Ok(entries) = std::fs::read_dir(path) else { return };
        for entry in entries.flatten() {
            if let Ok(m) = std::fs::metadata(entry.path())
                && !m.is_dir()
            {
                self.insert(FileId::of(&m), &entry.path());
            }
        }
    }

    fn insert(&mut self, id: FileId, path: &Path) {
        if self.find(id).is_none() {
            self.files.push((id, path.to_path_buf()));
        }
    }

    /// The input path (as it was given) of the file with identity `id`, if it is one.
    pub fn find(&self, id: FileId) -> Option<&Path> {
        self.files.iter().find(|(f, _)| *f == id).map(|(_, p)| p.as_path())
    }
}

/// Whether two files hold the same bytes: sizes first, then contents.
pub fn same_contents(a: &Path, b: &Path) -> std::io::Result<bool> {
    let (ma, mb) = (std::fs::metadata(a)?, std::fs::metadata(b)?);
    if ma.len() != mb.len() {
        return Ok(false);
    }
    if FileId::of(&ma) == FileId::of(&mb) {
        return Ok(true);
    }
    let (mut fa, mut fb) = (std::fs::File::open(a)?, std::fs::File::open(b)?);
    let (mut ba, mut bb) = (vec![0u8; 1 << 20], vec![0u8; 1 << 20]);
    loop {
        let n = read_full(&mut fa, &mut ba)?;
        let m = read_full(&mut fb, &mut bb)?;
        if n != m || ba[..n] != bb[..m] {
            return Ok(false);
        }
        if n == 0 {
            return Ok(true);
        }
    }
}

fn read_full(f: &mut std::fs::File, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match f.read(&mut buf[n..])? {
            0 => break,
            k => n += k,
        }
    }
    Ok(n)
}
