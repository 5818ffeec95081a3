//! Where libjpeg-turbo's sequential Huffman decoder stands in a single-scan JPEG, as PIL feeds
//! it: in a file whose data ends without a marker (a cut file), does it decode the last MCU
//! before it wants a byte the file does not have? And when the last row comes out, how much of
//! the file has PIL fed (what `jpeg_finish_decompress` can still read)?
//!
//! How, and why: `docs/images.md`, "The JPEG Huffman decoder".

/// `MIN_GET_BITS` for a 64-bit bit buffer.
const MIN_GET_BITS: u32 = 57;
/// `HUFF_LOOKAHEAD`.
const LOOKAHEAD: u32 = 8;
/// `BUFSIZE`: bytes per block the fast path wants in the buffer.
const FAST_BYTES_PER_BLOCK: usize = 512;
/// PIL's read size (`ImageFile.MAXBLOCK`).
const PIL_READ: usize = 65536;

/// `d_derived_tbl`: the decoding view of a DHT table.
pub(super) struct Derived {
    /// Per 8-bit lookahead: code length (9: longer) and symbol.
    lookup: [(u32, u8); 256],
    /// `maxcode[l]` for l in 0..=17 (-1: no code of that length; 17: sentinel).
    maxcode: [i64; 18],
    valoffset: [i64; 17],
    symbols: Vec<u8>,
}

impl Derived {
    /// `jpeg_make_d_derived_tbl`, for a table `jpeg_scan` has already found valid.
    pub(super) fn new(bits: &[u8; 16], symbols: &[u8]) -> Self {
        let mut maxcode = [-1i64; 18];
        let mut valoffset = [0i64; 17];
        let mut lookup = [(LOOKAHEAD + 1, 0u8); 256];
        let (mut code, mut p) = (0i64, 0usize);
        for l in 1..=16usize {
            let count = usize::from(bits[l - 1]);
            if count > 0 {
                valoffset[l] = p as i64 - code;
                for _ in 0..count {
                    if l <= LOOKAHEAD as usize {
                        let sym = symbols.get(p).copied().unwrap_or(0);
                        let shift = LOOKAHEAD as usize - l;
                        let first = (code as usize) << shift;
                        for e in lookup.iter_mut().skip(first).take(1 << shift) {
                            *e = (l as u32, sym);
                        }
                    }
                    code += 1;
                    p += 1;
                }
                maxcode[l] = code - 1;
            }
            code <<= 1;
        }
        maxcode[17] = 0xFFFFF;
        Derived {
            lookup,
            maxcode,
            valoffset,
            symbols: symbols.to_vec(),
        }
    }

    fn symbol(&self, code: i64, l: u32) -> u8 {
        if l > 16 {
            return 0; // bad code: libjpeg warns and fakes a zero
        }
        let at = code + self.valoffset[l as usize];
        usize::try_from(at)
            .ok()
            .and_then(|i| self.symbols.get(i & 0xFF))
            .copied()
            .unwrap_or(0)
    }
}

/// The standard tables (`jstdhuff.c`, JPEG Annex K.3) a sequential decoder puts in the empty
/// slots 0 and 1: `[dc, ac][slot]` as (bits, symbols).
pub(super) fn standard(class: usize, slot: usize) -> (&'static [u8; 16], &'static [u8]) {
    match (class, slot) {
        (0, 0) => (&DC_LUMINANCE_BITS, &DC_LUMINANCE_VALS),
        (0, _) => (&DC_CHROMINANCE_BITS, &DC_CHROMINANCE_VALS),
        (_, 0) => (&AC_LUMINANCE_BITS, &AC_LUMINANCE_VALS),
        _ => (&AC_CHROMINANCE_BITS, &AC_CHROMINANCE_VALS),
    }
}

/// How the decoding of the scan ends.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum End {
    /// Every row comes out: every MCU was decoded, or the decoder met a marker (it then reads
    /// no further and fills the rest of the scan with zeros). `fed`: the file offset up to which
    /// PIL had fed libjpeg at that point.
    Decoded { fed: usize },
    /// The decoder wanted a byte past the end of the file: "image file is truncated".
    OutOfData,
}

