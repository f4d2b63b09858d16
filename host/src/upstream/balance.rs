//! Pure balancing algorithms, kept apart from I/O so they are easy to test. Each takes the
//! backends as indices and a predicate `usable(i)` for the ones that may be chosen (the pool
//! decides: down, ejected, at its limit, excluded for a retry), and returns `None` when no
//! backend is usable.

use std::cell::Cell;
use std::sync::atomic::{AtomicUsize, Ordering};

use super::hash::{KeyHash, backend_hash};

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

/// Smooth weighted round robin: the next slot of `schedule` whose backend is usable.
pub(crate) fn round_robin(
    schedule: &[usize],
    next: &AtomicUsize,
    usable: impl Fn(usize) -> bool,
) -> Option<usize> {
    // Walk the schedule until a usable backend comes up.
    for _ in 0..schedule.len() {
        let slot = next.fetch_add(1, Ordering::Relaxed) % schedule.len();
        let i = schedule[slot];
        if usable(i) {
            return Some(i);
        }
    }
    None
}

/// Picks one of the `n` backends that are usable (and not `except`), with probability
/// proportional to its weight. Two passes, no allocation.
pub(crate) fn weighted_random(
    n: usize,
    weight: impl Fn(usize) -> u32,
    usable: impl Fn(usize) -> bool,
    except: Option<usize>,
) -> Option<usize> {
    let allowed = |i: usize| Some(i) != except && usable(i);
    let total: u64 = (0..n)
        .filter(|&i| allowed(i))
        .map(|i| u64::from(weight(i)))
        .sum();
    if total == 0 {
        return (0..n).find(|&i| allowed(i));
    }
    let mut point = next_random() % total;
    for i in (0..n).filter(|&i| allowed(i)) {
        let w = u64::from(weight(i));
        if point < w {
            return Some(i);
        }
        point -= w;
    }
    None
}

/// Weighted least outstanding requests: the usable backend with the lowest
/// `in_flight / weight`. Ties are broken at random by weight, so an idle pool spreads by
/// weight instead of always sending to the first backend.
pub(crate) fn least_requests(
    n: usize,
    weight: impl Fn(usize) -> u32,
    in_flight: impl Fn(usize) -> usize,
    usable: impl Fn(usize) -> bool,
) -> Option<usize> {
    let mut best: Option<usize> = None;
    // Sum of the weights tied at the best load: a weighted reservoir sample of one.
    let mut tied_weight = 0u64;
    for i in (0..n).filter(|&i| usable(i)) {
        let w = u64::from(weight(i)).max(1);
        let order = match best {
            None => std::cmp::Ordering::Less,
            Some(b) => compare_load((in_flight(i), weight(i)), (in_flight(b), weight(b))),
        };
        match order {
            std::cmp::Ordering::Less => {
                best = Some(i);
                tied_weight = w;
            }
            std::cmp::Ordering::Equal => {
                tied_weight += w;
                if next_random() % tied_weight < w {
                    best = Some(i);
                }
            }
            std::cmp::Ordering::Greater => {}
        }
    }
    best
}

/// Power of two random choices: two different usable backends drawn by weight, and the one
/// with the lower `in_flight / weight` (the first drawn on a tie).
pub(crate) fn p2c(
    n: usize,
    weight: impl Fn(usize) -> u32,
    in_flight: impl Fn(usize) -> usize,
    usable: impl Fn(usize) -> bool,
) -> Option<usize> {
    let a = weighted_random(n, &weight, &usable, None)?;
    let Some(b) = weighted_random(n, &weight, &usable, Some(a)) else {
        return Some(a);
    };
    Some(
        if compare_load((in_flight(b), weight(b)), (in_flight(a), weight(a))).is_lt() {
            b
        } else {
            a
        },
    )
}

/// Table sizes for consistent hashing, primes so that every backend's permutation visits
/// every slot. The table has at least 100 slots per backend (Maglev's advice for an even
/// spread); 4099 slots of 4 bytes cost 16 KiB.
const TABLE_SIZES: [u64; 5] = [4_099, 16_411, 65_537, 262_147, 1_048_583];

