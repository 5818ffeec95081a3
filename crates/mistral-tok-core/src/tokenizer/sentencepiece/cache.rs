//! What encoding keeps on each thread between calls: a table of the ids of short pieces (words,
//! mostly), and the buffers a call needs.
//!
//! A chat request is encoded as many short texts (every message, and the text around each
//! special token, is its own call), and requests repeat words. Per call, a fresh cache and fresh
//! buffers cost more than the encoding of a 100-character message; kept per thread, the words
//! of one message are found again in the next one and in the next request.
//!
//! The table is 4-way set associative (a set is four 64-byte slots, most recently used first; a
//! new piece evicts the least recently used), 2 MB per thread, allocated on the thread's first
//! encoding. Halving it costs chat-turn encoding about a third more time: the 2,000 turns of
//! `benches/compare_chat.py` (b) hold 11,000 distinct pieces. Each slot records which model
//! filled it, so one thread may alternate between models without clearing anything. A slot only
//! ever holds what the BPE produced for exactly the same piece, so it cannot change a result.

use std::cell::RefCell;
use std::sync::atomic::{AtomicU32, Ordering};

use super::bpe::Scratch;

/// Slots per set.
const WAYS: usize = 4;
/// The number of sets is `1 << SET_BITS`.
const SET_BITS: u32 = 13;
const SLOTS: usize = WAYS << SET_BITS;
/// Longest piece cached: its bytes and its length fill the 32-byte key.
const MAX_PIECE: usize = 31;
/// In the key's length byte: the piece has the dummy-prefix `▁` in front.
const PREFIXED: u8 = 0x80;
/// Ids are kept as `u16` (Mistral's models have 32,768 pieces); a piece with a larger id is not
/// cached.
const MAX_IDS: usize = 14;
const EMPTY: u16 = u16::MAX;
/// Buffers that grew past this are freed after the call rather than kept for the thread.
const KEEP_BYTES: usize = 1 << 20;

/// A piece's bytes, zero-padded, with its length and [`PREFIXED`] in the last byte.
type Key = [u64; 4];

/// One cache line: the key, the model, and up to [`MAX_IDS`] ids (the unused ones [`EMPTY`]).
#[derive(Clone, Copy)]
#[repr(C, align(64))]
struct Slot {
    key: Key,
    owner: u32,
    ids: [u16; MAX_IDS],
}

const VACANT: Slot = Slot {
    key: [0; 4],
    owner: 0,
    ids: [EMPTY; MAX_IDS],
};

/// The per-thread state of encoding.
#[derive(Default)]
pub(super) struct Buffers {
    slots: Vec<Slot>,
    normalized: String,
    scratch: Scratch,
    ids: Vec<u32>,
    tail: Vec<u32>,
}

/// The parts of [`Buffers`] for one call of one model.
pub(super) struct Parts<'a> {
    pub words: WordCache<'a>,
    /// Normalized text.
    pub normalized: &'a mut String,
    pub scratch: &'a mut Scratch,
    /// Ids of the pieces encoded during the call.
    pub ids: &'a mut Vec<u32>,
    /// Ids of one piece.
    pub tail: &'a mut Vec<u32>,
}

thread_local! {
    static BUFFERS: RefCell<Buffers> = RefCell::new(Buffers::default());
}

/// A fresh owner id for a model (0 is never handed out: it marks vacant slots).
pub(super) fn new_owner() -> u32 {
    static NEXT: AtomicU32 = AtomicU32::new(1);
    loop {
        let id = NEXT.fetch_add(1, Ordering::Relaxed);
        if id != 0 {
            return id;
        }
    }
}

impl Buffers {
    /// Runs `f` with this thread's buffers, or with fresh ones (and no piece cache) when they
    /// are unavailable (already borrowed up the stack, or the thread is exiting).
    pub fn with<R>(mut f: impl FnMut(&mut Buffers) -> R) -> R {
        let ran = BUFFERS.try_with(|cell| {
            let mut b = cell.try_borrow_mut().ok()?;
            if b.slots.is_empty() {
                b.slots = vec![VACANT; SLOTS];
            }
            let r = f(&mut b);
            b.trim();
            Some(r)
        });
        match ran {
            Ok(Some(r)) => r,
            _ => f(&mut Buffers::default()),
        }
    }

