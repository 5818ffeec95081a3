//! sentencepiece's BPE merge (`bpe_model.cc`): start from characters (or frozen user-defined
//! symbols), repeatedly merge the adjacent pair whose concatenation is the mergeable piece with
//! the highest score (f32), ties to the leftmost pair, until no adjacent pair forms a piece.

use std::cmp::Ordering;
use std::collections::BinaryHeap;

use rustc_hash::FxHashMap;

/// What a mergeable piece (NORMAL or USER_DEFINED) brings to a merge and to the output.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Mergeable {
    /// The piece's own id: what a merge produces.
    pub index: u32,
    pub score: f32,
    /// `piece_to_id` of the piece's string (reserved pieces shadow mergeable ones, as in
    /// sentencepiece's `PieceToId`), i.e. the id emitted for a final symbol with this text.
    pub out: u32,
}

/// The mergeable pieces, by their text.
#[derive(Debug, Default)]
pub(crate) struct Vocab {
    map: FxHashMap<Box<str>, Mergeable>,
}

impl Vocab {
    pub(crate) fn with_capacity(n: usize) -> Self {
        let mut map = FxHashMap::default();
        map.reserve(n);
        Vocab { map }
    }

    /// Returns false if the piece was already present.
    pub(crate) fn insert(&mut self, piece: &str, m: Mergeable) -> bool {
        if self.map.contains_key(piece) {
            return false;
        }
        self.map.insert(piece.into(), m);
        true
    }

    pub(crate) fn shadow(&mut self, piece: &str, out: u32) {
        if let Some(m) = self.map.get_mut(piece) {
            m.out = out;
        }
    }

    #[inline]
    pub(crate) fn get(&self, piece: &str) -> Option<Mergeable> {
        self.map.get(piece).copied()
    }

    pub(crate) fn iter(&self) -> impl Iterator<Item = (&str, Mergeable)> {
        self.map.iter().map(|(k, &v)| (&**k, v))
    }
}

/// A symbol id that takes part in no merge.
pub(crate) const NONE: u32 = u32::MAX;

#[derive(Debug, Clone, Copy)]
struct Merge {
    id: u32,
    score: f32,
}

/// The merge table by symbol ids: `(left, right) → merged piece`, for every split of every
/// mergeable piece into two halves that can both be symbols (a mergeable piece or one
/// character). Characters that occur in some piece without being one get ids past the
/// vocabulary; characters that occur in no piece get [`NONE`]. This answers exactly what
/// sentencepiece's lookup of the concatenated string answers, without hashing strings.
///
/// Each pair is one `u64` in an open-addressing table (1 MB for Mistral's models), so the
/// lookups that dominate encoding mostly stay in the L2 cache.
#[derive(Debug)]
pub(crate) struct Merges {
    pairs: PairTable,
    /// Score by merged piece id.
    scores: Vec<f32>,
    ascii: [u32; 128],
    chars: FxHashMap<char, u32>,
}

impl Merges {
    /// `first_virtual` is the number of pieces; the caller keeps it below [`MAX_SYMBOL_IDS`]
    /// less the number of distinct characters.
    pub(crate) fn build(vocab: &Vocab, first_virtual: u32) -> Merges {
        let mut m = Merges {
            pairs: PairTable::default(),
            scores: Vec::new(),
            ascii: [NONE; 128],
            chars: FxHashMap::default(),
        };
        let mut next_virtual = first_virtual;
        let mut buf = [0u8; 4];
        for (piece, _) in vocab.iter() {
            for c in piece.chars() {
                if m.char_id(c) != NONE {
                    continue;
                }
                let id = match vocab.get(c.encode_utf8(&mut buf)) {
                    Some(p) => p.index,
                    None => {
                        next_virtual = next_virtual.saturating_add(1);
                        next_virtual - 1
                    }
                };
                m.set_char(c, id);
            }
        }
        let mut triples: Vec<(u32, u32, u32)> = Vec::with_capacity(vocab.map.len() * 2);
        let mut scores = vec![0f32; first_virtual as usize];
        for (piece, merged) in vocab.iter() {
            if let Some(s) = scores.get_mut(merged.index as usize) {
                *s = merged.score;
            }
            for (i, _) in piece.char_indices().skip(1) {
                let (l, r) = piece.split_at(i);
                let (lid, rid) = (m.symbol_id(vocab, l), m.symbol_id(vocab, r));
                if lid != NONE && rid != NONE {
                    triples.push((lid, rid, merged.index));
                }
            }
        }
        m.pairs = PairTable::new(&triples);
        m.scores = scores;
        m
    }

