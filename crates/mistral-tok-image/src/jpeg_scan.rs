//! What libjpeg (libjpeg-turbo 3.2, which Pillow 13 links) knows about a JPEG's frame, tables
//! and scans, and the fatal errors its marker reader (`jdmarker.c`) and scan set-up
//! (`jdinput.c`, `jdhuff.c`, `jdphuff.c`) raise on them. PIL reports those as "broken data
//! stream when reading image file".
//!
//! How, and why: `docs/images.md`, "JPEG tables and scan set-up".

use super::jpeg::be16;
use super::jpeg_huffman::{standard, Derived};
use super::probe::Fail;

/// `NUM_HUFF_TBLS`, `NUM_QUANT_TBLS`.
const TABLES: usize = 4;
/// `MAX_COMPS_IN_SCAN`.
const MAX_COMPS_IN_SCAN: usize = 4;
/// `D_MAX_BLOCKS_IN_MCU`.
const MAX_BLOCKS_IN_MCU: u32 = 10;
/// `JPEG_MAX_DIMENSION`.
const MAX_DIMENSION: u32 = 65500;

pub(super) fn broken(why: &str) -> Fail {
    Fail::Truncated(format!(
        "broken data stream when reading image file ({why})"
    ))
}

/// Why libjpeg stopped inside a marker: out of data (it suspends), or a fatal error.
#[derive(Debug)]
pub(super) enum Stop {
    Suspend,
    Fatal(Fail),
}

impl From<Fail> for Stop {
    fn from(f: Fail) -> Self {
        Stop::Fatal(f)
    }
}

pub(super) type Step<T> = Result<T, Stop>;

fn fatal<T>(why: &str) -> Step<T> {
    Err(Stop::Fatal(broken(why)))
}

/// The bytes after a marker code, up to the end of the file (or far enough past the marker's
/// declared length that no handler reads beyond them; see `jpeg_stream::WINDOW_SLACK`).
pub(super) struct Cursor<'a> {
    s: &'a [u8],
    pos: usize,
}

impl<'a> Cursor<'a> {
    pub(super) fn new(s: &'a [u8]) -> Self {
        Cursor { s, pos: 0 }
    }

    /// How many bytes the handler consumed.
    pub(super) fn pos(&self) -> usize {
        self.pos
    }

    /// `INPUT_BYTE`.
    fn byte(&mut self) -> Step<u8> {
        let b = *self.s.get(self.pos).ok_or(Stop::Suspend)?;
        self.pos += 1;
        Ok(b)
    }

    /// `INPUT_2BYTES`.
    fn be16(&mut self) -> Step<i64> {
        Ok(i64::from(self.byte()?) << 8 | i64::from(self.byte()?))
    }

    /// `skip_input_data` past the end suspends the next read, which always follows.
    fn skip(&mut self, n: i64) -> Step<()> {
        let n = usize::try_from(n).unwrap_or(0);
        if n > self.s.len() - self.pos {
            return Err(Stop::Suspend);
        }
        self.pos += n;
        Ok(())
    }
}

/// A Huffman table as DHT defines it: code counts per length (1–16) and the symbols.
#[derive(Clone)]
struct Table {
    bits: [u8; 16],
    symbols: Vec<u8>,
}

/// How the frame's scans are coded, as far as this module judges them.
#[derive(Clone, Copy, PartialEq, Eq, Default, Debug)]
pub(super) enum Coding {
    /// SOF0/SOF1: sequential Huffman; every scan builds its DC and AC tables.
    Sequential,
    /// SOF2: progressive Huffman.
    Progressive,
    /// Arithmetic, lossless, or no frame yet: only `get_sos`'s own checks apply.
    #[default]
    Other,
}

#[derive(Clone, Copy)]
struct Component {
    id: u8,
    h: u32,
    v: u32,
    quant: u8,
    /// `latch_quant_tables` has copied its table (at the first scan holding it).
    latched: bool,
}

/// The scan libjpeg is about to read: frame component indexes and their table selectors.
#[derive(Default, Clone)]
pub(super) struct Scan {
    comps: Vec<(usize, usize, usize)>,
    ss: u8,
    se: u8,
    ah: u8,
    al: u8,
}

/// What a marker met by `read_markers` leads to.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Marker {
    /// Handled; read the next one.
    Next,
    /// EOI.
    End,
    /// SOS, parsed: the next scan (or, in a single-scan file, `JERR_EOI_EXPECTED`).
    Scan,
}

