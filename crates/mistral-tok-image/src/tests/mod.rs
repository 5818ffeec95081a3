//! Tests of the image module: layout arithmetic, base64 semantics, size readers, rejections.

mod fixtures;
mod jpeg;
mod webp;

use ::base64::engine::general_purpose::STANDARD;
use ::base64::Engine;

use super::base64::decode_all;
use super::*;
use fixtures::{FIXTURES, TIFF_2X2};

const IDS: ImageTokenIds = ImageTokenIds {
    img: 10,
    img_break: 12,
    img_end: 13,
};

fn cfg(patch: u32, max: u32, merge: u32) -> ImageConfig {
    ImageConfig {
        image_patch_size: patch,
        max_image_size: max,
        spatial_merge_size: merge,
    }
}

fn tokens_wh(config: ImageConfig, w: u32, h: u32) -> (u32, u32) {
    let g = image_grid(&config, w, h).unwrap();
    (g.width_tokens, g.height_tokens)
}

fn data_url(bytes: &[u8]) -> String {
    format!("data:image/png;base64,{}", STANDARD.encode(bytes))
}

fn b64(text: &str) -> Vec<u8> {
    STANDARD.decode(text).unwrap()
}

// ---------------------------------------------------------------- layout

#[test]
fn behaviour_map_examples_16_1024_1() {
    let c = cfg(16, 1024, 1);
    assert_eq!(tokens_wh(c, 40, 20), (3, 2));
    assert_eq!(tokens_wh(c, 1024, 1024), (64, 64));
    assert_eq!(tokens_wh(c, 2048, 512), (64, 16));
    assert_eq!(tokens_wh(c, 1000, 3), (63, 1));
    assert_eq!(tokens_wh(c, 5000, 1), (64, 1));
}

#[test]
fn behaviour_map_examples_14_1540_2() {
    let c = cfg(14, 1540, 2);
    assert_eq!(tokens_wh(c, 40, 20), (2, 1));
    assert_eq!(tokens_wh(c, 1024, 1024), (37, 37));
    assert_eq!(tokens_wh(c, 2048, 512), (55, 14));
}

#[test]
fn downscale_rounds_half_to_even_and_clamps_to_one() {
    // ratio 2.0 exactly: the short side is h / 2, so odd h lands on .5
    let c = cfg(1, 1024, 1);
    assert_eq!(tokens_wh(c, 2048, 1), (1024, 1)); // round(0.5) = 0, clamped to 1
    assert_eq!(tokens_wh(c, 2048, 3), (1024, 2)); // round(1.5) = 2
    assert_eq!(tokens_wh(c, 2048, 5), (1024, 2)); // round(2.5) = 2, not 3
    assert_eq!(tokens_wh(c, 2048, 7), (1024, 4)); // round(3.5) = 4
    assert_eq!(tokens_wh(c, 5, 2048), (2, 1024));
    // no downscale at exactly max size, ceil division after
    assert_eq!(tokens_wh(cfg(16, 1024, 1), 1024, 17), (64, 2));
    assert_eq!(tokens_wh(cfg(16, 1024, 1), 1, 1), (1, 1));
    // an extreme aspect ratio: 1.11.7 would have produced 0 rows, 1.13.1 clamps
    assert_eq!(tokens_wh(cfg(16, 1024, 1), 100_000, 1), (64, 1));
}

#[test]
fn token_ids_rows_breaks_and_end() {
    let g = image_grid(&cfg(16, 1024, 1), 40, 20).unwrap();
    assert_eq!(g.tokens(IDS), vec![10, 10, 10, 12, 10, 10, 10, 13]);
    assert_eq!(g.num_tokens(), 8);
    assert_eq!((g.resized_width, g.resized_height), (48, 32));
    let g = image_grid(&cfg(14, 1540, 2), 40, 20).unwrap();
    assert_eq!(g.tokens(IDS), vec![10, 10, 13]);
    assert_eq!((g.resized_width, g.resized_height), (56, 28));
    let g = image_grid(&cfg(16, 1024, 1), 1, 1).unwrap();
    assert_eq!(g.tokens(IDS), vec![10, 13]);
}

#[test]
fn zero_settings_or_sizes_are_errors() {
    assert!(matches!(
        image_grid(&cfg(0, 1024, 1), 4, 4),
        Err(Error::InvalidArgument(_))
    ));
    assert!(matches!(
        image_grid(&cfg(16, 1024, 1), 0, 4),
        Err(Error::InvalidArgument(_))
    ));
}

