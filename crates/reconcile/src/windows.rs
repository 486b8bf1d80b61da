//! Interval indexes over job windows (times are epoch milliseconds, already widened by the slack).

use std::hash::{BuildHasherDefault, Hasher};

/// A small, fast, non-cryptographic hasher (FxHash) for the reconciler's internal maps; the keys
/// are ARNs we chose to index, not attacker-sized input.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct FxHasher(u64);

const SEED: u64 = 0x51_7c_c1_b7_27_22_0a_95;

impl FxHasher {
    #[inline]
    fn add(&mut self, w: u64) {
        self.0 = (self.0.rotate_left(5) ^ w).wrapping_mul(SEED);
    }
}

impl Hasher for FxHasher {
    #[inline]
    fn write(&mut self, bytes: &[u8]) {
        let mut chunks = bytes.chunks_exact(8);
        for c in &mut chunks {
            self.add(u64::from_le_bytes(c.try_into().expect("8 bytes")));
        }
        let rest = chunks.remainder();
        if !rest.is_empty() {
            let mut buf = [0u8; 8];
            buf[..rest.len()].copy_from_slice(rest);
            self.add(u64::from_le_bytes(buf));
        }
    }
    #[inline]
    fn write_u8(&mut self, i: u8) {
        self.add(u64::from(i));
    }
    #[inline]
    fn write_u32(&mut self, i: u32) {
        self.add(u64::from(i));
    }
    #[inline]
    fn write_u64(&mut self, i: u64) {
        self.add(i);
    }
    #[inline]
    fn write_usize(&mut self, i: usize) {
        self.add(i as u64);
    }
    #[inline]
    fn finish(&self) -> u64 {
        self.0
    }
}

pub(crate) type FxMap<K, V> = std::collections::HashMap<K, V, BuildHasherDefault<FxHasher>>;

/// Windows of a set of jobs, for "which job contains t" and "which job is nearest to t".
///
/// Sorted by `(lo, rank)` where `rank` is the job ARN's rank in byte order, so ties resolve to the
/// smallest job ARN, as the SQL's `ORDER BY … , job_arn` does.
#[derive(Debug, Default, Clone)]
pub(crate) struct Windows {
    lo: Vec<i64>,
    hi: Vec<i64>,
    rank: Vec<u32>,
    job: Vec<u32>,
    /// `pmax[i]`: position in `0..=i` with the greatest `hi` (ties: smallest rank).
    pmax: Vec<u32>,
}

impl Windows {
    /// `items`: `(lo, hi, rank, job)`; a job appearing twice is kept once.
    pub(crate) fn build(mut items: Vec<(i64, i64, u32, u32)>) -> Self {
        items.sort_unstable_by_key(|&(lo, hi, rank, _)| (lo, rank, hi));
        items.dedup_by_key(|it| it.3);
        let mut w = Windows::default();
        let mut best = 0usize;
        for (i, &(lo, hi, rank, job)) in items.iter().enumerate() {
            w.lo.push(lo);
            w.hi.push(hi);
            w.rank.push(rank);
            w.job.push(job);
            if i > 0 && (hi > w.hi[best] || (hi == w.hi[best] && rank < w.rank[best])) {
                best = i;
            }
            w.pmax.push(best as u32);
        }
        w
    }

    /// Among windows containing `t`, the one ending last (ties: smallest ARN); `None` if none.
    #[inline]
    pub(crate) fn containing(&self, t: i64) -> Option<u32> {
        let n = self.lo.partition_point(|&lo| lo <= t);
        if n == 0 {
            return None;
        }
        let b = self.pmax[n - 1] as usize;
        (self.hi[b] >= t).then(|| self.job[b])
    }

    /// The window nearest to `t` (distance to its nearer edge; ties: smallest ARN), assuming none
    /// contains `t`. `None` only when empty.
    pub(crate) fn nearest(&self, t: i64) -> Option<u32> {
        let n = self.lo.partition_point(|&lo| lo <= t);
        let before = (n > 0).then(|| self.pmax[n - 1] as usize);
        let after = (n < self.lo.len()).then_some(n);
        match (before, after) {
            (None, None) => None,
            (Some(b), None) => Some(self.job[b]),
            (None, Some(a)) => Some(self.job[a]),
            (Some(b), Some(a)) => {
                let db = t.saturating_sub(self.hi[b]);
                let da = self.lo[a].saturating_sub(t);
                let pick = if (db, self.rank[b]) <= (da, self.rank[a]) { b } else { a };
                Some(self.job[pick])
            }
        }
    }
}

