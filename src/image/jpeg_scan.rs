//! The fatal errors libjpeg (libjpeg-turbo, which Pillow links) raises on the Huffman tables and
//! scan headers of a JPEG, which PIL reports as "broken data stream when reading image file".
//!
//! A progressive JPEG (SOF2) is absorbed whole by `jpeg_start_decompress` before any row comes
//! out, so every marker up to EOI is read and judged: a DHT that does not parse (`get_dht`), an
//! SOS whose length, component ids or progression parameters are invalid (`get_sos`,
//! `start_pass_phuff_decoder`), a scan using a Huffman table that is missing or cannot be built
//! (`jpeg_make_d_derived_tbl`), a second SOI or SOF, or a marker libjpeg does not know. Corrupt
//! entropy-coded data only draws warnings, so it is not judged here. In a sequential Huffman file
//! (SOF0/SOF1) only the tables and the header of the first scan are judged: whether libjpeg reads
//! the markers after it is not settled here, so they are left as before. Arithmetic and lossless
//! frames get `get_sos`'s own checks only (their scans use no Huffman tables).

use super::probe::Fail;

/// `NUM_HUFF_TBLS`.
const TABLES: usize = 4;

fn broken(why: &str) -> Fail {
    Fail::Truncated(format!(
        "broken data stream when reading image file ({why})"
    ))
}

/// A Huffman table as DHT defines it: code counts per length (1–16) and the symbols.
#[derive(Clone)]
struct Table {
    bits: [u8; 16],
    symbols: Vec<u8>,
}

/// How the frame's scans are coded, as far as this module judges them.
#[derive(Clone, Copy, PartialEq, Eq, Default)]
enum Coding {
    /// SOF0/SOF1: sequential Huffman; every scan builds its DC and AC tables.
    Sequential,
    /// SOF2: progressive Huffman.
    Progressive,
    /// Arithmetic, lossless, or no frame yet: only `get_sos`'s own checks apply.
    #[default]
    Other,
}

/// What libjpeg knows when it meets a scan: the frame's component ids and the tables.
#[derive(Default)]
pub(super) struct Scans {
    components: Vec<u8>,
    coding: Coding,
    /// `[dc, ac][index]`; indexes 0 and 1 fall back to the standard tables when never defined.
    tables: [[Option<Table>; TABLES]; 2],
}

impl Scans {
    /// The last SOF before the first SOS (the one libjpeg also reads).
    pub(super) fn frame(&mut self, marker: u8, sof: &[u8]) {
        self.coding = match marker {
            0xC0 | 0xC1 => Coding::Sequential,
            0xC2 => Coding::Progressive,
            _ => Coding::Other,
        };
        self.components = sof
            .get(6..)
            .unwrap_or_default()
            .chunks_exact(3)
            .map(|c| c[0])
            .collect();
    }

    pub(super) fn is_progressive(&self) -> bool {
        self.coding == Coding::Progressive
    }

    /// `get_dht`.
    pub(super) fn dht(&mut self, mut s: &[u8]) -> Result<(), Fail> {
        while s.len() > 16 {
            let index = s[0];
            let mut bits = [0u8; 16];
            bits.copy_from_slice(&s[1..17]);
            s = &s[17..];
            let count: usize = bits.iter().map(|&b| usize::from(b)).sum();
            if count > 256 || count > s.len() {
                return Err(broken("bogus Huffman table definition"));
            }
            let symbols = s[..count].to_vec();
            s = &s[count..];
            let (class, index) = if index & 0x10 != 0 {
                (1, index - 0x10)
            } else {
                (0, index)
            };
            let slot = self.tables[class]
                .get_mut(usize::from(index))
                .ok_or_else(|| broken("bogus DHT index"))?;
            *slot = Some(Table { bits, symbols });
        }
        if !s.is_empty() {
            return Err(broken("bogus marker length"));
        }
        Ok(())
    }

