use std::collections::VecDeque;

use xxhash_rust::xxh3::xxh3_64;

use super::*;

const REQUESTS: usize = 10_000;

/// How many of `REQUESTS` picks each of `n` backends got.
fn spread(n: usize, mut pick: impl FnMut(usize) -> Option<usize>) -> Vec<usize> {
    let mut counts = vec![0; n];
    for r in 0..REQUESTS {
        counts[pick(r).expect("a backend is usable")] += 1;
    }
    counts
}

/// Asserts that `counts` follow `weights` within `tolerance` (a share of all requests).
fn assert_follows_weights(counts: &[usize], weights: &[u32], tolerance: f64) {
    let total: usize = counts.iter().sum();
    let weight_sum: u32 = weights.iter().sum();
    for (i, (&c, &w)) in counts.iter().zip(weights).enumerate() {
        let share = c as f64 / total as f64;
        let wanted = f64::from(w) / f64::from(weight_sum);
        assert!(
            (share - wanted).abs() <= tolerance,
            "backend {i}: share {share:.3}, wanted {wanted:.3} ± {tolerance}: {counts:?}"
        );
    }
}

fn names(n: usize) -> Vec<String> {
    (0..n).map(|i| format!("10.0.0.{}:8080", i + 1)).collect()
}

fn maglev(names: &[String], weights: &[u32]) -> Maglev {
    let backends: Vec<(&str, u32)> = names
        .iter()
        .zip(weights)
        .map(|(n, &w)| (n.as_str(), w))
        .collect();
    Maglev::new(&backends)
}

fn key(k: usize) -> KeyHash {
    KeyHash::of(format!("user-{k}").as_bytes())
}

/// Simulates a pool under load: every request stays in flight until `concurrency` newer
/// ones were started, and backend `slow` (if any) holds its requests four times as long.
fn under_load(
    weights: &[u32],
    concurrency: usize,
    slow: Option<usize>,
    pick: impl Fn(&[usize]) -> Option<usize>,
) -> Vec<usize> {
    let mut in_flight = vec![0usize; weights.len()];
    let mut open: VecDeque<(usize, usize)> = VecDeque::new();
    let mut counts = vec![0; weights.len()];
    for r in 0..REQUESTS {
        while open.front().is_some_and(|&(done_at, _)| done_at <= r) {
            let (_, i) = open.pop_front().expect("checked");
            in_flight[i] -= 1;
        }
        let i = pick(&in_flight).expect("a backend is usable");
        counts[i] += 1;
        in_flight[i] += 1;
        let hold = if Some(i) == slow {
            4 * concurrency
        } else {
            concurrency
        };
        open.push_back((r + hold, i));
        open.make_contiguous().sort_unstable();
    }
    counts
}

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
fn round_robin_spreads_by_weight_and_skips_unusable_backends() {
    let weights = [5, 3, 2];
    let schedule = smooth_schedule(&weights);
    let next = AtomicUsize::new(0);
    let counts = spread(3, |_| round_robin(&schedule, &next, |_| true));
    assert_eq!(counts, vec![5_000, 3_000, 2_000]);
    let counts = spread(3, |_| round_robin(&schedule, &next, |i| i != 0));
    assert_follows_weights(&counts, &[0, 3, 2], 0.001);
    assert_eq!(round_robin(&schedule, &next, |_| false), None);
}

#[test]
fn weighted_random_spreads_by_weight_and_honours_the_predicate() {
    let weights = [1, 2, 7];
    let counts = spread(3, |_| weighted_random(3, |i| weights[i], |_| true, None));
    assert_follows_weights(&counts, &weights, 0.03);
    let counts = spread(3, |_| weighted_random(3, |i| weights[i], |i| i != 2, None));
    assert_follows_weights(&counts, &[1, 2, 0], 0.03);
    assert_eq!(
        weighted_random(3, |i| weights[i], |i| i == 1, Some(1)),
        None
    );
}

