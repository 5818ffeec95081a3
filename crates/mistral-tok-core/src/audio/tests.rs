//! Container probes on hand-built files.

use super::source::Bytes;
use super::*;
use std::borrow::Cow;

/// A PCM WAV: RIFF header, `fmt `, optional extra chunks, then `data` of `data_len` bytes
/// (of which only `present` are written).
fn wav(
    bits: u16,
    channels: u16,
    rate: u32,
    data_len: u32,
    present: usize,
    extra: &[u8],
) -> Vec<u8> {
    let block = channels * bits.div_ceil(8);
    let mut v = Vec::new();
    v.extend_from_slice(b"RIFF");
    v.extend_from_slice(&(36 + extra.len() as u32 + data_len).to_le_bytes());
    v.extend_from_slice(b"WAVEfmt ");
    v.extend_from_slice(&16u32.to_le_bytes());
    v.extend_from_slice(&1u16.to_le_bytes());
    v.extend_from_slice(&channels.to_le_bytes());
    v.extend_from_slice(&rate.to_le_bytes());
    v.extend_from_slice(&(rate * u32::from(block)).to_le_bytes());
    v.extend_from_slice(&block.to_le_bytes());
    v.extend_from_slice(&bits.to_le_bytes());
    v.extend_from_slice(extra);
    v.extend_from_slice(b"data");
    v.extend_from_slice(&data_len.to_le_bytes());
    v.extend(std::iter::repeat_n(0x11u8, present));
    v
}

fn probe_of(v: &[u8]) -> Result<Probe> {
    probe(&Bytes::Slice(Cow::Borrowed(v)))
}

#[test]
fn wav_frames_from_headers() {
    let p = probe_of(&wav(16, 1, 16000, 2000, 2000, b"")).unwrap();
    assert_eq!((p.frames, p.sample_rate, p.channels), (1000, 16000, 1));
    // Truncated: the whole frames present.
    assert_eq!(
        probe_of(&wav(16, 1, 16000, 2000, 1001, b""))
            .unwrap()
            .frames,
        500
    );
    assert_eq!(probe_of(&wav(24, 1, 8000, 30, 30, b"")).unwrap().frames, 10);
    let junk = [b"JUNK".as_slice(), &4u32.to_le_bytes(), &[0; 4]].concat();
    assert_eq!(probe_of(&wav(8, 1, 8000, 7, 7, &junk)).unwrap().frames, 7);
}

#[test]
fn wav_refusals_and_fallbacks() {
    assert!(matches!(
        audio_info(&wav(16, 2, 16000, 8, 8, b"")),
        Err(Error::Request(_))
    ));
    assert!(matches!(probe_of(b"RIFF"), Err(Error::Request(_))));
    assert!(matches!(
        probe_of(b"hello world, not audio"),
        Err(Error::Request(_))
    ));
    // Unknown chunk before the data, chunks after it, MP3: left to mistral_common.
    let odd = [b"abcd".as_slice(), &4u32.to_le_bytes(), &[0; 4]].concat();
    assert!(matches!(
        probe_of(&wav(16, 1, 16000, 2, 2, &odd)),
        Err(Error::Unsupported(_))
    ));
    let mut trailing = wav(16, 1, 16000, 2, 2, b"");
    trailing.extend_from_slice(b"LIST\x04\x00\x00\x00INFO");
    assert!(matches!(probe_of(&trailing), Err(Error::Unsupported(_))));
    assert!(matches!(
        probe_of(b"ID3\x04\0\0\0\0\0\0\0\0"),
        Err(Error::Unsupported(_))
    ));
}

#[test]
fn chunk_tokens_resample_then_pad() {
    let config = AudioConfig::from_json(&serde_json::json!({
        "sampling_rate": 16000, "frame_rate": 12.5,
        "audio_encoding_config": {"num_mel_bins": 128, "hop_length": 160, "window_size": 400},
    }))
    .unwrap();
    // 3 s at 44.1 kHz → 48000 samples at 16 kHz → 38 tokens after the last partial frame.
    let info = AudioInfo {
        frames: 132_300,
        sample_rate: 44100,
    };
    let t = chunk_tokens(&config, info, None);
    assert_eq!((t.padded_len, t.tokens), (48000, 38));
}

#[test]
fn audio_url_kinds_follow_urlparse() {
    use source::{url_kind, UrlKind};
    assert!(matches!(url_kind("https://x/a.wav"), Ok(UrlKind::Http)));
    assert!(matches!(url_kind("HTTP://x/a.wav"), Ok(UrlKind::Http)));
    assert!(matches!(
        url_kind("data:audio/wav;base64,AAAA"),
        Ok(UrlKind::Base64(_))
    ));
    assert!(matches!(
        url_kind("file:///tmp/a.wav"),
        Ok(UrlKind::File("/tmp/a.wav"))
    ));
    // `FILE://` is a file URI whose path keeps the prefix (mistral_common strips "file://" only).
    assert!(matches!(
        url_kind("FILE:///a"),
        Ok(UrlKind::File("FILE:///a"))
    ));
    assert!(matches!(url_kind("UklGRiQ="), Ok(UrlKind::Base64(_))));
    assert!(matches!(url_kind("/"), Ok(UrlKind::File("/"))));
    assert!(matches!(url_kind(" data:x"), Err(Error::Unsupported(_))));
}

#[test]
fn data_urls_are_checked_as_mistral_common_does() {
    assert!(matches!(
        source::from_base64("data:audio/wav,AAAA"),
        Err(Error::Request(_))
    ));
    assert!(matches!(
        source::from_base64("data:audio/wav;base64,"),
        Err(Error::Request(_))
    ));
    assert!(matches!(source::from_base64("A"), Err(Error::Request(_))));
    let wav_bytes = wav(16, 1, 8000, 4, 4, b"");
    let text = format!("data:audio/wav;base64,{}", {
        use base64::Engine;
        base64::engine::general_purpose::STANDARD.encode(&wav_bytes)
    });
    let info = input_info(AudioInput::Url(&text), None).unwrap();
    assert_eq!((info.frames, info.sample_rate), (2, 8000));
    assert!(matches!(
        input_info(AudioInput::Url("https://a/b.wav"), None),
        Err(Error::Unsupported(_))
    ));
}