/// Requirements still waiting for evidence: a stabbing index that removes what it finds, so every
/// requirement is visited once however many events hit it.
#[derive(Debug, Default, Clone)]
pub(crate) struct Pending {
    lo: Vec<i64>,
    req: Vec<u32>,
    /// Segment tree (1-based) of the max `hi` of the live requirements below each node.
    tree: Vec<i64>,
    size: usize,
    alive: usize,
}

impl Pending {
    /// `items`: `(lo, hi, requirement)`.
    pub(crate) fn build(mut items: Vec<(i64, i64, u32)>) -> Self {
        items.sort_unstable();
        let n = items.len();
        let size = n.next_power_of_two().max(1);
        let mut tree = vec![i64::MIN; 2 * size];
        let mut lo = Vec::with_capacity(n);
        let mut req = Vec::with_capacity(n);
        for (i, &(l, h, r)) in items.iter().enumerate() {
            lo.push(l);
            req.push(r);
            tree[size + i] = h;
        }
        for i in (1..size).rev() {
            tree[i] = tree[2 * i].max(tree[2 * i + 1]);
        }
        Pending { lo, req, tree, size, alive: n }
    }

    /// Marks `done[r]` for every live requirement whose window contains `t`, and removes it.
    #[inline]
    pub(crate) fn hit(&mut self, t: i64, done: &mut [bool]) {
        if self.alive == 0 {
            return;
        }
        let n = self.lo.partition_point(|&lo| lo <= t);
        if n == 0 || self.tree[1] < t {
            return;
        }
        self.collect(1, 0, self.size, n, t, done);
    }

    fn collect(&mut self, node: usize, l: usize, r: usize, n: usize, t: i64, done: &mut [bool]) {
        if l >= n || self.tree[node] < t {
            return;
        }
        if r - l == 1 {
            done[self.req[l] as usize] = true;
            self.tree[node] = i64::MIN;
            self.alive -= 1;
            return;
        }
        let m = (l + r) / 2;
        self.collect(2 * node, l, m, n, t, done);
        self.collect(2 * node + 1, m, r, n, t, done);
        self.tree[node] = self.tree[2 * node].max(self.tree[2 * node + 1]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn containing_and_nearest() {
        // job 0: [0,10] rank 1; job 1: [5, 20] rank 0; job 2: [30, 40] rank 2
        let w = Windows::build(vec![(0, 10, 1, 0), (5, 20, 0, 1), (30, 40, 2, 2)]);
        assert_eq!(w.containing(-1), None);
        assert_eq!(w.containing(3), Some(0));
        assert_eq!(w.containing(7), Some(1)); // both contain, job 1 ends last
        assert_eq!(w.containing(25), None);
        assert_eq!(w.nearest(24), Some(1)); // 4 after job 1, 6 before job 2
        assert_eq!(w.nearest(26), Some(2));
        assert_eq!(w.nearest(25), Some(1)); // tie 5/5: smallest rank
        assert_eq!(w.nearest(100), Some(2));
        assert_eq!(w.nearest(-5), Some(0));
        let open = Windows::build(vec![(0, i64::MAX, 3, 7), (0, i64::MAX, 1, 8)]);
        assert_eq!(open.containing(i64::MAX - 1), Some(8));
    }

    #[test]
    fn pending_removes_hits() {
        let mut p = Pending::build(vec![(0, 10, 0), (5, 20, 1), (30, 40, 2), (35, 36, 3)]);
        let mut done = vec![false; 4];
        p.hit(25, &mut done);
        assert_eq!(done, [false; 4]);
        p.hit(7, &mut done);
        assert_eq!(done, [true, true, false, false]);
        p.hit(36, &mut done);
        assert_eq!(done, [true; 4]);
        assert_eq!(p.alive, 0);
    }
}
