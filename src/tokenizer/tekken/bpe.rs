//! Byte-level BPE driven by ranks, exactly as tiktoken's `CoreBPE`: repeatedly merge the adjacent
//! pair whose concatenated bytes has the lowest rank (ties → leftmost) until no adjacent
//! concatenation is a token.

use std::cmp::Reverse;
use std::collections::BinaryHeap;

use rustc_hash::FxHashMap;

/// Pieces shorter than this use the O(n·m) scan (cache-friendly for the short pieces of real
/// text); longer ones the O(m log n) heap, so a 100 KB single piece stays fast.
const LARGE_PIECE: usize = 128;

/// The mergeable ranks: token bytes ↔ rank (rank = index; the first 256 are the single bytes,
/// which the loader checks).
pub struct Bpe {
    encoder: FxHashMap<Box<[u8]>, u32>,
    /// Token bytes, concatenated; token `r` is `bytes[offsets[r]..offsets[r + 1]]`.
    bytes: Vec<u8>,
    offsets: Vec<u32>,
}

impl Bpe {
    /// `tokens[r]` is the byte string of rank `r`. The caller guarantees that the tokens are
    /// distinct, that `tokens[b] == [b]` for `b < 256`, and that there are fewer than 2³² bytes.
    pub fn new(tokens: Vec<Vec<u8>>) -> Self {
        let total: usize = tokens.iter().map(Vec::len).sum();
        let mut bytes = Vec::with_capacity(total);
        let mut offsets = Vec::with_capacity(tokens.len() + 1);
        offsets.push(0);
        let mut encoder =
            FxHashMap::with_capacity_and_hasher(tokens.len(), rustc_hash::FxBuildHasher);
        for (rank, token) in tokens.into_iter().enumerate() {
            bytes.extend_from_slice(&token);
            offsets.push(bytes.len() as u32);
            encoder.insert(token.into_boxed_slice(), rank as u32);
        }
        Bpe {
            encoder,
            bytes,
            offsets,
        }
    }

    pub fn len(&self) -> usize {
        self.offsets.len() - 1
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
        self.encoder.get(bytes).copied()
    }

    /// Appends the ranks of one piece, each plus `offset`.
    #[inline]
    pub fn encode_piece(&self, piece: &[u8], offset: u32, out: &mut Vec<u32>) {
        if let Some(rank) = self.rank(piece) {
            out.push(rank + offset);
            return;
        }
        match piece.len() {
            0 => {}
            // A single byte is always a token: its rank is its value.
            1 => out.push(piece[0] as u32 + offset),
            n if n < LARGE_PIECE => self.merge_small(piece, offset, out),
            _ => self.merge_large(piece, offset, out),
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
        // Part starting at byte i: ends at `end[i]`; `prev[i]` is the previous part's start.
        // `pair[i]` is the rank of merging part i with its successor (u32::MAX: none).
        let mut end: Vec<usize> = (1..=n).collect();
        let mut prev: Vec<usize> = (0..n).map(|i| i.wrapping_sub(1)).collect();
        let mut pair = vec![u32::MAX; n];
        let mut heap = BinaryHeap::with_capacity(n);
        for i in 0..n - 1 {
            if let Some(rank) = self.rank(&piece[i..i + 2]) {
                pair[i] = rank;
                heap.push(Reverse((rank, i)));
            }
        }
        while let Some(Reverse((rank, start))) = heap.pop() {
            if pair[start] != rank {
                continue;
            }
            let right = end[start];
            let right_end = end[right];
            end[start] = right_end;
            pair[right] = u32::MAX;
            if right_end < n {
                prev[right_end] = start;
            }
            // New candidate with the next part.
            pair[start] = u32::MAX;
            if right_end < n {
                if let Some(r) = self.rank(&piece[start..end[right_end]]) {
                    pair[start] = r;
                    heap.push(Reverse((r, start)));
                }
            }
            // New candidate with the previous part.
            if start > 0 {
                let p = prev[start];
                pair[p] = u32::MAX;
                if let Some(r) = self.rank(&piece[p..right_end]) {
                    pair[p] = r;
                    heap.push(Reverse((r, p)));
                }
            }
        }
        let mut i = 0;
        while i < n {
            out.push(self.rank_of_part(&piece[i..end[i]]).wrapping_add(offset));
            i = end[i];
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
        Bpe::new(tokens)
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
                if len >= 2 && len < LARGE_PIECE {
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
