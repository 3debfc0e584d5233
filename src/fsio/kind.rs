//! Names for the kinds of file pvc refuses to read or write.

use std::fs::FileType;
use std::os::unix::fs::FileTypeExt;

/// "a directory", "a character device", ...: what a non-regular file is, for error messages;
/// `None` for a regular file.
pub(super) fn irregular(t: FileType) -> Option<&'static str> {
    Some(if t.is_file() {
        return None;
    } else if t.is_dir() {
        "a directory"
    } else if t.is_char_device() {
        "a character device"
    } else if t.is_block_device() {
        "a block device"
    } else if t.is_fifo() {
        "a FIFO"
    } else if t.is_socket() {
        "a socket"
    } else if t.is_symlink() {
        "a symbolic link"
    } else {
        "not a regular file"
    })
}
