//! What a router decides.

/// Where a routed connection goes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Upstream {
    /// A `[[pool]]` by name (its balancing, health and limits apply).
    Pool(String),
    /// `host:port`; the listener must set `allow_address_targets`.
    Address(String),
}

/// A routing decision: where to connect, and what to send first each way.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Route {
    /// Where to connect.
    pub upstream: Upstream,
    /// Keeps connections with the same key on the same backend of a `consistent-hash` pool.
    pub affinity_key: Option<String>,
    /// Replaces the buffered client bytes as the first bytes sent upstream.
    pub send_upstream: Option<Vec<u8>>,
    /// Bytes written to the client once the upstream connection is open.
    pub reply: Vec<u8>,
}

impl Route {
    /// Routes to the pool `name`.
    ///
    /// ```
    /// use weir_stream_sdk::{Route, Upstream};
    /// assert_eq!(Route::pool("db").upstream, Upstream::Pool("db".into()));
    /// ```
    pub fn pool(name: &str) -> Self {
        Self::to(Upstream::Pool(name.to_owned()))
    }

    /// Routes to `host:port`.
    ///
    /// ```
    /// use weir_stream_sdk::{Route, Upstream};
    /// let route = Route::address("127.0.0.1:9418");
    /// assert_eq!(route.upstream, Upstream::Address("127.0.0.1:9418".into()));
    /// ```
    pub fn address(addr: &str) -> Self {
        Self::to(Upstream::Address(addr.to_owned()))
    }

    fn to(upstream: Upstream) -> Self {
        Self {
            upstream,
            affinity_key: None,
            send_upstream: None,
            reply: Vec::new(),
        }
    }

    /// Sets the affinity key.
    ///
    /// ```
    /// use weir_stream_sdk::Route;
    /// let route = Route::pool("db").affinity_key("tenant-7");
    /// assert_eq!(route.affinity_key.as_deref(), Some("tenant-7"));
    /// ```
    pub fn affinity_key(mut self, key: &str) -> Self {
        self.affinity_key = Some(key.to_owned());
        self
    }

    /// Sends `bytes` upstream first instead of what the client sent so far (a router that
    /// consumed a handshake of its own sends nothing: `send_upstream(Vec::new())`).
    ///
    /// ```
    /// use weir_stream_sdk::Route;
    /// let route = Route::pool("db").send_upstream(b"hello".to_vec());
    /// assert_eq!(route.send_upstream.as_deref(), Some(&b"hello"[..]));
    /// ```
    pub fn send_upstream(mut self, bytes: Vec<u8>) -> Self {
        self.send_upstream = Some(bytes);
        self
    }

    /// Writes `bytes` to the client once the upstream connection is open.
    ///
    /// ```
    /// use weir_stream_sdk::Route;
    /// let route = Route::pool("db").reply(b"ok".to_vec());
    /// assert_eq!(route.reply, b"ok");
    /// ```
    pub fn reply(mut self, bytes: Vec<u8>) -> Self {
        self.reply = bytes;
        self
    }
}

/// What happens to the connection after [`Router::on_data`](crate::Router::on_data).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Connect upstream and join the sockets.
    Route(Route),
    /// Call again when more bytes arrive.
    Wait,
    /// Close the connection.
    Close,
    /// Write these bytes to the client, then close.
    CloseWith(Vec<u8>),
}

impl From<Route> for Verdict {
    fn from(route: Route) -> Self {
        Self::Route(route)
    }
}
