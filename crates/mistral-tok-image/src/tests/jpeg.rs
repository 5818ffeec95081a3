//! libjpeg's marker reader after the first scan (`jpeg_stream`, `jpeg_scan`), on hand-made
//! files. Every verdict here was checked against PIL 13 (libjpeg-turbo 3.2); the same files are
//! rebuilt in `tests/test_jpeg_corruption.py::HANDMADE` and compared with mistral_common.

use super::super::*;

fn seg(code: u8, body: &[u8]) -> Vec<u8> {
    let mut s = vec![0xFF, code];
    s.extend_from_slice(&u16::try_from(body.len() + 2).unwrap().to_be_bytes());
    s.extend_from_slice(body);
    s
}

fn dqt() -> Vec<u8> {
    let mut body = vec![0u8];
    body.extend([1u8; 64]);
    seg(0xDB, &body)
}

/// `comps`: (id, sampling, quant table).
fn sof(code: u8, w: u16, h: u16, comps: &[(u8, u8, u8)]) -> Vec<u8> {
    let mut body = vec![8];
    body.extend_from_slice(&h.to_be_bytes());
    body.extend_from_slice(&w.to_be_bytes());
    body.push(comps.len() as u8);
    for &(id, hv, tq) in comps {
        body.extend_from_slice(&[id, hv, tq]);
    }
    seg(code, &body)
}

/// One 2-bit code, symbol 0.
fn dht(index: u8) -> Vec<u8> {
    let mut body = vec![index, 0, 1];
    body.extend([0u8; 14]);
    body.push(0);
    seg(0xC4, &body)
}

/// `comps`: (id, table selectors).
fn sos(comps: &[(u8, u8)], ss: u8, se: u8, a: u8) -> Vec<u8> {
    let mut body = vec![comps.len() as u8];
    for &(id, t) in comps {
        body.extend_from_slice(&[id, t]);
    }
    body.extend_from_slice(&[ss, se, a]);
    seg(0xDA, &body)
}

const DATA: &[u8] = &[0x12, 0x34, 0x56, 0x00];

/// A single-scan baseline greyscale file, `extra` after its scan data.
fn baseline(extra: &[u8], w: u16, dri: &[u8]) -> Vec<u8> {
    [
        &[0xFF, 0xD8][..],
        &dqt(),
        &sof(0xC0, w, 8, &[(1, 0x11, 0)]),
        dri,
        &sos(&[(1, 0)], 0, 63, 0),
        DATA,
        extra,
    ]
    .concat()
}

/// A progressive 3-component file: DC scan of all three, `between`, then `tail`.
fn progressive(between: &[u8], tail: &[u8]) -> Vec<u8> {
    [
        &[0xFF, 0xD8][..],
        &dqt(),
        &sof(0xC2, 8, 8, &[(1, 0x11, 0), (2, 0x11, 0), (3, 0x11, 0)]),
        &dht(0x00),
        &sos(&[(1, 0), (2, 0), (3, 0)], 0, 0, 0),
        DATA,
        between,
        tail,
    ]
    .concat()
}

fn ac_scan(id: u8) -> Vec<u8> {
    [sos(&[(id, 0)], 1, 63, 0), DATA.to_vec()].concat()
}

const EOI: &[u8] = &[0xFF, 0xD9];

fn size(j: &[u8]) -> Result<(u32, u32)> {
    image_size(ImageInput::Bytes(j), true)
}

fn refused(j: &[u8]) -> String {
    match size(j) {
        Err(Error::Request(m)) => m,
        other => panic!("expected a refusal, got {other:?}"),
    }
}

fn is_broken(j: &[u8]) -> bool {
    refused(j).contains("broken data stream")
}

fn is_truncated(j: &[u8]) -> bool {
    refused(j).contains("image file is truncated")
}

#[test]
fn single_scan_markers_after_the_scan() {
    assert_eq!(size(&baseline(EOI, 8, &[])).unwrap(), (8, 8));
    // Read by jpeg_finish_decompress after the last row: fatal errors count…
    assert!(is_broken(&baseline(&[0xFF, 0xC0, 0, 11], 8, &[]))); // second SOF
    assert!(is_broken(&baseline(&[0xFF, 0xD8], 8, &[]))); // second SOI
    assert!(is_broken(&baseline(&[0xFF, 0x02], 8, &[]))); // unknown marker
    let second_scan = [sos(&[(1, 0)], 0, 63, 0), EOI.to_vec()].concat();
    assert!(is_broken(&baseline(&second_scan, 8, &[]))); // JERR_EOI_EXPECTED
                                                         // get_dqt reads 64 entries whatever the length says (8 here), then finds the length wrong.
    let short_dqt = [&[0xFF, 0xDB, 0, 8][..], &[0; 70], EOI].concat();
    assert!(is_broken(&baseline(&short_dqt, 8, &[])));
    // …a suspension does not: a segment running past the end is accepted.
    assert_eq!(
        size(&baseline(&[0xFF, 0xC4, 1, 0, 0], 8, &[])).unwrap(),
        (8, 8)
    );
    // No marker after the scan data: libjpeg's Huffman decoder is followed (`jpeg_huffman`).
    // Here it decodes the MCU (standard tables) well before the 30 zero bytes run out.
    assert_eq!(size(&baseline(&[0; 30], 8, &[])).unwrap(), (8, 8));
    // Fewer than 57 bits left when it refills: it suspends, though it needs only a few of them.
    assert!(is_truncated(&baseline(&[0; 2], 8, &[])));
}

