//! PNG image data as PIL loads it: `PngImageFile.load_read` hands the IDAT data to
//! `ImagingZipDecode` (libImaging/ZipDecode.c) in pieces, and the decoder says when it is done.
//!
//! How, and why: `docs/images.md`, "PNG image data".

use std::cell::RefCell;

use zlib_rs::{Inflate, InflateFlush, Status};

/// `ImageFile.MAXBLOCK`: how much `ImageFile.load` asks `load_read` for at a time.
pub(super) const MAXBLOCK: usize = 65_536;

/// Output slice per inflate call: large enough that zlib's window bookkeeping is amortized.
const OUT_SLICE: usize = 1 << 18;

/// `OFFSET`, `STARTING_ROW`, `COL_INCREMENT`, `ROW_INCREMENT` of ZipDecode.c (Adam7).
const OFFSET: [u64; 7] = [7, 3, 3, 1, 1, 0, 0];
const STARTING_ROW: [u64; 7] = [0, 0, 4, 0, 2, 0, 1];
const COL_INCREMENT: [u64; 7] = [8, 8, 4, 4, 2, 2, 1];
const ROW_INCREMENT: [u64; 7] = [8, 8, 8, 4, 4, 2, 2];

/// The rows PIL's decoder expects, in stream order: (number of rows, bytes per row including the
/// filter byte), one entry per pass.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct RowPlan {
    passes: Vec<(u64, u64)>,
}

impl RowPlan {
    /// `None` where PIL's C arithmetic would overflow an `int` (`setimage` raises MemoryError):
    /// left to mistral_common.
    pub(super) fn new(width: u32, height: u32, bits: u32, interlaced: bool) -> Option<RowPlan> {
        let (w, h, bits) = (u64::from(width), u64::from(height), u64::from(bits));
        let int_max = u64::from(i32::MAX as u32);
        if bits == 0 || w > int_max / bits - 7 {
            return None;
        }
        let passes = if interlaced {
            (0..7)
                .filter_map(|p| {
                    let row_len = ((w + OFFSET[p]) / COL_INCREMENT[p] * bits).div_ceil(8);
                    let rows = h
                        .checked_sub(STARTING_ROW[p])
                        .filter(|&left| left > 0)?
                        .div_ceil(ROW_INCREMENT[p]);
                    (row_len > 0).then_some((rows, row_len + 1))
                })
                .collect()
        } else {
            vec![(h, (w * bits).div_ceil(8) + 1)]
        };
        Some(RowPlan { passes })
    }

    pub(super) fn total_bytes(&self) -> u64 {
        self.passes.iter().map(|&(n, len)| n * len).sum()
    }
}

/// Where the decoder is in the planned rows.
struct Cursor<'p> {
    plan: &'p RowPlan,
    pass: usize,
    rows_left: u64,
    /// Bytes of the current row still to come (0: at a row start).
    in_row: u64,
}

impl Cursor<'_> {
    /// Walks `out` (the next bytes of the stream); `false` if a row starts with a filter byte
    /// PIL does not know. A row's filter byte is checked as soon as it arrives: PIL checks it
    /// when the row is complete, and an incomplete row fails anyway.
    fn advance(&mut self, mut out: &[u8]) -> bool {
        while !out.is_empty() {
            if self.in_row == 0 {
                while self.rows_left == 0 {
                    self.pass += 1;
                    match self.plan.passes.get(self.pass) {
                        Some(&(n, _)) => self.rows_left = n,
                        None => return true, // past the image: the caller caps the output
                    }
                }
                let Some(&(_, len)) = self.plan.passes.get(self.pass) else {
                    return true;
                };
                if out.first().is_some_and(|&f| f > 4) {
                    return false;
                }
                self.in_row = len;
                self.rows_left -= 1;
            }
            let take = usize::try_from(self.in_row)
                .unwrap_or(usize::MAX)
                .min(out.len());
            out = out.get(take..).unwrap_or(&[]);
            self.in_row -= take as u64;
        }
        true
    }
}

/// What PIL's decoder made of the pieces so far.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Progress {
    /// Wants more data.
    More,
    /// Finished without error: `load` goes on to `load_end`.
    Done,
    /// The decoder failed, or can never finish (`OSError` from `load`).
    Broken(&'static str),
}

/// PIL's ZIP decoder for one PNG image, fed piece by piece.
pub(super) struct Decoder<'p> {
    cursor: Cursor<'p>,
    left: u64,
    state: Option<Progress>,
}

