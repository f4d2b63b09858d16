//! Run routers natively: connections to pass to [`Router::on_data`](crate::Router::on_data),
//! ClientHello bytes to feed SNI routers, and the counters [`host::counter_add`] recorded.
//!
//! [`host::counter_add`]: crate::host::counter_add

use std::cell::RefCell;
use std::collections::BTreeMap;

use crate::Connection;

/// Builds a [`Connection`] as weir would describe it.
#[derive(Clone, Debug)]
pub struct TestConnection(Connection);

impl TestConnection {
    /// A connection from 127.0.0.1:40000 on listener `test`.
    ///
    /// ```
    /// let conn = weir_stream_sdk::testing::TestConnection::new().client("192.0.2.7", 1234).build();
    /// assert_eq!(conn.client_addr, "192.0.2.7");
    /// ```
    pub fn new() -> Self {
        Self(Connection {
            listener: "test".into(),
            client_addr: "127.0.0.1".into(),
            client_port: 40000,
            peer_addr: "127.0.0.1".into(),
            id: "test-0".into(),
        })
    }

    /// Sets the client's address and port.
    pub fn client(mut self, addr: &str, port: u16) -> Self {
        self.0.client_addr = addr.to_owned();
        self.0.client_port = port;
        self
    }

    /// Sets the listener's name.
    pub fn listener(mut self, name: &str) -> Self {
        self.0.listener = name.to_owned();
        self
    }

    /// The connection.
    pub fn build(self) -> Connection {
        self.0
    }
}

impl Default for TestConnection {
    fn default() -> Self {
        Self::new()
    }
}

thread_local! {
    static COUNTERS: RefCell<BTreeMap<String, u64>> = const { RefCell::new(BTreeMap::new()) };
}

#[cfg(not(target_arch = "wasm32"))]
pub(crate) fn add_counter(name: &str, delta: u64) {
    COUNTERS.with(|c| {
        let mut counters = c.borrow_mut();
        let value = counters.entry(name.to_owned()).or_insert(0);
        *value = value.saturating_add(delta);
    });
}

/// The counters this thread's routers added to, and clears them.
///
/// ```
/// weir_stream_sdk::host::counter_add("a", 2);
/// assert_eq!(weir_stream_sdk::testing::counters(), vec![("a".to_owned(), 2)]);
/// assert!(weir_stream_sdk::testing::counters().is_empty());
/// ```
pub fn counters() -> Vec<(String, u64)> {
    COUNTERS.with(|c| std::mem::take(&mut *c.borrow_mut()).into_iter().collect())
}

/// A TLS 1.2/1.3-style ClientHello record with the given SNI and ALPN protocols (and a few
/// unrelated extensions), as a client would send it first.
///
/// ```
/// let hello = weir_stream_sdk::testing::client_hello(Some("a.example"), &["h2"]);
/// assert_eq!(hello[0], 22); // a handshake record
/// ```
pub fn client_hello(sni: Option<&str>, alpn: &[&str]) -> Vec<u8> {
    let mut extensions = Vec::new();
    // supported_versions: TLS 1.3, 1.2.
    push_extension(&mut extensions, 43, &[4, 3, 4, 3, 3]);
    if let Some(name) = sni {
        let mut entry = vec![0];
        entry.extend_from_slice(&(name.len() as u16).to_be_bytes());
        entry.extend_from_slice(name.as_bytes());
        let mut data = (entry.len() as u16).to_be_bytes().to_vec();
        data.extend_from_slice(&entry);
        push_extension(&mut extensions, 0, &data);
    }
    if !alpn.is_empty() {
        let mut list = Vec::new();
        for protocol in alpn {
            list.push(protocol.len() as u8);
            list.extend_from_slice(protocol.as_bytes());
        }
        let mut data = (list.len() as u16).to_be_bytes().to_vec();
        data.extend_from_slice(&list);
        push_extension(&mut extensions, 16, &data);
    }
    let mut body = vec![3, 3];
    body.extend_from_slice(&[7; 32]);
    body.push(0);
    body.extend_from_slice(&[0, 4, 0x13, 0x01, 0x13, 0x02]);
    body.extend_from_slice(&[1, 0]);
    body.extend_from_slice(&(extensions.len() as u16).to_be_bytes());
    body.extend_from_slice(&extensions);
    let mut handshake = vec![1];
    handshake.extend_from_slice(&(body.len() as u32).to_be_bytes()[1..]);
    handshake.extend_from_slice(&body);
    let mut record = vec![22, 3, 1];
    record.extend_from_slice(&(handshake.len() as u16).to_be_bytes());
    record.extend_from_slice(&handshake);
    record
}

fn push_extension(out: &mut Vec<u8>, kind: u16, data: &[u8]) {
    out.extend_from_slice(&kind.to_be_bytes());
    out.extend_from_slice(&(data.len() as u16).to_be_bytes());
    out.extend_from_slice(data);
}
