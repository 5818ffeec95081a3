//! Tests of the image module: layout arithmetic, base64 semantics, size readers, rejections.

mod fixtures;

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
            image_size(ImageInput::Bytes(&bytes)).unwrap(),
            *size,
            "{name}"
        );
        assert_eq!(
            image_size(ImageInput::Base64(text)).unwrap(),
            *size,
            "{name}"
        );
        let url = format!("data:image/whatever;base64,{text}");
        assert_eq!(image_size(ImageInput::Url(&url)).unwrap(), *size, "{name}");
        assert_eq!(
            image_size(ImageInput::Base64(&url)).unwrap(),
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
            image_size(ImageInput::Base64(&wrapped)).unwrap(),
            *size,
            "{name}"
        );
        // data after the end of the image is ignored by PIL
        let mut junk = bytes.clone();
        junk.extend_from_slice(b"trailing junk");
        assert_eq!(
            image_size(ImageInput::Bytes(&junk)).unwrap(),
            *size,
            "{name}"
        );
    }
}

#[test]
fn layout_from_a_data_url() {
    let url = data_url(&b64(FIXTURES[0].1));
    let g = image_layout(ImageInput::Url(&url), &cfg(16, 1024, 1)).unwrap();
    assert_eq!((g.width, g.height), (5, 3));
    assert_eq!(g.tokens(IDS), vec![10, 13]);
}