    /// `get_sos`, then what starting the scan checks (`start_pass_*huff_decoder`).
    pub(super) fn sos(&self, s: &[u8]) -> Result<(), Fail> {
        let n = usize::from(*s.first().unwrap_or(&0));
        if s.len() + 2 != n * 2 + 6 || !(1..=4).contains(&n) {
            return Err(broken("bogus marker length"));
        }
        let unique_frame = self
            .components
            .iter()
            .enumerate()
            .all(|(i, c)| !self.components[..i].contains(c));
        let mut ids: Vec<u32> = Vec::with_capacity(n);
        let mut selectors = Vec::with_capacity(n);
        for pair in s[1..1 + 2 * n].chunks_exact(2) {
            let mut id = u32::from(pair[0]);
            // libjpeg-turbo makes a duplicate id unique the way get_sof does.
            if let Some(&first) = ids.first() {
                if ids.contains(&id) {
                    id = ids.iter().skip(1).fold(first + 1, |m, &c| m.max(c)) + 1;
                }
            }
            // (get_sof also renames duplicate frame ids; such frames are not judged here.)
            if unique_frame && !self.components.iter().any(|&c| u32::from(c) == id) {
                return Err(broken("invalid component ID in SOS"));
            }
            ids.push(id);
            selectors.push((usize::from(pair[1] >> 4), usize::from(pair[1] & 15)));
        }
        let tail = &s[1 + 2 * n..];
        let (ss, se, ah, al) = (tail[0], tail[1], tail[2] >> 4, tail[2] & 15);
        match self.coding {
            Coding::Sequential => {
                for &(dc, ac) in &selectors {
                    self.derived(0, dc)?;
                    self.derived(1, ac)?;
                }
                return Ok(());
            }
            Coding::Other => return Ok(()),
            Coding::Progressive => {}
        }
        let dc_band = ss == 0;
        let bad = if dc_band {
            se != 0
        } else {
            ss > se || se >= 64 || n != 1
        } || (ah != 0 && al != ah.wrapping_sub(1))
            || al > 13;
        if bad {
            return Err(broken("invalid progressive parameters"));
        }
        for &(dc, ac) in &selectors {
            if dc_band {
                if ah == 0 {
                    self.derived(0, dc)?;
                }
            } else {
                self.derived(1, ac)?;
            }
        }
        Ok(())
    }

    /// `jpeg_make_d_derived_tbl`: the table exists (or is a standard one) and its code lengths
    /// make a prefix code; DC symbols are at most 15.
    fn derived(&self, class: usize, index: usize) -> Result<(), Fail> {
        let missing = || broken("Huffman table not defined");
        let Some(slot) = self.tables[class].get(index) else {
            return Err(missing());
        };
        let Some(table) = slot else {
            return if index < 2 { Ok(()) } else { Err(missing()) };
        };
        let mut code: u32 = 0;
        let mut total = 0usize;
        for (len, &count) in table.bits.iter().enumerate() {
            total += usize::from(count);
            if total > 256 {
                return Err(broken("bogus Huffman table definition"));
            }
            code += u32::from(count);
            // The all-ones code of each length is reserved.
            if code >= 1u32 << (len + 1) {
                return Err(broken("bogus Huffman table definition"));
            }
            code <<= 1;
        }
        if class == 0 && table.symbols.iter().any(|&s| s > 15) {
            return Err(broken("bogus Huffman table definition"));
        }
        Ok(())
    }

    /// `get_dri`.
    pub(super) fn dri(s: &[u8]) -> Result<(), Fail> {
        if s.len() != 2 {
            return Err(broken("bogus marker length"));
        }
        Ok(())
    }