// ---------------------------------------------------------------- base64

#[test]
fn base64_matches_python_b64decode() {
    // Expected values observed with CPython 3.11 `base64.b64decode(s)`.
    let cases: &[(&str, Result<&[u8], &str>)] = &[
        ("QQ==", Ok(b"A")),
        ("QQ", Err("Incorrect padding")),
        ("QQ=", Err("Incorrect padding")),
        ("QUI=", Ok(b"AB")),
        ("QUJD", Ok(b"ABC")),
        ("QQ==garbage!!", Ok(b"A")),
        ("Q Q = =", Ok(b"A")),
        ("QU\nJD", Ok(b"ABC")),
        ("Q", Err("Invalid base64-encoded string: number of data characters (1) cannot be 1 more than a multiple of 4")),
        ("QUJDR", Err("Invalid base64-encoded string: number of data characters (5) cannot be 1 more than a multiple of 4")),
        ("=QQ==", Ok(b"A")),
        ("QQ=x=", Ok(b"A\x0c")),
        ("QUJ=D", Ok(b"AB")),
        ("QR==", Ok(b"A")),
        ("", Ok(b"")),
        ("====", Ok(b"")),
        ("QUJDRA==QUJD", Ok(b"ABCD")),
        ("QU-_JD", Ok(b"ABC")),
        ("Q===", Err("Invalid base64-encoded string: number of data characters (1) cannot be 1 more than a multiple of 4")),
        ("QUJDRA=", Err("Incorrect padding")),
        ("AAAA==", Ok(b"\0\0\0")),
        ("AA=A=", Ok(b"\0\0")),
        ("a\u{e9}b=", Err("string argument should contain only ASCII characters")),
    ];
    for (input, expected) in cases {
        let got = decode_all(input);
        match expected {
            Ok(bytes) => assert_eq!(got.as_deref(), Ok(*bytes), "{input:?}"),
            Err(msg) => assert_eq!(got, Err(msg.to_string()), "{input:?}"),
        }
    }
}

#[test]
fn lazy_base64_reads_any_range() {
    let bytes: Vec<u8> = (0..1000u32).map(|i| (i * 7919 % 251) as u8).collect();
    for len in [0usize, 1, 2, 3, 4, 998, 999, 1000] {
        let text = STANDARD.encode(&bytes[..len]);
        let super::base64::Decoded::Clean(clean) = super::base64::b64decode(&text).unwrap() else {
            panic!("canonical base64 should take the lazy path")
        };
        assert_eq!(clean.len(), len);
        for start in [0usize, 1, 2, 3, 5, 500, 997, 999, 1000, 2000] {
            for n in [0usize, 1, 2, 3, 4, 7, 100, 5000] {
                let mut buf = vec![0u8; n];
                let got = clean.read_at(start, &mut buf);
                let want = &bytes[..len].get(start..).unwrap_or(&[]);
                let want = &want[..want.len().min(n)];
                assert_eq!(&buf[..got], want, "len {len} start {start} n {n}");
            }
        }
    }
}

// ---------------------------------------------------------------- sizes

#[test]
fn fixture_sizes_match_pil_from_every_source() {
    for (name, text, size) in FIXTURES {
        let bytes = b64(text);
        assert_eq!(
            image_size(ImageInput::Bytes(&bytes), true).unwrap(),
            *size,
            "{name}"
        );
        assert_eq!(
            image_size(ImageInput::Base64(text), true).unwrap(),
            *size,
            "{name}"
        );
        let url = format!("data:image/whatever;base64,{text}");
        assert_eq!(
            image_size(ImageInput::Url(&url), true).unwrap(),
            *size,
            "{name}"
        );
        assert_eq!(
            image_size(ImageInput::Base64(&url), true).unwrap(),
            *size,
            "{name}"
        );
        // MIME-style line breaks take the lenient decoder and give the same bytes
        let wrapped: String = text
            .as_bytes()
            .chunks(76)
            .map(|c| std::str::from_utf8(c).unwrap())
            .collect::<Vec<_>>()
            .join("\r\n");
        assert_eq!(
            image_size(ImageInput::Base64(&wrapped), true).unwrap(),
            *size,
            "{name}"
        );
        // data after the end of the image is ignored by PIL
        let mut junk = bytes.clone();
        junk.extend_from_slice(b"trailing junk");
        assert_eq!(
            image_size(ImageInput::Bytes(&junk), true).unwrap(),
            *size,
            "{name}"
        );
    }
}

