//! The three faults the guest can commit, each built so that only weir's limits can stop it:
//! a trap (panic), an endless loop (the per-call deadline) and a memory hog (the memory cap).

use serde::Deserialize;

/// The size of each block the memory hog keeps.
const BLOCK_BYTES: usize = 1 << 20;

/// How the guest misbehaves (`fault` in the config).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
// The variant names are the config's values (`"trap"`, `"loop"`, `"hog"`); Rust spells them
// in CamelCase.
#[serde(rename_all = "snake_case")]
pub(crate) enum Fault {
    /// Panic with `deliberate trap`, which traps the wasm instance.
    Trap,
    /// Spin forever, until weir's per-call deadline interrupts the call.
    Loop,
    /// Allocate until weir's memory cap stops the instance.
    Hog,
}

impl Fault {
    /// Commits the fault. It does not return in a guest; natively, only `Trap` is safe to
    /// call (it panics): `Loop` never returns and `Hog` exhausts the machine's memory.
    pub(crate) fn commit(self) {
        match self {
            Self::Trap => trap(),
            Self::Loop => {
                spin();
            }
            Self::Hog => {
                hog();
            }
        }
    }
}

/// Panics with `deliberate trap`; in a wasm guest the panic aborts, which traps the instance.
///
/// The condition is opaque to the optimiser, so the compiler cannot prove this function
/// diverges and turn its callers (such as `init`) into unreachable code.
#[inline(never)]
fn trap() {
    if std::hint::black_box(true) {
        panic!("deliberate trap");
    }
}

/// Loops forever without touching memory or calling the host; returns the turn count only
/// in theory.
///
/// `black_box` keeps the optimiser from removing the loop or proving that it never ends.
#[inline(never)]
fn spin() -> u64 {
    let mut turns: u64 = 0;
    while std::hint::black_box(true) {
        turns = std::hint::black_box(turns.wrapping_add(1));
    }
    turns
}

/// Keeps allocating, touching and holding 1 MiB blocks until an allocation fails, then panics
/// (a trap in a wasm guest). If the host traps on a failed `memory.grow`, that comes first.
///
/// `try_reserve` turns the failure into the panic message below instead of an abort without
/// a message; `black_box` keeps the optimiser from dropping the unused blocks.
#[inline(never)]
fn hog() -> usize {
    let mut hoard: Vec<Vec<u8>> = Vec::new();
    while std::hint::black_box(true) {
        let mut block: Vec<u8> = Vec::new();
        if block.try_reserve_exact(BLOCK_BYTES).is_err() || hoard.try_reserve(1).is_err() {
            panic!("memory hog: allocation failed after {} MiB", hoard.len());
        }
        block.resize(BLOCK_BYTES, 0xa5);
        hoard.push(std::hint::black_box(block));
        std::hint::black_box(&mut hoard);
    }
    hoard.len()
}
