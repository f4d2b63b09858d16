//! Test-only guest: a stream router that routes every connection to the pool its config names
//! (a JSON string, `"pool-name"`) on the first call, made when the connection opens, before any
//! byte: what a router for a protocol where the server speaks first (SMTP, MySQL) does, and
//! the least a router can cost (the stream bench measures the splice behind it).

use weir_stream_sdk::{Connection, Route, Router, Verdict, export_router};

/// The router.
#[derive(Debug)]
pub struct Fixed(String);

impl Router for Fixed {
    fn init(config: &str) -> Result<Self, String> {
        let pool = config.trim().trim_matches('"');
        if pool.is_empty() || pool.starts_with('{') {
            return Err(format!(
                "config must be a pool name as a JSON string, not {config}"
            ));
        }
        Ok(Self(pool.to_owned()))
    }

    fn on_data(&mut self, _conn: &Connection, _data: &[u8]) -> Verdict {
        Route::pool(&self.0).into()
    }
}

export_router!(Fixed);
