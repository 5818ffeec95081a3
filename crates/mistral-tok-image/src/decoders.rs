//! Which decoders the deep checks reproduce, and whether the host decodes with those.
//!
//! The checks follow libwebp (WebP frames), libjpeg-turbo (JPEG markers and scans) and zlib-ng
//! (PNG image data) as Pillow 13.0.0's wheels link them ([`REPRODUCED`]). A host whose decoders
//! differ may judge corrupt data differently, so there a check that depends on one answers
//! `Unsupported` (mistral_common decides) instead of guessing. The host is asked once per
//! process, the first time a check needs it, through the function registered with
//! [`set_host_decoders`] (the Python binding reads `PIL.features`); without one, the checks
//! assume [`REPRODUCED`].

use std::sync::OnceLock;

use super::probe::Fail;

/// One decoder per codec the checks follow, named `"<library> <version>"` (`None`: the host has
/// none for that codec).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Decoders {
    pub webp: Option<String>,
    pub jpeg: Option<String>,
    pub zlib: Option<String>,
}

/// What the checks reproduce, as `(codec, decoder)` pairs: the one place these versions live.
pub const REPRODUCED: [(Codec, &str); 3] = [
    (Codec::Webp, "libwebp 1.6.0"),
    (Codec::Jpeg, "libjpeg-turbo 3.2.0"),
    (Codec::Zlib, "zlib-ng 2.3.3"),
];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Codec {
    Webp,
    Jpeg,
    Zlib,
}

impl Codec {
    pub fn name(self) -> &'static str {
        match self {
            Codec::Webp => "WebP",
            Codec::Jpeg => "JPEG",
            Codec::Zlib => "PNG (zlib)",
        }
    }

    fn reproduced(self) -> &'static str {
        REPRODUCED
            .iter()
            .find(|(codec, _)| *codec == self)
            .map_or("", |(_, decoder)| decoder)
    }

    fn of(self, host: &Decoders) -> Option<&str> {
        match self {
            Codec::Webp => host.webp.as_deref(),
            Codec::Jpeg => host.jpeg.as_deref(),
            Codec::Zlib => host.zlib.as_deref(),
        }
    }
}

/// Asks the host for its decoders: `Ok(None)` when there is no host decoder to compare with (the
/// checks then stand as they are), `Err` when the host's answer could not be read.
pub type HostDecoders = fn() -> Result<Option<Decoders>, String>;

static HOST: OnceLock<HostDecoders> = OnceLock::new();
/// Per codec (in [`REPRODUCED`]'s order): why its checks are off, if they are.
static VERDICT: OnceLock<[Option<String>; 3]> = OnceLock::new();

/// Registers how to ask the host (once; later calls are ignored). Called before any image is read.
pub fn set_host_decoders(host: HostDecoders) {
    let _ = HOST.set(host);
}

/// Why a host with `host`'s decoders cannot have `codec`'s checks, or `None` if it can.
pub fn mismatch(codec: Codec, host: &Result<Option<Decoders>, String>) -> Option<String> {
    let reproduced = codec.reproduced();
    match host {
        Ok(None) => None,
        Ok(Some(host)) => match codec.of(host) {
            Some(decoder) if decoder == reproduced => None,
            found => Some(format!(
                "Pillow decodes {} with {}, the check reproduces {reproduced}",
                codec.name(),
                found.unwrap_or("no decoder")
            )),
        },
        Err(e) => Some(format!(
            "cannot tell which decoders Pillow has ({e}); the check reproduces {reproduced}"
        )),
    }
}

/// `Ok` when the host decodes `codec` as the checks do; else the `Undecided` the check answers.
/// The host is asked on the first call only; callers racing that first call may each ask it.
pub(crate) fn require(codec: Codec) -> Result<(), Fail> {
    let verdict = match VERDICT.get() {
        Some(verdict) => verdict,
        None => {
            let host = HOST.get().map_or(Ok(None), |ask| ask());
            let fresh = REPRODUCED.map(|(codec, _)| mismatch(codec, &host));
            VERDICT.get_or_init(|| fresh)
        }
    };
    let at = REPRODUCED.iter().position(|(c, _)| *c == codec);
    match at.and_then(|i| verdict.get(i)).and_then(Option::as_ref) {
        Some(reason) => Err(Fail::Undecided(reason.clone())),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn host(webp: &str, jpeg: &str, zlib: &str) -> Result<Option<Decoders>, String> {
        Ok(Some(Decoders {
            webp: Some(webp.into()),
            jpeg: Some(jpeg.into()),
            zlib: Some(zlib.into()),
        }))
    }

    #[test]
    fn the_reproduced_decoders_keep_every_check() {
        let same = host("libwebp 1.6.0", "libjpeg-turbo 3.2.0", "zlib-ng 2.3.3");
        for (codec, _) in REPRODUCED {
            assert_eq!(mismatch(codec, &same), None);
            assert_eq!(mismatch(codec, &Ok(None)), None);
        }
    }

    #[test]
    fn another_decoder_turns_off_only_its_own_checks() {
        let other = host("libwebp 1.5.0", "libjpeg-turbo 3.2.0", "zlib 1.3.1");
        let webp = mismatch(Codec::Webp, &other).unwrap();
        assert_eq!(
            webp,
            "Pillow decodes WebP with libwebp 1.5.0, the check reproduces libwebp 1.6.0"
        );
        assert_eq!(mismatch(Codec::Jpeg, &other), None);
        assert!(mismatch(Codec::Zlib, &other)
            .unwrap()
            .contains("zlib 1.3.1"));
        let missing = Ok(Some(Decoders::default()));
        assert!(mismatch(Codec::Jpeg, &missing)
            .unwrap()
            .contains("with no decoder"));
        let unreadable = Err("ImportError".to_string());
        assert!(mismatch(Codec::Webp, &unreadable)
            .unwrap()
            .contains("cannot tell"));
    }
}