#[test]
fn layout_from_a_data_url() {
    let url = data_url(&b64(FIXTURES[0].1));
    let g = image_layout(ImageInput::Url(&url), &cfg(16, 1024, 1), true).unwrap();
    assert_eq!((g.width, g.height), (5, 3));
    assert_eq!(g.tokens(IDS), vec![10, 13]);
}

#[test]
fn url_schemes() {
    assert!(matches!(
        image_size(ImageInput::Url("https://example.com/cat.png"), true),
        Err(Error::Unsupported(_))
    ));
    assert!(matches!(
        image_size(ImageInput::Url("http://example.com/cat.png"), true),
        Err(Error::Unsupported(_))
    ));
    assert_eq!(
        image_size(ImageInput::Url("ftp://example.com/cat.png"), true),
        Err(Error::Request(
            "Unsupported image url scheme ftp://example.com/cat.png".into()
        ))
    );
    // a bare base64 string is not a URL for an image_url chunk
    let bare = FIXTURES[0].1;
    assert_eq!(
        image_size(ImageInput::Url(bare), true),
        Err(Error::Request(format!(
            "Unsupported image url scheme {bare}"
        )))
    );
}

#[test]
fn malformed_data_urls_use_mistral_common_texts() {
    for bad in [
        "data:image/png,abc",
        "data:image/png;base64,",
        "data:image/png;base64",
        "data:;base64x,QUJD",
    ] {
        let want = format!(
            "Invalid base64 data URL {bad}: expected the form `data:<mime>;base64,<payload>`."
        );
        assert_eq!(
            image_size(ImageInput::Url(bad), true),
            Err(Error::Request(want.clone()))
        );
        assert_eq!(
            image_size(ImageInput::Base64(bad), true),
            Err(Error::Request(want))
        );
    }
    // the message quotes the first 64 characters (code points, not bytes)
    let long = format!("data:image/png,{}", "é".repeat(100));
    let Err(Error::Request(msg)) = image_size(ImageInput::Url(&long), true) else {
        panic!()
    };
    assert!(msg.starts_with(&format!(
        "Invalid base64 data URL data:image/png,{}:",
        "é".repeat(49)
    )));

    let url = "data:image/png;base64,QQ";
    assert_eq!(
        image_size(ImageInput::Url(url), true),
        Err(Error::Request(format!(
            "Invalid image data URL {url}: payload is not valid base64."
        )))
    );
    let url = "data:image/png;base64,QUJD\u{e9}";
    assert_eq!(
        image_size(ImageInput::Url(url), true),
        Err(Error::Request(format!(
            "Invalid image data URL {url}: payload is not valid base64."
        )))
    );
    assert_eq!(
        image_size(ImageInput::Base64("QUJDR"), true),
        Err(Error::Request(
            "Encountered an error when loading image from bytes starting with 'QUJDR'. Expected \
             either a PIL.Image.Image or a base64 encoded string of bytes."
                .into()
        ))
    );
}

#[test]
fn unknown_formats_are_left_to_mistral_common() {
    assert!(matches!(
        image_size(ImageInput::Base64(TIFF_2X2), true),
        Err(Error::Unsupported(_))
    ));
    assert!(matches!(
        image_size(ImageInput::Url("data:text/plain;base64,aGVsbG8="), true),
        Err(Error::Unsupported(_))
    ));
}

// ---- hand-made PNGs

fn png_chunk(cid: &[u8; 4], data: &[u8]) -> Vec<u8> {
    let mut out = (data.len() as u32).to_be_bytes().to_vec();
    out.extend_from_slice(cid);
    out.extend_from_slice(data);
    out.extend_from_slice(&super::png::crc32(cid, data).to_be_bytes());
    out
}

fn ihdr(w: u32, h: u32, depth: u8, color: u8) -> Vec<u8> {
    let mut d = w.to_be_bytes().to_vec();
    d.extend_from_slice(&h.to_be_bytes());
    d.extend_from_slice(&[depth, color, 0, 0, 0]);
    png_chunk(b"IHDR", &d)
}

/// A PNG whose IDAT holds `idat` (not a valid zlib stream: read with the pixel check off, only
/// the structure counts).
fn png(w: u32, h: u32, idat: &[u8]) -> Vec<u8> {
    png_of(&ihdr(w, h, 8, 2), &[idat], &[])
}

