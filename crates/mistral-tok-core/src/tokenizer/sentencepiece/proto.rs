//! A reader for the protobuf wire format and the parts of sentencepiece's `ModelProto`
//! (`sentencepiece_model.proto`, proto2) that encoding and decoding depend on.
//!
//! Written by hand so that loading needs neither protoc nor the C++ library. It follows the
//! C++ parser where that matters: a repeated message field appends, a singular message field
//! that occurs twice is merged, a singular scalar keeps its last value, and a field whose wire
//! type is not the declared one is skipped as an unknown field. Every read is bounds-checked, so
//! a truncated or corrupt file is an error, never a panic.

use std::fmt;

/// Why the bytes are not a well-formed message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct WireError(pub String);

impl fmt::Display for WireError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

type WireResult<T> = Result<T, WireError>;

/// protobuf's own default nesting limit; groups are the only way to nest inside a skipped field.
const MAX_GROUP_DEPTH: usize = 100;

/// One field as it appears on the wire.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Field<'a> {
    Varint(u64),
    Fixed64,
    Bytes(&'a [u8]),
    Fixed32(u32),
    /// A (deprecated) group, already skipped: no field we read is a group.
    Group,
}

/// Iterates over the fields of one message.
pub(crate) struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    pub(crate) fn new(buf: &'a [u8]) -> Self {
        Reader { buf, pos: 0 }
    }

    fn byte(&mut self) -> WireResult<u8> {
        let b = *self
            .buf
            .get(self.pos)
            .ok_or_else(|| WireError(format!("truncated varint at byte {}", self.pos)))?;
        self.pos += 1;
        Ok(b)
    }

    fn varint(&mut self) -> WireResult<u64> {
        let start = self.pos;
        let mut value = 0u64;
        // A varint has at most 10 bytes; bits beyond 64 are dropped, as the C++ parser does.
        for shift in (0..70).step_by(7) {
            let b = self.byte()?;
            if shift < 64 {
                value |= u64::from(b & 0x7f) << shift;
            }
            if b & 0x80 == 0 {
                return Ok(value);
            }
        }
        Err(WireError(format!(
            "varint longer than 10 bytes at byte {start}"
        )))
    }

    fn take(&mut self, n: usize) -> WireResult<&'a [u8]> {
        let end = self
            .pos
            .checked_add(n)
            .filter(|&end| end <= self.buf.len())
            .ok_or_else(|| {
                WireError(format!(
                    "field of {n} bytes at byte {} runs past the end ({} bytes)",
                    self.pos,
                    self.buf.len()
                ))
            })?;
        let s = self.buf.get(self.pos..end).unwrap_or_default();
        self.pos = end;
        Ok(s)
    }

    fn fixed<const N: usize>(&mut self) -> WireResult<[u8; N]> {
        let s = self.take(N)?;
        let mut out = [0u8; N];
        out.copy_from_slice(s);
        Ok(out)
    }

    fn tag(&mut self) -> WireResult<(u32, u8)> {
        let at = self.pos;
        let tag = self.varint()?;
        let number = tag >> 3;
        if number == 0 || number > u64::from(u32::MAX >> 3) {
            return Err(WireError(format!(
                "invalid field number {number} at byte {at}"
            )));
        }
        Ok((number as u32, (tag & 7) as u8))
    }

    /// Skips the body of a group whose start tag (field `number`) was just read.
    fn skip_group(&mut self, number: u32, depth: usize) -> WireResult<()> {
        if depth > MAX_GROUP_DEPTH {
            return Err(WireError("groups nested too deeply".into()));
        }
        loop {
            if self.pos >= self.buf.len() {
                return Err(WireError(format!("unterminated group {number}")));
            }
            let (n, wire) = self.tag()?;
            match wire {
                4 if n == number => return Ok(()),
                4 => return Err(WireError(format!("end of group {n} inside group {number}"))),
                3 => self.skip_group(n, depth + 1)?,
                _ => {
                    self.value(n, wire)?;
                }
            }
        }
    }

    fn value(&mut self, number: u32, wire: u8) -> WireResult<Field<'a>> {
        Ok(match wire {
            0 => Field::Varint(self.varint()?),
            1 => {
                self.take(8)?;
                Field::Fixed64
            }
            2 => {
                let at = self.pos;
                let len = self.varint()?;
                let len = usize::try_from(len)
                    .map_err(|_| WireError(format!("length {len} at byte {at} is too large")))?;
                Field::Bytes(self.take(len)?)
            }
            3 => {
                self.skip_group(number, 1)?;
                Field::Group
            }
            5 => Field::Fixed32(u32::from_le_bytes(self.fixed::<4>()?)),
            4 => return Err(WireError(format!("unexpected end of group {number}"))),
            w => {
                return Err(WireError(format!(
                    "invalid wire type {w} for field {number}"
                )))
            }
        })
    }

    /// The next `(field number, value)`, or `None` at the end of the message.
    pub(crate) fn next_field(&mut self) -> WireResult<Option<(u32, Field<'a>)>> {
        if self.pos >= self.buf.len() {
            return Ok(None);
        }
        let (number, wire) = self.tag()?;
        let value = self.value(number, wire)?;
        Ok(Some((number, value)))
    }
}

