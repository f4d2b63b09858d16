//! Test-only guest: a stream router whose `on_data` misbehaves as its config (a JSON string)
//! says, once it has at least one byte: `"trap"` panics, `"loop"` never returns, `"hog"` grows
//! its memory without bound, `"oversized"` answers `close-with` 1 MiB + 1 byte (past the default `max_local_response_body_bytes`). With no bytes it waits.

use weir_stream_sdk::{Connection, Router, Verdict, export_router};

/// How the router misbehaves.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fault {
    /// Panics (a trap).
    Trap,
    /// Loops until the deadline interrupts it.
    Loop,
    /// Allocates until the memory cap stops it.
    Hog,
    /// Returns a verdict carrying 1 MiB + 1 byte.
    Oversized,
}

/// The router.
#[derive(Debug)]
pub struct Misbehave(Fault);

impl Router for Misbehave {
    fn init(config: &str) -> Result<Self, String> {
        let fault = match config.trim().trim_matches('"') {
            "trap" => Fault::Trap,
            "loop" => Fault::Loop,
            "hog" => Fault::Hog,
            "oversized" => Fault::Oversized,
            other => return Err(format!("unknown fault `{other}`")),
        };
        Ok(Self(fault))
    }

    fn on_data(&mut self, _conn: &Connection, data: &[u8]) -> Verdict {
        if data.is_empty() {
            return Verdict::Wait;
        }
        match self.0 {
            Fault::Trap => panic!("stream router trapped on purpose"),
            Fault::Loop => {
                let mut n = 0u64;
                loop {
                    n = std::hint::black_box(n.wrapping_add(1));
                }
            }
            Fault::Hog => {
                let mut hoard: Vec<Vec<u8>> = Vec::new();
                loop {
                    hoard.push(vec![1; 1 << 20]);
                    std::hint::black_box(&hoard);
                }
            }
            Fault::Oversized => Verdict::CloseWith(vec![b'x'; (1 << 20) + 1]),
        }
    }
}

export_router!(Misbehave);