/// A PNG of `ihdr`, one IDAT chunk per slice of `idats`, `after` (chunks), IEND.
fn png_of(ihdr: &[u8], idats: &[&[u8]], after: &[u8]) -> Vec<u8> {
    let mut out = super::png::SIGNATURE.to_vec();
    out.extend_from_slice(ihdr);
    for d in idats {
        out.extend(png_chunk(b"IDAT", d));
    }
    out.extend_from_slice(after);
    out.extend(png_chunk(b"IEND", b""));
    out
}

fn zlib(raw: &[u8]) -> Vec<u8> {
    let mut buf = vec![0; zlib_rs::compress_bound(raw.len())];
    let (z, rc) = zlib_rs::compress_slice(&mut buf, raw, zlib_rs::DeflateConfig::default());
    assert_eq!(rc, zlib_rs::ReturnCode::Ok);
    z.to_vec()
}

/// `rows` rows of `row_bytes` bytes of pixels, each after filter byte `filter` (a gradient).
fn rows(rows: usize, row_bytes: usize, filter: u8) -> Vec<u8> {
    let mut raw = Vec::new();
    for y in 0..rows {
        raw.push(filter);
        raw.extend((0..row_bytes).map(|x| ((x * 7 + y * 13) % 251) as u8));
    }
    raw
}

fn request_err(r: Result<(u32, u32)>) -> String {
    match r {
        Err(Error::Request(m)) => m,
        other => panic!("expected a request error, got {other:?}"),
    }
}

fn checked(p: &[u8]) -> Result<(u32, u32)> {
    image_size(ImageInput::Bytes(p), true)
}

fn unchecked(p: &[u8]) -> Result<(u32, u32)> {
    image_size(ImageInput::Bytes(p), false)
}

#[test]
fn png_size_comes_from_ihdr() {
    let p = png(4000, 3, b"xx");
    assert_eq!(unchecked(&p).unwrap(), (4000, 3));
    // ancillary chunks before and after the image data
    let mut p = super::png::SIGNATURE.to_vec();
    p.extend(ihdr(7, 9, 16, 6));
    p.extend(png_chunk(b"gAMA", &[0, 0, 177, 143]));
    p.extend(png_chunk(b"zzZz", b"private"));
    p.extend(png_chunk(b"IDAT", b"a"));
    p.extend(png_chunk(b"IDAT", b"b"));
    p.extend(png_chunk(b"tEXt", b"k\0v"));
    p.extend(png_chunk(b"IEND", b""));
    assert_eq!(unchecked(&p).unwrap(), (7, 9));
    // corrupt image data: only the check sees it
    request_err(checked(&p));
}

#[test]
fn png_rejections() {
    let good = png(5, 5, &[7; 100]);
    let ihdr_end = 8 + 25;
    // broken header: PIL cannot open it → mistral_common's "not a decodable image"
    let url = data_url(&good[..20]);
    assert_eq!(
        request_err(image_size(ImageInput::Url(&url), true)),
        format!(
            "Invalid image data URL {}: payload is not a decodable image.",
            url.chars().take(64).collect::<String>()
        )
    );
    // bad CRC in IHDR
    let mut bad = good.clone();
    bad[ihdr_end - 1] ^= 1;
    request_err(unchecked(&bad));
    // zero size, unknown bit depth/colour type, filter method
    request_err(unchecked(&png(0, 5, b"x")));
    let mut p = super::png::SIGNATURE.to_vec();
    p.extend(ihdr(5, 5, 3, 2));
    p.extend(png_chunk(b"IDAT", b"x"));
    request_err(unchecked(&p));
    // decompression bomb: PIL refuses > 2 × 89478485 pixels when opening
    request_err(unchecked(&png(20000, 20000, b"x")));
    assert!(unchecked(&png(13000, 13000, b"x")).is_ok());
    // load_end does not check CRCs: a chunk after the image data with a bad one is fine
    let mut t = png_chunk(b"tEXt", b"k\0v");
    let last = t.len() - 1;
    t[last] ^= 1;
    let p = png_of(&ihdr(5, 5, 8, 0), &[&zlib(&rows(5, 5, 0))], &t);
    assert_eq!(checked(&p).unwrap(), (5, 5));
    // … but one cut short is "Truncated File Read"
    let p = png_of(&ihdr(5, 5, 8, 0), &[&zlib(&rows(5, 5, 0))], &[]);
    let mut cut = p[..p.len() - 12].to_vec();
    cut.extend_from_slice(&png_chunk(b"tEXt", b"k\0v")[..10]);
    request_err(checked(&cut));
}

