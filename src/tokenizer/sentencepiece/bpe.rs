//! sentencepiece's BPE merge (`bpe_model.cc`): start from characters (or frozen user-defined
//! symbols), repeatedly merge the adjacent pair whose concatenation is the mergeable piece with
//! the highest score (f32), ties to the leftmost pair, until no adjacent pair forms a piece.

use std::cmp::Ordering;
use std::collections::BinaryHeap;

use rustc_hash::FxHashMap;

/// What a mergeable piece (NORMAL or USER_DEFINED) brings to a merge and to the output.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Mergeable {
    pub score: f32,
    /// `piece_to_id` of the piece's string (reserved pieces shadow mergeable ones, as in
    /// sentencepiece's `PieceToId`), i.e. the id emitted for a final symbol with this text.
    pub id: u32,
}

/// The mergeable pieces, by their UTF-8 bytes.
#[derive(Debug, Default)]
pub(crate) struct Vocab {
    map: FxHashMap<Box<[u8]>, Mergeable>,
    max_len: usize,
}

impl Vocab {
    /// Returns false if the piece was already present.
    pub(crate) fn insert(&mut self, piece: &[u8], m: Mergeable) -> bool {
        if self.map.contains_key(piece) {
            return false;
        }
        self.max_len = self.max_len.max(piece.len());
        self.map.insert(piece.into(), m);
        true
    }

    pub(crate) fn update_id(&mut self, piece: &[u8], id: u32) {
        if let Some(m) = self.map.get_mut(piece) {
            m.id = id;
        }
    }

    #[inline]
    pub(crate) fn get(&self, piece: &[u8]) -> Option<Mergeable> {
        if piece.len() > self.max_len {
            return None;
        }
        self.map.get(piece).copied()
    }

    pub(crate) fn pieces(&self) -> impl Iterator<Item = &[u8]> {
        self.map.keys().map(|k| &**k)
    }
}

/// Longest-match lookup of the user-defined symbols (sentencepiece's `PrefixMatcher`).
#[derive(Debug)]
pub(crate) struct Matcher {
    /// Trie over bytes; node 0 is the root.
    nodes: Vec<Node>,
    first: [bool; 256],
    empty: bool,
}

#[derive(Debug, Default)]
struct Node {
    children: Vec<(u8, u32)>,
    terminal: bool,
}

impl Matcher {
    pub(crate) fn new<'a>(symbols: impl IntoIterator<Item = &'a [u8]>) -> Self {
        let mut m = Matcher {
            nodes: vec![Node::default()],
            first: [false; 256],
            empty: true,
        };
        for s in symbols {
            if s.is_empty() {
                continue;
            }
            m.empty = false;
            m.first[usize::from(s[0])] = true;
            let mut node = 0usize;
            for &b in s {
                let next = m.child(node, b);
                node = match next {
                    Some(n) => n,
                    None => {
                        let n = m.nodes.len();
                        m.nodes.push(Node::default());
                        if let Some(parent) = m.nodes.get_mut(node) {
                            parent.children.push((b, n as u32));
                        }
                        n
                    }
                };
            }
            if let Some(n) = m.nodes.get_mut(node) {
                n.terminal = true;
            }
        }
        m
    }

    fn child(&self, node: usize, b: u8) -> Option<usize> {
        self.nodes
            .get(node)?
            .children
            .iter()
            .find(|&&(c, _)| c == b)
            .map(|&(_, n)| n as usize)
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.empty
    }

    /// Length of the longest user-defined symbol at the start of `s`, if any.
    #[inline]
    pub(crate) fn longest(&self, s: &[u8]) -> Option<usize> {
        let &b0 = s.first()?;
        if !self.first[usize::from(b0)] {
            return None;
        }
        let mut node = 0usize;
        let mut best = None;
        for (i, &b) in s.iter().enumerate() {
            match self.child(node, b) {
                Some(n) => node = n,
                None => break,
            }
            if self.nodes.get(node).is_some_and(|n| n.terminal) {
                best = Some(i + 1);
            }
        }
        best
    }
}

/// A symbol of the merge: a byte range of the text being encoded.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Symbol {
    pub start: usize,
    pub end: usize,
    /// User-defined symbols are never merged with their neighbours.
    pub frozen: bool,
}

const NONE: usize = usize::MAX;

#[derive(Debug, Clone, Copy)]
struct Linked {
    start: usize,
    end: usize,
    prev: usize,
    next: usize,
    frozen: bool,
}

/// A candidate merge. Ordered like sentencepiece's agenda: higher score first, then smaller left.
#[derive(Debug, Clone, Copy)]
struct Pair {
    score: f32,
    left: usize,
    right: usize,
    size: usize,
}