    /// Drops buffers that one large call made large, so that a thread does not keep megabytes.
    fn trim(&mut self) {
        if self.normalized.capacity() > KEEP_BYTES {
            self.normalized = String::new();
        }
        if self.ids.capacity() * 4 > KEEP_BYTES {
            self.ids = Vec::new();
        }
        self.scratch.trim(KEEP_BYTES);
    }

    /// The piece cache of model `owner`, and the other buffers.
    pub fn split(&mut self, owner: u32) -> Parts<'_> {
        Parts {
            words: WordCache {
                slots: &mut self.slots,
                owner,
            },
            normalized: &mut self.normalized,
            scratch: &mut self.scratch,
            ids: &mut self.ids,
            tail: &mut self.tail,
        }
    }
}

/// The slots of one model on this thread.
pub(super) struct WordCache<'a> {
    slots: &'a mut [Slot],
    owner: u32,
}

impl WordCache<'_> {
    /// The key of a piece: its bytes in the caller's text, and whether the dummy-prefix `▁`
    /// goes in front. `None` if it is too long to be cached.
    #[inline(always)]
    pub fn key(text: &[u8], prefixed: bool) -> Option<Key> {
        if text.len() > MAX_PIECE {
            return None;
        }
        let mut buf = [0u8; 32];
        buf.get_mut(..text.len())?.copy_from_slice(text);
        buf[31] = text.len() as u8 | if prefixed { PREFIXED } else { 0 };
        let mut key = [0u64; 4];
        for (k, chunk) in key.iter_mut().zip(buf.chunks_exact(8)) {
            let mut b = [0u8; 8];
            b.copy_from_slice(chunk);
            *k = u64::from_le_bytes(b);
        }
        Some(key)
    }

    /// The slots of the key's set.
    #[inline(always)]
    fn set(&mut self, key: &Key) -> Option<&mut [Slot]> {
        let folded = key[0] ^ key[1].rotate_left(17) ^ key[2].rotate_left(31) ^ key[3];
        let first =
            ((folded.wrapping_mul(0x9e37_79b9_7f4a_7c15) >> (64 - SET_BITS)) as usize) * WAYS;
        self.slots.get_mut(first..first + WAYS)
    }

    /// Appends the cached ids of the piece with `key`, if present.
    #[inline(always)]
    pub fn get(&mut self, key: &Key, out: &mut Vec<u32>) -> bool {
        let owner = self.owner;
        let Some(set) = self.set(key) else {
            return false;
        };
        let Some(k) = set.iter().position(|s| s.key == *key && s.owner == owner) else {
            return false;
        };
        if k > 0 {
            // Most recently used first: a new piece evicts the least recently used one.
            if let Some(front) = set.get_mut(..=k) {
                front.rotate_right(1);
            }
        }
        let Some(slot) = set.first() else {
            return false;
        };
        for &id in &slot.ids {
            if id == EMPTY {
                break;
            }
            out.push(u32::from(id));
        }
        true
    }

    /// Remembers the ids of the piece with `key` (ignored when there are none, too many, or one
    /// does not fit a `u16`).
    #[inline(always)]
    pub fn put(&mut self, key: &Key, ids: &[u32]) {
        if ids.is_empty() || ids.len() > MAX_IDS {
            return;
        }
        let mut stored = [EMPTY; MAX_IDS];
        for (slot, &id) in stored.iter_mut().zip(ids) {
            match u16::try_from(id) {
                Ok(id) if id != EMPTY => *slot = id,
                _ => return,
            }
        }
        let owner = self.owner;
        let Some(set) = self.set(key) else {
            return;
        };
        set.rotate_right(1);
        if let Some(first) = set.first_mut() {
            *first = Slot {
                key: *key,
                owner,
                ids: stored,
            };
        }
    }
}
