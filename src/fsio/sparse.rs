//! Copying a file so that its holes stay holes.

use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::os::fd::AsRawFd;
use std::path::Path;

/// Copies `src` to the new file `dst` (which must not exist), copying only the data regions
/// `lseek(SEEK_DATA/SEEK_HOLE)` reports so that a sparse file stays sparse; where the file
/// system cannot say, every byte is copied. The copy is not synced to disk (see
/// [`super::Stage::durable`]). On failure `dst` may hold a partial copy: the caller removes it.
pub fn copy_file(src: &Path, dst: &Path) -> std::io::Result<()> {
    let mut from = File::open(src)?;
    let size = from.metadata()?.len();
    let mut to = File::create_new(dst)?;
    match data_regions(&from, size) {
        Some(regions) => {
            for (start, end) in regions? {
                from.seek(SeekFrom::Start(start))?;
                to.seek(SeekFrom::Start(start))?;
                let copied = std::io::copy(&mut (&mut from).take(end - start), &mut to)?;
                if copied != end - start {
                    return Err(std::io::Error::new(std::io::ErrorKind::UnexpectedEof, "the file shrank while copied"));
                }
            }
            to.set_len(size)?;
        }
        None => {
            std::io::copy(&mut from, &mut to)?;
        }
    }
    Ok(())
}

/// The `[start, end)` data regions of `file`, or `None` when the file system does not support
/// `SEEK_DATA`.
fn data_regions(file: &File, size: u64) -> Option<std::io::Result<Vec<(u64, u64)>>> {
    let fd = file.as_raw_fd();
    let mut regions = Vec::new();
    let mut at = 0u64;
    while at < size {
        let Ok(off) = libc::off_t::try_from(at) else { return Some(Err(std::io::Error::other("file too large"))) };
        // SAFETY: lseek on a file descriptor this function borrows; it does not touch memory.
        let start = unsafe { libc::lseek(fd, off, libc::SEEK_DATA) };
        if start < 0 {
            let e = std::io::Error::last_os_error();
            match e.raw_os_error() {
                Some(libc::ENXIO) => break,
                Some(libc::EINVAL | libc::EOPNOTSUPP) if at == 0 => return None,
                _ => return Some(Err(e)),
            }
        }
        // SAFETY: as above.
        let end = unsafe { libc::lseek(fd, start, libc::SEEK_HOLE) };
        if end < 0 {
            return Some(Err(std::io::Error::last_os_error()));
        }
        let (start, end) = (start as u64, (end as u64).min(size));
        if end <= start {
            break;
        }
        regions.push((start, end));
        at = end;
    }
    Some(Ok(regions))
}
