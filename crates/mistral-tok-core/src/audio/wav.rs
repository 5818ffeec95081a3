//! WAV (RIFF, little-endian): the frame count libsndfile reports, from the chunk headers alone.
//!
//! libsndfile's `wav_read_header` walks the chunks in order; the layouts it reads the same way
//! every time are accepted here, everything else is [`Error::Unsupported`]:
//! - chunks before `data`: one `fmt ` first, then any of `fact`, `PEAK` (its size must fit the
//!   channel count, else libsndfile refuses the file), `JUNK`, `PAD `, and `LIST`/`INFO` lists
//!   whose sub-chunks are all the text tags libsndfile reads in full;
//! - `fmt `: PCM of 8/16/24/32 bits or IEEE float of 32/64 bits, with the block alignment those
//!   imply (24-bit PCM in 4-byte blocks is one of libsndfile's "ambiguous" files: unsupported);
//! - after `data`: nothing but its pad byte (libsndfile would go on parsing further chunks).
//!
//! The frame count is then libsndfile 1.2.2's: the data length is the chunk size, cut to the
//! bytes present (a truncated file), divided by `channels × bytes per sample` (the codec's init
//! recounts it from the end of the data, so an odd size's pad byte is not a sample). A chunk size of 0 with a RIFF size of 8 (a writer that never
//! closed the file) means "to the end of the file". A file that libsndfile refuses (no `fmt `
//! before `data`, no `data`, zero channels, WavPack or Ogg data inside) is [`Error::Request`].
//!
//! `hound` reads the `fmt ` chunk of PCM files again (the `arrays` path decodes their samples
//! with it); a disagreement falls back.

use super::source::Bytes;
use super::{refuse, unsupported, Container, Probe};
use crate::error::Result;

const WAVE_FORMAT_PCM: u16 = 1;
const WAVE_FORMAT_IEEE_FLOAT: u16 = 3;
/// `SF_MAX_CHANNELS`.
const MAX_CHANNELS: u16 = 1024;

/// The `LIST`/`INFO` text tags `wavlike_subchunk_parse` reads whole (size < 2048).
const INFO_TAGS: [&[u8; 4]; 14] = [
    b"ISFT", b"ICOP", b"IARL", b"IART", b"ICMT", b"ICRD", b"IENG", b"IGNR", b"INAM", b"IPRD",
    b"ISBJ", b"ISRC", b"IAUT", b"ITRK",
];

/// The `fmt ` fields that decide the frame count.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Fmt {
    pub tag: u16,
    pub channels: u16,
    pub sample_rate: u32,
    pub bits: u16,
}

impl Fmt {
    pub(crate) fn bytes_per_sample(&self) -> u64 {
        u64::from(self.bits).div_ceil(8)
    }
}

fn le16(b: &[u8]) -> u16 {
    u16::from_le_bytes([b[0], b[1]])
}

fn le32(b: &[u8]) -> u32 {
    u32::from_le_bytes([b[0], b[1], b[2], b[3]])
}

fn read_fmt(data: &Bytes<'_>, at: u64, size: u32) -> Result<Fmt> {
    if size < 16 {
        return Err(refuse(
            "Error opening audio: the WAV 'fmt ' chunk is too short",
        ));
    }
    let b = data
        .read_array::<16>(at)
        .ok_or_else(|| unsupported("a cut 'fmt ' chunk"))?;
    let fmt = Fmt {
        tag: le16(&b[0..2]),
        channels: le16(&b[2..4]),
        sample_rate: le32(&b[4..8]),
        bits: le16(&b[14..16]),
    };
    let block_align = le16(&b[12..14]);
    let supported = match fmt.tag {
        WAVE_FORMAT_PCM => matches!(fmt.bits, 8 | 16 | 24 | 32),
        WAVE_FORMAT_IEEE_FLOAT => matches!(fmt.bits, 32 | 64),
        _ => false,
    };
    if !supported {
        return Err(unsupported("a WAV encoding other than PCM or IEEE float"));
    }
    if fmt.channels == 0 || fmt.channels > MAX_CHANNELS || fmt.sample_rate == 0 {
        return Err(unsupported(
            "a WAV with zero or too many channels, or no sample rate",
        ));
    }
    if u64::from(block_align) != u64::from(fmt.channels) * fmt.bytes_per_sample() {
        return Err(unsupported(
            "a WAV whose block alignment does not match its samples",
        ));
    }
    Ok(fmt)
}

