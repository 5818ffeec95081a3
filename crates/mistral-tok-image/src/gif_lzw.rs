//! A GIF's first frame as PIL loads it: `ImageFile.load` reads the file from the frame's image
//! data in 64 KiB pieces and hands them to `ImagingGifDecode` (libImaging/GifDecode.c), which
//! is emulated here without producing pixels.
//!
//! How, and why: `docs/images.md`, "GIF LZW data".

use super::png_data::MAXBLOCK;
use super::source::Reader;

/// `GIFBITS`, `GIFTABLE`, `GIFBUFFER` of Gif.h.
const GIFBITS: u32 = 12;
const GIFTABLE: usize = 1 << GIFBITS;
const GIFBUFFER: usize = 1 << GIFBITS;

/// How a decoder call ended.
enum Call {
    Done,
    Broken,
    /// Returned to `ImageFile.load` for more data (a block not fully read, or the end code).
    Paused,
}

struct Lzw {
    clear: u32,
    end: u32,
    bits: u32,
    /// 1: reset the table; 2: first code after a clear; 3: decoding.
    state: u8,
    next: u32,
    codesize: u32,
    codemask: u32,
    lastcode: u32,
    bitbuffer: u32,
    bitcount: u32,
    blocksize: usize,
    /// Each table entry's prefix code (`link`; the strings' bytes do not matter here).
    link: Vec<u16>,
    pixels_left: u64,
    /// The file position of the next unread byte (`ptr`).
    pos: usize,
    block: [u8; 255],
    block_at: usize,
}

impl Lzw {
    /// One `decoder.decode(b)` call, `b` being the file from `self.pos` to `limit`.
    fn call(&mut self, r: &mut Reader, limit: usize) -> Call {
        loop {
            if self.state == 1 {
                self.next = self.clear + 2;
                self.codesize = self.bits + 1;
                self.codemask = (1 << self.codesize) - 1;
                self.state = 2;
            }
            while self.bitcount < self.codesize {
                if self.blocksize > 0 {
                    let Some(&c) = self.block.get(self.block_at) else {
                        return Call::Broken; // cannot happen: a block is read whole
                    };
                    self.block_at += 1;
                    self.blocksize -= 1;
                    self.pos += 1;
                    self.bitbuffer |= u32::from(c) << self.bitcount;
                    self.bitcount += 8;
                } else {
                    // A new block, only when all of it is in the buffer.
                    let bytes = limit.saturating_sub(self.pos);
                    if bytes < 1 {
                        return Call::Paused;
                    }
                    r.seek(self.pos);
                    let Some(n) = r.byte() else {
                        return Call::Paused;
                    };
                    let n = usize::from(n);
                    if bytes < n + 1 {
                        return Call::Paused;
                    }
                    let got = r.read_into(self.block.get_mut(..n).unwrap_or(&mut []));
                    if got < n {
                        return Call::Paused;
                    }
                    self.blocksize = n;
                    self.block_at = 0;
                    self.pos += 1;
                }
            }
            let mut c = self.bitbuffer & self.codemask;
            self.bitbuffer >>= self.codesize;
            self.bitcount -= self.codesize;

            if c == self.clear {
                if self.state != 2 {
                    self.state = 1;
                }
                continue;
            }
            if c == self.end {
                return Call::Paused;
            }
            let out: u64;
            if self.state == 2 {
                if c > self.clear {
                    return Call::Broken;
                }
                self.lastcode = c;
                self.state = 3;
                out = 1;
            } else {
                let thiscode = c;
                if c > self.next {
                    return Call::Broken;
                }
                let mut stack = GIFBUFFER;
                if c == self.next {
                    // The string of the previous code plus its first byte.
                    stack -= 1;
                    c = self.lastcode;
                }
                while c >= self.clear {
                    let i = c as usize;
                    if stack == 0 || i >= GIFTABLE {
                        return Call::Broken;
                    }
                    stack -= 1;
                    c = u32::from(self.link.get(i).copied().unwrap_or(0));
                }
                if (self.next as usize) < GIFTABLE {
                    if let Some(l) = self.link.get_mut(self.next as usize) {
                        *l = self.lastcode as u16;
                    }
                    if self.next == self.codemask && self.codesize < GIFBITS {
                        self.codesize += 1;
                        self.codemask = (1 << self.codesize) - 1;
                    }
                    self.next += 1;
                }
                self.lastcode = thiscode;
                out = 1 + (GIFBUFFER - stack) as u64;
            }
            if out >= self.pixels_left {
                return Call::Done;
            }
            self.pixels_left -= out;
        }
    }
}

/// `Ok(true)` when PIL loads the frame (`bits`: the LZW minimum code size, 1–11; the reader is
/// on the first sub-block), `Ok(false)` when the file ends first, `Err` for a broken stream.
pub(super) fn first_frame(r: &mut Reader, bits: u8, width: u32, height: u32) -> Result<bool, ()> {
    let bits = u32::from(bits);
    let clear = 1u32 << bits;
    let mut lzw = Lzw {
        clear,
        end: clear + 1,
        bits,
        state: 1,
        next: 0,
        codesize: 0,
        codemask: 0,
        lastcode: 0,
        bitbuffer: 0,
        bitcount: 0,
        blocksize: 0,
        link: vec![0; GIFTABLE],
        pixels_left: u64::from(width) * u64::from(height),
        pos: r.pos(),
        block: [0; 255],
        block_at: 0,
    };
    let len = r.len();
    let mut read_to = lzw.pos;
    loop {
        if read_to >= len {
            return Ok(false); // `read()` gave nothing: "image file is truncated"
        }
        read_to = len.min(read_to + MAXBLOCK);
        match lzw.call(r, read_to) {
            Call::Done => return Ok(true),
            Call::Broken => return Err(()),
            Call::Paused => {}
        }
    }
}
