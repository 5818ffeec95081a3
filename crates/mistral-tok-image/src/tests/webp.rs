//! WebP bitstream checks on hand-made inputs and the fixtures. What each refusal stands for was
//! checked against PIL 13 (libwebp 1.6.0); `tests/test_webp_bitstreams.py` and
//! `tests/test_webp_frames.py` compare thousands of corrupted files with mistral_common.

use super::super::vp8l_bits::BitReader;
use super::super::vp8l_huffman::Code;
use super::fixtures::FIXTURES;
use super::{b64, checked, pack_lsb, request_err};

fn fixture(name: &str) -> Vec<u8> {
    let (_, text, _) = FIXTURES.iter().find(|f| f.0 == name).unwrap();
    b64(text)
}

/// A simple-format file around one bitstream chunk.
fn riff(fourcc: &[u8; 4], payload: &[u8]) -> Vec<u8> {
    let mut body = b"WEBP".to_vec();
    body.extend_from_slice(fourcc);
    body.extend_from_slice(&u32::try_from(payload.len()).unwrap().to_le_bytes());
    body.extend_from_slice(payload);
    if payload.len() % 2 == 1 {
        body.push(0);
    }
    let mut file = b"RIFF".to_vec();
    file.extend_from_slice(&u32::try_from(body.len()).unwrap().to_le_bytes());
    file.extend(body);
    file
}

fn payload(file: &[u8]) -> &[u8] {
    let len = u32::from_le_bytes(file[16..20].try_into().unwrap()) as usize;
    &file[20..20 + len]
}

#[test]
fn prefix_codes_must_be_complete_unless_they_hold_one_symbol() {
    assert!(Code::build(&[1, 1]).is_some());
    assert!(Code::build(&[1, 2, 2]).is_some());
    assert!(Code::build(&[1, 2]).is_none(), "incomplete");
    assert!(Code::build(&[1, 1, 1]).is_none(), "over-subscribed");
    assert!(Code::build(&[0, 0, 0]).is_none(), "empty");
    let single = Code::build(&[0, 0, 5, 0]).unwrap();
    assert!(single.is_trivial());
    // a lone symbol takes no bits, whatever its length says
    let mut br = BitReader::new(&[0xff]);
    assert_eq!(single.read(&mut br), 2);
    assert_eq!(br.prefetch(), 0xff);
}

#[test]
fn canonical_codes_are_read_least_significant_bit_first() {
    // lengths 1, 2, 3, 3 give codes 0, 10, 110, 111 (first bit first in the stream)
    let code = Code::build(&[1, 2, 3, 3]).unwrap();
    // stream bits from bit 0: 0 | 1 0 | 1 1 0 | 1 1 1
    let bits: u32 = 0b1_1101_1010;
    let bytes = bits.to_le_bytes();
    let mut br = BitReader::new(&bytes);
    let got: Vec<u16> = (0..4).map(|_| code.read(&mut br)).collect();
    assert_eq!(got, [0, 1, 2, 3]);
    // a 12-bit code goes through the second-level table
    let mut lengths = vec![12u8; 4096];
    lengths.truncate(4096);
    let long = Code::build(&lengths).unwrap();
    let mut br = BitReader::new(&[0xab, 0x0c, 0, 0]);
    // the first 12 stream bits, 1101_0101_0011, are the code of symbol 0xd53
    assert_eq!(long.read(&mut br), 0xd53);
}

#[test]
fn the_lossless_bit_reader_runs_out_after_eight_bytes_or_the_data() {
    let mut br = BitReader::new(&[1, 2]);
    br.read(24);
    br.read(24);
    br.read(16);
    assert!(
        !br.is_end(),
        "a short stream reads as zero-padded to 8 bytes"
    );
    br.read(1);
    assert!(br.is_end() && br.eos_flag());
    let data = [7u8; 12];
    let mut br = BitReader::new(&data);
    for _ in 0..4 {
        br.read(24);
    }
    assert!(!br.is_end());
    br.read(1);
    assert!(br.is_end());
}

#[test]
fn fixtures_decode_and_their_bitstreams_cut_short_do_not() {
    for (name, fourcc) in [("WEBP_LOSSY_9X7", b"VP8 "), ("WEBP_LOSSLESS_9X7", b"VP8L")] {
        let file = fixture(name);
        assert_eq!(checked(&file).unwrap(), (9, 7), "{name}");
        let p = payload(&file);
        let m = request_err(checked(&riff(fourcc, &p[..p.len() / 2])));
        assert!(m.contains("failed to read next frame"), "{name}: {m}");
    }
}

#[test]
fn vp8_frame_headers_are_judged_when_the_file_is_opened() {
    let file = fixture("WEBP_LOSSY_9X7");
    let p = payload(&file).to_vec();
    // an inter frame, a bad start code, a first partition as long as the chunk: the demuxer
    // refuses the file (PIL: "could not create decoder object"), before any pixel is decoded
    let mut inter = p.clone();
    inter[0] |= 1;
    let mut start = p.clone();
    start[4] ^= 0xff;
    let mut first = p.clone();
    let whole = u32::try_from(p.len()).unwrap() << 5;
    first[..3].copy_from_slice(&(whole | u32::from(p[0] & 0x1f)).to_le_bytes()[..3]);
    for bad in [inter, start, first] {
        let m = request_err(checked(&riff(b"VP8 ", &bad)));
        assert!(m.contains("from bytes") && !m.contains("next frame"), "{m}");
    }
    // no byte left for the token partition: "cannot parse partitions" when decoding
    let first_len = (u32::from_le_bytes([p[0], p[1], p[2], 0]) >> 5) as usize;
    let m = request_err(checked(&riff(b"VP8 ", &p[..10 + first_len])));
    assert!(m.contains("failed to read next frame"), "{m}");
}

#[test]
fn a_vp8l_transform_given_twice_is_refused() {
    let file = fixture("WEBP_LOSSLESS_9X7");
    let mut p = payload(&file).to_vec();
    // after the 5-byte header: transform present (1), subtract green (2 = 0b10), transform
    // present, subtract green again: bits 1,0,1,1,0,1 from bit 0 of byte 5
    p[5] = 0b0010_1101;
    let m = request_err(checked(&riff(b"VP8L", &p)));
    assert!(m.contains("failed to read next frame"), "{m}");
}

#[test]
fn a_vp8l_image_whose_pixels_read_no_bits_is_decided_without_walking_them() {
    // 12000×12000 (under PIL's bomb limit): no transform, cache or meta codes, then five
    // one-symbol simple codes (green = literal 1): a dozen bytes for 144 M pixels
    let (w, h) = (12000u32, 12000u32);
    let mut fields = vec![(0x2f, 8), (w - 1, 14), (h - 1, 14), (0, 1), (0, 3)];
    fields.extend([(0, 1), (0, 1), (0, 1)]);
    for _ in 0..5 {
        fields.extend([(1, 1), (0, 1), (0, 1), (1, 1)]);
    }
    let file = riff(b"VP8L", &pack_lsb(&fields));
    assert_eq!(checked(&file).unwrap(), (w, h));
    // red as a two-symbol code (1 and 0): every pixel now reads a bit, and the data runs out
    // (PIL: "failed to read next frame"; the file above it decodes, in 5.7 s)
    let mut two = fields.clone();
    let red = two.len() - 4 * 4;
    two.splice(red..red + 4, [(1, 1), (1, 1), (1, 1), (1, 8), (0, 8)]);
    let m = request_err(checked(&riff(b"VP8L", &pack_lsb(&two))));
    assert!(m.contains("failed to read next frame"), "{m}");
}