enum Stop {
    /// The buffer (PIL's current pieces) is exhausted.
    Suspend,
    Marker,
}

/// `bitread_working_state` over the file's bytes from the decoder's start.
#[derive(Clone)]
struct Bits {
    pos: usize,
    buffer: u64,
    left: u32,
}

struct Walk<'a> {
    data: &'a [u8],
    /// End of what PIL has fed (relative to `data`).
    end: usize,
    bits: Bits,
    /// The marker the slow path's fill last met.
    marker: u8,
}

impl Walk<'_> {
    /// `jpeg_fill_bit_buffer`: fills to `MIN_GET_BITS`, suspending when the buffer ends first.
    fn fill(&mut self) -> Result<(), Stop> {
        while self.bits.left < MIN_GET_BITS {
            let mut c = *self.data[..self.end]
                .get(self.bits.pos)
                .ok_or(Stop::Suspend)?;
            self.bits.pos += 1;
            if c == 0xFF {
                loop {
                    c = *self.data[..self.end]
                        .get(self.bits.pos)
                        .ok_or(Stop::Suspend)?;
                    self.bits.pos += 1;
                    if c != 0xFF {
                        break;
                    }
                }
                if c != 0 {
                    // libjpeg keeps the marker and reads nothing more in this scan.
                    self.marker = c;
                    return Err(Stop::Marker);
                }
                c = 0xFF;
            }
            self.bits.buffer = self.bits.buffer << 8 | u64::from(c);
            self.bits.left += 8;
        }
        Ok(())
    }

    fn ensure(&mut self, n: u32) -> Result<(), Stop> {
        if self.bits.left < n {
            self.fill()?;
            if self.bits.left < n {
                return Err(Stop::Marker); // only once a marker is met
            }
        }
        Ok(())
    }

    fn get(&mut self, n: u32) -> u64 {
        self.bits.left -= n;
        (self.bits.buffer >> self.bits.left) & ((1u64 << n) - 1)
    }

    /// `HUFF_DECODE` (slow path).
    fn decode_slow(&mut self, t: &Derived) -> Result<u8, Stop> {
        self.ensure(LOOKAHEAD)?;
        let look = (self.bits.buffer >> (self.bits.left - LOOKAHEAD)) & 0xFF;
        let (nb, sym) = t.lookup[look as usize];
        if nb <= LOOKAHEAD {
            self.bits.left -= nb;
            return Ok(sym);
        }
        // `jpeg_huff_decode`
        let mut l = nb;
        self.ensure(l)?;
        let mut code = self.get(l) as i64;
        while code > t.maxcode[l as usize] {
            self.ensure(1)?;
            code = code << 1 | self.get(1) as i64;
            l += 1;
        }
        Ok(t.symbol(code, l))
    }

    fn extra_slow(&mut self, s: u32) -> Result<(), Stop> {
        if s > 0 {
            self.ensure(s)?;
            self.bits.left -= s;
        }
        Ok(())
    }

    /// `FILL_BIT_BUFFER_FAST`: `Err` when a byte pair is not data (the MCU goes to the slow path).
    fn fill_fast(&mut self) -> Result<(), Stop> {
        if self.bits.left <= 16 {
            for _ in 0..6 {
                let c0 = self.data.get(self.bits.pos).copied().unwrap_or(0);
                let c1 = self.data.get(self.bits.pos + 1).copied().unwrap_or(0);
                self.bits.pos += 1;
                self.bits.buffer = self.bits.buffer << 8 | u64::from(c0);
                self.bits.left += 8;
                if c0 == 0xFF {
                    if c1 != 0 {
                        return Err(Stop::Marker);
                    }
                    self.bits.pos += 1;
                }
            }
        }
        Ok(())
    }

    /// `HUFF_DECODE_FAST`.
    fn decode_fast(&mut self, t: &Derived) -> Result<u8, Stop> {
        self.fill_fast()?;
        let look = (self.bits.buffer >> (self.bits.left - LOOKAHEAD)) & 0xFF;
        let (mut nb, sym) = t.lookup[look as usize];
        self.bits.left -= nb;
        if nb <= LOOKAHEAD {
            return Ok(sym);
        }
        let mut code = ((self.bits.buffer >> self.bits.left) & ((1u64 << nb) - 1)) as i64;
        while code > t.maxcode[nb as usize] {
            code = code << 1 | self.get(1) as i64;
            nb += 1;
        }
        Ok(t.symbol(code, nb))
    }

    fn extra_fast(&mut self, s: u32) -> Result<(), Stop> {
        if s > 0 {
            self.fill_fast()?;
            self.bits.left -= s;
        }
        Ok(())
    }

    /// One MCU (`decode_mcu_slow` / `decode_mcu_fast`): a DC code and its extra bits, then AC
    /// codes up to EOB or the 63rd coefficient, per block.
    fn mcu(&mut self, blocks: &[(&Derived, &Derived)], fast: bool) -> Result<(), Stop> {
        for &(dc, ac) in blocks {
            let s = if fast {
                self.decode_fast(dc)?
            } else {
                self.decode_slow(dc)?
            };
            let s = u32::from(s);
            if fast {
                self.extra_fast(s)?;
            } else {
                self.extra_slow(s)?;
            }
            let mut k = 1u32;
            while k < 64 {
                let rs = if fast {
                    self.decode_fast(ac)?
                } else {
                    self.decode_slow(ac)?
                };
                let (r, s) = (u32::from(rs >> 4), u32::from(rs & 15));
                if s != 0 {
                    k += r;
                    if fast {
                        self.extra_fast(s)?;
                    } else {
                        self.extra_slow(s)?;
                    }
                } else if r != 15 {
                    break;
                } else {
                    k += 15;
                }
                k += 1;
            }
        }
        Ok(())
    }
}