/// A thread's reusable buffers: the inflater, its output slice, and a piece read from base64.
pub(super) struct Scratch {
    pub inflate: Inflate,
    pub out: Vec<u8>,
    pub piece: Vec<u8>,
}

impl Scratch {
    fn new() -> Self {
        Scratch {
            inflate: Inflate::new(true, 15),
            out: vec![0; OUT_SLICE],
            piece: Vec::new(),
        }
    }
}

thread_local! {
    static SCRATCH: RefCell<Option<Scratch>> = const { RefCell::new(None) };
}

impl<'p> Decoder<'p> {
    pub(super) fn new(plan: &'p RowPlan) -> Self {
        Decoder {
            cursor: Cursor {
                plan,
                pass: 0,
                rows_left: plan.passes.first().map_or(0, |&(n, _)| n),
                in_row: 0,
            },
            left: plan.total_bytes(),
            state: None,
        }
    }

    /// Runs `f` with the thread's buffers, the inflater reset for a new stream.
    pub(super) fn with_scratch<T>(f: impl FnOnce(&mut Scratch) -> T) -> T {
        SCRATCH.with(|cell| match cell.try_borrow_mut() {
            Ok(mut slot) => {
                let scratch = slot.get_or_insert_with(Scratch::new);
                scratch.inflate.reset(true);
                f(scratch)
            }
            // Re-entered (nothing does today): private buffers.
            Err(_) => f(&mut Scratch::new()),
        })
    }

    /// `decoder.decode(piece)`: the decoder's state after it.
    pub(super) fn feed(&mut self, inflate: &mut Inflate, buf: &mut [u8], piece: &[u8]) -> Progress {
        if let Some(done) = self.state {
            return done;
        }
        let progress = self.run(inflate, buf, piece);
        if progress != Progress::More {
            self.state = Some(progress);
        }
        progress
    }

    fn run(&mut self, inflate: &mut Inflate, buf: &mut [u8], mut piece: &[u8]) -> Progress {
        if self.left == 0 {
            return Progress::Done;
        }
        while !piece.is_empty() {
            let cap = usize::try_from(self.left)
                .unwrap_or(usize::MAX)
                .min(buf.len());
            let Some(out) = buf.get_mut(..cap) else {
                return Progress::Broken("decoder buffer");
            };
            let (in0, out0) = (inflate.total_in(), inflate.total_out());
            let status = inflate.decompress(piece, out, InflateFlush::NoFlush);
            let used = usize::try_from(inflate.total_in() - in0).unwrap_or(usize::MAX);
            let made = usize::try_from(inflate.total_out() - out0).unwrap_or(usize::MAX);
            piece = piece.get(used..).unwrap_or(&[]);
            let status = match status {
                Ok(s) => s,
                // A preset dictionary: PIL's decoder waits for output that never comes.
                Err(zlib_rs::InflateError::NeedDict { .. }) => {
                    return Progress::Broken("image file is truncated")
                }
                Err(_) => return Progress::Broken("broken data stream when reading image file"),
            };
            if !self.cursor.advance(out.get(..made).unwrap_or(&[])) {
                return Progress::Broken(
                    "unrecognized data stream contents when reading image file",
                );
            }
            self.left -= made as u64;
            if self.left == 0 {
                return Progress::Done;
            }
            match status {
                Status::Ok => {}
                Status::StreamEnd if made > 0 && self.cursor.in_row == 0 => return Progress::Done,
                // Ended inside a row, or before any row of this piece: never completes.
                Status::StreamEnd => return Progress::Broken("image file is truncated"),
                Status::BufError => {
                    return Progress::Broken("broken data stream when reading image file")
                }
            }
        }
        Progress::More
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn adam7_passes_follow_pil() {
        // 1×1: pass 0 only. 3×3: pass 1 has no column, pass 2 no row.
        let p = RowPlan::new(1, 1, 8, true).unwrap();
        assert_eq!(p.passes, vec![(1, 2)]);
        let p = RowPlan::new(3, 3, 8, true).unwrap();
        assert_eq!(p.passes, vec![(1, 2), (1, 2), (1, 3), (2, 2), (1, 4)]);
        let p = RowPlan::new(8, 8, 1, true).unwrap();
        assert_eq!(p.passes.len(), 7);
        assert_eq!(p.total_bytes(), 2 + 2 + 2 + 4 + 4 + 8 + 8);
        assert_eq!(RowPlan::new(5, 2, 24, false).unwrap().passes, vec![(2, 16)]);
        assert_eq!(RowPlan::new(u32::MAX, 1, 64, false), None);
    }
}