/// A Maglev lookup table (Eisenbud et al., NSDI 2016) with weights: each slot names a
/// backend, and a key's hash picks a slot in O(1).
///
/// Each backend's preference list is the permutation `(offset + j * skip) mod M`, with
/// `offset` and `skip` from the XXH3-64 of its name (seeds 0 and 1), so the table depends on
/// the backends' names and weights, never on their order. Backends take turns claiming their
/// next preferred free slot; a backend claims a turn each time its accumulated weight reaches
/// the largest weight, so slots are shared in proportion to weight (Envoy's weighted Maglev).
#[derive(Debug)]
pub(crate) struct Maglev {
    table: Vec<u32>,
}

impl Maglev {
    /// Builds the table for backends given as `(name, weight)`.
    pub(crate) fn new(backends: &[(&str, u32)]) -> Self {
        let n = backends.len();
        let wanted = 100 * n as u64;
        let size = TABLE_SIZES
            .iter()
            .copied()
            .find(|&m| m >= wanted)
            .unwrap_or(TABLE_SIZES[TABLE_SIZES.len() - 1]);
        if n == 0 {
            return Self { table: Vec::new() };
        }
        let permutation: Vec<(u64, u64)> = backends
            .iter()
            .map(|(name, _)| {
                let offset = backend_hash(name, 0) % size;
                let skip = backend_hash(name, 1) % (size - 1) + 1;
                (offset, skip)
            })
            .collect();
        let weights: Vec<u64> = backends.iter().map(|&(_, w)| u64::from(w.max(1))).collect();
        let max_weight = weights.iter().copied().max().unwrap_or(1);
        let mut credit = vec![0u64; n];
        let mut next = vec![0u64; n];
        let mut table = vec![u32::MAX; size as usize];
        // Turns go in the order of the names, so the table does not depend on the order in
        // which the config lists the backends.
        let mut order: Vec<usize> = (0..n).collect();
        order.sort_by_key(|&i| backends[i].0);
        let mut filled = 0u64;
        while filled < size {
            for &i in &order {
                credit[i] += weights[i];
                if credit[i] < max_weight {
                    continue;
                }
                credit[i] -= max_weight;
                let (offset, skip) = permutation[i];
                // Terminates: the permutation visits every slot, and one is still free.
                loop {
                    let slot = ((offset + next[i] * skip) % size) as usize;
                    next[i] += 1;
                    if table[slot] == u32::MAX {
                        table[slot] = i as u32;
                        filled += 1;
                        break;
                    }
                }
                if filled == size {
                    break;
                }
            }
        }
        Self { table }
    }

    /// The backend for `key`: its slot's backend if usable, else the backend of the key's
    /// next slots `slot + k * step` (`step` from the key's other bits), the first usable one.
    /// The walk depends only on the key and the table, so a key whose backend is unusable
    /// always goes to the same replacement, and keys of usable backends never move.
    pub(crate) fn pick(&self, key: KeyHash, usable: impl Fn(usize) -> bool) -> Option<usize> {
        let size = self.table.len() as u64;
        if size == 0 {
            return None;
        }
        let mut slot = key.0 % size;
        let step = key.0.rotate_left(32) % (size - 1) + 1;
        for _ in 0..size {
            let i = self.table[slot as usize] as usize;
            if usable(i) {
                return Some(i);
            }
            slot = (slot + step) % size;
        }
        None
    }

    /// How many slots each of `n` backends holds.
    #[cfg(test)]
    pub(crate) fn slots(&self, n: usize) -> Vec<usize> {
        let mut counts = vec![0; n];
        for &i in &self.table {
            counts[i as usize] += 1;
        }
        counts
    }
}

/// Compares `in_flight / weight` of two backends exactly, by cross-multiplying (no floats).
fn compare_load(a: (usize, u32), b: (usize, u32)) -> std::cmp::Ordering {
    let (a_load, a_weight) = (a.0 as u128, u128::from(a.1.max(1)));
    let (b_load, b_weight) = (b.0 as u128, u128::from(b.1.max(1)));
    (a_load * b_weight).cmp(&(b_load * a_weight))
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
mod tests;
