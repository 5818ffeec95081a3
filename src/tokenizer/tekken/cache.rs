//! A per-thread cache of recently encoded short pieces.
//!
//! English text repeats a few thousand words; looking them up in a 16,384-slot direct-mapped table
//! (512 KB) that stays in L2 is cheaper than probing the multi-megabyte rank maps (and skips the merge
//! for words that are not single tokens). Each slot records which tokenizer filled it, so one
//! thread may alternate between tokenizers without clearing anything. The cache only ever holds
//! what the BPE produced for exactly the same bytes, so it cannot change a result.

use std::cell::RefCell;
use std::sync::atomic::{AtomicU32, Ordering};

/// Sets of two slots (one 64-byte cache line each).
const SET_BITS: u32 = 15;
const SETS: usize = 1 << SET_BITS;
/// Longest piece cached (its bytes and length fill one `u128`).
pub const MAX_PIECE: usize = 15;
const MAX_IDS: usize = 3;
const EMPTY: u32 = u32::MAX;

#[derive(Clone, Copy)]
#[repr(C, align(32))]
struct Slot {
    key: u128,
    owner: u32,
    ids: [u32; MAX_IDS],
}

const VACANT: Slot = Slot {
    key: 0,
    owner: 0,
    ids: [EMPTY; MAX_IDS],
};

/// Two-way associativity: a piece whose slot another frequent piece also maps to is not evicted
/// by it at every occurrence (direct mapping lost ~9% of the lookups on 1 MB of prose).
#[derive(Clone, Copy)]
#[repr(C, align(64))]
struct Set([Slot; 2]);

thread_local! {
    static SETS_TL: RefCell<Vec<Set>> = const { RefCell::new(Vec::new()) };
}

/// A fresh owner id for a tokenizer instance (0 is never handed out: it marks vacant slots).
pub fn new_owner() -> u32 {
    static NEXT: AtomicU32 = AtomicU32::new(1);
    loop {
        let id = NEXT.fetch_add(1, Ordering::Relaxed);
        if id != 0 {
            return id;
        }
    }
}

/// Up to 15 bytes and their count in one integer; never 0 for a non-empty piece.
#[inline(always)]
pub fn pack(bytes: &[u8]) -> u128 {
    let mut buf = [0u8; 16];
    buf[..bytes.len()].copy_from_slice(bytes);
    buf[15] = bytes.len() as u8;
    u128::from_le_bytes(buf)
}

/// `pack(&s[start..start + len])` (`1 <= len <= MAX_PIECE`, in bounds), from one 16-byte load
/// when the text has 16 bytes from `start` (no variable-length copy on the hot path).
#[inline(always)]
pub fn key_at(s: &[u8], start: usize, len: usize) -> u128 {
    match s.get(start..start + 16) {
        Some(window) if len <= MAX_PIECE => {
            let mut buf = [0u8; 16];
            buf.copy_from_slice(window);
            let mask = (1u128 << (8 * len)) - 1;
            (u128::from_le_bytes(buf) & mask) | (len as u128) << 120
        }
        // (`min` only keeps a broken caller from panicking.)
        _ => pack(s.get(start..start + len.min(MAX_PIECE)).unwrap_or_default()),
    }
}

pub struct Cache<'a> {
    sets: &'a mut [Set],
    owner: u32,
}

