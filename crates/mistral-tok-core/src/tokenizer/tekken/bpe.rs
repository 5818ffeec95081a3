//! Byte-level BPE driven by ranks, exactly as tiktoken's `CoreBPE`: repeatedly merge the adjacent
//! pair whose concatenated bytes has the lowest rank (ties → leftmost) until no adjacent
//! concatenation is a token.

use std::cmp::Reverse;
use std::collections::BinaryHeap;

use rustc_hash::FxHashMap;

pub use super::file::Tokens;

/// Pieces shorter than this use the O(n·m) scan (cache-friendly for the short pieces of real
/// text); longer ones the O(m log n) heap, so a 100 KB single piece stays fast.
const LARGE_PIECE: usize = 128;

/// The longest token kept in the integer-keyed map.
const SHORT: usize = 7;

/// Up to 7 bytes and their count in one integer (the count disambiguates trailing zero bytes).
#[inline(always)]
fn pack(bytes: &[u8]) -> u64 {
    let mut buf = [0u8; 8];
    buf[..bytes.len()].copy_from_slice(bytes);
    buf[7] = bytes.len() as u8;
    u64::from_le_bytes(buf)
}

/// The longest token kept in the `u128`-keyed map.
const MEDIUM: usize = 15;

/// Up to 15 bytes and their count in one integer.
#[inline(always)]
fn pack_medium(bytes: &[u8]) -> u128 {
    let mut buf = [0u8; 16];
    buf[..bytes.len()].copy_from_slice(bytes);
    buf[15] = bytes.len() as u8;
    u128::from_le_bytes(buf)
}

/// Bytes copied at once per token by [`Bpe::extend_decoded`] (longer tokens are copied whole).
const COPY_WINDOW: usize = 16;

/// The mergeable ranks: token bytes ↔ rank (rank = index; the first 256 are the single bytes,
/// which the loader checks).
pub struct Bpe {
    /// Tokens of at most 7 bytes, keyed by their bytes packed into a `u64` (see [`pack`]): most
    /// lookups (merge candidates, short words) then compare integers instead of following a
    /// pointer to the key.
    short: FxHashMap<u64, u32>,
    /// Tokens of 8 to 15 bytes (most words), packed into a `u128` likewise.
    medium: FxHashMap<u128, u32>,
    /// Longer tokens.
    long: FxHashMap<Box<[u8]>, u32>,
    /// Ranks of the two-byte tokens, indexed by `b0 << 8 | b1` (u32::MAX: not a token): every
    /// merge starts from byte pairs, and this 256 KB table answers them without hashing.
    pairs: Box<[u32]>,
    /// Token bytes, concatenated, then [`COPY_WINDOW`] zero bytes; token `r` is
    /// `bytes[offsets[r]..offsets[r + 1]]`.
    bytes: Vec<u8>,
    offsets: Vec<u32>,
}

impl Bpe {
    /// The rank maps of `tokens`; the caller guarantees `tokens[b] == [b]` for `b < 256`. Two
    /// equal byte strings are an error naming both ranks.
    pub fn new(tokens: Tokens) -> Result<Self, String> {
        let hasher = rustc_hash::FxBuildHasher;
        let lens = (0..tokens.len()).map(|r| tokens.get(r).map_or(0, <[u8]>::len));
        let (mut n_short, mut n_medium) = (0, 0);
        for len in lens {
            if len <= SHORT {
                n_short += 1;
            } else if len <= MEDIUM {
                n_medium += 1;
            }
        }
        let n_long = tokens.len() - n_short - n_medium;
        let mut short = FxHashMap::with_capacity_and_hasher(n_short, hasher);
        let mut medium = FxHashMap::with_capacity_and_hasher(n_medium, hasher);
        let mut long = FxHashMap::with_capacity_and_hasher(n_long, hasher);
        let mut pairs = vec![u32::MAX; 1 << 16].into_boxed_slice();
        for rank in 0..tokens.len() {
            let token = tokens.get(rank).unwrap_or_default();
            if let [b0, b1] = token {
                pairs[(*b0 as usize) << 8 | *b1 as usize] = rank as u32;
            }
            let previous = if token.len() <= SHORT {
                short.insert(pack(token), rank as u32)
            } else if token.len() <= MEDIUM {
                medium.insert(pack_medium(token), rank as u32)
            } else {
                long.insert(Box::from(token), rank as u32)
            };
            if let Some(first) = previous {
                return Err(format!(
                    "vocab entries {first} and {rank} have the same bytes {token:?}; token bytes \
                     must be unique"
                ));
            }
        }
        let mut bytes = tokens.bytes;
        bytes.extend_from_slice(&[0; COPY_WINDOW]);
        Ok(Bpe {
            short,
            medium,
            long,
            pairs,
            bytes,
            offsets: tokens.offsets,
        })
    }