#[test]
fn png_image_data_is_checked_as_pil_decodes_it() {
    let ok = |p: &[u8]| assert_eq!(checked(p).unwrap(), (5, 4));
    let head = ihdr(5, 4, 8, 2); // RGB: 15 bytes a row, 16 with the filter byte
    let raw = rows(4, 15, 1);
    let z = zlib(&raw);
    ok(&png_of(&head, &[&z], &[]));
    // split anywhere, with empty chunks between
    for at in 0..z.len() {
        ok(&png_of(&head, &[&z[..at], b"", &z[at..]], &[]));
    }
    // a corrupt Adler-32 fails when it is in the piece that completes the last row …
    let mut bad = z.clone();
    let n = bad.len();
    bad[n - 1] ^= 1;
    request_err(checked(&png_of(&head, &[&bad], &[])));
    // … and is never read when it comes in a later chunk
    ok(&png_of(&head, &[&bad[..n - 4], &bad[n - 4..]], &[]));
    // unknown filter byte
    let mut f = raw.clone();
    f[16] = 5;
    let m = request_err(checked(&png_of(&head, &[&zlib(&f)], &[])));
    assert!(m.contains("unrecognized data stream"), "{m}");
    // too few rows: fine when the stream ends on a row boundary, not inside a row
    ok(&png_of(&head, &[&zlib(&raw[..32])], &[]));
    request_err(checked(&png_of(&head, &[&zlib(&raw[..40])], &[])));
    // more data than rows: the rest is never read
    let mut more = raw.clone();
    more.extend_from_slice(&[9; 100]);
    ok(&png_of(&head, &[&zlib(&more)], &[]));
    // not zlib at all; a preset dictionary (never completes)
    request_err(checked(&png_of(&head, &[&[7; 100]], &[])));
    request_err(checked(&png_of(
        &head,
        &[&[0x78, 0xbb, 0, 0, 0, 1, 1]],
        &[],
    )));
    // the next chunk not image data before the rows are complete
    request_err(checked(&png_of(&head, &[&z[..z.len() / 2]], &[])));
}

#[test]
fn png_cut_inside_the_image_data() {
    let head = ihdr(5, 4, 8, 2);
    let z = zlib(&rows(4, 15, 0));
    let good = png_of(&head, &[&z], &[]);
    let idat_data = 8 + 25 + 8;
    for cut in idat_data..idat_data + z.len() {
        // the decoder starves: PIL's "image file is truncated" (near the end, the rows may be
        // complete already: the differential tests compare those with PIL)
        if cut < idat_data + z.len() / 2 {
            request_err(checked(&good[..cut]));
        }
        // the caller vouches that PIL loaded it
        assert_eq!(unchecked(&good[..cut]).unwrap(), (5, 4), "cut at {cut}");
    }
    // cut inside the same chunk after the rows are complete: load_end reads past the end quietly
    let mut more = rows(4, 15, 0);
    more.extend_from_slice(&[9; 5000]);
    let z = zlib(&more);
    let p = png_of(&head, &[&z], &[]);
    assert_eq!(checked(&p[..idat_data + z.len() - 8]).unwrap(), (5, 4));
    // IEND's CRC missing, IEND cut: the data is complete, PIL's load_end stops quietly
    for cut in good.len() - 4..good.len() {
        assert_eq!(checked(&good[..cut]).unwrap(), (5, 4));
    }
}