    /// False if some symbol id did not fit the table (then the model must be rejected).
    pub(crate) fn is_complete(&self) -> bool {
        self.pairs.complete
    }

    fn set_char(&mut self, c: char, id: u32) {
        match self.ascii.get_mut(c as usize) {
            Some(slot) => *slot = id,
            None => {
                self.chars.insert(c, id);
            }
        }
    }

    /// The symbol id of one character.
    #[inline]
    pub(crate) fn char_id(&self, c: char) -> u32 {
        match self.ascii.get(c as usize) {
            Some(&id) => id,
            None => self.chars.get(&c).copied().unwrap_or(NONE),
        }
    }

    /// True for an ASCII byte that occurs in no mergeable piece: it never merges, so the text
    /// can be cut on both sides of it.
    #[inline]
    pub(crate) fn is_ascii_barrier(&self, b: u8) -> bool {
        self.ascii.get(usize::from(b)).is_some_and(|&id| id == NONE)
    }

    fn symbol_id(&self, vocab: &Vocab, s: &str) -> u32 {
        if let Some(p) = vocab.get(s) {
            return p.index;
        }
        let mut chars = s.chars();
        match (chars.next(), chars.next()) {
            (Some(c), None) => self.char_id(c),
            _ => NONE,
        }
    }

    #[inline]
    fn pair(&self, l: &Symbol, r: &Symbol) -> Option<Merge> {
        if l.frozen || r.frozen {
            return None;
        }
        let id = self.pairs.get(l.id, r.id)?;
        Some(Merge {
            id,
            score: *self.scores.get(id as usize)?,
        })
    }
}

/// Symbol ids (pieces plus characters that are no piece) must be below this.
pub(crate) const MAX_SYMBOL_IDS: usize = (1 << PAIR_ID_BITS) - 1;
const PAIR_ID_BITS: u32 = 21;
const MERGED_BITS: u32 = 64 - 2 * PAIR_ID_BITS;
const MERGED_MASK: u64 = (1 << MERGED_BITS) - 1;
const EMPTY: u64 = u64::MAX;

/// `(left, right) → merged` as packed `u64`s: left and right in the top 42 bits, merged in the
/// low 22; linear probing at load factor ≤ 1/2.
#[derive(Debug, Default)]
struct PairTable {
    slots: Vec<u64>,
    shift: u32,
    complete: bool,
}

impl PairTable {
    fn new(triples: &[(u32, u32, u32)]) -> Self {
        let mut bits = 4;
        while (1usize << bits) < triples.len() * 2 {
            bits += 1;
        }
        let mask = (1usize << bits) - 1;
        let mut t = PairTable {
            slots: vec![EMPTY; 1 << bits],
            shift: 64 - bits,
            complete: true,
        };
        for &(l, r, merged) in triples {
            if l as usize >= MAX_SYMBOL_IDS
                || r as usize >= MAX_SYMBOL_IDS
                || u64::from(merged) > MERGED_MASK
            {
                t.complete = false;
                continue;
            }
            let key = Self::key(l, r);
            let mut i = t.home(key);
            while let Some(slot) = t.slots.get_mut(i) {
                if *slot == EMPTY || *slot >> MERGED_BITS == key {
                    *slot = (key << MERGED_BITS) | u64::from(merged);
                    break;
                }
                i = (i + 1) & mask;
            }
        }
        t
    }

    #[inline]
    fn key(l: u32, r: u32) -> u64 {
        (u64::from(l) << PAIR_ID_BITS) | u64::from(r)
    }