#[test]
fn url_schemes() {
    assert!(matches!(
        image_size(ImageInput::Url("https://example.com/cat.png")),
        Err(Error::Unsupported(_))
    ));
    assert!(matches!(
        image_size(ImageInput::Url("http://example.com/cat.png")),
        Err(Error::Unsupported(_))
    ));
    assert_eq!(
        image_size(ImageInput::Url("ftp://example.com/cat.png")),
        Err(Error::Request(
            "Unsupported image url scheme ftp://example.com/cat.png".into()
        ))
    );
    // a bare base64 string is not a URL for an image_url chunk
    let bare = FIXTURES[0].1;
    assert_eq!(
        image_size(ImageInput::Url(bare)),
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
            image_size(ImageInput::Url(bad)),
            Err(Error::Request(want.clone()))
        );
        assert_eq!(
            image_size(ImageInput::Base64(bad)),
            Err(Error::Request(want))
        );
    }
    // the message quotes the first 64 characters (code points, not bytes)
    let long = format!("data:image/png,{}", "é".repeat(100));
    let Err(Error::Request(msg)) = image_size(ImageInput::Url(&long)) else {
        panic!()
    };
    assert!(msg.starts_with(&format!(
        "Invalid base64 data URL data:image/png,{}:",
        "é".repeat(49)
    )));

    let url = "data:image/png;base64,QQ";
    assert_eq!(
        image_size(ImageInput::Url(url)),
        Err(Error::Request(format!(
            "Invalid image data URL {url}: payload is not valid base64."
        )))
    );
    let url = "data:image/png;base64,QUJD\u{e9}";
    assert_eq!(
        image_size(ImageInput::Url(url)),
        Err(Error::Request(format!(
            "Invalid image data URL {url}: payload is not valid base64."
        )))
    );
    assert_eq!(
        image_size(ImageInput::Base64("QUJDR")),
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
        image_size(ImageInput::Base64(TIFF_2X2)),
        Err(Error::Unsupported(_))
    ));
    assert!(matches!(
        image_size(ImageInput::Url("data:text/plain;base64,aGVsbG8=")),
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

/// A PNG whose IDAT holds `idat` (not a valid zlib stream: only the structure is read).
fn png(w: u32, h: u32, idat: &[u8]) -> Vec<u8> {
    let mut out = super::png::SIGNATURE.to_vec();
    out.extend(ihdr(w, h, 8, 2));
    out.extend(png_chunk(b"IDAT", idat));
    out.extend(png_chunk(b"IEND", b""));
    out
}

fn request_err(r: Result<(u32, u32)>) -> String {
    match r {
        Err(Error::Request(m)) => m,
        other => panic!("expected a request error, got {other:?}"),
    }
}

#[test]
fn png_size_comes_from_ihdr() {
    let p = png(4000, 3, b"xx");
    assert_eq!(image_size(ImageInput::Bytes(&p)).unwrap(), (4000, 3));
    // ancillary chunks before and after the image data
    let mut p = super::png::SIGNATURE.to_vec();
    p.extend(ihdr(7, 9, 16, 6));
    p.extend(png_chunk(b"gAMA", &[0, 0, 177, 143]));
    p.extend(png_chunk(b"zzZz", b"private"));
    p.extend(png_chunk(b"IDAT", b"a"));
    p.extend(png_chunk(b"IDAT", b"b"));
    p.extend(png_chunk(b"tEXt", b"k\0v"));
    p.extend(png_chunk(b"IEND", b""));
    assert_eq!(image_size(ImageInput::Bytes(&p)).unwrap(), (7, 9));
}

#[test]
fn png_rejections() {
    let good = png(5, 5, &[7; 100]);
    let ihdr_end = 8 + 25;
    // broken header: PIL cannot open it → mistral_common's "not a decodable image"
    let url = data_url(&good[..20]);
    assert_eq!(
        request_err(image_size(ImageInput::Url(&url))),
        format!(
            "Invalid image data URL {}: payload is not a decodable image.",
            url.chars().take(64).collect::<String>()
        )
    );
    // bad CRC in IHDR
    let mut bad = good.clone();
    bad[ihdr_end - 1] ^= 1;
    request_err(image_size(ImageInput::Bytes(&bad)));
    // zero size, unknown bit depth/colour type, filter method
    request_err(image_size(ImageInput::Bytes(&png(0, 5, b"x"))));
    let mut p = super::png::SIGNATURE.to_vec();
    p.extend(ihdr(5, 5, 3, 2));
    p.extend(png_chunk(b"IDAT", b"x"));
    request_err(image_size(ImageInput::Bytes(&p)));
    // decompression bomb: PIL refuses > 2 × 89478485 pixels when opening
    request_err(image_size(ImageInput::Bytes(&png(20000, 20000, b"x"))));
    assert!(image_size(ImageInput::Bytes(&png(13000, 13000, b"x"))).is_ok());
    // a chunk after the image data with a bad CRC fails PIL's load_end
    let mut p = super::png::SIGNATURE.to_vec();
    p.extend(ihdr(5, 5, 8, 2));
    p.extend(png_chunk(b"IDAT", b"x"));
    let mut t = png_chunk(b"tEXt", b"k\0v");
    let last = t.len() - 1;
    t[last] ^= 1;
    p.extend(t);
    let m = request_err(image_size(ImageInput::Bytes(&p)));
    assert!(m.contains("bad header checksum"), "{m}");
}

#[test]
fn png_cut_inside_the_image_data_is_undecided() {
    let good = png(5, 5, &[7; 100]);
    let idat_start = 8 + 25;
    for cut in idat_start + 9..good.len() - 12 {
        assert!(
            matches!(
                image_size(ImageInput::Bytes(&good[..cut])),
                Err(Error::Unsupported(_))
            ),
            "cut at {cut}"
        );
    }
    // IEND's CRC missing, IEND cut: the data is complete, PIL's load_end stops quietly
    for cut in good.len() - 4..good.len() {
        assert_eq!(image_size(ImageInput::Bytes(&good[..cut])).unwrap(), (5, 5));
    }
}

// ---- JPEG

#[test]
fn jpeg_without_eoi_is_truncated() {
    let j = b64(FIXTURES[1].1);
    for cut in 1..40 {
        let m = request_err(image_size(ImageInput::Bytes(&j[..j.len() - cut])));
        assert!(m.contains("truncated"), "{m}");
    }
    let p = b64(FIXTURES[2].1);
    request_err(image_size(ImageInput::Bytes(&p[..p.len() - 1])));
}

#[test]
fn jpeg_header_rules() {
    let j = b64(FIXTURES[1].1);
    // find the SOF0 segment: FF C0 len(2) precision(1) height(2) width(2)
    let sof = j.windows(2).position(|w| w == [0xFF, 0xC0]).unwrap();
    let mut twelve_bit = j.clone();
    twelve_bit[sof + 4] = 12;
    request_err(image_size(ImageInput::Bytes(&twelve_bit)));
    let mut big = j.clone();
    big[sof + 5..sof + 9].copy_from_slice(&[0x01, 0x00, 0x02, 0x00]); // 256 high, 512 wide
    assert_eq!(image_size(ImageInput::Bytes(&big)).unwrap(), (512, 256));
    // an unknown marker before the scan
    let mut odd = j.clone();
    odd.splice(2..2, [0xFF, 0x02, 0, 2]);
    request_err(image_size(ImageInput::Bytes(&odd)));
    // junk and fill bytes between segments are skipped as PIL does
    let mut padded = j.clone();
    padded.splice(sof..sof, [0x00, 0x13, 0xFF, 0xFF]);
    assert_eq!(image_size(ImageInput::Bytes(&padded)).unwrap(), (7, 4));
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
    let g = gif((4, 4), (0, 0, 4, 4), &[0x44, 0x01]);
    assert_eq!(image_size(ImageInput::Bytes(&g)).unwrap(), (4, 4));
    let g = gif((4, 4), (2, 3, 5, 2), &[0x44, 0x01]);
    assert_eq!(image_size(ImageInput::Bytes(&g)).unwrap(), (7, 5));
    let g = gif((0, 0), (0, 0, 3, 2), &[0x44, 0x01]);
    assert_eq!(image_size(ImageInput::Bytes(&g)).unwrap(), (3, 2));
    // trailer and terminator are not needed, the data is
    assert_eq!(
        image_size(ImageInput::Bytes(&g[..g.len() - 1])).unwrap(),
        (3, 2)
    );
    assert!(matches!(
        image_size(ImageInput::Bytes(&g[..g.len() - 2])),
        Err(Error::Unsupported(_))
    ));
    assert!(matches!(
        image_size(ImageInput::Bytes(&g[..g.len() - 3])),
        Err(Error::Unsupported(_))
    ));
    // no image descriptor at all
    let header_only = &g[..19];
    request_err(image_size(ImageInput::Bytes(header_only)));
}

// ---- WebP

#[test]
fn webp_shorter_than_its_riff_size_is_rejected() {
    for (name, text, _) in FIXTURES.iter().filter(|f| f.0.starts_with("WEBP")) {
        let w = b64(text);
        for cut in [1, 2, 10, w.len() / 2] {
            let m = request_err(image_size(ImageInput::Bytes(&w[..w.len() - cut])));
            assert!(m.contains("loading image from bytes"), "{name}: {m}");
        }
    }
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
        image_size(ImageInput::Bytes(&bmp(3, 2, 24, 21))).unwrap(),
        (3, 2)
    );
    assert_eq!(
        image_size(ImageInput::Bytes(&bmp(3, -2, 24, 24))).unwrap(),
        (3, 2)
    );
    assert!(matches!(
        image_size(ImageInput::Bytes(&bmp(3, 2, 24, 20))),
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
    assert_eq!(image_size(ImageInput::Url(&url)).unwrap(), (5, 3));
    let missing = format!("file://{}", dir.join("missing.png").display());
    let m = request_err(image_size(ImageInput::Url(&missing)));
    assert!(m.starts_with("cannot read image file"), "{m}");
    std::fs::write(&path, b"not an image at all, but long enough").unwrap();
    assert!(matches!(
        image_size(ImageInput::Url(&url)),
        Err(Error::Unsupported(_))
    ));
    let mut cut = b64(FIXTURES[1].1);
    cut.pop();
    std::fs::write(&path, &cut).unwrap();
    request_err(image_size(ImageInput::Url(&url)));
    std::fs::remove_dir_all(&dir).unwrap();
}

// ---- robustness

#[test]
fn large_inputs_read_only_headers() {
    // 100 MB of image data behind a valid header
    let big = png(3000, 2000, &vec![0u8; 100 << 20]);
    assert_eq!(image_size(ImageInput::Bytes(&big)).unwrap(), (3000, 2000));
    let url = data_url(&big[..30 << 20]); // cut: 40 MB of base64, lazily decoded
    assert!(matches!(
        image_size(ImageInput::Url(&url)),
        Err(Error::Unsupported(_))
    ));
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
            if let Ok(s) = image_size(ImageInput::Bytes(&bytes[..cut])) {
                assert_eq!(s, *size, "{name} cut at {cut}");
            }
        }
        for _ in 0..300 {
            let mut m = bytes.clone();
            for _ in 0..1 + noise(&mut seed) % 4 {
                let i = (noise(&mut seed) % m.len() as u64) as usize;
                m[i] = noise(&mut seed) as u8;
            }
            let _ = image_size(ImageInput::Bytes(&m));
            let _ = image_size(ImageInput::Url(&data_url(&m)));
        }
    }
}