/// Decodes `mcus` MCUs of `blocks` from `data` (the file from the decoder's start, which lies
/// at file offset `offset`, to the end of the file), as PIL feeds libjpeg.
/// `restarts`: the scan has a restart interval (the fast path is then never taken).
pub(super) fn walk(
    data: &[u8],
    offset: usize,
    blocks: &[(&Derived, &Derived)],
    mcus: u64,
    restarts: bool,
) -> End {
    // The decoder starts in the piece in which the scan header (or restart marker) ended; when
    // that piece ends right there, the first fill suspends and the next piece comes.
    let piece_end = |from: usize| (from / PIL_READ + 1) * PIL_READ;
    let mut w = Walk {
        data,
        end: (piece_end(offset.saturating_sub(1)) - offset).min(data.len()),
        bits: Bits {
            pos: 0,
            buffer: 0,
            left: 0,
        },
        marker: 0,
    };
    let per_mcu = FAST_BYTES_PER_BLOCK * blocks.len();
    for _ in 0..mcus {
        let saved = w.bits.clone();
        loop {
            // (A fast MCU of stuffed bytes may read past the buffer; libjpeg-turbo reads on.)
            let fast = !restarts && w.end.saturating_sub(w.bits.pos) >= per_mcu;
            if fast {
                match w.mcu(blocks, true) {
                    Ok(()) => break,
                    Err(_) => w.bits = saved.clone(),
                }
            }
            match w.mcu(blocks, false) {
                Ok(()) => break,
                Err(Stop::Marker) => {
                    return End::Decoded {
                        fed: offset + w.end,
                    }
                }
                Err(Stop::Suspend) if w.end < data.len() => {
                    // PIL feeds the next piece; libjpeg decodes the MCU again.
                    w.end = (piece_end(offset + w.end) - offset).min(data.len());
                    w.bits = saved.clone();
                }
                Err(Stop::Suspend) => return End::OutOfData,
            }
        }
    }
    End::Decoded {
        fed: offset + w.end,
    }
}