/// What libjpeg knows when it meets a marker or a scan.
#[derive(Default)]
pub(super) struct Scans {
    components: Vec<Component>,
    coding: Coding,
    size: (u32, u32),
    saw_sof: bool,
    /// `[dc, ac][index]`.
    tables: [[Option<Table>; TABLES]; 2],
    quant: [bool; TABLES],
    /// `cinfo->restart_interval` (DRI).
    pub(super) restart_interval: u32,
    /// `has_multiple_scans`, known at the first SOS: `jpeg_start_decompress` then absorbs the
    /// whole file before PIL gets a row.
    pub(super) multi_scan: bool,
    /// The scan parsed by the last SOS.
    scan: Scan,
}

impl Scans {
    pub(super) fn coding(&self) -> Coding {
        self.coding
    }

    /// `get_sof` on a complete SOF segment (`s`: after the length), and `initial_setup`'s
    /// checks; the first SOF of the header (PIL keeps the last one, libjpeg refuses a second).
    pub(super) fn sof(&mut self, marker: u8, s: &[u8]) -> Result<(), Fail> {
        if self.saw_sof {
            return Err(broken("two SOF markers"));
        }
        self.saw_sof = true;
        self.coding = match marker {
            0xC0 | 0xC1 => Coding::Sequential,
            0xC2 => Coding::Progressive,
            _ => Coding::Other,
        };
        let (Some(h), Some(w), Some(&n)) = (be16(s, 1), be16(s, 3), s.get(5)) else {
            return Err(broken("bogus marker length"));
        };
        self.size = (w, h);
        if h == 0 || w == 0 || n == 0 {
            return Err(broken("empty image"));
        }
        if s.len() != 6 + 3 * usize::from(n) {
            return Err(broken("bogus marker length"));
        }
        self.components = s[6..]
            .chunks_exact(3)
            .map(|c| Component {
                id: c[0],
                h: u32::from(c[1] >> 4),
                v: u32::from(c[1] & 15),
                quant: c[2],
                latched: false,
            })
            .collect();
        if h > MAX_DIMENSION || w > MAX_DIMENSION {
            return Err(broken("image too big"));
        }
        if self
            .components
            .iter()
            .any(|c| !(1..=4).contains(&c.h) || !(1..=4).contains(&c.v))
        {
            return Err(broken("bogus sampling factors"));
        }
        // libjpeg-turbo scales the IDCT or refuses (`jdsample.c`, `jdcolor.c`) when a
        // component's sampling does not divide the largest one: not modelled here.
        let hmax = self.components.iter().map(|c| c.h).max().unwrap_or(1);
        let vmax = self.components.iter().map(|c| c.v).max().unwrap_or(1);
        if self
            .components
            .iter()
            .any(|c| hmax % c.h != 0 || vmax % c.v != 0)
        {
            return Err(Fail::Undecided(
                "JPEG with fractional sampling factors".into(),
            ));
        }
        Ok(())
    }

    /// A marker of the header (before the first SOS), judged as `read_markers` does; PIL's own
    /// rules for it are applied by the caller. `c` starts after the marker code.
    pub(super) fn header_marker(&mut self, code: u8, c: &mut Cursor) -> Step<()> {
        match code {
            // SOF segments go to `sof` (PIL has read them whole); PIL's table lacks 0xC8.
            0xC0..=0xC3 | 0xC9..=0xCB => Ok(()),
            // EOI before the first SOS: tables-only handling, not modelled here.
            0xD9 => Err(Stop::Fatal(Fail::Undecided(
                "JPEG with an EOI marker before its first scan".into(),
            ))),
            _ => self.marker(code, c).map(|_| ()),
        }
    }

    /// `read_markers`' switch for a marker met after the header (every SOI/SOF is then a
    /// duplicate). `c` starts after the marker code.
    pub(super) fn marker(&mut self, code: u8, c: &mut Cursor) -> Step<Marker> {
        match code {
            0xD8 => fatal("two SOI markers"),
            0xC0..=0xC3 | 0xC9..=0xCB => fatal("two SOF markers"),
            0xC5..=0xC8 | 0xCD..=0xCF => fatal("unsupported SOF type"),
            0xDA => self.sos(c).map(|()| Marker::Scan),
            0xD9 => Ok(Marker::End),
            0xCC => dac(c).map(|()| Marker::Next),
            0xC4 => self.dht(c).map(|()| Marker::Next),
            0xDB => self.dqt(c).map(|()| Marker::Next),
            0xDD => self.dri(c).map(|()| Marker::Next),
            // APPn, COM, DNL: skipped by length (APP0/APP14 read a few bytes first; same answer).
            0xE0..=0xEF | 0xFE | 0xDC => {
                let length = c.be16()?;
                c.skip(length - 2).map(|()| Marker::Next)
            }
            0x01 | 0xD0..=0xD7 => Ok(Marker::Next),
            _ => fatal("unsupported marker type"),
        }
    }