    pub fn len(&self) -> usize {
        self.offsets.len() - 1
    }

    /// Appends the bytes of the tokens `ids` (rank + `offset`) to `out`, or answers the index of
    /// the first id that is not one (`out` is then unchanged). A prompt's decode is millions of
    /// tokens of a few bytes: one copy of fixed width each (the table and `out` have the slack
    /// for it) instead of a call to `memcpy`, whose overhead was most of the decode's time.
    pub fn extend_decoded(&self, ids: &[u32], offset: u32, out: &mut Vec<u8>) -> Result<(), usize> {
        let mut total = 0usize;
        for (i, &id) in ids.iter().enumerate() {
            match id
                .checked_sub(offset)
                .and_then(|rank| self.token_bytes(rank))
            {
                Some(token) => total += token.len(),
                None => return Err(i),
            }
        }
        let start = out.len();
        out.resize(start + total + COPY_WINDOW, 0);
        let mut pos = start;
        for &id in ids {
            let r = id.wrapping_sub(offset) as usize;
            let (Some(&from), Some(&to)) = (self.offsets.get(r), self.offsets.get(r + 1)) else {
                continue; // checked above
            };
            let (from, len) = (from as usize, (to - from) as usize);
            if len <= COPY_WINDOW {
                if let (Some(dst), Some(src)) = (
                    out.get_mut(pos..pos + COPY_WINDOW),
                    self.bytes.get(from..from + COPY_WINDOW),
                ) {
                    dst.copy_from_slice(src);
                }
            } else if let (Some(dst), Some(src)) = (
                out.get_mut(pos..pos + len),
                self.bytes.get(from..from + len),
            ) {
                dst.copy_from_slice(src);
            }
            pos += len;
        }
        out.truncate(start + total);
        Ok(())
    }

    /// The bytes of rank `rank`, if it exists.
    #[inline]
    pub fn token_bytes(&self, rank: u32) -> Option<&[u8]> {
        let r = rank as usize;
        let start = *self.offsets.get(r)? as usize;
        let end = *self.offsets.get(r + 1)? as usize;
        self.bytes.get(start..end)
    }

    #[inline(always)]
    fn rank(&self, bytes: &[u8]) -> Option<u32> {
        if let [b0, b1] = bytes {
            let r = self.pairs[(*b0 as usize) << 8 | *b1 as usize];
            return (r != u32::MAX).then_some(r);
        }
        if bytes.len() <= SHORT {
            self.short.get(&pack(bytes)).copied()
        } else if bytes.len() <= MEDIUM {
            self.medium.get(&pack_medium(bytes)).copied()
        } else {
            self.long.get(bytes).copied()
        }
    }

    /// Appends the ranks of one piece, each plus `offset`.
    #[inline]
    pub fn encode_piece(&self, piece: &[u8], offset: u32, out: &mut Vec<u32>) {
        if piece.len() <= 2 {
            return self.encode_short(piece, offset, out);
        }
        if let Some(rank) = self.rank(piece) {
            out.push(rank + offset);
            return;
        }
        match piece.len() {
            0..=2 => {}
            n if n < LARGE_PIECE => self.merge_small(piece, offset, out),
            // Piece offsets are packed in 32 bits in the heap; longer pieces are split (they
            // cannot come from a Python string the binding accepts anyway).
            n if n <= u32::MAX as usize => self.merge_large(piece, offset, out),
            _ => {
                for chunk in piece.chunks(u32::MAX as usize) {
                    self.merge_large(chunk, offset, out);
                }
            }
        }
    }

    /// [`Bpe::encode_piece`] for a piece of at most two bytes.
    #[inline(always)]
    pub fn encode_short(&self, piece: &[u8], offset: u32, out: &mut Vec<u32>) {
        match piece {
            // A single byte is always a token: its rank is its value.
            [b] => out.push(*b as u32 + offset),
            [b0, b1] => match self.pairs[(*b0 as usize) << 8 | *b1 as usize] {
                u32::MAX => out.extend([*b0 as u32 + offset, *b1 as u32 + offset]),
                rank => out.push(rank + offset),
            },
            _ => {}
        }
    }

