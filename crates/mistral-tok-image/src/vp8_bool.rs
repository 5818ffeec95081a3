//! VP8's boolean (arithmetic) decoder, state for state as libwebp's `VP8BitReader` (64-bit build)
//! reads, because what matters here is *when* it runs out of data: libwebp sets `eof` the first
//! time a read needs a byte past the end of its partition (then shifts in one zero byte and goes
//! on), and the frame fails if that happens before the last macroblock is parsed. Corrupt data
//! puts the decoder in states no encoder makes, where its exact register arithmetic decides
//! which way later decisions go: so that is reproduced too.

pub(super) struct BoolDecoder<'a> {
    data: &'a [u8],
    pos: usize,
    value: u64,
    /// Loaded bits beyond the 8 the next decision reads; negative: a load is due.
    bits: i32,
    /// The range minus one (libwebp's representation): 127..=254 after a decision, up to 255
    /// after a sign.
    range: u32,
    pub(super) eof: bool,
}

impl<'a> BoolDecoder<'a> {
    pub(super) fn new(data: &'a [u8]) -> Self {
        let mut d = BoolDecoder {
            data,
            pos: 0,
            value: 0,
            bits: -8,
            range: 255 - 1,
            eof: false,
        };
        d.load();
        d
    }

    /// `VP8LoadNewBytes` (64-bit build): 56 bits at once while 8 bytes remain, then byte by
    /// byte (`VP8LoadFinalBytes`). How bytes enter the register matters on corrupt data: a value
    /// out of range carries high bits that each load shifts out of the 64-bit register.
    fn load(&mut self) {
        if let Some(chunk) = self.data.get(self.pos..self.pos + 8) {
            let mut word = [0u8; 8];
            word.copy_from_slice(chunk);
            self.pos += 7;
            self.value = (u64::from_be_bytes(word) >> 8) | (self.value << 56);
            self.bits += 56;
        } else if let Some(&b) = self.data.get(self.pos) {
            self.pos += 1;
            self.bits += 8;
            self.value = (self.value << 8) | u64::from(b);
        } else if !self.eof {
            self.value <<= 8;
            self.bits += 8;
            self.eof = true;
        } else {
            self.bits = 0;
        }
    }

    /// `VP8GetBit`: one decision with probability `prob`/256 of a zero.
    #[inline(always)]
    pub(super) fn bit(&mut self, prob: u8) -> bool {
        let mut range = self.range;
        if self.bits < 0 {
            self.load();
        }
        let pos = self.bits as u32;
        let split = (range * u32::from(prob)) >> 8;
        let value = (self.value >> pos) as u32;
        let bit = value > split;
        if bit {
            range -= split;
            self.value = self.value.wrapping_sub(u64::from(split + 1) << pos);
        } else {
            range = split + 1;
        }
        let shift = 7 ^ (31 - range.leading_zeros());
        range <<= shift;
        self.bits -= shift as i32;
        self.range = range - 1;
        bit
    }

    /// `VP8GetSigned`: libwebp's shortcut for an even-odds sign bit, which always consumes one
    /// bit (not quite `bit(128)` when the range is at its top).
    #[inline(always)]
    pub(super) fn sign(&mut self) -> bool {
        if self.bits < 0 {
            self.load();
        }
        let pos = self.bits as u32;
        let split = self.range >> 1;
        let value = (self.value >> pos) as u32;
        // libwebp's branchless test, `(int32_t)(split - value) >> 31`: on corrupt data the
        // value can be far out of range, where this differs from `value > split`.
        let negative = (split.wrapping_sub(value) as i32) < 0;
        self.bits -= 1;
        if negative {
            self.range = self.range.wrapping_sub(1);
            self.value = self.value.wrapping_sub(u64::from(split + 1) << pos);
        }
        self.range |= 1;
        negative
    }

    /// `VP8GetValue`: `n` even-odds bits, most significant first.
    pub(super) fn literal(&mut self, n: u32) -> u32 {
        (0..n).fold(0, |v, _| (v << 1) | u32::from(self.bit(0x80)))
    }

    /// A flag, and when it is set `VP8GetSignedValue` (a magnitude then its sign): how the
    /// headers code each optional delta.
    pub(super) fn optional_signed(&mut self, n: u32) {
        if self.flag() {
            self.literal(n);
            self.bit(0x80);
        }
    }

    /// `VP8Get`.
    pub(super) fn flag(&mut self) -> bool {
        self.bit(0x80)
    }
}