#[test]
fn png_all_modes_and_interlacing() {
    for (depth, color, bits) in [
        (1u8, 0u8, 1usize),
        (2, 0, 2),
        (4, 0, 4),
        (8, 0, 8),
        (16, 0, 16),
        (8, 2, 24),
        (16, 2, 48),
        (1, 3, 1),
        (4, 3, 4),
        (8, 3, 8),
        (8, 4, 16),
        (16, 4, 32),
        (8, 6, 32),
        (16, 6, 64),
    ] {
        for (w, h) in [(1usize, 1usize), (3, 5), (9, 2), (17, 17)] {
            let row = (w * bits).div_ceil(8);
            let plain = png_of(
                &ihdr(w as u32, h as u32, depth, color),
                &[&zlib(&rows(h, row, 0))],
                &[],
            );
            assert_eq!(checked(&plain).unwrap(), (w as u32, h as u32));
            // interlaced: the Adam7 passes' rows, one byte short fails
            let plan =
                super::png_data::RowPlan::new(w as u32, h as u32, bits as u32, true).unwrap();
            let total = plan.total_bytes() as usize;
            let mut d = ihdr(w as u32, h as u32, depth, color);
            let n = d.len();
            d[n - 5] = 1; // interlace method
            let crc = super::png::crc32(b"IHDR", &d[8..n - 4]);
            d[n - 4..].copy_from_slice(&crc.to_be_bytes());
            let full = vec![0u8; total];
            assert_eq!(
                checked(&png_of(&d, &[&zlib(&full)], &[])).unwrap(),
                (w as u32, h as u32)
            );
            request_err(checked(&png_of(&d, &[&zlib(&full[..total - 1])], &[])));
        }
    }
}

// ---- JPEG

#[test]
fn jpeg_without_eoi() {
    // Cut inside the scan data: PIL's libjpeg runs out of data before the last MCU (decided by
    // following its Huffman decoder for the single-scan file, always for the progressive one).
    for fixture in [FIXTURES[1].1, FIXTURES[2].1] {
        let j = b64(fixture);
        for cut in 1..40 {
            let m = request_err(image_size(ImageInput::Bytes(&j[..j.len() - cut]), true));
            assert!(m.contains("truncated"), "{m}");
        }
    }
}

#[test]
fn jpeg_header_rules() {
    let j = b64(FIXTURES[1].1);
    // find the SOF0 segment: FF C0 len(2) precision(1) height(2) width(2)
    let sof = j.windows(2).position(|w| w == [0xFF, 0xC0]).unwrap();
    let mut twelve_bit = j.clone();
    twelve_bit[sof + 4] = 12;
    request_err(image_size(ImageInput::Bytes(&twelve_bit), true));
    let mut big = j.clone();
    big[sof + 5..sof + 9].copy_from_slice(&[0x01, 0x00, 0x02, 0x00]); // 256 high, 512 wide
    assert_eq!(
        image_size(ImageInput::Bytes(&big), true).unwrap(),
        (512, 256)
    );
    // an unknown marker before the scan
    let mut odd = j.clone();
    odd.splice(2..2, [0xFF, 0x02, 0, 2]);
    request_err(image_size(ImageInput::Bytes(&odd), true));
    // junk and fill bytes between segments are skipped as PIL does
    let mut padded = j.clone();
    padded.splice(sof..sof, [0x00, 0x13, 0xFF, 0xFF]);
    assert_eq!(
        image_size(ImageInput::Bytes(&padded), true).unwrap(),
        (7, 4)
    );
}

// ---- GIF

fn gif(screen: (u16, u16), frame: (u16, u16, u16, u16), data: &[u8]) -> Vec<u8> {
    let mut g = b"GIF89a".to_vec();
    g.extend_from_slice(&screen.0.to_le_bytes());
    g.extend_from_slice(&screen.1.to_le_bytes());
    g.extend_from_slice(&[0x80, 0, 0]); // global palette of 2 colours
    g.extend_from_slice(&[0, 0, 0, 255, 255, 255]);
    g.extend_from_slice(&[b'!', 249, 4, 1, 0, 0, 0, 0]); // graphic control extension
    g.push(b',');
    for v in [frame.0, frame.1, frame.2, frame.3] {
        g.extend_from_slice(&v.to_le_bytes());
    }
    g.push(0);
    g.push(2); // LZW minimum code size
    g.push(data.len() as u8);
    g.extend_from_slice(data);
    g.push(0);
    g.push(b';');
    g
}

#[test]
fn gif_size_is_the_screen_grown_to_the_first_frame() {
    // placeholder LZW data: read with the pixel check off
    let g = gif((4, 4), (0, 0, 4, 4), &[0x44, 0x01]);
    assert_eq!(unchecked(&g).unwrap(), (4, 4));
    let g = gif((4, 4), (2, 3, 5, 2), &[0x44, 0x01]);
    assert_eq!(unchecked(&g).unwrap(), (7, 5));
    let g = gif((0, 0), (0, 0, 3, 2), &[0x44, 0x01]);
    assert_eq!(unchecked(&g).unwrap(), (3, 2));
    // trailer and terminator are not needed, the data is
    assert_eq!(unchecked(&g[..g.len() - 1]).unwrap(), (3, 2));
    assert!(matches!(
        unchecked(&g[..g.len() - 2]),
        Err(Error::Unsupported(_))
    ));
    assert!(matches!(
        unchecked(&g[..g.len() - 3]),
        Err(Error::Unsupported(_))
    ));
    // no image descriptor at all
    let header_only = &g[..19];
    request_err(checked(header_only));
}