#[test]
fn least_requests_compares_load_per_weight() {
    let weights = [4, 1, 2];
    // Loads per weight: 8/4 = 2, 1/1 = 1, 3/2 = 1.5.
    let in_flight = [8, 1, 3];
    let pick = || least_requests(3, |i| weights[i], |i| in_flight[i], |_| true);
    assert_eq!(pick(), Some(1));
    // 4/4 = 1 beats 3/2 and 2/1: a heavier backend may hold more.
    let in_flight = [4, 2, 3];
    assert_eq!(
        least_requests(3, |i| weights[i], |i| in_flight[i], |_| true),
        Some(0)
    );
    assert_eq!(
        least_requests(3, |i| weights[i], |i| in_flight[i], |i| i != 0),
        Some(2)
    );
    assert_eq!(least_requests(3, |i| weights[i], |_| 0, |_| false), None);
}

#[test]
fn least_requests_breaks_ties_by_weight_not_by_position() {
    // An idle pool: every load ties at 0.
    let weights = [1, 1, 2];
    let counts = spread(3, |_| least_requests(3, |i| weights[i], |_| 0, |_| true));
    assert_follows_weights(&counts, &weights, 0.03);
    // Two backends tied at 1/1 = 2/2, the third busier.
    let weights = [1, 2, 1];
    let in_flight = [1, 2, 5];
    let counts = spread(3, |_| {
        least_requests(3, |i| weights[i], |i| in_flight[i], |_| true)
    });
    assert_follows_weights(&counts, &[1, 2, 0], 0.03);
}

#[test]
fn least_requests_under_load_follows_weights_and_avoids_a_slow_backend() {
    let weights = [3, 1];
    let pick = |f: &[usize]| least_requests(2, |i| weights[i], |i| f[i], |_| true);
    let counts = under_load(&weights, 8, None, pick);
    assert_follows_weights(&counts, &weights, 0.05);
    // Equal weights, backend 0 four times slower: it gets far less than half.
    let even = [1, 1];
    let pick = |f: &[usize]| least_requests(2, |i| even[i], |i| f[i], |_| true);
    let counts = under_load(&even, 8, Some(0), pick);
    assert!(counts[0] * 3 < counts[1], "{counts:?}");
}

#[test]
fn p2c_spreads_by_weight_and_prefers_the_less_loaded() {
    let weights = [1, 2, 7];
    let counts = spread(3, |_| p2c(3, |i| weights[i], |_| 0, |_| true));
    // Idle: the first of the two draws wins the tie, so the spread is the weights'.
    assert_follows_weights(&counts, &weights, 0.03);
    // With two backends both are always drawn: the less loaded one wins every time.
    let in_flight = [9, 0];
    let counts = spread(2, |_| p2c(2, |_| 1, |i| in_flight[i], |_| true));
    assert_eq!(counts, vec![0, REQUESTS]);
    assert_eq!(p2c(3, |_| 1, |_| 0, |i| i == 2), Some(2));
    assert_eq!(p2c(3, |_| 1, |_| 0, |_| false), None);
}

#[test]
fn p2c_under_load_avoids_a_slow_backend() {
    let even = [1, 1, 1];
    let pick = |f: &[usize]| p2c(3, |i| even[i], |i| f[i], |_| true);
    let counts = under_load(&even, 12, Some(0), pick);
    assert!(counts[0] * 2 < counts[1], "{counts:?}");
}

#[test]
fn maglev_table_shares_slots_by_weight() {
    let weights = [1, 2, 3, 4];
    let table = maglev(&names(4), &weights);
    assert_eq!(table.table.len(), TABLE_SIZES[0] as usize);
    assert_follows_weights(&table.slots(4), &weights, 0.002);
    let equal = maglev(&names(7), &[1; 7]);
    assert_follows_weights(&equal.slots(7), &[1; 7], 0.001);
}

#[test]
fn maglev_table_size_grows_with_the_backends() {
    assert_eq!(Maglev::new(&[]).pick(key(1), |_| true), None);
    let many = names(200);
    let table = maglev(&many, &[1; 200]);
    assert_eq!(table.table.len(), 65_537);
    assert_follows_weights(&table.slots(200), &[1; 200], 0.001);
}

