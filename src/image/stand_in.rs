//! Image URLs kept out of the request value: a 10 MB data URL copied into [`crate::value::Value`]
//! (and again by the request parse) costs more than reading the image's size from it. A host that
//! can lend the text without copying (the Python layer borrows an ASCII `str`'s own buffer) puts a
//! short stand-in URL in the request instead, and runs the encoding inside [`StandIns::scope`];
//! the template resolves the stand-in back to the text when it reaches the image, so the image is
//! read at the same point, with the same errors, as when the request carries the text itself.
//!
//! The table travels in a thread-local rather than through every encode signature: the stand-ins
//! are a host-side saving that the request model, the templates and their callers need not know.
//! A stand-in names the process's random nonce, so a request cannot forge one; a string that
//! merely looks like a stand-in is an ordinary (unsupported-scheme) URL.

use std::cell::RefCell;
use std::hash::{BuildHasher, Hasher};
use std::sync::{Arc, OnceLock};

/// Text the host lends for the duration of an encoding.
pub trait ImageText: Send + Sync {
    fn text(&self) -> &str;
}

impl ImageText for String {
    fn text(&self) -> &str {
        self
    }
}

/// The texts behind the stand-ins of one request.
#[derive(Default)]
pub struct StandIns {
    texts: Vec<Box<dyn ImageText>>,
}

/// A noncharacter first: no URL scheme starts with it.
const PREFIX: &str = "\u{FDD0}mistral-tok-image:";

fn nonce() -> u64 {
    static NONCE: OnceLock<u64> = OnceLock::new();
    *NONCE.get_or_init(|| {
        let mut h = std::collections::hash_map::RandomState::new().build_hasher();
        h.write_u64(u64::from(std::process::id()));
        h.finish()
    })
}

thread_local! {
    static CURRENT: RefCell<Option<Arc<StandIns>>> = const { RefCell::new(None) };
}

/// Restores the previous table when a scope ends (also on unwind).
struct Restore(Option<Arc<StandIns>>);

impl Drop for Restore {
    fn drop(&mut self) {
        let previous = self.0.take();
        CURRENT.with(|c| *c.borrow_mut() = previous);
    }
}

impl StandIns {
    pub fn new() -> Self {
        StandIns::default()
    }

    pub fn is_empty(&self) -> bool {
        self.texts.is_empty()
    }

    pub fn len(&self) -> usize {
        self.texts.len()
    }

    /// Lends `text`; returns the URL to put in the request in its place.
    pub fn add(&mut self, text: Box<dyn ImageText>) -> String {
        let index = self.texts.len();
        self.texts.push(text);
        format!("{PREFIX}{:016x}:{index}", nonce())
    }

    /// Runs `f` (an encoding on this thread) with these stand-ins resolvable.
    pub fn scope<R>(self: &Arc<Self>, f: impl FnOnce() -> R) -> R {
        let previous = CURRENT.with(|c| c.borrow_mut().replace(Arc::clone(self)));
        let _restore = Restore(previous);
        f()
    }
}

/// A stand-in found in the current scope.
pub(crate) struct Resolved {
    table: Arc<StandIns>,
    index: usize,
}

impl Resolved {
    pub(crate) fn text(&self) -> &str {
        self.table.texts.get(self.index).map_or("", |t| t.text())
    }
}

/// The lent text when `url` is a stand-in of the current scope.
pub(crate) fn resolve(url: &str) -> Option<Resolved> {
    let rest = url.strip_prefix(PREFIX)?;
    let (tag, index) = rest.split_once(':')?;
    if u64::from_str_radix(tag, 16).ok()? != nonce() {
        return None;
    }
    let index: usize = index.parse().ok()?;
    let table = CURRENT.with(|c| c.borrow().clone())?;
    (index < table.texts.len()).then_some(Resolved { table, index })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resolves_only_inside_its_scope() {
        let mut s = StandIns::new();
        let a = s.add(Box::new("data:a".to_string()));
        let b = s.add(Box::new("data:b".to_string()));
        assert_ne!(a, b);
        assert!(resolve(&a).is_none());
        let s = Arc::new(s);
        s.scope(|| {
            assert_eq!(
                resolve(&a).map(|r| r.text().to_string()).as_deref(),
                Some("data:a")
            );
            assert_eq!(
                resolve(&b).map(|r| r.text().to_string()).as_deref(),
                Some("data:b")
            );
            let inner = Arc::new(StandIns::new());
            inner.scope(|| assert!(resolve(&a).is_none()));
            assert!(resolve(&a).is_some());
        });
        assert!(resolve(&a).is_none());
    }

    #[test]
    fn forged_and_out_of_range_stand_ins_are_plain_urls() {
        let mut s = StandIns::new();
        let a = s.add(Box::new("x".to_string()));
        let s = Arc::new(s);
        s.scope(|| {
            let other_nonce = format!("{PREFIX}{:016x}:0", nonce().wrapping_add(1));
            assert!(resolve(&other_nonce).is_none());
            assert!(resolve(&a.replace(":0", ":1")).is_none());
            assert!(resolve(&format!("{a}x")).is_none());
            assert!(resolve("data:image/png;base64,AAAA").is_none());
        });
    }

    #[test]
    fn scope_is_restored_after_a_panic() {
        let mut s = StandIns::new();
        let a = s.add(Box::new("x".to_string()));
        let s = Arc::new(s);
        let caught = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            s.scope(|| panic!("inside"));
        }));
        assert!(caught.is_err());
        assert!(resolve(&a).is_none());
    }
}
