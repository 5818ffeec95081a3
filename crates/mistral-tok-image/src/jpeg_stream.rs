//! A JPEG after its first scan header, read as libjpeg reads it when PIL loads the image: every
//! marker up to EOI for a multi-scan file, where a suspension is a refusal; for a single-scan
//! file, what follows its scan counts only if PIL had fed it to libjpeg when the last row came
//! out ([`jpeg_huffman`](super::jpeg_huffman) decides that for a file cut inside its scan data).
//!
//! How, and why: `docs/images.md`, "The JPEG marker stream".

use super::jpeg_huffman::{self, Derived, End, Resync};
use super::jpeg_scan::{broken, Coding, Cursor, Marker, Scans, Stop};
use super::probe::Fail;
use super::source::Reader;

/// How far past a marker's declared length a handler may read (`get_dqt` reads a whole table
/// of 64 two-byte entries whatever the length says).
const WINDOW_SLACK: usize = 256;

/// `ImageFile.MAXBLOCK`: PIL's loader feeds the decoder this many bytes at a time, from the start
/// of the file.
const PIL_READ: usize = 65536;

fn truncated() -> Fail {
    Fail::Truncated("image file is truncated".into())
}

/// `next_marker`: the next marker code at or after the reader, skipping data, stuffed zeros
/// and fill bytes; `None` at the end of the data (libjpeg suspends).
fn next_marker(r: &mut Reader) -> Option<u8> {
    loop {
        r.find(0xFF)?;
        r.skip(1);
        let mut code = 0xFF;
        while code == 0xFF {
            code = r.byte()?;
        }
        if code != 0 {
            return Some(code);
        }
    }
}

/// The bytes after a marker code that its handler may read.
pub(super) fn window(r: &mut Reader) -> Vec<u8> {
    let at = r.pos();
    let length = r
        .array::<2>()
        .map_or(0, |[hi, lo]| usize::from(hi) << 8 | usize::from(lo));
    r.seek(at);
    r.read_vec(length + WINDOW_SLACK)
}

/// Runs `read_markers`' handler for `code`, leaving the reader after what it consumed.
fn handle(r: &mut Reader, scans: &mut Scans, code: u8) -> Result<Marker, Stop> {
    let at = r.pos();
    let bytes = window(r);
    let mut c = Cursor::new(&bytes);
    let out = scans.marker(code, &mut c);
    r.seek(at + c.pos());
    out
}

/// What becomes of the load when libjpeg suspends outside scan data.
fn suspended(scans: &Scans) -> Result<(), Fail> {
    if scans.multi_scan {
        Err(truncated())
    } else {
        Ok(()) // in jpeg_finish_decompress, after the last row
    }
}

/// The entropy-coded data of the current scan: returns the marker the decoder leaves unread at
/// its end, or where the decoder starts its last restart interval when the data ends inside
/// the scan.
fn scan_data(r: &mut Reader, scans: &Scans) -> Result<Result<u8, usize>, Fail> {
    let mut unread: Option<u8> = None;
    let mut interval_start = r.pos();
    for n in 0..scans.restart_boundaries() {
        let desired = (n % 8) as u8;
        // `read_restart_marker`: data ending before a restart point leaves rows unread.
        let mut marker = match unread {
            Some(m) => m,
            None => next_marker(r).ok_or_else(truncated)?,
        };
        loop {
            match jpeg_huffman::resync(marker, desired) {
                Resync::Take => {
                    unread = None;
                    interval_start = r.pos();
                    break;
                }
                Resync::ScanOn => marker = next_marker(r).ok_or_else(truncated)?,
                Resync::Leave => {
                    unread = Some(marker);
                    break;
                }
            }
        }
    }
    Ok(match unread.or_else(|| next_marker(r)) {
        Some(m) => Ok(m),
        None => Err(interval_start),
    })
}

/// A single-scan file whose data ends inside its (last restart interval's) scan data, from
/// `start`: libjpeg's Huffman decoder decides (`jpeg_huffman`).
fn cut_scan(r: &mut Reader, scans: &Scans, start: usize) -> Result<(), Fail> {
    r.seek(start);
    let data = r.read_vec(r.remaining());
    let tables = scans.mcu_tables();
    let blocks: Vec<(&Derived, &Derived)> = tables.iter().map(|(dc, ac)| (dc, ac)).collect();
    let restarts = scans.restart_interval != 0;
    match jpeg_huffman::walk(&data, start, &blocks, scans.last_interval_mcus(), restarts) {
        End::Decoded { .. } => Ok(()),
        End::OutOfData => Err(truncated()),
    }
}

/// A fatal error `f` found after the scan of a single-scan file, `r` just past the bytes it
/// took: it counts only if PIL had fed those bytes when the last row came out (a suspension of
/// `jpeg_finish_decompress` at the end of what it has ends the load). Certain within the 64 KiB
/// piece the scan header ended in; beyond it, the Huffman decoder tells where PIL stood.
fn after_last_row(r: &mut Reader, scans: &Scans, scan_start: usize, f: Fail) -> Result<(), Fail> {
    let at = r.pos();
    if at <= (scan_start / PIL_READ + 1) * PIL_READ {
        return Err(f);
    }
    r.seek(scan_start);
    let data = r.read_vec(r.remaining());
    let tables = scans.mcu_tables();
    let blocks: Vec<(&Derived, &Derived)> = tables.iter().map(|(dc, ac)| (dc, ac)).collect();
    let mcus = scans.total_mcus();
    let end = match scans.restart_interval {
        0 => jpeg_huffman::walk(&data, scan_start, &blocks, mcus, false),
        n => jpeg_huffman::walk_restarts(&data, scan_start, &blocks, mcus, u64::from(n)),
    };
    match end {
        End::Decoded { fed } if at > fed => Ok(()),
        End::Decoded { .. } => Err(f),
        End::OutOfData => Err(truncated()), // not reached: a marker follows the scan data
    }
}

/// Reads the file from the end of the first SOS header to the end of the image, as libjpeg
/// does under PIL's loader. `scans` holds the header's tables and the first scan.
pub(super) fn finish(r: &mut Reader, scans: &mut Scans) -> Result<(), Fail> {
    scans.first_scan();
    scans.start_scan()?;
    let scan_start = r.pos();
    loop {
        let mut code = match scan_data(r, scans)? {
            Ok(code) => code,
            Err(_) if scans.multi_scan => return Err(truncated()),
            Err(start) => return cut_scan(r, scans, start),
        };
        // `read_markers`, until the next scan or EOI.
        loop {
            match handle(r, scans, code) {
                Ok(Marker::End) => return Ok(()),
                Ok(Marker::Next) => {}
                Ok(Marker::Scan) if scans.multi_scan => {
                    scans.start_scan()?;
                    break;
                }
                Ok(Marker::Scan) => {
                    return after_last_row(r, scans, scan_start, broken("EOI expected"))
                }
                Err(Stop::Fatal(f)) if scans.multi_scan => return Err(f),
                Err(Stop::Fatal(f)) => return after_last_row(r, scans, scan_start, f),
                Err(Stop::Suspend) => return suspended(scans),
            }
            match next_marker(r) {
                Some(c) => code = c,
                None => return suspended(scans),
            }
        }
    }
}

/// Whether this module judges the frame's scans (Huffman frames); others keep the plain walk to
/// EOI (`jpeg::find_eoi`).
pub(super) fn judges(scans: &Scans) -> bool {
    scans.coding() != Coding::Other
}
