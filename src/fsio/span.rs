//! Copying a span of one open file to the end of another inside the kernel.

use std::fs::File;
use std::io::Write;
use std::os::fd::AsRawFd;

/// Appends `bytes`, which are the `bytes.len()` bytes of `from` at `offset`, to `to` at its
/// current position, and returns how many of them the kernel copied without passing them
/// through user space (`copy_file_range`, which shares extents on a reflinking file system).
///
/// Where the kernel cannot copy between the two files (another file system, an old kernel, a
/// file system without support), the rest is written from `bytes` instead, so the result is the
/// same bytes either way. `from` must hold `bytes` at `offset` (the caller maps `from` and must
/// not let it change); a kernel copy that stops early (the file shrank) is an error.
pub fn append_span(from: &File, offset: u64, bytes: &[u8], to: &mut File) -> std::io::Result<u64> {
    let mut done = 0usize;
    while done < bytes.len() {
        let Ok(mut off) = libc::loff_t::try_from(offset + done as u64) else { break };
        let want = (bytes.len() - done).min(1 << 30);
        // SAFETY: both descriptors are open for the call; `off` is a local the kernel updates,
        // and a null output offset makes the kernel use and advance `to`'s file position.
        let n =
            unsafe { libc::copy_file_range(from.as_raw_fd(), &mut off, to.as_raw_fd(), std::ptr::null_mut(), want, 0) };
        if n > 0 {
            done += n as usize;
            continue;
        }
        if n == 0 {
            return Err(std::io::Error::new(std::io::ErrorKind::UnexpectedEof, "the input file shrank while copied"));
        }
        let e = std::io::Error::last_os_error();
        match e.raw_os_error() {
            Some(libc::EXDEV | libc::ENOSYS | libc::EOPNOTSUPP | libc::EINVAL | libc::EPERM | libc::EBADF) => break,
            Some(libc::EINTR) => continue,
            _ => return Err(e),
        }
    }
    to.write_all(&bytes[done..])?;
    Ok(done as u64)
}
