//! The length of `soxr.resample(x, in_rate, out_rate, quality="HQ")`.
//!
//! python-soxr feeds the whole input to one libsoxr resampler in pieces, then flushes it
//! (`csoxr_split_ch` for the 1-D float32 arrays soundfile returns; its output buffer,
//! `ilen * out_rate / in_rate + 1`, never limits the result). libsoxr ends the stream at
//! `(int64_t)((double)samples_in / io_ratio + .5)` output samples (`_soxr_flush` in `cr.c`), with
//! `io_ratio = (double)in_rate / (double)out_rate` (`soxr_create`). That is the whole length
//! rule; it does not depend on the quality setting or on the samples. Checked against python-soxr
//! by `tests/test_audio_resample.py` (versions in `super`'s module doc).

/// The number of samples `soxr.resample` returns for `samples` input samples.
pub fn resampled_len(samples: u64, in_rate: u32, out_rate: u32) -> u64 {
    if in_rate == out_rate {
        // mistral_common does not call soxr then.
        return samples;
    }
    let io_ratio = f64::from(in_rate) / f64::from(out_rate);
    (samples as f64 / io_ratio + 0.5) as u64
}

#[cfg(test)]
mod tests {
    use super::resampled_len;

    #[test]
    fn lengths_python_soxr_returns() {
        // Observed with python-soxr 1.0.0 (libsoxr 0.1.3), quality "HQ".
        assert_eq!(resampled_len(0, 44100, 16000), 0);
        assert_eq!(resampled_len(1, 44100, 16000), 0);
        assert_eq!(resampled_len(2, 44100, 16000), 1);
        assert_eq!(resampled_len(44100, 44100, 16000), 16000);
        assert_eq!(resampled_len(1, 8000, 16000), 2);
        assert_eq!(resampled_len(7, 48000, 16000), 2);
    }
}
