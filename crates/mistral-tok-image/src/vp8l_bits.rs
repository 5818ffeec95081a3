//! libwebp's `VP8LBitReader`, state for state: a 64-bit window `val` over the data read LSB
//! first, `bit_pos` bits of it consumed. What it returns past the end matters: the window is
//! zero-filled above the last byte, a position at or past 64 wraps around it (`bit_pos & 63`),
//! and `eos` is a flag set only when bytes are shifted in (so a read can run past the end a little
//! before anything notices). Decoding decisions that depend on those are reproduced by keeping
//! the same state; libwebp's 32-bit fast refill is left out, which changes when bytes enter the
//! window but not what any read returns, nor when `eos` is set (both only differ once the data
//! is exhausted, where the two agree).

pub(super) struct BitReader<'a> {
    data: &'a [u8],
    val: u64,
    pos: usize,
    bit_pos: u32,
    eos: bool,
}

impl<'a> BitReader<'a> {
    pub(super) fn new(data: &'a [u8]) -> Self {
        let pos = data.len().min(8);
        let val = data
            .iter()
            .take(8)
            .enumerate()
            .fold(0u64, |v, (i, &b)| v | u64::from(b) << (8 * i));
        BitReader {
            data,
            val,
            pos,
            bit_pos: 0,
            eos: false,
        }
    }

    /// `VP8LIsEndOfStream`: the flag, or more bits consumed than the data holds.
    pub(super) fn is_end(&self) -> bool {
        self.eos || (self.pos == self.data.len() && self.bit_pos > 64)
    }

    /// The `eos` flag alone, where libwebp tests only that.
    pub(super) fn eos_flag(&self) -> bool {
        self.eos
    }

    /// `VP8LPrefetchBits`.
    pub(super) fn prefetch(&self) -> u32 {
        (self.val >> (self.bit_pos & 63)) as u32
    }

    /// `VP8LSetBitPos` relative to the current position.
    pub(super) fn skip(&mut self, n: u32) {
        self.bit_pos = self.bit_pos.saturating_add(n);
    }

    fn shift_bytes(&mut self) {
        while self.bit_pos >= 8 {
            let Some(&b) = self.data.get(self.pos) else {
                break;
            };
            self.val = (self.val >> 8) | u64::from(b) << 56;
            self.pos += 1;
            self.bit_pos -= 8;
        }
        if self.is_end() {
            self.eos = true;
            self.bit_pos = 0;
        }
    }

    /// `VP8LFillBitWindow`.
    pub(super) fn fill(&mut self) {
        if self.bit_pos >= 32 {
            self.shift_bytes();
        }
    }

    /// `VP8LReadBits` (n ≤ 24): nothing, and no progress, once `eos` is set.
    pub(super) fn read(&mut self, n: u32) -> u32 {
        if self.eos || n > 24 {
            self.eos = true;
            self.bit_pos = 0;
            return 0;
        }
        let v = self.prefetch() & ((1u32 << n) - 1);
        self.bit_pos += n;
        self.shift_bytes();
        v
    }
}
