//! The filter instance behind the component exports: the thread-local slot that `init` fills,
//! the answer a hook gives before a successful `init`, and the panic hook. Target-independent,
//! so it is unit-tested natively; `bindings.rs` adapts it to the generated exports on `wasm32`.
#![cfg_attr(
    not(target_arch = "wasm32"),
    allow(
        dead_code,
        reason = "only the wasm32 exports call the glue; native builds unit-test it"
    )
)]

use std::cell::{Cell, RefCell};
use std::thread::LocalKey;

use crate::{Filter, Request, Response, Verdict};

/// Where an exported filter instance lives: one per component instance, which is
/// single-threaded.
pub type Slot<F> = RefCell<Option<F>>;

/// The body of the 500 a hook answers before `init` has succeeded.
pub(crate) const NOT_INITIALISED: &str = "filter not initialised";

thread_local! {
    /// Set by the default `Filter::on_response`, read back after the hook.
    static DEFAULT_ON_RESPONSE_RAN: Cell<bool> = const { Cell::new(false) };
}

/// Records that the default `on_response` ran: the filter does nothing on responses.
pub(crate) fn note_default_on_response() {
    DEFAULT_ON_RESPONSE_RAN.with(|ran| ran.set(true));
}

/// Whether the default `on_response` ran since the last call (and clears it).
pub(crate) fn take_default_on_response() -> bool {
    DEFAULT_ON_RESPONSE_RAN.with(|ran| ran.replace(false))
}

/// An empty slot, usable in a `thread_local!` `const` initialiser.
pub const fn empty_slot<F>() -> Slot<F> {
    RefCell::new(None)
}

/// Builds the filter from `config` and stores it; on error the slot is left empty and the
/// error goes back to the host, which refuses the load.
pub(crate) fn init<F: Filter>(
    slot: &'static LocalKey<Slot<F>>,
    config: &str,
) -> Result<(), String> {
    install_panic_hook();
    let built = F::init(config);
    let stored = slot.try_with(|cell| {
        let mut instance = cell.try_borrow_mut().map_err(|_| busy_message())?;
        match built {
            Ok(filter) => {
                *instance = Some(filter);
                Ok(())
            }
            Err(e) => {
                *instance = None;
                Err(e)
            }
        }
    });
    stored.unwrap_or_else(|_| Err(gone_message()))
}

/// Runs `on_request` on the stored instance, or answers 500 when there is none.
pub(crate) fn on_request<F: Filter>(
    slot: &'static LocalKey<Slot<F>>,
    req: &mut Request,
) -> Verdict {
    with_instance(slot, |filter| filter.on_request(req))
}

/// Runs `on_response` on the stored instance, or answers 500 when there is none.
pub(crate) fn on_response<F: Filter>(
    slot: &'static LocalKey<Slot<F>>,
    req: &Request,
    resp: &mut Response,
) -> Verdict {
    with_instance(slot, |filter| filter.on_response(req, resp))
}

fn with_instance<F: Filter>(
    slot: &'static LocalKey<Slot<F>>,
    hook: impl FnOnce(&mut F) -> Verdict,
) -> Verdict {
    let verdict = slot.try_with(|cell| {
        let Ok(mut instance) = cell.try_borrow_mut() else {
            return Verdict::deny(500, busy_message());
        };
        match instance.as_mut() {
            Some(filter) => hook(filter),
            None => Verdict::deny(500, NOT_INITIALISED),
        }
    });
    verdict.unwrap_or_else(|_| Verdict::deny(500, gone_message()))
}

fn busy_message() -> String {
    "filter instance re-entered".to_owned()
}

fn gone_message() -> String {
    "filter instance destroyed".to_owned()
}

/// Reports panics through the host log before the instance traps (the default hook writes to
/// stderr, which a filter does not have). Installed once; only on `wasm32`, so native test runs
/// keep the standard hook.
fn install_panic_hook() {
    #[cfg(target_arch = "wasm32")]
    {
        static ONCE: std::sync::Once = std::sync::Once::new();
        ONCE.call_once(|| {
            std::panic::set_hook(Box::new(|info| {
                let (message, location) = panic_report(info.payload_as_str(), info.location());
                let fields: Vec<(&str, &str)> = location
                    .iter()
                    .map(|l| ("panic.location", l.as_str()))
                    .collect();
                crate::host::log(crate::host::Level::Error, &message, &fields);
            }));
        });
    }
}

/// The log message and `file:line:column` location for a panic.
#[cfg(any(target_arch = "wasm32", test))]
fn panic_report(
    payload: Option<&str>,
    location: Option<&std::panic::Location<'_>>,
) -> (String, Option<String>) {
    let message = match payload {
        Some(text) => format!("filter panicked: {text}"),
        None => "filter panicked".to_owned(),
    };
    (message, location.map(ToString::to_string))
}

#[cfg(test)]
#[allow(
    clippy::unwrap_used,
    reason = "in tests a panic is the failure report; see STYLE §9 allow-unwrap-in-tests"
)]
mod tests {
    use super::*;
    use crate::testing::TestRequest;

    struct Counter {
        seen: u32,
    }

    impl Filter for Counter {
        fn init(config: &str) -> Result<Self, String> {
            match config {
                "{}" => Ok(Counter { seen: 0 }),
                other => Err(format!("bad config {other}")),
            }
        }

        fn on_request(&mut self, _req: &mut Request) -> Verdict {
            self.seen += 1;
            Verdict::deny(200, self.seen.to_string())
        }
    }

    thread_local! {
        static SLOT: Slot<Counter> = const { empty_slot() };
    }

    fn body(verdict: &Verdict) -> (u16, String) {
        let resp = verdict.as_response().expect("a respond verdict");
        (
            resp.status,
            String::from_utf8_lossy(&resp.body).into_owned(),
        )
    }

    #[test]
    fn hooks_before_init_answer_500_not_initialised() {
        let mut req = TestRequest::get("/").build();
        let verdict = on_request(&SLOT, &mut req);
        assert_eq!(body(&verdict), (500, NOT_INITIALISED.to_owned()));
        let mut resp = crate::testing::TestResponse::new(200).build();
        let verdict = on_response(&SLOT, &req, &mut resp);
        assert_eq!(body(&verdict), (500, NOT_INITIALISED.to_owned()));
    }

    #[test]
    fn init_keeps_one_instance_across_hooks() {
        init(&SLOT, "{}").unwrap();
        let mut req = TestRequest::get("/").build();
        assert_eq!(body(&on_request(&SLOT, &mut req)).1, "1");
        assert_eq!(body(&on_request(&SLOT, &mut req)).1, "2");
        let mut resp = crate::testing::TestResponse::new(200).build();
        assert!(on_response(&SLOT, &req, &mut resp).is_continue());
    }

    #[test]
    fn failed_init_returns_the_error_and_leaves_no_instance() {
        init(&SLOT, "{}").unwrap();
        assert_eq!(init(&SLOT, "nope"), Err("bad config nope".to_owned()));
        let mut req = TestRequest::get("/").build();
        assert_eq!(body(&on_request(&SLOT, &mut req)).0, 500);
    }

    #[test]
    fn panic_report_names_message_and_location() {
        let here = std::panic::Location::caller();
        let (message, location) = panic_report(Some("boom"), Some(here));
        assert_eq!(message, "filter panicked: boom");
        assert!(location.unwrap().contains("instance.rs"));
        assert_eq!(
            panic_report(None, None),
            ("filter panicked".to_owned(), None)
        );
    }
}
