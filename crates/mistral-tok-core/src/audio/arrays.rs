//! The sample arrays mistral_common keeps (`Tokenized.audios`), produced natively only where that
//! is cheap and exact: 16-bit PCM WAV that needs no resampling, which is what vLLM's
//! transcription path hands over (it writes each float chunk with soundfile's default WAV
//! subtype, PCM_16, at the model's rate).
//!
//! soundfile reads PCM_16 as float32 with libsndfile's `les2f_array`: `(float) s * (1 / 32768.f)`,
//! exact in float32. soundfile writes a float32 array as PCM_16 with clipping on
//! (`f2les_clip_array`); [`pcm16_roundtrip_f32`] does both, for callers that hold the float chunk
//! and want what mistral_common would see after the round trip.

use super::source::Bytes;
use super::{unsupported, Container, Probe};
use crate::error::Result;

/// One audio as mistral_common hands it on: float32 samples (padding included) and their rate.
#[derive(Debug, Clone, PartialEq)]
pub struct AudioArray {
    pub samples: Vec<f32>,
    pub sampling_rate: u32,
}

const PCM16_TO_FLOAT: f32 = 1.0 / 32768.0;

/// libsndfile's `f2les_clip_array` (soundfile turns clipping on when it writes): the sample
/// scaled to 32 bits (`x * 2^31`, exact in float32), saturated, rounded half to even (`lrintf`),
/// and its top 16 bits kept (so in effect rounded down to 16 bits). NaN passes the saturation
/// tests and `lrintf` (32-bit `cvtss2si`) makes it the "integer indefinite" value, `INT_MIN`,
/// hence -32768 (observed).
fn f32_to_pcm16(x: f32) -> i16 {
    let scaled = x * 2_147_483_648.0f32;
    if f64::from(scaled) >= 2_147_483_647.0 {
        return i16::MAX;
    }
    if f64::from(scaled) <= -2_147_483_648.0 {
        return i16::MIN;
    }
    if scaled.is_nan() {
        return i16::MIN;
    }
    (round_half_even(scaled) as i32 >> 16) as i16
}

/// `lrintf`'s rounding (half to even) of a float32, without a libm call per sample where the
/// classic trick is exact: below 2^22 adding and removing 1.5 × 2^23 rounds to an integer in
/// float32 arithmetic; from 2^23 up every float32 is an integer already.
fn round_half_even(x: f32) -> f32 {
    const MAGIC: f32 = 12_582_912.0;
    let a = x.abs();
    if a < 4_194_304.0 {
        (x + MAGIC) - MAGIC
    } else if a < 8_388_608.0 {
        x.round_ties_even()
    } else {
        x
    }
}

/// soundfile's float32 → PCM_16 WAV → float32 round trip of one sample.
pub(crate) fn pcm16_roundtrip(x: f32) -> f32 {
    f32::from(f32_to_pcm16(x)) * PCM16_TO_FLOAT
}

/// [`pcm16_roundtrip`] of every sample.
pub fn pcm16_roundtrip_f32(samples: &[f32]) -> Vec<f32> {
    samples.iter().map(|&x| pcm16_roundtrip(x)).collect()
}

/// The decoded samples of a mono 16-bit PCM WAV, with `left` zeros before and zeros after up to
/// `padded_len` samples in all.
pub(crate) fn pcm16_samples(
    data: &Bytes<'_>,
    probe: &Probe,
    left: u64,
    padded_len: u64,
) -> Result<Vec<f32>> {
    let Container::Wav(fmt, offset) = probe.container else {
        return Err(unsupported("arrays of audio other than 16-bit PCM WAV"));
    };
    if fmt.tag != 1 || fmt.bits != 16 || probe.channels != 1 {
        return Err(unsupported("arrays of audio other than 16-bit PCM WAV"));
    }
    let total = usize::try_from(padded_len).map_err(|_| unsupported("a huge audio"))?;
    let left = usize::try_from(left).map_err(|_| unsupported("a huge audio"))?;
    let frames = usize::try_from(probe.frames).map_err(|_| unsupported("a huge audio"))?;
    let raw = data.read_vec(offset, frames * 2);
    let mut out = Vec::with_capacity(total);
    out.resize(left, 0.0);
    out.extend(
        raw.chunks_exact(2)
            .map(|b| f32::from(i16::from_le_bytes([b[0], b[1]])) * PCM16_TO_FLOAT),
    );
    out.resize(total.max(out.len()), 0.0);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pcm16_quantization_is_libsndfiles() {
        // Observed with soundfile 0.14.0 (libsndfile 1.2.2): -0.2838848 → -9303 (rounded down).
        let got = pcm16_roundtrip_f32(&[0.0, 1.0, -1.0, 0.5, 1.5, -0.283_884_8, 1e-5, -1e-5]);
        let want: Vec<f32> = [0i16, 32767, -32768, 16384, 32767, -9303, 0, -1]
            .iter()
            .map(|&s| f32::from(s) / 32768.0)
            .collect();
        assert_eq!(got, want);
    }

    #[test]
    fn rounding_trick_is_round_ties_even() {
        let mut x = -9_000_000.0f32;
        while x < 9_000_000.0 {
            for d in [0.0f32, 0.25, 0.5, 0.75] {
                let v = x + d;
                assert_eq!(round_half_even(v), v.round_ties_even(), "{v}");
            }
            x += 997.5;
        }
        for v in [
            0.5f32,
            1.5,
            2.5,
            -0.5,
            -1.5,
            4_194_303.5,
            -4_194_303.5,
            4_194_304.5,
        ] {
            assert_eq!(round_half_even(v), v.round_ties_even(), "{v}");
        }
    }
}
