//! The router instance behind the component exports: the thread-local slot that `init` fills.
//! Target-independent, so it is unit-tested natively.

use std::cell::RefCell;
use std::thread::LocalKey;

use crate::{Connection, Router, Verdict};

/// Where an exported router instance lives: one per component instance, which is
/// single-threaded.
pub type Slot<R> = RefCell<Option<R>>;

/// An empty slot, usable in a `thread_local!` `const` initialiser.
pub const fn empty_slot<R>() -> Slot<R> {
    RefCell::new(None)
}

/// Builds the router from `config` and stores it; on error the slot is left empty and the
/// error goes back to the host, which refuses the load.
pub fn init<R: Router>(slot: &'static LocalKey<Slot<R>>, config: &str) -> Result<(), String> {
    install_panic_hook();
    let built = R::init(config);
    let stored = slot.try_with(|cell| {
        let mut instance = cell
            .try_borrow_mut()
            .map_err(|_| "router instance is busy".to_owned())?;
        match built {
            Ok(router) => {
                *instance = Some(router);
                Ok(())
            }
            Err(e) => {
                *instance = None;
                Err(e)
            }
        }
    });
    stored.unwrap_or_else(|_| Err("router instance is gone".to_owned()))
}

/// Runs `on_data` on the stored instance; closes the connection when there is none (`init`
/// failed or never ran), which the host never lets happen.
pub fn on_data<R: Router>(
    slot: &'static LocalKey<Slot<R>>,
    conn: Connection,
    data: &[u8],
) -> Verdict {
    slot.try_with(|cell| match cell.try_borrow_mut() {
        Ok(mut instance) => match instance.as_mut() {
            Some(router) => router.on_data(&conn, data),
            None => Verdict::Close,
        },
        Err(_) => Verdict::Close,
    })
    .unwrap_or(Verdict::Close)
}

fn install_panic_hook() {
    #[cfg(target_arch = "wasm32")]
    {
        static ONCE: std::sync::Once = std::sync::Once::new();
        ONCE.call_once(|| {
            std::panic::set_hook(Box::new(|info| {
                let message = match info.payload_as_str() {
                    Some(text) => format!("router panicked: {text}"),
                    None => "router panicked".to_owned(),
                };
                let location = info
                    .location()
                    .map(|l| format!("{}:{}:{}", l.file(), l.line(), l.column()));
                let fields: Vec<(&str, &str)> = location
                    .iter()
                    .map(|l| ("panic.location", l.as_str()))
                    .collect();
                crate::host::log(crate::host::Level::Error, &message, &fields);
            }));
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::TestConnection;

    struct Echo;

    impl Router for Echo {
        fn init(config: &str) -> Result<Self, String> {
            if config == "bad" {
                return Err("bad config".into());
            }
            Ok(Echo)
        }

        fn on_data(&mut self, _conn: &Connection, data: &[u8]) -> Verdict {
            Verdict::CloseWith(data.to_vec())
        }
    }

    thread_local! {
        static SLOT: Slot<Echo> = const { empty_slot() };
    }

    #[test]
    fn a_failed_init_leaves_no_instance_and_on_data_closes() {
        assert_eq!(init(&SLOT, "bad"), Err("bad config".to_owned()));
        let conn = TestConnection::new().build();
        assert_eq!(on_data(&SLOT, conn.clone(), b"x"), Verdict::Close);
        assert_eq!(init(&SLOT, "{}"), Ok(()));
        assert_eq!(
            on_data(&SLOT, conn, b"x"),
            Verdict::CloseWith(b"x".to_vec())
        );
    }
}