/// `(value, bit count)` fields packed least significant bit first, as GIF LZW codes and VP8L
/// streams are written.
fn pack_lsb(fields: &[(u32, u32)]) -> Vec<u8> {
    let (mut out, mut acc, mut n) = (Vec::new(), 0u64, 0);
    for &(value, bits) in fields {
        acc |= u64::from(value) << n;
        n += bits;
        while n >= 8 {
            out.push(acc as u8);
            acc >>= 8;
            n -= 8;
        }
    }
    if n > 0 {
        out.push(acc as u8);
    }
    out
}

/// LZW data (minimum code size 2) for `pixels`: a clear code before each pixel keeps every code
/// 3 bits wide and the table empty; then the end code.
fn lzw_cleared(pixels: &[u8]) -> Vec<u8> {
    let mut codes: Vec<(u32, u32)> = pixels
        .iter()
        .flat_map(|&p| [(4, 3), (u32::from(p), 3)])
        .collect();
    codes.push((5, 3));
    pack_lsb(&codes)
}

#[test]
fn gif_first_frame_is_decoded_as_pil_does() {
    let ok = |g: &[u8]| assert_eq!(checked(g).unwrap(), (3, 2));
    let data = lzw_cleared(&[0, 1, 1, 0, 1, 0]);
    let g = gif((3, 2), (0, 0, 3, 2), &data);
    ok(&g);
    // done at the last pixel: the end code, terminator and trailer are never needed
    ok(&g[..g.len() - 2]);
    // one pixel short: the decoder reads on past the terminator and the file ends
    let short = gif((3, 2), (0, 0, 3, 2), &lzw_cleared(&[0, 1, 1, 0, 1]));
    assert!(request_err(checked(&short)).contains("truncated"));
    // a code above the next free entry (6 right after a clear: only 0-3 are literals)
    let mut bad = data.clone();
    bad[0] = 0x34; // codes 4 (clear), 6
    assert!(request_err(checked(&gif((3, 2), (0, 0, 3, 2), &bad))).contains("broken"));
    // more data than pixels: the rest is not read
    ok(&gif((3, 2), (0, 0, 3, 2), &lzw_cleared(&[1; 40])));
}

// ---- WebP

#[test]
fn webp_shorter_than_its_riff_size_is_rejected() {
    for (name, text, _) in FIXTURES.iter().filter(|f| f.0.starts_with("WEBP")) {
        let w = b64(text);
        for cut in [1, 2, 10, w.len() / 2] {
            let m = request_err(image_size(ImageInput::Bytes(&w[..w.len() - cut]), true));
            assert!(m.contains("loading image from bytes"), "{name}: {m}");
        }
    }
}

#[test]
fn webp_alpha_is_decoded_only_when_the_vp8x_flags_say_so() {
    let (_, text, size) = FIXTURES.iter().find(|f| f.0 == "WEBP_ALPHA_4X4").unwrap();
    let good = b64(text);
    assert_eq!(checked(&good).unwrap(), *size);
    // VP8X flags at 20 (alpha bit 0x10); the ALPH payload at 38: header byte, then 4×4 raw bytes
    assert_eq!((good[20], &good[30..34], good[38]), (0x10, &b"ALPH"[..], 0));
    let mut reserved = good.clone();
    reserved[38] = 0xc0; // reserved header bits: ALPHInit fails
    assert!(request_err(checked(&reserved)).contains("failed to read next frame"));
    let mut compressed = good.clone();
    compressed[38] = 1; // lossless-compressed: the 16 raw bytes are no VP8L stream
    assert!(request_err(checked(&compressed)).contains("failed to read next frame"));
    // without the flag the demuxer drops the ALPH chunk, and nothing reads it
    reserved[20] = 0;
    assert_eq!(checked(&reserved).unwrap(), *size);
    assert_eq!(
        image_size(ImageInput::Bytes(&compressed), false).unwrap(),
        *size
    );
}