/// `true` when a `LIST` chunk is an `INFO` list that `wavlike_subchunk_parse` reads tag by tag to
/// its exact end.
fn plain_info_list(data: &Bytes<'_>, at: u64, size: u32) -> bool {
    if size <= 8 || data.len() < at + u64::from(size) {
        return false;
    }
    let end = at + u64::from(size);
    if data.read_array::<4>(at).as_ref() != Some(b"INFO") {
        return false;
    }
    let mut pos = at + 4;
    while pos < end {
        let Some(h) = data.read_array::<8>(pos) else {
            return false;
        };
        if !INFO_TAGS.iter().any(|t| h[0..4] == t[..]) {
            return false;
        }
        let len = u64::from(le32(&h[4..8]));
        let len = len + (len & 1);
        if len >= 2048 || pos + 8 + len > end {
            return false;
        }
        pos += 8 + len;
    }
    pos == end
}

pub(super) fn probe(data: &Bytes<'_>) -> Result<Probe> {
    let file_len = data.len();
    let head = data
        .read_array::<12>(0)
        .ok_or_else(|| refuse("audio data too short"))?;
    if &head[0..4] != b"RIFF" || &head[8..12] != b"WAVE" {
        return Err(unsupported("a RIFX or RF64 WAV"));
    }
    let riff_size = le32(&head[4..8]);
    let mut pos: u64 = 12;
    let mut fmt: Option<Fmt> = None;
    loop {
        let Some(h) = data.read_array::<8>(pos) else {
            return Err(unsupported(
                "a WAV whose chunks end before its 'data' chunk",
            ));
        };
        let id = &h[0..4];
        let size = le32(&h[4..8]);
        let body = pos + 8;
        let fits = body + u64::from(size) <= file_len;
        match id {
            b"data" => {
                let Some(fmt) = fmt else {
                    return Err(refuse("Error opening audio: 'data' chunk before 'fmt '"));
                };
                return data_chunk(data, fmt, body, size, riff_size);
            }
            b"fmt " if fmt.is_none() && fits => fmt = Some(read_fmt(data, body, size)?),
            b"fact" | b"JUNK" | b"PAD " if fits && (id != b"fact" || size >= 4) => {}
            b"PEAK" if fits => match fmt {
                Some(f) if u64::from(size) == 8 + 8 * u64::from(f.channels) => {}
                Some(_) => return Err(refuse("Error opening audio: bad PEAK chunk")),
                None => return Err(refuse("Error opening audio: PEAK chunk before 'fmt '")),
            },
            b"LIST" if plain_info_list(data, body, size) => {}
            _ => return Err(unsupported("a WAV chunk layout not read natively")),
        }
        pos = body + u64::from(size) + u64::from(size & 1);
    }
}

fn data_chunk(data: &Bytes<'_>, fmt: Fmt, offset: u64, size: u32, riff_size: u32) -> Result<Probe> {
    let file_len = data.len();
    let available = file_len.saturating_sub(offset);
    let mut length = u64::from(size);
    if size == 0 && riff_size == 8 && file_len > 44 {
        length = available;
    }
    length = length.min(available);
    // An odd size's pad byte is skipped before the next chunk.
    if offset + length + u64::from(size & 1) + 4 < file_len {
        // libsndfile would read the chunks after the data.
        return Err(unsupported("a WAV with chunks after its 'data' chunk"));
    }
    if let Some(m) = data.read_array::<4>(offset) {
        if &m == b"wvpk" || &m == b"OggS" {
            return Err(refuse(
                "Error opening audio: WavPack or Ogg data in a WAV file",
            ));
        }
    }
    let block = u64::from(fmt.channels) * fmt.bytes_per_sample();
    // `pcm_init`/`float32_init`/`double64_init` recount from the data's end (`dataend`).
    let frames = length / block;
    if fmt.tag == WAVE_FORMAT_PCM && !hound_agrees(data, offset, fmt) {
        return Err(unsupported("a WAV header hound reads differently"));
    }
    Ok(Probe {
        container: Container::Wav(fmt, offset),
        frames,
        sample_rate: fmt.sample_rate,
        channels: fmt.channels,
    })
}

/// `hound`'s reading of the header (up to the `data` chunk's header) gives the same format.
fn hound_agrees(data: &Bytes<'_>, data_offset: u64, fmt: Fmt) -> bool {
    let Ok(n) = usize::try_from(data_offset) else {
        return false;
    };
    let header = data.read_vec(0, n);
    match hound::WavReader::new(std::io::Cursor::new(header)) {
        Ok(r) => {
            let s = r.spec();
            s.channels == fmt.channels
                && s.sample_rate == fmt.sample_rate
                && s.bits_per_sample == fmt.bits
                && s.sample_format == hound::SampleFormat::Int
        }
        Err(_) => false,
    }
}