const DC_LUMINANCE_BITS: [u8; 16] = [0, 1, 5, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0, 0];
const DC_LUMINANCE_VALS: [u8; 12] = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11];
const DC_CHROMINANCE_BITS: [u8; 16] = [0, 3, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0];
const DC_CHROMINANCE_VALS: [u8; 12] = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11];
const AC_LUMINANCE_BITS: [u8; 16] = [0, 2, 1, 3, 3, 2, 4, 3, 5, 5, 4, 4, 0, 0, 1, 125];
const AC_LUMINANCE_VALS: [u8; 162] = [
    1, 2, 3, 0, 4, 17, 5, 18, 33, 49, 65, 6, 19, 81, 97, 7, 34, 113, 20, 50, 129, 145, 161, 8, 35,
    66, 177, 193, 21, 82, 209, 240, 36, 51, 98, 114, 130, 9, 10, 22, 23, 24, 25, 26, 37, 38, 39,
    40, 41, 42, 52, 53, 54, 55, 56, 57, 58, 67, 68, 69, 70, 71, 72, 73, 74, 83, 84, 85, 86, 87, 88,
    89, 90, 99, 100, 101, 102, 103, 104, 105, 106, 115, 116, 117, 118, 119, 120, 121, 122, 131,
    132, 133, 134, 135, 136, 137, 138, 146, 147, 148, 149, 150, 151, 152, 153, 154, 162, 163, 164,
    165, 166, 167, 168, 169, 170, 178, 179, 180, 181, 182, 183, 184, 185, 186, 194, 195, 196, 197,
    198, 199, 200, 201, 202, 210, 211, 212, 213, 214, 215, 216, 217, 218, 225, 226, 227, 228, 229,
    230, 231, 232, 233, 234, 241, 242, 243, 244, 245, 246, 247, 248, 249, 250,
];
const AC_CHROMINANCE_BITS: [u8; 16] = [0, 2, 1, 2, 4, 4, 3, 4, 7, 5, 4, 4, 0, 1, 2, 119];
const AC_CHROMINANCE_VALS: [u8; 162] = [
    0, 1, 2, 3, 17, 4, 5, 33, 49, 6, 18, 65, 81, 7, 97, 113, 19, 34, 50, 129, 8, 20, 66, 145, 161,
    177, 193, 9, 35, 51, 82, 240, 21, 98, 114, 209, 10, 22, 36, 52, 225, 37, 241, 23, 24, 25, 26,
    38, 39, 40, 41, 42, 53, 54, 55, 56, 57, 58, 67, 68, 69, 70, 71, 72, 73, 74, 83, 84, 85, 86, 87,
    88, 89, 90, 99, 100, 101, 102, 103, 104, 105, 106, 115, 116, 117, 118, 119, 120, 121, 122, 130,
    131, 132, 133, 134, 135, 136, 137, 138, 146, 147, 148, 149, 150, 151, 152, 153, 154, 162, 163,
    164, 165, 166, 167, 168, 169, 170, 178, 179, 180, 181, 182, 183, 184, 185, 186, 194, 195, 196,
    197, 198, 199, 200, 201, 202, 210, 211, 212, 213, 214, 215, 216, 217, 218, 226, 227, 228, 229,
    230, 231, 232, 233, 234, 242, 243, 244, 245, 246, 247, 248, 249, 250,
];

impl Walk<'_> {
    /// PIL feeds the next piece, or the file is exhausted.
    fn feed(&mut self, offset: usize) -> Result<(), Stop> {
        if self.end >= self.data.len() {
            return Err(Stop::Suspend);
        }
        self.end = ((offset + self.end) / PIL_READ + 1) * PIL_READ - offset;
        self.end = self.end.min(self.data.len());
        Ok(())
    }

    /// `next_marker`, fed piece by piece; `Err` at the end of the file.
    fn next_marker(&mut self, offset: usize) -> Result<u8, Stop> {
        let byte = |w: &mut Self| -> Result<u8, Stop> {
            while w.bits.pos >= w.end {
                w.feed(offset)?;
            }
            w.bits.pos += 1;
            Ok(w.data[w.bits.pos - 1])
        };
        loop {
            if byte(self)? != 0xFF {
                continue;
            }
            let mut c = 0xFF;
            while c == 0xFF {
                c = byte(self)?;
            }
            if c != 0 {
                return Ok(c);
            }
        }
    }
}

