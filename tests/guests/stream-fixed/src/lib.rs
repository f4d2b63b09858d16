//! Test-only guest: a stream router that routes every connection to the pool its config names
//! (a JSON string, `"pool-name"`) on the first call, made when the connection opens, before any
//! byte: what a router for a protocol where the server speaks first (SMTP, MySQL) does, and
//! the least a router can cost (the stream bench measures the splice behind it). With
//! `"pool-name+client"` it also replies `client <addr> <port>\n` to the client first, so tests
//! see the client address the router was given.

use weir_stream_sdk::{Connection, Route, Router, Verdict, export_router};

/// The router.
#[derive(Debug)]
pub struct Fixed {
    pool: String,
    tell_client: bool,
}

impl Router for Fixed {
    fn init(config: &str) -> Result<Self, String> {
        let text = config.trim().trim_matches('"');
        let (pool, tell_client) = match text.strip_suffix("+client") {
            Some(pool) => (pool, true),
            None => (text, false),
        };
        if pool.is_empty() || pool.starts_with('{') {
            return Err(format!(
                "config must be a pool name as a JSON string, not {config}"
            ));
        }
        Ok(Self {
            pool: pool.to_owned(),
            tell_client,
        })
    }

    fn on_data(&mut self, conn: &Connection, _data: &[u8]) -> Verdict {
        let route = Route::pool(&self.pool);
        if !self.tell_client {
            return route.into();
        }
        let told = format!("client {} {}\n", conn.client_addr, conn.client_port);
        route.reply(told.into_bytes()).into()
    }
}

export_router!(Fixed);
