//! VP8L prefix codes: reading a code from the bitstream (`ReadHuffmanCode`), judging it as
//! `VP8LBuildHuffmanTable` does (complete, or a single symbol that takes no bits), and reading
//! symbols with libwebp's two lookups (8 bits, then the rest from a second prefetch, which can
//! differ from one long read only past the end of the data).

use super::vp8l_bits::BitReader;

const MAX_LENGTH: usize = 15;
/// The order in which code-length code lengths are stored.
const CODE_LENGTH_ORDER: [usize; 19] = [
    17, 18, 0, 1, 2, 3, 4, 5, 16, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15,
];

#[derive(Clone, Copy, Default)]
struct Entry {
    /// Bits consumed (or, in the root table, > 8: a second-level lookup follows).
    bits: u8,
    /// The symbol (or, in the root table, where the second-level entries start).
    value: u16,
}

/// A prefix code ready for reading.
pub(super) struct Code {
    root: Vec<Entry>,
    sub: Vec<Entry>,
}

impl Code {
    /// A code that takes no bits (a single symbol).
    pub(super) fn is_trivial(&self) -> bool {
        self.single().is_some()
    }

    /// The symbol of a code that takes no bits.
    pub(super) fn single(&self) -> Option<u16> {
        match self.root.as_slice() {
            [only] => Some(only.value),
            _ => None,
        }
    }

    /// `ReadSymbol`.
    pub(super) fn read(&self, br: &mut BitReader) -> u16 {
        let e = match self.root.as_slice() {
            [only] => *only,
            root => root
                .get((br.prefetch() & 0xff) as usize)
                .copied()
                .unwrap_or_default(),
        };
        if e.bits <= 8 {
            br.skip(u32::from(e.bits));
            return e.value;
        }
        br.skip(8);
        let n = u32::from(e.bits - 8);
        let at = usize::from(e.value) + (br.prefetch() & ((1 << n) - 1)) as usize;
        let e = self.sub.get(at).copied().unwrap_or_default();
        br.skip(u32::from(e.bits));
        e.value
    }

    /// The code for these lengths, or `None` where libwebp's table builder refuses them.
    pub(super) fn build(lengths: &[u8]) -> Option<Code> {
        let mut count = [0usize; MAX_LENGTH + 1];
        for &l in lengths {
            *count.get_mut(usize::from(l))? += 1;
        }
        if count[0] == lengths.len() {
            return None;
        }
        if (1..MAX_LENGTH).any(|len| count[len] > 1 << len) {
            return None;
        }
        let symbols = lengths.len() - count[0];
        if symbols == 1 {
            let value = lengths.iter().position(|&l| l > 0)? as u16;
            return Some(Code {
                root: vec![Entry { bits: 0, value }],
                sub: Vec::new(),
            });
        }
        let (mut open, mut nodes) = (1i64, 1i64);
        for &c in &count[1..] {
            open <<= 1;
            nodes += open;
            open -= c as i64;
            if open < 0 {
                return None;
            }
        }
        if nodes != 2 * symbols as i64 - 1 {
            return None;
        }
        Some(Self::tables(lengths, &count))
    }

    /// Canonical codes (by length, then symbol), read least significant bit first: an 8-bit
    /// root table, and for longer codes 7-bit second-level tables per root entry.
    fn tables(lengths: &[u8], count: &[usize; MAX_LENGTH + 1]) -> Code {
        let mut next = [0u32; MAX_LENGTH + 1];
        let mut code = 0u32;
        for len in 1..=MAX_LENGTH {
            // count[0] counts unused symbols, which take no codes
            let shorter = if len > 1 { count[len - 1] as u32 } else { 0 };
            code = (code + shorter) << 1;
            next[len] = code;
        }
        let mut root = vec![Entry::default(); 256];
        let mut sub: Vec<Entry> = Vec::new();
        for (symbol, &len) in lengths.iter().enumerate() {
            let len = usize::from(len);
            if len == 0 {
                continue;
            }
            let c = next[len];
            next[len] += 1;
            let reversed = c.reverse_bits() >> (32 - len);
            let value = symbol as u16;
            if len <= 8 {
                for k in (reversed as usize..256).step_by(1 << len) {
                    root[k] = Entry {
                        bits: len as u8,
                        value,
                    };
                }
                continue;
            }
            let r = (reversed & 0xff) as usize;
            if root[r].bits <= 8 {
                root[r] = Entry {
                    bits: 8 + 7,
                    value: sub.len() as u16,
                };
                sub.resize(sub.len() + 128, Entry::default());
            }
            let base = usize::from(root[r].value);
            for k in ((reversed >> 8) as usize..128).step_by(1 << (len - 8)) {
                sub[base + k] = Entry {
                    bits: (len - 8) as u8,
                    value,
                };
            }
        }
        Code { root, sub }
    }
}

/// `ReadHuffmanCode`: a code for an alphabet of `size` symbols, or `None` (a bitstream error).
pub(super) fn read_code(br: &mut BitReader, size: usize) -> Option<Code> {
    let mut lengths = vec![0u8; size.max(256)];
    if br.read(1) == 1 {
        // simple code: one or two symbols of length 1, given outright
        let two = br.read(1) == 1;
        let wide = br.read(1) == 1;
        let first = br.read(if wide { 8 } else { 1 });
        *lengths.get_mut(first as usize)? = 1;
        if two {
            *lengths.get_mut(br.read(8) as usize)? = 1;
        }
    } else {
        let mut code_lengths = [0u8; 19];
        let n = br.read(4) as usize + 4;
        for &at in CODE_LENGTH_ORDER.iter().take(n) {
            code_lengths[at] = br.read(3) as u8;
        }
        read_lengths(br, &code_lengths, lengths.get_mut(..size)?)?;
    }
    if br.eos_flag() {
        return None;
    }
    Code::build(lengths.get(..size)?)
}

/// `ReadHuffmanCodeLengths`: the lengths, coded with the code-length code.
fn read_lengths(br: &mut BitReader, code_lengths: &[u8; 19], out: &mut [u8]) -> Option<()> {
    let code = Code::build(code_lengths)?;
    let mut max_symbol = if br.read(1) == 1 {
        let n = 2 + 2 * br.read(3);
        let max = 2 + br.read(n) as usize;
        if max > out.len() {
            return None;
        }
        max
    } else {
        out.len()
    };
    let mut symbol = 0;
    let mut previous = 8u8;
    while symbol < out.len() {
        if max_symbol == 0 {
            break;
        }
        max_symbol -= 1;
        br.fill();
        let len = code.read(br) as u8;
        if len < 16 {
            *out.get_mut(symbol)? = len;
            symbol += 1;
            if len != 0 {
                previous = len;
            }
        } else {
            let (extra, offset) = [(2, 3), (3, 3), (7, 11)][usize::from(len - 16)];
            let repeat = br.read(extra) as usize + offset;
            let fill = if len == 16 { previous } else { 0 };
            out.get_mut(symbol..symbol + repeat)?.fill(fill);
            symbol += repeat;
        }
    }
    Some(())
}