impl Cache<'_> {
    /// Runs `f` with this thread's cache for tokenizer `owner`, or with `None` when the cache is
    /// unavailable (already borrowed up the stack, or the thread is exiting).
    pub fn with<R>(owner: u32, mut f: impl FnMut(Option<&mut Cache<'_>>) -> R) -> R {
        let ran = SETS_TL.try_with(|cell| {
            let mut sets = cell.try_borrow_mut().ok()?;
            if sets.is_empty() {
                sets.resize(SETS, Set([VACANT; 2]));
            }
            let mut cache = Cache {
                sets: &mut sets,
                owner,
            };
            Some(f(Some(&mut cache)))
        });
        match ran {
            Ok(Some(r)) => r,
            _ => f(None),
        }
    }

    #[inline(always)]
    fn index(key: u128) -> usize {
        let folded = (key as u64) ^ ((key >> 64) as u64).rotate_left(29);
        (folded.wrapping_mul(0x9e37_79b9_7f4a_7c15) >> (64 - SET_BITS)) as usize
    }

    /// Appends the cached ids of the piece packed as `key`, if present.
    #[inline(always)]
    pub fn get(&self, key: u128, out: &mut Vec<u32>) -> bool {
        let Set(pair) = &self.sets[Self::index(key)];
        let hit = |slot: &&Slot| slot.key == key && slot.owner == self.owner;
        let Some(slot) = pair.iter().find(hit) else {
            return false;
        };
        for &id in &slot.ids {
            if id == EMPTY {
                break;
            }
            out.push(id);
        }
        true
    }

    /// Remembers the ids of the piece packed as `key` (ignored when there are too many).
    #[inline(always)]
    pub fn put(&mut self, key: u128, ids: &[u32]) {
        if ids.is_empty() || ids.len() > MAX_IDS || ids.contains(&EMPTY) {
            return;
        }
        let mut slot = Slot {
            key,
            owner: self.owner,
            ids: [EMPTY; MAX_IDS],
        };
        slot.ids[..ids.len()].copy_from_slice(ids);
        // The newest entry goes first; the other one is kept unless it is the same piece.
        let Set(pair) = &mut self.sets[Self::index(key)];
        if pair[0].key != key || pair[0].owner != self.owner {
            pair[1] = pair[0];
        }
        pair[0] = slot;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_at_equals_pack_everywhere() {
        // Every start and length, including pieces that end within 16 bytes of the text's end
        // (where the key is built by copying) and bytes with the high bit set.
        let text: Vec<u8> = (0..40u8)
            .map(|i| i.wrapping_mul(97).wrapping_add(3))
            .collect();
        for start in 0..text.len() {
            for len in 1..=MAX_PIECE.min(text.len() - start) {
                let piece = &text[start..start + len];
                assert_eq!(key_at(&text, start, len), pack(piece), "{start} {len}");
            }
        }
        // Trailing zero bytes are told apart by the length.
        assert_ne!(pack(b"a"), pack(b"a\0"));
        assert_ne!(
            key_at(b"a\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0", 0, 1),
            pack(b"a\0")
        );
    }

    /// Pieces whose keys fall in the same set.
    fn colliding(n: usize) -> Vec<Vec<u8>> {
        let mut by_set: std::collections::HashMap<usize, Vec<Vec<u8>>> = Default::default();
        for i in 0u32.. {
            let piece = format!("w{i}").into_bytes();
            let group = by_set.entry(Cache::index(pack(&piece))).or_default();
            group.push(piece);
            if group.len() == n {
                return group.clone();
            }
        }
        unreachable!()
    }

    fn lookup(cache: &Cache<'_>, piece: &[u8]) -> Option<Vec<u32>> {
        let mut out = vec![7]; // appended to, never cleared
        cache.get(pack(piece), &mut out).then(|| out[1..].to_vec())
    }

    #[test]
    fn a_set_keeps_the_two_newest_pieces_exactly() {
        let pieces = colliding(3);
        let mut sets = vec![Set([VACANT; 2]); SETS];
        let mut cache = Cache {
            sets: &mut sets,
            owner: 5,
        };
        cache.put(pack(&pieces[0]), &[1]);
        cache.put(pack(&pieces[1]), &[2, 3]);
        assert_eq!(lookup(&cache, &pieces[0]), Some(vec![1]));
        assert_eq!(lookup(&cache, &pieces[1]), Some(vec![2, 3]));
        // Re-putting the newest piece does not evict the other one.
        cache.put(pack(&pieces[1]), &[2, 3]);
        assert_eq!(lookup(&cache, &pieces[0]), Some(vec![1]));
        // A third piece of the set evicts the oldest.
        cache.put(pack(&pieces[2]), &[4, 5, 6]);
        assert_eq!(lookup(&cache, &pieces[0]), None);
        assert_eq!(lookup(&cache, &pieces[1]), Some(vec![2, 3]));
        assert_eq!(lookup(&cache, &pieces[2]), Some(vec![4, 5, 6]));
        // Too many ids (or none) are not cached, and nothing is evicted for them.
        cache.put(pack(&pieces[0]), &[1, 2, 3, 4]);
        cache.put(pack(&pieces[0]), &[]);
        assert_eq!(lookup(&cache, &pieces[0]), None);
        assert_eq!(lookup(&cache, &pieces[2]), Some(vec![4, 5, 6]));
        // Another tokenizer sees none of it.
        let other = Cache {
            sets: cache.sets,
            owner: 6,
        };
        assert_eq!(lookup(&other, &pieces[1]), None);
        assert_eq!(lookup(&other, &pieces[2]), None);
        assert_eq!(lookup(&other, b"never"), None);
    }
}