impl PartialEq for Pair {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}
impl Eq for Pair {}
impl PartialOrd for Pair {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Pair {
    fn cmp(&self, other: &Self) -> Ordering {
        // Scores are never NaN (the loader rejects them); `==` on f32 treats -0.0 and 0.0 as a
        // tie, as the C++ comparator does.
        self.score
            .partial_cmp(&other.score)
            .unwrap_or(Ordering::Equal)
            .then_with(|| other.left.cmp(&self.left))
    }
}

/// Reusable buffers for [`merge`].
#[derive(Debug, Default)]
pub(crate) struct Scratch {
    pub symbols: Vec<Symbol>,
    linked: Vec<Linked>,
    heap: BinaryHeap<Pair>,
    scores: Vec<Option<f32>>,
}

/// Below this many symbols, a linear scan for the best pair beats the heap.
const SMALL: usize = 24;

/// Splits `text` into initial symbols: the longest user-defined symbol at each position (frozen),
/// else one character.
pub(crate) fn initial_symbols(text: &str, matcher: &Matcher, out: &mut Vec<Symbol>) {
    out.clear();
    let bytes = text.as_bytes();
    if matcher.is_empty() {
        out.extend(text.char_indices().map(|(i, c)| Symbol {
            start: i,
            end: i + c.len_utf8(),
            frozen: false,
        }));
        return;
    }
    let mut i = 0;
    while i < bytes.len() {
        if let Some(n) = bytes.get(i..).and_then(|rest| matcher.longest(rest)) {
            out.push(Symbol {
                start: i,
                end: i + n,
                frozen: true,
            });
            i += n;
            continue;
        }
        let len = text
            .get(i..)
            .and_then(|r| r.chars().next())
            .map_or(1, char::len_utf8);
        out.push(Symbol {
            start: i,
            end: i + len,
            frozen: false,
        });
        i += len;
    }
}

/// Runs the merge over `scratch.symbols` (symbols of `text`), leaving the final symbols there
/// in order.
pub(crate) fn merge(text: &[u8], vocab: &Vocab, scratch: &mut Scratch) {
    if scratch.symbols.len() <= SMALL {
        merge_small(text, vocab, scratch);
    } else {
        merge_heap(text, vocab, scratch);
    }
}

#[inline]
fn pair_score(text: &[u8], vocab: &Vocab, l: &Symbol, r: &Symbol) -> Option<f32> {
    if l.frozen || r.frozen {
        return None;
    }
    vocab.get(text.get(l.start..r.end)?).map(|m| m.score)
}

/// The same merge order as [`merge_heap`] by a linear scan: the best pair is the first maximum.
fn merge_small(text: &[u8], vocab: &Vocab, scratch: &mut Scratch) {
    let syms = &mut scratch.symbols;
    let scores = &mut scratch.scores;
    scores.clear();
    scores.extend(
        syms.windows(2)
            .map(|w| pair_score(text, vocab, &w[0], &w[1])),
    );
    loop {
        let mut best: Option<(usize, f32)> = None;
        for (i, s) in scores.iter().enumerate() {
            if let Some(s) = *s {
                if best.is_none_or(|(_, b)| s > b) {
                    best = Some((i, s));
                }
            }
        }
        let Some((i, _)) = best else { break };
        let Some(right_end) = syms.get(i + 1).map(|s| s.end) else {
            break;
        };
        if let Some(l) = syms.get_mut(i) {
            l.end = right_end;
        }
        syms.remove(i + 1);
        scores.remove(i);
        if i > 0 {
            let s = pair_score(text, vocab, &syms[i - 1], &syms[i]);
            scores[i - 1] = s;
        }
        if i + 1 < syms.len() {
            let s = pair_score(text, vocab, &syms[i], &syms[i + 1]);
            scores[i] = s;
        }
    }
}

/// A port of sentencepiece's agenda loop: a heap of candidate pairs, stale entries recognised by
/// their size, O(n log n) for long inputs without spaces.
fn merge_heap(text: &[u8], vocab: &Vocab, scratch: &mut Scratch) {
    let n = scratch.symbols.len();
    let linked = &mut scratch.linked;
    linked.clear();
    linked.extend(scratch.symbols.iter().enumerate().map(|(i, s)| Linked {
        start: s.start,
        end: s.end,
        prev: if i == 0 { NONE } else { i - 1 },
        next: if i + 1 == n { NONE } else { i + 1 },
        frozen: s.frozen,
    }));
    let heap = &mut scratch.heap;
    heap.clear();

    fn push(
        text: &[u8],
        vocab: &Vocab,
        linked: &[Linked],
        heap: &mut BinaryHeap<Pair>,
        l: usize,
        r: usize,
    ) {
        let (Some(ls), Some(rs)) = (linked.get(l), linked.get(r)) else {
            return;
        };
        if ls.frozen || rs.frozen {
            return;
        }
        if let Some(m) = text.get(ls.start..rs.end).and_then(|p| vocab.get(p)) {
            heap.push(Pair {
                score: m.score,
                left: l,
                right: r,
                size: rs.end - ls.start,
            });
        }
    }

    for i in 1..n {
        push(text, vocab, linked, heap, i - 1, i);
    }
    while let Some(top) = heap.pop() {
        let (Some(&l), Some(&r)) = (linked.get(top.left), linked.get(top.right)) else {
            continue;
        };
        let l_len = l.end - l.start;
        let r_len = r.end - r.start;
        if l_len == 0 || r_len == 0 || l_len + r_len != top.size {
            continue;
        }
        let new_next = r.next;
        if let Some(ls) = linked.get_mut(top.left) {
            ls.end = r.end;
            ls.next = new_next;
        }
        if let Some(ns) = linked.get_mut(new_next) {
            ns.prev = top.left;
        }
        if let Some(rs) = linked.get_mut(top.right) {
            rs.end = rs.start;
        }
        let prev = l.prev;
        if prev != NONE {
            push(text, vocab, linked, heap, prev, top.left);
        }
        if new_next != NONE {
            push(text, vocab, linked, heap, top.left, new_next);
        }
    }

    let syms = &mut scratch.symbols;
    syms.clear();
    let mut i = if n == 0 { NONE } else { 0 };
    while let Some(s) = linked.get(i) {
        syms.push(Symbol {
            start: s.start,
            end: s.end,
            frozen: s.frozen,
        });
        i = s.next;
    }
}

#[cfg(test)]
pub(crate) fn merge_with(text: &[u8], vocab: &Vocab, scratch: &mut Scratch, small: bool) {
    if small {
        merge_small(text, vocab, scratch);
    } else {
        merge_heap(text, vocab, scratch);
    }
}
