//! The zip container of a `torch.save` file, read with the `zip` crate (stored and deflated
//! entries, zip64). Reading is bounded: at most [`MAX_ENTRIES`] entries and [`MAX_BYTES`]
//! decompressed bytes in all, whatever the archive declares, so a deflate bomb stops early.

use std::io::{Cursor, Read};

/// Most entries an archive may hold.
pub const MAX_ENTRIES: usize = 1 << 16;
/// Most decompressed bytes read from one archive (1 GiB).
pub const MAX_BYTES: u64 = 1 << 30;

/// The archive's file entries, by name, decompressed.
pub fn entries(bytes: &[u8]) -> Result<Vec<(String, Vec<u8>)>, String> {
    let mut zip = zip::ZipArchive::new(Cursor::new(bytes)).map_err(|e| format!("not a zip archive: {e}"))?;
    if zip.len() > MAX_ENTRIES {
        return Err(format!("the archive has {} entries; at most {MAX_ENTRIES} are read", zip.len()));
    }
    let mut left = MAX_BYTES;
    let mut out = Vec::with_capacity(zip.len());
    for i in 0..zip.len() {
        let file = zip.by_index(i).map_err(|e| format!("zip entry #{i}: {e}"))?;
        if file.is_dir() {
            continue;
        }
        let name = file.name().map_err(|e| format!("zip entry #{i}: {e}"))?.into_owned();
        let mut data = Vec::with_capacity(usize::try_from(file.size().min(left)).unwrap_or(0));
        let read = file.take(left + 1).read_to_end(&mut data).map_err(|e| format!("zip entry {name}: {e}"))?;
        left = left
            .checked_sub(read as u64)
            .ok_or_else(|| format!("zip entry {name}: the archive decompresses to more than {MAX_BYTES} bytes"))?;
        out.push((name, data));
    }
    Ok(out)
}