/// `ModelProto.SentencePiece.Type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum PieceType {
    Normal,
    Unknown,
    Control,
    UserDefined,
    Unused,
    Byte,
}

impl PieceType {
    fn from_wire(v: i32) -> Option<Self> {
        Some(match v {
            1 => PieceType::Normal,
            2 => PieceType::Unknown,
            3 => PieceType::Control,
            4 => PieceType::UserDefined,
            5 => PieceType::Unused,
            6 => PieceType::Byte,
            _ => return None,
        })
    }
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) struct PieceProto {
    pub piece: Vec<u8>,
    pub score: f32,
    /// The raw enum value; checked by the loader so that the error can name the piece.
    pub kind: i32,
}

impl PieceProto {
    pub(crate) fn piece_type(&self) -> Option<PieceType> {
        PieceType::from_wire(self.kind)
    }
}

/// The `TrainerSpec` fields that change how a trained model encodes or decodes.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct TrainerSpec {
    /// 1 unigram (the proto default), 2 BPE, 3 word, 4 char.
    pub model_type: i32,
    pub byte_fallback: bool,
    pub treat_whitespace_as_suffix: bool,
    pub unk_piece: Vec<u8>,
    pub bos_piece: Vec<u8>,
    pub eos_piece: Vec<u8>,
    pub pad_piece: Vec<u8>,
    /// `None` when the field is absent (then decoding uses `" ⁇ "`).
    pub unk_surface: Option<Vec<u8>>,
}