    /// `get_dht`.
    fn dht(&mut self, c: &mut Cursor) -> Step<()> {
        let mut length = c.be16()? - 2;
        while length > 16 {
            let index = c.byte()?;
            let mut bits = [0u8; 16];
            for b in &mut bits {
                *b = c.byte()?;
            }
            let count: usize = bits.iter().map(|&b| usize::from(b)).sum();
            length -= 17;
            if count > 256 || count as i64 > length {
                return fatal("bogus Huffman table definition");
            }
            let mut symbols = Vec::with_capacity(count);
            for _ in 0..count {
                symbols.push(c.byte()?);
            }
            length -= count as i64;
            let (class, index) = if index & 0x10 != 0 {
                (1, index - 0x10)
            } else {
                (0, index)
            };
            let Some(slot) = self.tables[class].get_mut(usize::from(index)) else {
                return fatal("bogus DHT index");
            };
            *slot = Some(Table { bits, symbols });
        }
        if length != 0 {
            return fatal("bogus marker length");
        }
        Ok(())
    }

    /// `get_dqt`: every table reads its 64 entries whatever the length says.
    fn dqt(&mut self, c: &mut Cursor) -> Step<()> {
        let mut length = c.be16()? - 2;
        while length > 0 {
            let n = c.byte()?;
            let (precision, index) = (n >> 4, usize::from(n & 15));
            if index >= TABLES {
                return fatal("bogus DQT index");
            }
            self.quant[index] = true;
            for _ in 0..64 {
                if precision != 0 {
                    c.be16()?;
                } else {
                    c.byte()?;
                }
            }
            length -= if precision != 0 { 129 } else { 65 };
        }
        if length != 0 {
            return fatal("bogus marker length");
        }
        Ok(())
    }

    /// `get_dri`.
    fn dri(&mut self, c: &mut Cursor) -> Step<()> {
        if c.be16()? != 4 {
            return fatal("bogus marker length");
        }
        self.restart_interval = u32::try_from(c.be16()?).unwrap_or(0);
        Ok(())
    }

    /// `get_sos`: the scan's components and parameters, kept for [`Scans::start_scan`].
    fn sos(&mut self, c: &mut Cursor) -> Step<()> {
        if !self.saw_sof {
            return fatal("SOS before SOF");
        }
        let length = c.be16()?;
        let n = usize::from(c.byte()?);
        if length != n as i64 * 2 + 6 || !(1..=MAX_COMPS_IN_SCAN).contains(&n) {
            return fatal("bogus marker length");
        }
        let searchable = self.components.len().min(MAX_COMPS_IN_SCAN);
        let mut comps: Vec<(usize, usize, usize)> = Vec::with_capacity(n);
        for i in 0..n {
            let id = c.byte()?;
            let tables = c.byte()?;
            // `!cinfo->cur_comp_info[ci]`: the slots before `i` are filled, so a frame
            // component listed before slot `i` is never found for it.
            let Some(ci) = (i..searchable).find(|&ci| self.components[ci].id == id) else {
                return fatal("invalid component ID in SOS");
            };
            if comps.iter().any(|&(prev, _, _)| prev == ci) {
                return fatal("invalid component ID in SOS");
            }
            comps.push((ci, usize::from(tables >> 4), usize::from(tables & 15)));
        }
        let (ss, se, a) = (c.byte()?, c.byte()?, c.byte()?);
        self.scan = Scan {
            comps,
            ss,
            se,
            ah: a >> 4,
            al: a & 15,
        };
        Ok(())
    }

    /// At the first SOS (`initial_setup`): whether libjpeg reads the file in one pass.
    pub(super) fn first_scan(&mut self) {
        self.multi_scan =
            self.coding == Coding::Progressive || self.scan.comps.len() < self.components.len();
    }

    /// `start_input_pass` for the scan the last SOS declared: `per_scan_setup`,
    /// `latch_quant_tables`, then the entropy decoder's `start_pass`.
    pub(super) fn start_scan(&mut self) -> Result<(), Fail> {
        let scan = &self.scan;
        if scan.comps.len() > 1 {
            let blocks: u32 = scan
                .comps
                .iter()
                .map(|&(ci, _, _)| self.components[ci].h * self.components[ci].v)
                .sum();
            if blocks > MAX_BLOCKS_IN_MCU {
                return Err(broken("sampling factors too large for interleaved scan"));
            }
        }
        if self.coding != Coding::Other {
            for &(ci, _, _) in &scan.comps {
                let comp = &mut self.components[ci];
                if !comp.latched {
                    let q = usize::from(comp.quant);
                    if !self.quant.get(q).copied().unwrap_or(false) {
                        return Err(broken("quantization table not defined"));
                    }
                    comp.latched = true;
                }
            }
        }
        let scan = &self.scan;
        match self.coding {
            Coding::Other => Ok(()),
            Coding::Sequential => {
                for &(_, dc, ac) in &scan.comps {
                    self.derived(0, dc)?;
                    self.derived(1, ac)?;
                }
                Ok(())
            }
            Coding::Progressive => {
                let dc_band = scan.ss == 0;
                let bad = if dc_band {
                    scan.se != 0
                } else {
                    scan.ss > scan.se || scan.se >= 64 || scan.comps.len() != 1
                } || (scan.ah != 0 && scan.al != scan.ah.wrapping_sub(1))
                    || scan.al > 13;
                if bad {
                    return Err(broken("invalid progressive parameters"));
                }
                for &(_, dc, ac) in &scan.comps {
                    if dc_band {
                        if scan.ah == 0 {
                            self.derived(0, dc)?;
                        }
                    } else {
                        self.derived(1, ac)?;
                    }
                }
                Ok(())
            }
        }
    }

