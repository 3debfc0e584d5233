//! A staging directory: an output's files are prepared out of sight, then moved into place.

use super::identity::InputSet;
use super::output::{OutputError, check_output, sweep_stale, temp_name};
use std::fs::File;
use std::path::{Path, PathBuf};

/// A fresh hidden directory inside an output's directory (so on its file system) where a
/// model and its data files are written before any of them is moved into place.
///
/// [`Stage::place`] moves a file into the output directory without replacing anything;
/// [`Stage::finish`] renames the main file over its target last. Dropping a stage that was not
/// finished removes it along with every file and directory it placed, so a failed write leaves
/// nothing behind. A killed process can leave its hidden `.stage.pvc-stage-<pid>-<n>` directory;
/// the next write into that directory removes it.
///
/// Staged files are not synced to disk unless [`Stage::durable`] asks for it: the rename
/// already makes the output appear whole or not at all to every reader while the system runs
/// (what `cp`, `rsync` and `onnx.save` give); only surviving a power loss needs the syncs.
#[derive(Debug)]
pub struct Stage {
    dir: PathBuf,
    out_dir: PathBuf,
    placed: Vec<PathBuf>,
    made: Vec<PathBuf>,
    finished: bool,
    durable: bool,
}

impl Stage {
    /// Creates the staging directory inside `out_dir`, which must exist, after removing what
    /// killed pvc processes left there.
    pub fn new(out_dir: &Path) -> Result<Stage, OutputError> {
        sweep_stale(out_dir);
        let dir = temp_name(&out_dir.join("stage"), "stage");
        std::fs::create_dir(&dir).map_err(|e| OutputError::io(out_dir, e))?;
        Ok(Stage {
            dir,
            out_dir: out_dir.to_path_buf(),
            placed: Vec::new(),
            made: Vec::new(),
            finished: false,
            durable: false,
        })
    }

    /// With `on`, every staged file is synced to disk before it is moved into place, and the
    /// output directory after the final rename, so that a finished write survives a power loss
    /// or kernel crash (at the cost of waiting for the disk).
    pub fn durable(mut self, on: bool) -> Stage {
        self.durable = on;
        self
    }

    fn sync(&self, path: &Path) -> std::io::Result<()> {
        if self.durable { std::fs::File::open(path)?.sync_all() } else { Ok(()) }
    }

    /// Where `rel` (a path relative to the output directory) is staged.
    pub fn path(&self, rel: &Path) -> PathBuf {
        self.dir.join(rel)
    }

    fn prepare(&self, rel: &Path) -> Result<PathBuf, OutputError> {
        let staged = self.path(rel);
        if let Some(parent) = staged.parent() {
            std::fs::create_dir_all(parent).map_err(|e| OutputError::io(self.out_dir.join(rel), e))?;
        }
        Ok(staged)
    }

    /// Stages a copy of `src` as `rel` (sparse-aware), or a hard link when `link` is set and the
    /// file system allows one.
    pub fn copy_in(&mut self, rel: &Path, src: &Path, link: bool) -> Result<(), OutputError> {
        let staged = self.prepare(rel)?;
        if link && std::fs::hard_link(src, &staged).is_ok() {
            return Ok(());
        }
        super::sparse::copy_file(src, &staged)
            .and_then(|()| self.sync(&staged))
            .map_err(|e| OutputError::io(self.out_dir.join(rel), e))
    }

    /// Stages `rel` written by `write` into the new file, unbuffered (the writer buffers what
    /// it needs), synced to disk when [`Stage::durable`].
    pub fn write_in(
        &mut self,
        rel: &Path,
        write: impl FnOnce(&mut File) -> std::io::Result<()>,
    ) -> Result<(), OutputError> {
        let staged = self.prepare(rel)?;
        (|| {
            let mut file = File::create_new(&staged)?;
            write(&mut file)?;
            if self.durable { file.sync_all() } else { Ok(()) }
        })()
        .map_err(|e| OutputError::io(self.out_dir.join(rel), e))
    }

    /// Moves the staged `rel` to `rel` in the output directory, creating its directories; fails
    /// rather than replace a file that is already there.
    pub fn place(&mut self, rel: &Path) -> Result<(), OutputError> {
        let dst = self.out_dir.join(rel);
        self.make_parents(rel)?;
        let staged = self.path(rel);
        match std::fs::hard_link(&staged, &dst) {
            Ok(()) => {
                self.placed.push(dst.clone());
                std::fs::remove_file(&staged).map_err(|e| OutputError::io(&dst, e))
            }
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                Err(OutputError::Collides { path: dst, why: "a file appeared there while pvc was writing" })
            }
            Err(_) if std::fs::symlink_metadata(&dst).is_ok() => {
                Err(OutputError::Collides { path: dst, why: "a file appeared there while pvc was writing" })
            }
            Err(_) => {
                std::fs::rename(&staged, &dst).map_err(|e| OutputError::io(&dst, e))?;
                self.placed.push(dst);
                Ok(())
            }
        }
    }

    fn make_parents(&mut self, rel: &Path) -> Result<(), OutputError> {
        let Some(parent) = rel.parent() else { return Ok(()) };
        let mut at = self.out_dir.clone();
        for c in parent.components() {
            at.push(c);
            match std::fs::create_dir(&at) {
                Ok(()) => self.made.push(at.clone()),
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists && at.is_dir() => {}
                Err(e) => return Err(OutputError::io(&at, e)),
            }
        }
        Ok(())
    }

    /// Renames the staged `rel` over `target` (as [`check_output`] resolved `shown`, checked again
    /// now) and removes the stage, keeping what was placed.
    pub fn finish(mut self, rel: &Path, target: &Path, shown: &Path, inputs: &InputSet) -> Result<(), OutputError> {
        check_output(shown, inputs)?;
        std::fs::rename(self.path(rel), target).map_err(|e| OutputError::io(shown, e))?;
        self.finished = true;
        if self.durable {
            File::open(super::output::parent_dir(target))
                .and_then(|d| d.sync_all())
                .map_err(|e| OutputError::io(shown, e))?;
        }
        Ok(())
    }
}

impl Drop for Stage {
    fn drop(&mut self) {
        if !self.finished {
            for f in self.placed.iter().rev() {
                let _ = std::fs::remove_file(f);
            }
            for d in self.made.iter().rev() {
                let _ = std::fs::remove_dir(d);
            }
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
