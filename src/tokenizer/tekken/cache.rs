//! A per-thread cache of recently encoded short pieces.
//!
//! English text repeats a few thousand words; looking them up in a 4096-slot direct-mapped table
//! that stays in L1/L2 is cheaper than probing the multi-megabyte rank maps (and skips the merge
//! for words that are not single tokens). Each slot records which tokenizer filled it, so one
//! thread may alternate between tokenizers without clearing anything. The cache only ever holds
//! what the BPE produced for exactly the same bytes, so it cannot change a result.

use std::cell::RefCell;
use std::sync::atomic::{AtomicU32, Ordering};

const SLOTS: usize = 4096;
const SLOT_BITS: u32 = 12;
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

thread_local! {
    static SLOTS_TL: RefCell<Vec<Slot>> = const { RefCell::new(Vec::new()) };
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

pub struct Cache<'a> {
    slots: &'a mut [Slot],
    owner: u32,
}

impl Cache<'_> {
    /// Runs `f` with this thread's cache for tokenizer `owner`, or with `None` when the cache is
    /// unavailable (already borrowed up the stack, or the thread is exiting).
    pub fn with<R>(owner: u32, mut f: impl FnMut(Option<&mut Cache<'_>>) -> R) -> R {
        let ran = SLOTS_TL.try_with(|cell| {
            let mut slots = cell.try_borrow_mut().ok()?;
            if slots.is_empty() {
                slots.resize(SLOTS, VACANT);
            }
            let mut cache = Cache {
                slots: &mut slots,
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
        (folded.wrapping_mul(0x9e37_79b9_7f4a_7c15) >> (64 - SLOT_BITS)) as usize
    }

    /// Appends the cached ids of the piece packed as `key`, if present.
    #[inline(always)]
    pub fn get(&self, key: u128, out: &mut Vec<u32>) -> bool {
        let slot = &self.slots[Self::index(key)];
        if slot.key != key || slot.owner != self.owner {
            return false;
        }
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
        let slot = &mut self.slots[Self::index(key)];
        slot.key = key;
        slot.owner = self.owner;
        slot.ids = [EMPTY; MAX_IDS];
        slot.ids[..ids.len()].copy_from_slice(ids);
    }
}