#[test]
fn maglev_spreads_keys_by_weight() {
    let weights = [1, 1, 2, 4];
    let table = maglev(&names(4), &weights);
    let counts = spread(4, |k| table.pick(key(k), |_| true));
    assert_follows_weights(&counts, &weights, 0.02);
}

#[test]
fn maglev_is_pinned() {
    // A change of the hash, the seeds, the table sizes or the construction fails here.
    let table = maglev(&names(3), &[1, 1, 2]);
    assert_eq!(&table.table[..12], &[1, 2, 0, 2, 2, 2, 2, 1, 0, 1, 2, 2]);
    let bytes: Vec<u8> = table.table.iter().flat_map(|i| i.to_le_bytes()).collect();
    assert_eq!(xxh3_64(&bytes), 0x772b_a229_a9ca_bb28);
    let picks: Vec<Option<usize>> = (0..8).map(|k| table.pick(key(k), |_| true)).collect();
    let want = [0, 2, 2, 0, 2, 2, 2, 2];
    assert_eq!(picks, want.map(Some));
}

#[test]
fn maglev_does_not_depend_on_backend_order() {
    let forward = names(5);
    let mut reversed = forward.clone();
    reversed.reverse();
    let a = maglev(&forward, &[1; 5]);
    let b = maglev(&reversed, &[1; 5]);
    for k in 0..1_000 {
        let i = a.pick(key(k), |_| true).unwrap();
        let j = b.pick(key(k), |_| true).unwrap();
        assert_eq!(forward[i], reversed[j]);
    }
}

#[test]
fn unusable_backend_moves_only_its_own_keys_to_a_fixed_next_choice() {
    let table = maglev(&names(5), &[1; 5]);
    let mut moved_to = [0usize; 5];
    for k in 0..REQUESTS {
        let before = table.pick(key(k), |_| true).unwrap();
        let after = table.pick(key(k), |i| i != 3).unwrap();
        assert_eq!(
            after,
            table.pick(key(k), |i| i != 3).unwrap(),
            "deterministic"
        );
        if before == 3 {
            moved_to[after] += 1;
        } else {
            assert_eq!(before, after, "key {k} of a usable backend moved");
        }
    }
    // The keys of the unusable backend spread over the others rather than piling on one.
    let moved: usize = moved_to.iter().sum();
    assert_follows_weights(&moved_to, &[1, 1, 1, 0, 1], 0.06);
    assert!((1_600..2_400).contains(&moved), "{moved}");
}

/// Keys that map to a different backend name in `after` than in `before`, in total and
/// among those whose backend is in both.
fn moved_keys(before: (&[String], &Maglev), after: (&[String], &Maglev)) -> (usize, usize) {
    let (mut moved, mut moved_staying) = (0, 0);
    for k in 0..REQUESTS {
        let a = &before.0[before.1.pick(key(k), |_| true).unwrap()];
        let b = &after.0[after.1.pick(key(k), |_| true).unwrap()];
        if a != b {
            moved += 1;
            if after.0.contains(a) {
                moved_staying += 1;
            }
        }
    }
    (moved, moved_staying)
}

#[test]
fn removing_a_backend_moves_about_one_nth_of_the_keys() {
    let all = names(5);
    let fewer: Vec<String> = all
        .iter()
        .filter(|n| !n.ends_with(".3:8080"))
        .cloned()
        .collect();
    let (moved, moved_staying) = moved_keys(
        (&all, &maglev(&all, &[1; 5])),
        (&fewer, &maglev(&fewer, &[1; 4])),
    );
    // One fifth of the keys were on the removed backend; rebuilding the table moves a few
    // keys of the others too (62 of 10,000 when this was written).
    assert!((1_700..2_500).contains(&moved), "{moved}");
    assert!(moved_staying < REQUESTS / 100, "{moved_staying}");
}

#[test]
fn adding_a_backend_moves_about_one_nth_of_the_keys() {
    let five = names(5);
    let six = names(6);
    let (moved, _) = moved_keys(
        (&five, &maglev(&five, &[1; 5])),
        (&six, &maglev(&six, &[1; 6])),
    );
    // One sixth of the keys belong to the new backend.
    assert!((1_400..2_100).contains(&moved), "{moved}");
}