    #[inline]
    fn home(&self, key: u64) -> usize {
        (key.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> self.shift) as usize
    }

    #[inline]
    fn get(&self, l: u32, r: u32) -> Option<u32> {
        if l as usize >= MAX_SYMBOL_IDS || r as usize >= MAX_SYMBOL_IDS {
            return None;
        }
        let key = Self::key(l, r);
        let mask = self.slots.len().wrapping_sub(1);
        let mut i = self.home(key);
        loop {
            let e = *self.slots.get(i)?;
            if e == EMPTY {
                return None;
            }
            if e >> MERGED_BITS == key {
                return Some((e & MERGED_MASK) as u32);
            }
            i = (i + 1) & mask;
        }
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
    /// The id of the user-defined piece that ends here.
    terminal: Option<u32>,
}

impl Matcher {
    pub(crate) fn new<'a>(symbols: impl IntoIterator<Item = (&'a [u8], u32)>) -> Self {
        let mut m = Matcher {
            nodes: vec![Node::default()],
            first: [false; 256],
            empty: true,
        };
        for (s, id) in symbols {
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
                n.terminal = Some(id);
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

    /// Length and id of the longest user-defined symbol at the start of `s`, if any.
    #[inline]
    pub(crate) fn longest(&self, s: &[u8]) -> Option<(usize, u32)> {
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
            if let Some(id) = self.nodes.get(node).and_then(|n| n.terminal) {
                best = Some((i + 1, id));
            }
        }
        best
    }
}

/// A symbol of the merge: a byte range of the text being encoded and its symbol id.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Symbol {
    pub start: usize,
    pub end: usize,
    /// A mergeable piece id, a character id past the vocabulary, or [`NONE`].
    pub id: u32,
    /// User-defined symbols are never merged with their neighbours.
    pub frozen: bool,
}

const END: usize = usize::MAX;

#[derive(Debug, Clone, Copy)]
struct Linked {
    sym: Symbol,
    prev: usize,
    next: usize,
}

/// A candidate merge. Ordered like sentencepiece's agenda: higher score first, then smaller left.
#[derive(Debug, Clone, Copy)]
struct Pair {
    score: f32,
    left: usize,
    right: usize,
    size: usize,
    id: u32,
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
    scores: Vec<Option<Merge>>,
}

impl Scratch {
    /// Frees the buffers that take more than `bytes` bytes.
    pub(crate) fn trim(&mut self, bytes: usize) {
        fn trim_vec<T>(v: &mut Vec<T>, bytes: usize) {
            if v.capacity().saturating_mul(std::mem::size_of::<T>()) > bytes {
                *v = Vec::new();
            }
        }
        trim_vec(&mut self.symbols, bytes);
        trim_vec(&mut self.linked, bytes);
        trim_vec(&mut self.scores, bytes);
        if self
            .heap
            .capacity()
            .saturating_mul(std::mem::size_of::<Pair>())
            > bytes
        {
            self.heap = BinaryHeap::new();
        }
    }
}

/// Up to this many symbols, a linear scan for the best pair beats the heap.
const SMALL: usize = 24;

/// Splits `text` into initial symbols: the longest user-defined symbol at each position (frozen),
/// else one character.
pub(crate) fn initial_symbols(
    text: &str,
    matcher: &Matcher,
    merges: &Merges,
    out: &mut Vec<Symbol>,
) {
    out.clear();
    if matcher.is_empty() {
        out.extend(text.char_indices().map(|(i, c)| Symbol {
            start: i,
            end: i + c.len_utf8(),
            id: merges.char_id(c),
            frozen: false,
        }));
        return;
    }
    let bytes = text.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        if let Some((n, id)) = bytes.get(i..).and_then(|rest| matcher.longest(rest)) {
            out.push(Symbol {
                start: i,
                end: i + n,
                id,
                frozen: true,
            });
            i += n;
            continue;
        }
        let Some(c) = text.get(i..).and_then(|r| r.chars().next()) else {
            break;
        };
        out.push(Symbol {
            start: i,
            end: i + c.len_utf8(),
            id: merges.char_id(c),
            frozen: false,
        });
        i += c.len_utf8();
    }
}