#[test]
fn cut_scan_data_follows_the_huffman_decoder() {
    // Standard tables, zero bits: DC "00", then 63 AC codes "00" (run 0, size 1) with one extra
    // bit each: 191 bits per block. PIL accepts from the first length listed (measured), where
    // no 57-bit refill of libjpeg-turbo's slow path runs out of data.
    let ok = |extra: &[u8], w: u16, dri: &[u8]| size(&baseline(extra, w, dri)).is_ok();
    assert!(ok(&[0; 25], 8, &[]) && !ok(&[0; 24], 8, &[]));
    // Two MCUs: 382 bits.
    assert!(ok(&[0; 46], 16, &[]) && !ok(&[0; 45], 16, &[]));
    // With a restart interval of one MCU the last interval starts after RST0, at a byte.
    let dri = seg(0xDD, &[0, 1]);
    let after_rst = |n: usize| [&[0xFF, 0xD0][..], &vec![0; n]].concat();
    assert!(ok(&after_rst(29), 16, &dri) && !ok(&after_rst(28), 16, &dri));
    assert!(is_truncated(&baseline(&after_rst(28), 16, &dri)));
}

#[test]
fn restart_markers_resync() {
    // 16×8 greyscale, one MCU per restart interval: one RST0 expected between the two MCUs.
    let dri = seg(0xDD, &[0, 1]);
    let stray = [0xFF, 0x05, 0x11, 0xFF, 0xD0, 0x22, 0xFF, 0xD9];
    // At the restart point the decoder meets 0xFF05 (below SOF0): resync scans on to RST0.
    assert_eq!(size(&baseline(&stray, 16, &dri)).unwrap(), (16, 8));
    // Without restarts 0xFF05 is read by read_markers: unknown marker.
    assert!(is_broken(&baseline(&stray, 16, &[])));
    // Data ending before the restart point: rows are missing.
    assert!(is_truncated(&baseline(&[0x11, 0x22], 16, &dri)));
}

#[test]
fn progressive_markers_between_scans() {
    let ok = [dht(0x10), ac_scan(1), ac_scan(2), ac_scan(3)].concat();
    assert_eq!(size(&progressive(&ok, EOI)).unwrap(), (8, 8));
    // No standard tables for progressive scans: AC table 0 was never defined.
    assert!(is_broken(&progressive(&ac_scan(1), EOI)));
    // get_sos never matches a frame component listed before the scan slot.
    let swapped = [sos(&[(2, 0), (1, 0), (3, 0)], 0, 0, 0x10), DATA.to_vec()].concat();
    assert!(is_broken(&progressive(&swapped, EOI)));
    let in_order = [sos(&[(1, 0), (2, 0), (3, 0)], 0, 0, 0x10), DATA.to_vec()].concat();
    assert_eq!(size(&progressive(&in_order, EOI)).unwrap(), (8, 8));
    // A short DQT: broken when its 64 entries are there, truncated when the file ends first.
    let short_dqt = [&[0xFF, 0xDB, 0, 8][..], &[0; 70]].concat();
    assert!(is_broken(&progressive(&short_dqt, EOI)));
    let cut_dqt = [&[0xFF, 0xDB, 0, 8][..], &[0; 20]].concat();
    assert!(is_truncated(&progressive(&cut_dqt, &[])));
    // Every marker is read before any row: a segment past the end is a truncated file.
    assert!(is_truncated(&progressive(&[0xFF, 0xE1, 1, 0, 0], &[])));
    // DAC: a DC conditioning pair with L > U is refused, whatever the frame's coding.
    assert!(is_broken(&progressive(&[0xFF, 0xCC, 0, 4, 1, 0x12], EOI)));
    assert_eq!(
        size(&progressive(&[0xFF, 0xCC, 0, 4, 1, 0x21], EOI)).unwrap(),
        (8, 8)
    );
}

#[test]
fn header_rules_of_libjpeg() {
    let j = baseline(EOI, 8, &[]);
    // A second SOF before the scan: PIL keeps the last one, libjpeg refuses.
    let sof_at = j.windows(2).position(|w| w == [0xFF, 0xC0]).unwrap();
    let mut two_sofs = j.clone();
    two_sofs.splice(sof_at..sof_at, sof(0xC0, 8, 8, &[(1, 0x11, 0)]));
    assert!(is_broken(&two_sofs));
    // A scan using a quantization table never defined.
    let mut no_table = j.clone();
    no_table[sof_at + 12] = 1;
    assert!(is_broken(&no_table));
    // Sampling factors whose ratios are not whole: not modelled, left to mistral_common.
    let frac = [
        &[0xFF, 0xD8][..],
        &dqt(),
        &sof(0xC0, 8, 8, &[(1, 0x22, 0), (2, 0x13, 0), (3, 0x11, 0)]),
        &sos(&[(1, 0), (2, 0), (3, 0)], 0, 63, 0),
        DATA,
        EOI,
    ]
    .concat();
    assert!(matches!(size(&frac), Err(Error::Unsupported(_))));
}
