//! Streaming encoding: a model goes to a writer in one pass, never as a second in-memory copy.
//!
//! prost encodes into a [`BufMut`]; [`Sink`] is one over any [`Write`] that batches small fields
//! in a fixed buffer and hands large byte fields (weights, which are slices of the input's map)
//! straight to the writer. The bytes written are exactly those of `Message::encode_to_vec`.
//! Writing into a file, large byte fields that are slices of the input's map are copied from
//! the input file inside the kernel ([`crate::fsio::append_span`]) instead.

use super::load::MappedSource;
use super::pb;
use prost::Message;
use prost::bytes::buf::UninitSlice;
use prost::bytes::{Buf, BufMut};
use std::fs::File;
use std::io::{self, Write};

const CHUNK: usize = 64 * 1024;

/// Encodes `model` into `w` as `Message::encode_to_vec` would, without building the whole
/// encoding in memory. Flushes `w`.
pub fn write_model(model: &pb::ModelProto, w: &mut (impl Write + ?Sized)) -> io::Result<()> {
    let mut sink = Sink { w, source: None, buf: Vec::with_capacity(CHUNK), err: None, copied: 0 };
    model.encode(&mut sink).map_err(io::Error::other)?;
    sink.flush()?;
    sink.w.flush()
}

/// [`write_model`] into `file` at its position: the same bytes, but each byte field of
/// [`CHUNK`] bytes or more that is a slice of `source`'s map is copied from `source`'s file
/// inside the kernel where the two files allow it. Returns how many bytes were so copied.
pub fn write_model_file(model: &pb::ModelProto, file: &mut File, source: Option<&MappedSource>) -> io::Result<u64> {
    let span: SpanFn<File> = |f, s, at, bytes| crate::fsio::append_span(&s.file, at, bytes, f);
    let mut sink =
        Sink { w: file, source: source.map(|s| (s, span)), buf: Vec::with_capacity(CHUNK), err: None, copied: 0 };
    model.encode(&mut sink).map_err(io::Error::other)?;
    sink.flush()?;
    Ok(sink.copied)
}

/// Writes a span of the mapped input: `(writer, source, offset, bytes)`, returning the bytes
/// the kernel copied.
type SpanFn<W> = fn(&mut W, &MappedSource, u64, &[u8]) -> io::Result<u64>;

/// A [`BufMut`] over a writer. Write errors are kept and reported by [`Sink::flush`]; after one,
/// later bytes are dropped.
struct Sink<'a, W: Write + ?Sized> {
    w: &'a mut W,
    source: Option<(&'a MappedSource, SpanFn<W>)>,
    buf: Vec<u8>,
    err: Option<io::Error>,
    copied: u64,
}

impl<W: Write + ?Sized> Sink<'_, W> {
    fn flush(&mut self) -> io::Result<()> {
        if self.err.is_none() && !self.buf.is_empty() {
            self.err = self.w.write_all(&self.buf).err();
        }
        self.buf.clear();
        self.err.take().map_or(Ok(()), Err)
    }

    fn keep_err(&mut self, r: io::Result<()>) {
        if let Err(e) = r {
            self.err.get_or_insert(e);
        }
    }
}

// SAFETY: `chunk_mut` returns the spare capacity of `buf`, and `advance_mut` only marks as
// initialised bytes that the caller has written there.
unsafe impl<W: Write + ?Sized> BufMut for Sink<'_, W> {
    fn remaining_mut(&self) -> usize {
        isize::MAX as usize
    }

    unsafe fn advance_mut(&mut self, cnt: usize) {
        let len = self.buf.len() + cnt;
        assert!(len <= self.buf.capacity(), "advance_mut past the chunk");
        unsafe { self.buf.set_len(len) };
    }

    fn chunk_mut(&mut self) -> &mut UninitSlice {
        if self.buf.len() == self.buf.capacity() {
            let r = self.flush();
            self.keep_err(r);
        }
        UninitSlice::uninit(self.buf.spare_capacity_mut())
    }

    fn put_slice(&mut self, src: &[u8]) {
        if self.buf.len() + src.len() > self.buf.capacity() {
            let r = self.flush();
            self.keep_err(r);
        }
        if src.len() >= CHUNK {
            if self.err.is_none() {
                let r = match self.source.and_then(|(s, span)| Some((s.offset_of(src)?, s, span))) {
                    Some((at, s, span)) => span(self.w, s, at, src).map(|n| self.copied += n),
                    None => self.w.write_all(src),
                };
                self.keep_err(r);
            }
        } else {
            self.buf.extend_from_slice(src);
        }
    }

    fn put<T: Buf>(&mut self, mut src: T)
    where
        Self: Sized,
    {
        while src.has_remaining() {
            let n = {
                let chunk = src.chunk();
                self.put_slice(chunk);
                chunk.len()
            };
            src.advance(n);
        }
    }
}
