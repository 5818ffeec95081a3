//! The encoded image bytes, wherever they come from, behind one random-access reader.

use std::borrow::Cow;

use super::base64::CleanBase64;

/// Encoded image bytes: a slice or owned buffer, or base64 text decoded on demand.
pub(crate) enum Data<'a> {
    Bytes(Cow<'a, [u8]>),
    Base64(CleanBase64<'a>),
}

impl Data<'_> {
    pub(crate) fn len(&self) -> usize {
        match self {
            Data::Bytes(b) => b.len(),
            Data::Base64(c) => c.len(),
        }
    }
}

/// How much base64 to decode at a time when reading sequentially.
const WINDOW: usize = 4096;

/// A forward reader with cheap skips, the shape every header parser here needs.
pub(crate) struct Reader<'d, 'a> {
    data: &'d Data<'a>,
    pos: usize,
    window: Vec<u8>,
    window_start: usize,
}

impl<'d, 'a> Reader<'d, 'a> {
    pub(crate) fn new(data: &'d Data<'a>) -> Self {
        Reader {
            data,
            pos: 0,
            window: Vec::new(),
            window_start: 0,
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.data.len()
    }

    pub(crate) fn remaining(&self) -> usize {
        self.len().saturating_sub(self.pos)
    }

    pub(crate) fn pos(&self) -> usize {
        self.pos
    }

    /// Up to `n` bytes (fewer at the end), advancing past them: borrowed when the data is plain
    /// bytes, else decoded into `buf`.
    pub(crate) fn take<'s>(&'s mut self, n: usize, buf: &'s mut Vec<u8>) -> &'s [u8] {
        let n = n.min(self.remaining());
        let data = self.data;
        let start = self.pos;
        let got = match data {
            Data::Bytes(b) => {
                self.pos += n;
                return b.get(start..start + n).unwrap_or(&[]);
            }
            // Straight into `buf`, not through the window.
            Data::Base64(c) => {
                buf.resize(n, 0);
                c.read_at(start, buf)
            }
        };
        self.pos += got;
        buf.get(..got).unwrap_or(&[])
    }

    pub(crate) fn seek(&mut self, pos: usize) {
        self.pos = pos;
    }

    /// Moves forward `n` bytes; `false` (and positioned at the end) when fewer remain.
    pub(crate) fn skip(&mut self, n: usize) -> bool {
        let ok = n <= self.remaining();
        self.pos = if ok { self.pos + n } else { self.len() };
        ok
    }

    /// The bytes available at the current position without copying (at least one unless at the
    /// end), without advancing.
    fn peek_chunk(&mut self) -> &[u8] {
        match self.data {
            Data::Bytes(b) => b.get(self.pos..).unwrap_or(&[]),
            Data::Base64(c) => {
                let in_window = self.pos >= self.window_start
                    && self.pos < self.window_start + self.window.len();
                if !in_window {
                    self.window.resize(WINDOW, 0);
                    let n = c.read_at(self.pos, &mut self.window);
                    self.window.truncate(n);
                    self.window_start = self.pos;
                }
                self.window
                    .get(self.pos - self.window_start..)
                    .unwrap_or(&[])
            }
        }
    }

    /// Reads up to `buf.len()` bytes (Python's `fp.read(n)`: short at the end); returns how many.
    pub(crate) fn read_into(&mut self, buf: &mut [u8]) -> usize {
        let mut done = 0;
        while done < buf.len() {
            let chunk = self.peek_chunk();
            if chunk.is_empty() {
                break;
            }
            let n = chunk.len().min(buf.len() - done);
            if let (Some(dst), Some(src)) = (buf.get_mut(done..done + n), chunk.get(..n)) {
                dst.copy_from_slice(src);
            }
            done += n;
            self.pos += n;
        }
        done
    }

    /// Exactly `N` bytes, or `None` (then positioned at the end).
    pub(crate) fn array<const N: usize>(&mut self) -> Option<[u8; N]> {
        let mut buf = [0u8; N];
        (self.read_into(&mut buf) == N).then_some(buf)
    }

    /// Up to `n` bytes (fewer at the end).
    pub(crate) fn read_vec(&mut self, n: usize) -> Vec<u8> {
        let mut buf = vec![0; n.min(self.remaining())];
        let got = self.read_into(&mut buf);
        buf.truncate(got);
        buf
    }

    pub(crate) fn byte(&mut self) -> Option<u8> {
        self.array::<1>().map(|[b]| b)
    }

    /// Advances to the next occurrence of `needle` and returns its position (the reader is left
    /// on it), or `None` at the end of the data.
    pub(crate) fn find(&mut self, needle: u8) -> Option<usize> {
        loop {
            let chunk = self.peek_chunk();
            if chunk.is_empty() {
                return None;
            }
            match chunk.iter().position(|&b| b == needle) {
                Some(i) => {
                    self.pos += i;
                    return Some(self.pos);
                }
                None => self.pos += chunk.len(),
            }
        }
    }
}