    /// A marker met after the first SOS of a progressive file that libjpeg refuses outright.
    pub(super) fn fatal_marker(code: u8) -> bool {
        !matches!(
            code,
            0x01 | 0xC4 | 0xCC | 0xD0..=0xD7 | 0xD9 | 0xDA | 0xDB | 0xDC | 0xDD | 0xE0..=0xEF | 0xFE
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn progressive() -> Scans {
        let mut scans = Scans::default();
        // SOF2: precision, height, width, 3 components (ids 1, 2, 3).
        scans.frame(
            0xC2,
            &[8, 0, 8, 0, 8, 3, 1, 0x11, 0, 2, 0x11, 1, 3, 0x11, 1],
        );
        scans
    }

    fn dht(index: u8, bits: [u8; 16], symbols: &[u8]) -> Vec<u8> {
        let mut s = vec![index];
        s.extend_from_slice(&bits);
        s.extend_from_slice(symbols);
        s
    }

    fn is_broken(r: Result<(), Fail>) -> bool {
        matches!(r, Err(Fail::Truncated(m)) if m.starts_with("broken data stream"))
    }

    #[test]
    fn dht_parse_errors() {
        let mut scans = progressive();
        let mut bits = [0u8; 16];
        bits[1] = 3; // three 2-bit codes
        assert!(scans.dht(&dht(0x00, bits, &[0, 1, 2])).is_ok());
        assert!(is_broken(scans.dht(&dht(0x00, bits, &[0, 1])))); // fewer symbols than codes
        assert!(is_broken(scans.dht(&dht(0x04, bits, &[0, 1, 2])))); // index 4
        assert!(is_broken(scans.dht(&dht(0x14, bits, &[0, 1, 2]))));
        let mut long = dht(0x00, bits, &[0, 1, 2]);
        long.push(7); // a byte left over
        assert!(is_broken(scans.dht(&long)));
    }

    #[test]
    fn scans_judge_their_tables_when_they_start() {
        let mut scans = progressive();
        let mut full = [0u8; 16];
        full[0] = 2; // two 1-bit codes: the all-ones code is reserved
        scans.dht(&dht(0x10, full, &[1, 2])).unwrap();
        let mut ok = [0u8; 16];
        ok[1] = 3;
        scans.dht(&dht(0x01, ok, &[0, 1, 20])).unwrap(); // DC symbol 20
                                                         // AC first scan of component 1 with AC table 0 (the over-full one).
        assert!(is_broken(scans.sos(&[1, 1, 0x00, 1, 5, 0x00])));
        // DC first scan using DC table 1 (symbol > 15); a refinement scan needs no table.
        assert!(is_broken(scans.sos(&[1, 1, 0x10, 0, 0, 0x00])));
        assert!(scans.sos(&[1, 1, 0x10, 0, 0, 0x10]).is_ok());
        // Undefined tables: 0 and 1 fall back to the standard ones, 2 does not.
        assert!(scans.sos(&[1, 2, 0x00, 0, 0, 0x00]).is_ok());
        assert!(is_broken(scans.sos(&[1, 2, 0x20, 0, 0, 0x00])));
    }

    #[test]
    fn sos_headers() {
        let scans = progressive();
        assert!(scans.sos(&[3, 1, 0, 2, 0, 3, 0, 0, 0, 0]).is_ok()); // DC scan, 3 components
        assert!(is_broken(scans.sos(&[3, 1, 0, 2, 0, 3, 0, 0, 0]))); // length
        assert!(is_broken(scans.sos(&[1, 9, 0, 0, 0, 0]))); // unknown component
        assert!(is_broken(scans.sos(&[1, 1, 0, 0, 5, 0]))); // DC band with Se > 0
        assert!(is_broken(scans.sos(&[2, 1, 0, 2, 0, 1, 5, 0]))); // AC band, 2 components
        assert!(is_broken(scans.sos(&[1, 1, 0, 6, 5, 0]))); // Ss > Se
        assert!(is_broken(scans.sos(&[1, 1, 0, 1, 64, 0]))); // Se > 63
        assert!(is_broken(scans.sos(&[1, 1, 0, 1, 5, 0x31]))); // Al != Ah - 1
        assert!(is_broken(scans.sos(&[1, 1, 0, 1, 5, 0x0E]))); // Al > 13
        assert!(scans.sos(&[1, 1, 0, 1, 5, 0x21]).is_ok());
        // A duplicate id is renamed (here to 3, which exists; 1 + 1 then max, plus one).
        assert!(scans.sos(&[2, 1, 0, 1, 0, 0, 0, 0]).is_ok());
    }

    #[test]
    fn arithmetic_frames_use_no_huffman_tables() {
        let mut scans = Scans::default();
        // SOF9 (arithmetic): the selectors name conditioning tables, not Huffman ones.
        scans.frame(0xC9, &[8, 0, 8, 0, 8, 1, 1, 0x11, 0]);
        assert!(scans.sos(&[1, 1, 0x23, 0, 63, 0]).is_ok());
        assert!(is_broken(scans.sos(&[1, 2, 0x23, 0, 63, 0]))); // get_sos still applies
        scans.frame(0xC0, &[8, 0, 8, 0, 8, 1, 1, 0x11, 0]);
        assert!(is_broken(scans.sos(&[1, 1, 0x23, 0, 63, 0])));
    }

    #[test]
    fn markers_libjpeg_refuses_after_a_scan() {
        for code in [0xC0, 0xC2, 0xD8, 0xC8, 0xF0, 0x02, 0xDE] {
            assert!(Scans::fatal_marker(code), "{code:#x}");
        }
        for code in [0x01, 0xC4, 0xD0, 0xD9, 0xDA, 0xDB, 0xDD, 0xE1, 0xFE] {
            assert!(!Scans::fatal_marker(code), "{code:#x}");
        }
    }
}