    /// How many restart markers the current scan's entropy decoder expects: one before every
    /// `restart_interval`-th MCU but the first.
    pub(super) fn restart_boundaries(&self) -> u64 {
        if self.restart_interval == 0 {
            return 0;
        }
        self.total_mcus().saturating_sub(1) / u64::from(self.restart_interval)
    }

    /// The MCUs decoded after the last restart marker (all of them without restarts).
    pub(super) fn last_interval_mcus(&self) -> u64 {
        self.total_mcus() - self.restart_boundaries() * u64::from(self.restart_interval)
    }

    /// `per_scan_setup`'s MCU count for the current scan.
    pub(super) fn total_mcus(&self) -> u64 {
        let hmax = self.components.iter().map(|c| c.h).max().unwrap_or(1);
        let vmax = self.components.iter().map(|c| c.v).max().unwrap_or(1);
        let (w, h) = (u64::from(self.size.0), u64::from(self.size.1));
        match self.scan.comps.as_slice() {
            [] => 0,
            [(ci, _, _)] => {
                let c = &self.components[*ci];
                let blocks_w = (w * u64::from(c.h)).div_ceil(u64::from(hmax) * 8);
                let blocks_h = (h * u64::from(c.v)).div_ceil(u64::from(vmax) * 8);
                blocks_w * blocks_h
            }
            _ => w.div_ceil(u64::from(hmax) * 8) * h.div_ceil(u64::from(vmax) * 8),
        }
    }

    /// The DC and AC tables of each block of the current (sequential) scan's MCU, in order,
    /// standard tables in the empty slots 0 and 1 (`start_pass_huff_decoder`).
    pub(super) fn mcu_tables(&self) -> Vec<(Derived, Derived)> {
        let derive = |class: usize, index: usize| match self.tables[class].get(index) {
            Some(Some(t)) => Derived::new(&t.bits, &t.symbols),
            _ => {
                let (bits, symbols) = standard(class, index);
                Derived::new(bits, symbols)
            }
        };
        let single = self.scan.comps.len() == 1;
        let mut out = Vec::new();
        for &(ci, dc, ac) in &self.scan.comps {
            let c = &self.components[ci];
            let n = if single { 1 } else { c.h * c.v };
            for _ in 0..n {
                out.push((derive(0, dc), derive(1, ac)));
            }
        }
        out
    }

    /// `jpeg_make_d_derived_tbl`: the table exists and its code lengths make a prefix code; DC
    /// symbols are at most 15. Sequential decoders install the standard tables in the empty
    /// slots 0 and 1 (`jinit_huff_decoder`); progressive ones do not.
    fn derived(&self, class: usize, index: usize) -> Result<(), Fail> {
        let missing = || broken("Huffman table not defined");
        let Some(slot) = self.tables[class].get(index) else {
            return Err(missing());
        };
        let Some(table) = slot else {
            return if index < 2 && self.coding == Coding::Sequential {
                Ok(())
            } else {
                Err(missing())
            };
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
            if count > 0 && code >= 1u32 << (len + 1) {
                return Err(broken("bogus Huffman table definition"));
            }
            code <<= 1;
        }
        if class == 0 && table.symbols.iter().any(|&s| s > 15) {
            return Err(broken("bogus Huffman table definition"));
        }
        Ok(())
    }
}

/// `get_dac` (arithmetic conditioning values; read and checked whatever the frame's coding).
fn dac(c: &mut Cursor) -> Step<()> {
    let mut length = c.be16()? - 2;
    while length > 0 {
        let index = c.byte()?;
        let val = c.byte()?;
        length -= 2;
        if index >= 32 {
            return fatal("bogus DAC index");
        }
        if index < 16 && (val & 15) > (val >> 4) {
            return fatal("bogus DAC value");
        }
    }
    if length != 0 {
        return fatal("bogus marker length");
    }
    Ok(())
}