// ---- BMP

fn bmp(w: i32, h: i32, bits: u16, pixel_bytes: usize) -> Vec<u8> {
    let mut b = b"BM".to_vec();
    b.extend_from_slice(&0u32.to_le_bytes()); // file size (PIL ignores it)
    b.extend_from_slice(&0u32.to_le_bytes());
    b.extend_from_slice(&54u32.to_le_bytes()); // pixel data offset
    b.extend_from_slice(&40u32.to_le_bytes());
    b.extend_from_slice(&w.to_le_bytes());
    b.extend_from_slice(&h.to_le_bytes());
    b.extend_from_slice(&1u16.to_le_bytes());
    b.extend_from_slice(&bits.to_le_bytes());
    b.extend_from_slice(&[0; 24]);
    b.extend(std::iter::repeat_n(0x55, pixel_bytes));
    b
}

#[test]
fn bmp_sizes_and_top_down_rows() {
    // 3 px × 24 bits = 9 bytes, stride 12: the last row needs 9 bytes
    assert_eq!(
        image_size(ImageInput::Bytes(&bmp(3, 2, 24, 21)), true).unwrap(),
        (3, 2)
    );
    assert_eq!(
        image_size(ImageInput::Bytes(&bmp(3, -2, 24, 24)), true).unwrap(),
        (3, 2)
    );
    assert!(matches!(
        image_size(ImageInput::Bytes(&bmp(3, 2, 24, 20)), true),
        Err(Error::Unsupported(_))
    ));
}

// ---- files

#[test]
fn file_urls_are_read_natively() {
    let dir = std::env::temp_dir().join(format!("mistral-tok-image-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("x.png");
    std::fs::write(&path, b64(FIXTURES[0].1)).unwrap();
    let url = format!("file://{}", path.display());
    assert_eq!(image_size(ImageInput::Url(&url), true).unwrap(), (5, 3));
    let missing = format!("file://{}", dir.join("missing.png").display());
    let m = request_err(image_size(ImageInput::Url(&missing), true));
    assert!(m.starts_with("cannot read image file"), "{m}");
    std::fs::write(&path, b"not an image at all, but long enough").unwrap();
    assert!(matches!(
        image_size(ImageInput::Url(&url), true),
        Err(Error::Unsupported(_))
    ));
    let mut cut = b64(FIXTURES[2].1);
    cut.pop();
    std::fs::write(&path, &cut).unwrap();
    request_err(image_size(ImageInput::Url(&url), true));
    std::fs::remove_dir_all(&dir).unwrap();
}

// ---- robustness

#[test]
fn large_inputs_read_only_headers() {
    // 100 MB of image data behind a valid header: with the pixel check off, only headers are
    // read; with it on, the data is refused at its first bytes (not zlib)
    let big = png(3000, 2000, &vec![0u8; 100 << 20]);
    assert_eq!(unchecked(&big).unwrap(), (3000, 2000));
    request_err(checked(&big));
    let url = data_url(&big[..30 << 20]); // cut: 40 MB of base64, lazily decoded
    assert_eq!(
        image_size(ImageInput::Url(&url), false).unwrap(),
        (3000, 2000)
    );
    request_err(image_size(ImageInput::Url(&url), true));
}

/// xorshift: deterministic noise without a dependency.
fn noise(seed: &mut u64) -> u64 {
    *seed ^= *seed << 13;
    *seed ^= *seed >> 7;
    *seed ^= *seed << 17;
    *seed
}

#[test]
fn truncations_and_mutations_never_panic_and_never_lie() {
    let mut seed = 0x9E37_79B9_7F4A_7C15u64;
    for (name, text, size) in FIXTURES {
        let bytes = b64(text);
        for cut in 0..bytes.len() {
            // a cut image either keeps its size or is refused/undecided, never another size
            if let Ok(s) = image_size(ImageInput::Bytes(&bytes[..cut]), true) {
                assert_eq!(s, *size, "{name} cut at {cut}");
            }
        }
        for _ in 0..300 {
            let mut m = bytes.clone();
            for _ in 0..1 + noise(&mut seed) % 4 {
                let i = (noise(&mut seed) % m.len() as u64) as usize;
                m[i] = noise(&mut seed) as u8;
            }
            let _ = image_size(ImageInput::Bytes(&m), true);
            let _ = image_size(ImageInput::Url(&data_url(&m)), true);
        }
    }
}