    /// The rank of the token made of the single bytes, or an unmerged byte's rank.
    #[inline(always)]
    fn rank_of_part(&self, part: &[u8]) -> u32 {
        match part {
            [b] => *b as u32,
            _ => self.rank(part).unwrap_or(u32::MAX),
        }
    }

    /// tiktoken's `_byte_pair_merge`: `parts[i] = (start, rank of parts i and i+1 merged)`.
    fn merge_small(&self, piece: &[u8], offset: u32, out: &mut Vec<u32>) {
        let n = piece.len();
        let mut parts = [(0u32, u32::MAX); LARGE_PIECE + 1];
        let mut len = n + 1;
        for (i, part) in parts.iter_mut().enumerate().take(n + 1) {
            let rank = if i + 2 <= n {
                self.rank(&piece[i..i + 2]).unwrap_or(u32::MAX)
            } else {
                u32::MAX
            };
            *part = (i as u32, rank);
        }
        // The rank of merging parts i and i+1 once part i+1 has been absorbed (i.e. spanning to
        // the start of part i+3).
        let pair_rank = |parts: &[(u32, u32)], len: usize, i: usize| -> u32 {
            if i + 3 < len {
                self.rank(&piece[parts[i].0 as usize..parts[i + 3].0 as usize])
                    .unwrap_or(u32::MAX)
            } else {
                u32::MAX
            }
        };
        loop {
            let mut min = (u32::MAX, 0usize);
            for (i, &(_, rank)) in parts[..len - 1].iter().enumerate() {
                if rank < min.0 {
                    min = (rank, i);
                }
            }
            if min.0 == u32::MAX {
                break;
            }
            let i = min.1;
            if i > 0 {
                parts[i - 1].1 = pair_rank(&parts, len, i - 1);
            }
            parts[i].1 = pair_rank(&parts, len, i);
            parts.copy_within(i + 2..len, i + 1);
            len -= 1;
        }
        for w in parts[..len].windows(2) {
            let part = &piece[w[0].0 as usize..w[1].0 as usize];
            out.push(self.rank_of_part(part).wrapping_add(offset));
        }
    }