/// What libjpeg does with `marker` where restart marker `desired` (0-7) is due
/// (`read_restart_marker`, `jpeg_resync_to_restart`).
pub(super) enum Resync {
    /// It is the restart marker (the desired one, or one too far off): discard it.
    Take,
    /// An invalid marker, or a restart marker just behind: scan on to the next marker.
    ScanOn,
    /// A valid non-restart marker, or one of the next two restart markers: leave it unread.
    Leave,
}

pub(super) fn resync(marker: u8, desired: u8) -> Resync {
    let rst = |k: u8| 0xD0 + ((desired + k) & 7);
    let is_rst = (0xD0..=0xD7).contains(&marker);
    if marker == rst(0) {
        Resync::Take
    } else if marker < 0xC0 || (is_rst && (marker == rst(7) || marker == rst(6))) {
        Resync::ScanOn
    } else if !is_rst || marker == rst(1) || marker == rst(2) {
        Resync::Leave
    } else {
        Resync::Take
    }
}

/// [`walk`] for a scan with a restart interval (slow path only): at each restart point the
/// decoder drops its bits and reads the restart marker (`read_restart_marker`, resyncing as
/// `jpeg_resync_to_restart` does); it reads no data while it holds another marker.
pub(super) fn walk_restarts(
    data: &[u8],
    offset: usize,
    blocks: &[(&Derived, &Derived)],
    mcus: u64,
    interval: u64,
) -> End {
    let mut w = Walk {
        data,
        end: (((offset.saturating_sub(1)) / PIL_READ + 1) * PIL_READ - offset).min(data.len()),
        bits: Bits {
            pos: 0,
            buffer: 0,
            left: 0,
        },
        marker: 0,
    };
    let mut unread: Option<u8> = None;
    let intervals = mcus.div_ceil(interval.max(1));
    for i in 0..intervals {
        if i > 0 {
            w.bits.left = 0;
            let desired = ((i - 1) % 8) as u8;
            let mut m = match unread {
                Some(m) => m,
                None => match w.next_marker(offset) {
                    Ok(m) => m,
                    Err(_) => return End::OutOfData,
                },
            };
            unread = None;
            loop {
                match resync(m, desired) {
                    Resync::ScanOn => {
                        m = match w.next_marker(offset) {
                            Ok(m) => m,
                            Err(_) => return End::OutOfData,
                        };
                    }
                    Resync::Leave => {
                        unread = Some(m);
                        break;
                    }
                    Resync::Take => break,
                }
            }
        }
        if unread.is_some() {
            continue; // zeros, nothing read
        }
        let n = interval.min(mcus - i * interval);
        for _ in 0..n {
            let saved = w.bits.clone();
            loop {
                match w.mcu(blocks, false) {
                    Ok(()) => break,
                    Err(Stop::Marker) => {
                        unread = Some(w.marker);
                        break;
                    }
                    Err(Stop::Suspend) => {
                        if w.feed(offset).is_err() {
                            return End::OutOfData;
                        }
                        w.bits = saved.clone();
                    }
                }
            }
            if unread.is_some() {
                break;
            }
        }
    }
    End::Decoded {
        fed: offset + w.end,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn std_blocks() -> (Derived, Derived) {
        let (b, s) = standard(0, 0);
        let dc = Derived::new(b, s);
        let (b, s) = standard(1, 0);
        (dc, Derived::new(b, s))
    }

    #[test]
    fn derived_tables_decode_canonical_codes() {
        let (dc, ac) = std_blocks();
        // DC luminance: "00" is symbol 0 (2 bits); "010" symbol 1 (3 bits).
        assert_eq!(dc.lookup[0b0000_0000], (2, 0));
        assert_eq!(dc.lookup[0b0100_0000], (3, 1));
        // AC luminance: "1010" is EOB; codes longer than 8 bits go to the slow decode.
        assert_eq!(ac.lookup[0b1010_0000], (4, 0x00));
        assert_eq!(ac.lookup[0b1111_1111].0, LOOKAHEAD + 1);
        // A 16-bit all-ones pattern is no code: 17 bits read, symbol 0.
        assert_eq!(ac.symbol(0x1FFFF, 17), 0);
    }

    #[test]
    fn walk_ends_as_libjpeg() {
        let (dc, ac) = std_blocks();
        let blocks = [(&dc, &ac)];
        // 191 bits per all-zero block (see tests/jpeg.rs); the 4 bytes before stand for the
        // data the file test puts first.
        let data = |n: usize| [&[0x12, 0x34, 0x56, 0x00][..], &vec![0; n]].concat();
        let done = |fed: usize| End::Decoded { fed };
        assert_eq!(walk(&data(25), 700, &blocks, 1, false), done(729));
        assert_eq!(walk(&data(24), 700, &blocks, 1, false), End::OutOfData);
        // PIL's 64 KiB pieces are invisible: the decoder suspends at a piece's end, gets the
        // next one and decodes the MCU again.
        for offset in [65_530, 65_536, 65_540, 131_070] {
            assert_eq!(
                walk(&data(25), offset, &blocks, 1, false),
                done(offset + 29)
            );
            assert_eq!(walk(&data(24), offset, &blocks, 1, false), End::OutOfData);
        }
        // The fast path (512 bytes per block in the buffer) and a marker sending an MCU back to
        // the slow path.
        let long = vec![0u8; 2000];
        assert_eq!(walk(&long, 700, &blocks, 8, false), done(2700));
        assert_eq!(walk(&long, 700, &blocks, 84, false), End::OutOfData);
        // Where PIL stood when the last MCU was decoded: the first piece's end when it sufficed.
        assert_eq!(walk(&long, 65_000, &blocks, 8, false), done(65_536));
        assert_eq!(walk(&long, 65_000, &blocks, 30, false), done(67_000));
        let mut marked = long.clone();
        marked[10] = 0xFF; // 0xFF 0x00: a data byte in both paths
        assert_eq!(walk(&marked, 700, &blocks, 8, false), done(2700));
        // A marker: the decoder stops reading there, and the rest of the scan is zeros.
        marked[11] = 0xD0;
        assert_eq!(walk(&marked, 700, &blocks, 84, false), done(2700));
    }

    #[test]
    fn restart_walk_reads_each_interval_after_its_marker() {
        let (dc, ac) = std_blocks();
        let blocks = [(&dc, &ac)];
        let done = |fed: usize| End::Decoded { fed };
        // Two MCUs, one per interval: 25 zero bytes, RST0, 29 zero bytes (the fewest PIL takes
        // after a restart marker; see tests/jpeg.rs).
        let two = [&[0u8; 25][..], &[0xFF, 0xD0], &[0; 29]].concat();
        assert_eq!(walk_restarts(&two, 700, &blocks, 2, 1), done(756));
        // One byte fewer: a refill runs out of data.
        assert_eq!(
            walk_restarts(&two[..two.len() - 1], 700, &blocks, 2, 1),
            End::OutOfData
        );
        // No restart marker at all: the first interval's fill stops nowhere, out of data.
        assert_eq!(walk_restarts(&[0; 60], 700, &blocks, 2, 1), End::OutOfData);
        // Pieces: the first ends 10 bytes in, the decoder waits for the next.
        assert_eq!(walk_restarts(&two, 65_526, &blocks, 2, 1), done(65_582));
        // A marker other than RST0 where RST0 is due (EOI): left unread, the second interval
        // reads nothing, and the scan still ends with every row.
        let eoi = [&[0u8; 25][..], &[0xFF, 0xD9], &[0; 5]].concat();
        assert_eq!(walk_restarts(&eoi, 700, &blocks, 2, 1), done(732));
    }
}
