//! Ogg Vorbis: libsndfile reports the stream's length from its last granule position and its read
//! returns that many samples. The stream is decoded with `lewton`; when it decodes to the end and
//! the samples add up to the last page's granule position, that is libsndfile's count. Anything
//! else (other Ogg codecs, chained streams, decoding errors, cut files) is
//! [`Error::Unsupported`]. A multi-channel stream is refused after its headers.

use super::{refuse_multichannel, unsupported, Container, Probe};
use crate::error::Result;

pub(super) fn probe(data: &[u8]) -> Result<Probe> {
    let mut reader = lewton::inside_ogg::OggStreamReader::new(std::io::Cursor::new(data))
        .map_err(|_| unsupported("an Ogg stream lewton cannot read as Vorbis"))?;
    let channels = u16::from(reader.ident_hdr.audio_channels);
    let sample_rate = reader.ident_hdr.audio_sample_rate;
    if sample_rate == 0 {
        return Err(unsupported("a Vorbis sample rate of 0"));
    }
    if channels > 1 {
        return Err(refuse_multichannel());
    }
    let mut decoded: u64 = 0;
    loop {
        match reader.read_dec_packet_generic::<Vec<Vec<f32>>>() {
            Ok(Some(packet)) => decoded += packet.first().map_or(0, |c| c.len() as u64),
            Ok(None) => break,
            Err(_) => return Err(unsupported("a Vorbis stream lewton cannot decode")),
        }
    }
    let granule = reader
        .get_last_absgp()
        .ok_or_else(|| unsupported("a Vorbis stream with no granule position"))?;
    if decoded != granule {
        return Err(unsupported(
            "a Vorbis stream whose length lewton counts differently",
        ));
    }
    Ok(Probe {
        container: Container::OggVorbis,
        frames: decoded,
        sample_rate,
        channels,
    })
}
