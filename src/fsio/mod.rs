//! File-system policy below everything else: what pvc may write, how it writes, and which
//! files it agrees to read.
//!
//! Every command that writes goes through [`check_output`], [`write_atomic_with`] or a
//! [`Stage`]: outputs are regular files only, never a file the run reads (compared by device
//! and inode, however the path is spelled), and a failed write leaves nothing behind. Inputs are
//! read through [`read_input`], which refuses devices, FIFOs and absurd sizes before opening.
//! This module depends on nothing else in the crate.

mod identity;
mod input;
mod kind;
mod output;
mod span;
mod sparse;
mod stage;

pub use identity::{FileId, InputSet, same_contents};
pub use input::{InputError, MAX_INPUT_BYTES, check_input, read_input};
pub use output::{OutputError, check_output, parent_dir, write_atomic, write_atomic_with};
pub use span::append_span;
pub use sparse::copy_file;
pub use stage::Stage;
