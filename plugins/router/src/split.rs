//! Weighted splits between pools: by a stable hash of the affinity key when there is one, so a
//! user keeps landing on the same side, and by smooth weighted round robin otherwise.

/// One `split` list, with its round-robin state (per instance; it may be reset at any time).
#[derive(Debug)]
pub(crate) struct Split {
    entries: Vec<Entry>,
    /// Sum of the weights; validated to be positive.
    total: u64,
    /// Smooth weighted round robin: one running score per entry.
    current: Vec<i64>,
}

#[derive(Debug)]
struct Entry {
    pool: String,
    weight: u32,
}

impl Split {
    /// A split over `(pool, weight)` pairs, in config order. `None` when the weights add up to
    /// zero (no entry could ever be chosen).
    pub(crate) fn new(entries: Vec<(String, u32)>) -> Option<Self> {
        let total = entries.iter().map(|(_, w)| u64::from(*w)).sum();
        if total == 0 {
            return None;
        }
        Some(Self {
            current: vec![0; entries.len()],
            entries: entries
                .into_iter()
                .map(|(pool, weight)| Entry { pool, weight })
                .collect(),
            total,
        })
    }

    /// The pool for this request: by hash of `key` when given, else the next round-robin pick.
    pub(crate) fn pick(&mut self, key: Option<&str>) -> &str {
        let index = match key {
            Some(key) => self.by_hash(key),
            None => self.next_round_robin(),
        };
        // Both pickers return an index into `entries`, so the fallback is never used.
        self.entries.get(index).map_or("", |e| e.pool.as_str())
    }

    /// The entry whose share of `[0, total)` holds the key's hash point. Stable across
    /// instances, restarts and versions: FNV-1a 64 of the key, then a 64-bit finalizer, scaled
    /// to `total` by multiply-shift (which reads the well-mixed high bits).
    fn by_hash(&self, key: &str) -> usize {
        let hash = mix64(fnv1a64(key.as_bytes()));
        // (hash * total) >> 64 < total, because hash < 2^64.
        let mut point = ((u128::from(hash) * u128::from(self.total)) >> 64) as u64;
        for (index, entry) in self.entries.iter().enumerate() {
            let weight = u64::from(entry.weight);
            if point < weight {
                return index;
            }
            point -= weight;
        }
        0
    }

    /// nginx's smooth weighted round robin: every entry gains its weight, the highest score
    /// wins (the earliest on ties) and pays back the total. A 2:1 split goes a, b, a, a, b, a...
    /// spread out rather than in runs.
    fn next_round_robin(&mut self) -> usize {
        for (score, entry) in self.current.iter_mut().zip(&self.entries) {
            *score += i64::from(entry.weight);
        }
        let best = self
            .current
            .iter()
            .enumerate()
            .max_by(|a, b| a.1.cmp(b.1).then(b.0.cmp(&a.0)))
            .map_or(0, |(index, _)| index);
        if let Some(score) = self.current.get_mut(best) {
            *score -= i64::try_from(self.total).unwrap_or(i64::MAX);
        }
        best
    }
}

/// FNV-1a, 64-bit.
pub(crate) fn fnv1a64(bytes: &[u8]) -> u64 {
    const OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
    const PRIME: u64 = 0x0000_0100_0000_01b3;
    bytes
        .iter()
        .fold(OFFSET, |hash, &b| (hash ^ u64::from(b)).wrapping_mul(PRIME))
}

/// MurmurHash3's `fmix64` finalizer: FNV-1a's low bits are weak, this spreads every input bit
/// over the whole word.
fn mix64(mut h: u64) -> u64 {
    h ^= h >> 33;
    h = h.wrapping_mul(0xff51_afd7_ed55_8ccd);
    h ^= h >> 33;
    h = h.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
    h ^ (h >> 33)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn split(weights: &[(&str, u32)]) -> Split {
        Split::new(weights.iter().map(|(p, w)| ((*p).to_owned(), *w)).collect()).unwrap()
    }

    #[test]
    fn fnv1a64_matches_the_reference_vectors() {
        assert_eq!(fnv1a64(b""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(fnv1a64(b"a"), 0xaf63_dc4c_8601_ec8c);
        assert_eq!(fnv1a64(b"foobar"), 0x8594_4171_f739_67e8);
    }

    #[test]
    fn zero_total_weight_is_refused() {
        assert!(Split::new(vec![("a".into(), 0), ("b".into(), 0)]).is_none());
        assert!(Split::new(Vec::new()).is_none());
    }

    #[test]
    fn same_key_always_picks_the_same_pool() {
        let mut s = split(&[("a", 50), ("b", 50)]);
        let first = s.pick(Some("user-42")).to_owned();
        for _ in 0..20 {
            assert_eq!(s.pick(Some("user-42")), first);
        }
        let mut fresh = split(&[("a", 50), ("b", 50)]);
        assert_eq!(
            fresh.pick(Some("user-42")),
            first,
            "stable across instances"
        );
    }

    #[test]
    fn hashed_keys_follow_the_weights() {
        let mut s = split(&[("a", 90), ("b", 10)]);
        let to_b = (0..10_000)
            .filter(|i| s.pick(Some(&format!("user-{i}"))) == "b")
            .count();
        assert!((800..=1200).contains(&to_b), "{to_b} of 10000 went to b");
    }

    #[test]
    fn zero_weight_entry_is_never_picked() {
        let mut s = split(&[("a", 1), ("off", 0), ("b", 1)]);
        for i in 0..1000 {
            assert_ne!(s.pick(Some(&i.to_string())), "off");
            assert_ne!(s.pick(None), "off");
        }
    }

    #[test]
    fn round_robin_is_smooth_and_exact_per_cycle() {
        let mut s = split(&[("a", 5), ("b", 1), ("c", 1)]);
        let picks: Vec<String> = (0..7).map(|_| s.pick(None).to_owned()).collect();
        assert_eq!(picks, ["a", "a", "b", "a", "c", "a", "a"]);
        let mut s = split(&[("a", 90), ("b", 10)]);
        let to_b = (0..1000).filter(|_| s.pick(None) == "b").count();
        assert_eq!(to_b, 100);
    }
}
