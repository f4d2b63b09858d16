//! Pure balancing algorithms, kept apart from I/O so they are easy to test.

use std::cell::Cell;
use std::hash::{DefaultHasher, Hash, Hasher};

/// Largest schedule built for round robin; weights are scaled down to fit.
const MAX_SCHEDULE: u64 = 4096;

/// The smooth weighted round-robin order (nginx's algorithm): each step adds every weight to its
/// backend's current value, picks the largest, and subtracts the total from it.
pub(crate) fn smooth_schedule(weights: &[u32]) -> Vec<usize> {
    let total: u64 = weights.iter().map(|&w| u64::from(w)).sum();
    if total == 0 {
        return (0..weights.len()).collect();
    }
    let scale = total.div_ceil(MAX_SCHEDULE);
    let weights: Vec<i64> = weights
        .iter()
        .map(|&w| (u64::from(w) / scale).max(1) as i64)
        .collect();
    let total: i64 = weights.iter().sum();
    let mut current = vec![0i64; weights.len()];
    let mut schedule = Vec::with_capacity(total as usize);
    for _ in 0..total {
        for (c, w) in current.iter_mut().zip(&weights) {
            *c += w;
        }
        let (best, _) = current
            .iter()
            .enumerate()
            .max_by_key(|&(i, c)| (*c, std::cmp::Reverse(i)))
            .unwrap_or((0, &0));
        current[best] -= total;
        schedule.push(best);
    }
    schedule
}

/// Weighted rendezvous (highest random weight) hashing over `candidates`.
pub(crate) fn rendezvous<'a>(
    key: &str,
    candidates: &[usize],
    backend: impl Fn(usize) -> (&'a str, u32),
) -> usize {
    let mut best = (f64::MIN, candidates.first().copied().unwrap_or(0));
    for &i in candidates {
        let (name, weight) = backend(i);
        let mut hasher = DefaultHasher::new();
        (key, name).hash(&mut hasher);
        // Map the hash to (0, 1] and apply the weight: score = -w / ln(u).
        let unit = ((hasher.finish() >> 11) as f64 + 1.0) / (1u64 << 53) as f64;
        let score = -f64::from(weight) / unit.ln();
        if score > best.0 {
            best = (score, i);
        }
    }
    best.1
}

/// Picks one candidate with probability proportional to its weight.
pub(crate) fn weighted_random(candidates: &[usize], weight: impl Fn(usize) -> u32) -> usize {
    let total: u64 = candidates.iter().map(|&i| u64::from(weight(i))).sum();
    let mut point = next_random() % total.max(1);
    for &i in candidates {
        let w = u64::from(weight(i));
        if point < w {
            return i;
        }
        point -= w;
    }
    candidates.first().copied().unwrap_or(0)
}

/// A per-thread xorshift generator: balancing needs spread, not secrecy.
fn next_random() -> u64 {
    thread_local! {
        static STATE: Cell<u64> = Cell::new(getrandom::u64().unwrap_or(0x2545_f491_4f6c_dd1d) | 1);
    }
    STATE.with(|s| {
        let mut x = s.get();
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        s.set(x);
        x
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn smooth_schedule_interleaves_by_weight() {
        assert_eq!(smooth_schedule(&[5, 1, 1]), vec![0, 0, 1, 0, 2, 0, 0]);
        assert_eq!(smooth_schedule(&[1, 1]), vec![0, 1]);
    }

    #[test]
    fn huge_weights_are_scaled_to_a_bounded_schedule() {
        let schedule = smooth_schedule(&[u32::MAX, 1]);
        assert!(schedule.len() as u64 <= MAX_SCHEDULE + 2);
        assert!(
            schedule.contains(&1),
            "every backend keeps at least one slot"
        );
    }

    #[test]
    fn rendezvous_is_stable_and_moves_only_removed_keys() {
        let names = ["a:1", "b:1", "c:1"];
        let all = [0, 1, 2];
        let pick = |key: &str, c: &[usize]| rendezvous(key, c, |i| (names[i], 1));
        let mut moved = 0;
        for k in 0..300 {
            let key = format!("user-{k}");
            let before = pick(&key, &all);
            assert_eq!(before, pick(&key, &all), "stable");
            let after = pick(&key, &[0, 1]);
            if before != 2 {
                assert_eq!(before, after, "keys of remaining backends stay");
            } else {
                moved += 1;
            }
        }
        assert!(
            (50..150).contains(&moved),
            "about a third of keys were on c: {moved}"
        );
    }

    #[test]
    fn weighted_random_respects_weights() {
        let mut counts = [0u32; 2];
        for _ in 0..10_000 {
            counts[weighted_random(&[0, 1], |i| if i == 0 { 9 } else { 1 })] += 1;
        }
        assert!((8_500..9_500).contains(&counts[0]), "{counts:?}");
    }
}