impl Default for TrainerSpec {
    fn default() -> Self {
        TrainerSpec {
            model_type: 1,
            byte_fallback: false,
            treat_whitespace_as_suffix: false,
            unk_piece: Vec::new(),
            bos_piece: Vec::new(),
            eos_piece: Vec::new(),
            pad_piece: Vec::new(),
            unk_surface: None,
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) struct NormalizerSpec {
    pub name: Vec<u8>,
    pub precompiled_charsmap: Vec<u8>,
    pub add_dummy_prefix: bool,
    pub remove_extra_whitespaces: bool,
    pub escape_whitespaces: bool,
}

impl Default for NormalizerSpec {
    fn default() -> Self {
        NormalizerSpec {
            name: Vec::new(),
            precompiled_charsmap: Vec::new(),
            add_dummy_prefix: true,
            remove_extra_whitespaces: true,
            escape_whitespaces: true,
        }
    }
}

#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct ModelProto {
    pub pieces: Vec<PieceProto>,
    pub trainer: TrainerSpec,
    pub normalizer: NormalizerSpec,
    pub denormalizer: Option<NormalizerSpec>,
    /// Number of `self_test_data` samples (they are not run; see the loader).
    pub self_test_samples: usize,
}

fn as_i32(v: u64) -> i32 {
    // int32 on the wire: negative values are sign-extended to 64 bits; truncation is the rule.
    v as i32
}

impl ModelProto {
    pub(crate) fn parse(buf: &[u8]) -> WireResult<Self> {
        let mut model = ModelProto::default();
        let mut r = Reader::new(buf);
        while let Some((number, field)) = r.next_field()? {
            match (number, field) {
                (1, Field::Bytes(b)) => model.pieces.push(parse_piece(b)?),
                (2, Field::Bytes(b)) => merge_trainer(&mut model.trainer, b)?,
                (3, Field::Bytes(b)) => merge_normalizer(&mut model.normalizer, b)?,
                (4, Field::Bytes(b)) => model.self_test_samples += count_samples(b)?,
                (5, Field::Bytes(b)) => {
                    let spec = model
                        .denormalizer
                        .get_or_insert_with(NormalizerSpec::default);
                    merge_normalizer(spec, b)?;
                }
                _ => {}
            }
        }
        Ok(model)
    }
}

fn parse_piece(buf: &[u8]) -> WireResult<PieceProto> {
    let mut p = PieceProto {
        piece: Vec::new(),
        score: 0.0,
        kind: 1,
    };
    let mut r = Reader::new(buf);
    while let Some((number, field)) = r.next_field()? {
        match (number, field) {
            (1, Field::Bytes(b)) => p.piece = b.to_vec(),
            (2, Field::Fixed32(v)) => p.score = f32::from_bits(v),
            (3, Field::Varint(v)) => p.kind = as_i32(v),
            _ => {}
        }
    }
    Ok(p)
}

fn merge_trainer(t: &mut TrainerSpec, buf: &[u8]) -> WireResult<()> {
    let mut r = Reader::new(buf);
    while let Some((number, field)) = r.next_field()? {
        match (number, field) {
            (3, Field::Varint(v)) => t.model_type = as_i32(v),
            (24, Field::Varint(v)) => t.treat_whitespace_as_suffix = v != 0,
            (35, Field::Varint(v)) => t.byte_fallback = v != 0,
            (44, Field::Bytes(b)) => t.unk_surface = Some(b.to_vec()),
            (45, Field::Bytes(b)) => t.unk_piece = b.to_vec(),
            (46, Field::Bytes(b)) => t.bos_piece = b.to_vec(),
            (47, Field::Bytes(b)) => t.eos_piece = b.to_vec(),
            (48, Field::Bytes(b)) => t.pad_piece = b.to_vec(),
            _ => {}
        }
    }
    Ok(())
}

fn merge_normalizer(n: &mut NormalizerSpec, buf: &[u8]) -> WireResult<()> {
    let mut r = Reader::new(buf);
    while let Some((number, field)) = r.next_field()? {
        match (number, field) {
            (1, Field::Bytes(b)) => n.name = b.to_vec(),
            (2, Field::Bytes(b)) => n.precompiled_charsmap = b.to_vec(),
            (3, Field::Varint(v)) => n.add_dummy_prefix = v != 0,
            (4, Field::Varint(v)) => n.remove_extra_whitespaces = v != 0,
            (5, Field::Varint(v)) => n.escape_whitespaces = v != 0,
            _ => {}
        }
    }
    Ok(())
}

fn count_samples(buf: &[u8]) -> WireResult<usize> {
    let mut n = 0;
    let mut r = Reader::new(buf);
    while let Some((number, field)) = r.next_field()? {
        if let (1, Field::Bytes(sample)) = (number, field) {
            // Walk the sample too, so that a corrupt one is reported as the C++ parser would.
            let mut s = Reader::new(sample);
            while s.next_field()?.is_some() {}
            n += 1;
        }
    }
    Ok(n)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn varint_and_fields() {
        // field 1 varint 300, field 2 fixed32, field 3 bytes "ab", field 4 fixed64
        let buf = [
            0x08, 0xac, 0x02, 0x15, 1, 0, 0, 0, 0x1a, 2, b'a', b'b', 0x21, 1, 2, 3, 4, 5, 6, 7, 8,
        ];
        let mut r = Reader::new(&buf);
        assert!(matches!(r.next_field(), Ok(Some((1, Field::Varint(300))))));
        assert!(matches!(r.next_field(), Ok(Some((2, Field::Fixed32(1))))));
        assert!(matches!(r.next_field(), Ok(Some((3, Field::Bytes(b"ab"))))));
        assert!(matches!(r.next_field(), Ok(Some((4, Field::Fixed64)))));
        assert!(matches!(r.next_field(), Ok(None)));
    }

    #[test]
    fn groups_are_skipped() {
        // field 7 start group { field 1 varint 5 } field 7 end group, then field 1 varint 1
        let buf = [0x3b, 0x08, 0x05, 0x3c, 0x08, 0x01];
        let mut r = Reader::new(&buf);
        assert!(matches!(r.next_field(), Ok(Some((7, Field::Group)))));
        assert!(matches!(r.next_field(), Ok(Some((1, Field::Varint(1))))));
    }

    #[test]
    fn malformed_inputs_are_errors() {
        let cases: &[&[u8]] = &[
            &[0x08],             // varint value missing
            &[0x08, 0x80],       // truncated varint
            &[0x0a, 0x05, b'a'], // bytes past the end
            &[0x15, 1, 2],       // truncated fixed32
            &[0x00, 0x01],       // field number 0
            &[0x0e],             // wire type 6
            &[0x0c],             // end group without start
            &[0x0b, 0x08, 0x01], // unterminated group
            &[
                0x0a, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01,
            ], // huge length
            &[
                0x08, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01,
            ], // 11-byte varint
        ];
        for case in cases {
            let mut r = Reader::new(case);
            let mut res = Ok(Some((0, Field::Group)));
            while let Ok(Some(_)) = res {
                res = r.next_field();
            }
            assert!(res.is_err(), "{case:?} parsed");
        }
    }

    #[test]
    fn deep_groups_are_an_error_not_a_stack_overflow() {
        let mut buf = vec![0x0b; 10_000];
        buf.extend(std::iter::repeat_n(0x0c, 10_000));
        assert!(ModelProto::parse(&buf).is_err());
    }

    #[test]
    fn singular_messages_merge_and_scalars_keep_the_last_value() {
        // trainer_spec { model_type: 2 } trainer_spec { byte_fallback: true } normalizer {add_dummy_prefix: 0}
        let buf = [
            0x12, 0x02, 0x18, 0x02, 0x12, 0x03, 0x98, 0x02, 0x01, 0x1a, 0x02, 0x18, 0x00,
        ];
        let m = ModelProto::parse(&buf).unwrap();
        assert_eq!(m.trainer.model_type, 2);
        assert!(m.trainer.byte_fallback);
        assert!(!m.normalizer.add_dummy_prefix);
        assert!(m.normalizer.remove_extra_whitespaces);
    }

    #[test]
    fn wrong_wire_type_is_an_unknown_field() {
        // piece { piece (as varint!) 5, score fixed32 }
        let buf = [0x0a, 0x07, 0x08, 0x05, 0x15, 0, 0, 0x80, 0x3f];
        let m = ModelProto::parse(&buf).unwrap();
        assert_eq!(m.pieces.len(), 1);
        assert!(m.pieces[0].piece.is_empty());
        assert_eq!(m.pieces[0].score, 1.0);
        assert_eq!(m.pieces[0].kind, 1);
    }

    #[test]
    fn negative_enum_is_sign_extended() {
        let mut buf = vec![0x0a, 0x0e, 0x0a, 0x01, b'x', 0x18];
        buf.extend([0xff; 9]);
        buf.push(0x01);
        let m = ModelProto::parse(&buf).unwrap();
        assert_eq!(m.pieces[0].kind, -1);
    }
}
