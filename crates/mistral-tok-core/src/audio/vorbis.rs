//! Ogg Vorbis: libsndfile reports the stream's length from its last granule position and its read
//! returns that many samples. The stream is decoded with `lewton`; when it decodes to the end
//! and the last granule position falls within the last packet (which libvorbis cuts there), that
//! granule position is libsndfile's count. Anything
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
    // lewton returns whole packets; libvorbis cuts the last one at the final granule position,
    // which must fall within that packet (a stream that starts at granule 0).
    let mut decoded: u64 = 0;
    let mut last_packet: u64 = 0;
    loop {
        match reader.read_dec_packet_generic::<Vec<Vec<f32>>>() {
            Ok(Some(packet)) => {
                last_packet = packet.first().map_or(0, |c| c.len() as u64);
                decoded += last_packet;
            }
            Ok(None) => break,
            Err(_) => return Err(unsupported("a Vorbis stream lewton cannot decode")),
        }
    }
    let granule = reader
        .get_last_absgp()
        .ok_or_else(|| unsupported("a Vorbis stream that does not end on a granule position"))?;
    if granule > decoded || decoded - granule > last_packet {
        return Err(unsupported(
            "a Vorbis stream whose length lewton counts differently",
        ));
    }
    let decoded = granule;
    Ok(Probe {
        container: Container::OggVorbis,
        frames: decoded,
        sample_rate,
        channels,
    })
}
