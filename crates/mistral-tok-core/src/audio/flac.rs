//! FLAC: libsndfile reports STREAMINFO's total sample count and its read decodes every frame.
//! The file is decoded with `claxon`; when every frame decodes and the samples add up to
//! STREAMINFO's count, that count is libsndfile's. Anything else (an unknown total, a decoding
//! error, a cut file, metadata claxon refuses) is [`Error::Unsupported`]: libFLAC's recovery from
//! a damaged frame is not modelled. A multi-channel file is refused after its header, as
//! mistral_common refuses the 2-D array soundfile returns, whatever the frames hold.

use super::{refuse_multichannel, unsupported, Container, Probe};
use crate::error::Result;

pub(super) fn probe(data: &[u8]) -> Result<Probe> {
    let mut reader = claxon::FlacReader::new(std::io::Cursor::new(data))
        .map_err(|_| unsupported("FLAC metadata claxon cannot read"))?;
    let info = reader.streaminfo();
    let channels = u16::try_from(info.channels).map_err(|_| unsupported("FLAC channels"))?;
    if info.sample_rate == 0 {
        return Err(unsupported("a FLAC sample rate of 0"));
    }
    if channels > 1 {
        return Err(refuse_multichannel());
    }
    let total = match info.samples {
        Some(n) if n > 0 => n,
        _ => return Err(unsupported("a FLAC file with no sample count")),
    };
    let mut decoded: u64 = 0;
    let mut blocks = reader.blocks();
    let mut buffer = Vec::new();
    loop {
        match blocks.read_next_or_eof(buffer) {
            Ok(Some(block)) => {
                decoded += u64::from(block.duration());
                buffer = block.into_buffer();
            }
            Ok(None) => break,
            Err(_) => return Err(unsupported("a FLAC file claxon cannot decode")),
        }
    }
    if decoded != total {
        return Err(unsupported(
            "a FLAC file whose frames do not add up to its sample count",
        ));
    }
    Ok(Probe {
        container: Container::Flac,
        frames: total,
        sample_rate: info.sample_rate,
        channels,
    })
}