    /// The heap merge (tiktoken ≥ 0.13's `_byte_pair_merge_large`, same result): a doubly linked
    /// list of parts plus a min-heap of (rank, start) candidates; stale entries are skipped.
    fn merge_large(&self, piece: &[u8], offset: u32, out: &mut Vec<u32>) {
        let n = piece.len();
        // The part starting at byte i ends at `end[i]`; `prev[i]` is the previous part's start;
        // `pair[i]` is the rank of merging part i with its successor (u32::MAX: none). Indices
        // are u32 to halve the memory traffic (the caller keeps n < 2³²).
        let mut end: Vec<u32> = (1..=n as u32).collect();
        let mut prev: Vec<u32> = (0..n as u32).map(|i| i.wrapping_sub(1)).collect();
        let mut pair = vec![u32::MAX; n];
        // Candidates as `rank << 32 | start`: the min-heap order is (rank, start), ties leftmost.
        let entry = |rank: u32, start: usize| Reverse((rank as u64) << 32 | start as u64);
        let mut initial = Vec::with_capacity(n);
        for i in 0..n - 1 {
            if let Some(rank) = self.rank(&piece[i..i + 2]) {
                pair[i] = rank;
                initial.push(entry(rank, i));
            }
        }
        let mut heap = BinaryHeap::from(initial); // O(n) heapify
        while let Some(Reverse(e)) = heap.pop() {
            let (rank, start) = ((e >> 32) as u32, (e & 0xffff_ffff) as usize);
            if pair[start] != rank {
                continue; // stale
            }
            let right = end[start] as usize;
            let right_end = end[right] as usize;
            end[start] = right_end as u32;
            pair[right] = u32::MAX;
            pair[start] = u32::MAX;
            if right_end < n {
                prev[right_end] = start as u32;
                let next_end = end[right_end] as usize;
                if let Some(r) = self.rank(&piece[start..next_end]) {
                    pair[start] = r;
                    heap.push(entry(r, start));
                }
            }
            if start > 0 {
                let p = prev[start] as usize;
                pair[p] = u32::MAX;
                if let Some(r) = self.rank(&piece[p..right_end]) {
                    pair[p] = r;
                    heap.push(entry(r, p));
                }
            }
        }
        let mut i = 0;
        while i < n {
            let e = end[i] as usize;
            out.push(self.rank_of_part(&piece[i..e]).wrapping_add(offset));
            i = e;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// 256 single bytes, then `extra` in order (ranks 256, 257, …).
    fn vocab(extra: &[&[u8]]) -> Bpe {
        let mut tokens: Vec<Vec<u8>> = (0..=255u8).map(|b| vec![b]).collect();
        tokens.extend(extra.iter().map(|t| t.to_vec()));
        let mut offsets = vec![0u32];
        let mut bytes = Vec::new();
        for t in tokens {
            bytes.extend(t);
            offsets.push(bytes.len() as u32);
        }
        Bpe::new(Tokens { bytes, offsets }).unwrap()
    }

    fn encode(bpe: &Bpe, piece: &[u8]) -> Vec<u32> {
        let mut out = Vec::new();
        bpe.encode_piece(piece, 0, &mut out);
        out
    }

    /// Reference: the literal definition, O(n²) per merge.
    fn naive(bpe: &Bpe, piece: &[u8]) -> Vec<u32> {
        let mut parts: Vec<Vec<u8>> = piece.iter().map(|&b| vec![b]).collect();
        loop {
            let best = (0..parts.len().saturating_sub(1))
                .filter_map(|i| {
                    let joined = [parts[i].as_slice(), parts[i + 1].as_slice()].concat();
                    bpe.rank(&joined).map(|r| (r, i))
                })
                .min();
            let Some((_, i)) = best else { break };
            let right = parts.remove(i + 1);
            parts[i].extend(right);
        }
        parts.iter().map(|p| bpe.rank(p).unwrap()).collect()
    }

    #[test]
    fn merges_by_rank_not_by_position() {
        let bpe = vocab(&[b"bc", b"ab", b"abc", b"cd"]);
        // "bc" (256) beats "ab" (257); then "a"+"bc" = "abc" (258).
        assert_eq!(encode(&bpe, b"abcd"), vec![258, b'd' as u32]);
        assert_eq!(encode(&bpe, b"abc"), vec![258]);
        assert_eq!(encode(&bpe, b"x"), vec![b'x' as u32]);
        assert_eq!(encode(&bpe, b""), Vec::<u32>::new());
    }

    #[test]
    fn ties_go_leftmost() {
        let bpe = vocab(&[b"aa", b"aaa"]);
        assert_eq!(encode(&bpe, b"aaa"), vec![257]);
        assert_eq!(encode(&bpe, b"aaaa"), vec![256, 256]);
        // [aa,a,a,a] → the leftmost lowest pair is the second "aa", then "a"+"aa"… is not a token
        // but "aa"+"a" is: [aa, aaa].
        assert_eq!(encode(&bpe, b"aaaaa"), vec![256, 257]);
    }

    #[test]
    fn offset_is_added() {
        let bpe = vocab(&[b"ab"]);
        let mut out = Vec::new();
        bpe.encode_piece(b"abz", 1000, &mut out);
        assert_eq!(out, vec![1256, 1000 + b'z' as u32]);
    }

    #[test]
    fn small_and_large_merges_equal_the_definition() {
        let bpe = vocab(&[
            b"ab", b"ba", b"aa", b"bb", b"aab", b"abab", b"bab", b"abba", b"aaaa", b"bbb",
            b"ababab", b"ca", b"cab", b"abc",
        ]);
        let mut state = 0x2545_f491_4f6c_dd1du64;
        for len in [1usize, 2, 3, 5, 17, 99, 100, 127, 128, 129, 300, 1000] {
            for _ in 0..20 {
                let piece: Vec<u8> = (0..len)
                    .map(|_| {
                        state ^= state << 13;
                        state ^= state >> 7;
                        state ^= state << 17;
                        b"abcab"[(state % 5) as usize]
                    })
                    .collect();
                let expected = naive(&bpe, &piece);
                assert_eq!(
                    encode(&bpe, &piece),
                    expected,
                    "{:?}",
                    String::from_utf8_lossy(&piece)
                );
                let mut small = Vec::new();
                let mut large = Vec::new();
                if (2..LARGE_PIECE).contains(&len) {
                    bpe.merge_small(&piece, 0, &mut small);
                    assert_eq!(small, expected);
                }
                if len >= 2 {
                    bpe.merge_large(&piece, 0, &mut large);
                    assert_eq!(large, expected);
                }
            }
        }
    }

    #[test]
    fn token_bytes_round_trip() {
        let bpe = vocab(&[b"hello"]);
        assert_eq!(bpe.len(), 257);
        assert_eq!(bpe.token_bytes(256), Some(&b"hello"[..]));
        assert_eq!(bpe.token_bytes(7), Some(&[7u8][..]));
        assert_eq!(bpe.token_bytes(257), None);
    }
}