/// Runs the merge over `scratch.symbols`, leaving the final symbols there in order.
pub(crate) fn merge(merges: &Merges, scratch: &mut Scratch) {
    if scratch.symbols.len() <= SMALL {
        merge_small(merges, scratch);
    } else {
        merge_heap(merges, scratch);
    }
}

/// The same merge order as [`merge_heap`] by a linear scan: the best pair is the first maximum.
fn merge_small(merges: &Merges, scratch: &mut Scratch) {
    let syms = &mut scratch.symbols;
    let scores = &mut scratch.scores;
    scores.clear();
    scores.extend(syms.windows(2).map(|w| merges.pair(&w[0], &w[1])));
    loop {
        let mut best: Option<(usize, Merge)> = None;
        for (i, m) in scores.iter().enumerate() {
            if let Some(m) = *m {
                if best.is_none_or(|(_, b)| m.score > b.score) {
                    best = Some((i, m));
                }
            }
        }
        let Some((i, m)) = best else { break };
        let Some(right_end) = syms.get(i + 1).map(|s| s.end) else {
            break;
        };
        if let Some(l) = syms.get_mut(i) {
            l.end = right_end;
            l.id = m.id;
        }
        syms.remove(i + 1);
        scores.remove(i);
        if i > 0 {
            scores[i - 1] = merges.pair(&syms[i - 1], &syms[i]);
        }
        if i + 1 < syms.len() {
            scores[i] = merges.pair(&syms[i], &syms[i + 1]);
        }
    }
}

/// A port of sentencepiece's agenda loop: a heap of candidate pairs, stale entries recognised by
/// their size, O(n log n) for long inputs without spaces.
fn merge_heap(merges: &Merges, scratch: &mut Scratch) {
    let n = scratch.symbols.len();
    let linked = &mut scratch.linked;
    linked.clear();
    linked.extend(scratch.symbols.iter().enumerate().map(|(i, &sym)| Linked {
        sym,
        prev: if i == 0 { END } else { i - 1 },
        next: if i + 1 == n { END } else { i + 1 },
    }));
    let heap = &mut scratch.heap;
    heap.clear();

    let push = |linked: &[Linked], heap: &mut BinaryHeap<Pair>, l: usize, r: usize| {
        let (Some(ls), Some(rs)) = (linked.get(l), linked.get(r)) else {
            return;
        };
        if let Some(m) = merges.pair(&ls.sym, &rs.sym) {
            heap.push(Pair {
                score: m.score,
                left: l,
                right: r,
                size: rs.sym.end - ls.sym.start,
                id: m.id,
            });
        }
    };

    for i in 1..n {
        push(linked, heap, i - 1, i);
    }
    while let Some(top) = heap.pop() {
        let (Some(&l), Some(&r)) = (linked.get(top.left), linked.get(top.right)) else {
            continue;
        };
        let l_len = l.sym.end - l.sym.start;
        let r_len = r.sym.end - r.sym.start;
        if l_len == 0 || r_len == 0 || l_len + r_len != top.size {
            continue;
        }
        if let Some(ls) = linked.get_mut(top.left) {
            ls.sym.end = r.sym.end;
            ls.sym.id = top.id;
            ls.next = r.next;
        }
        if let Some(ns) = linked.get_mut(r.next) {
            ns.prev = top.left;
        }
        if let Some(rs) = linked.get_mut(top.right) {
            rs.sym.end = rs.sym.start;
        }
        if l.prev != END {
            push(linked, heap, l.prev, top.left);
        }
        if r.next != END {
            push(linked, heap, top.left, r.next);
        }
    }

    let syms = &mut scratch.symbols;
    syms.clear();
    let mut i = if n == 0 { END } else { 0 };
    while let Some(s) = linked.get(i) {
        syms.push(s.sym);
        i = s.next;
    }
}

#[cfg(test)]
pub(crate) fn merge_with(merges: &Merges, scratch: &mut Scratch, small: bool) {
    if small {
        merge_small(merges, scratch);
    } else {
        merge_heap(merges, scratch);
    }
}
