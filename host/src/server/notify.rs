//! systemd's readiness protocol (`sd_notify`): when `NOTIFY_SOCKET` is set, weir sends
//! `READY=1` once it serves, `RELOADING=1` (with `MONOTONIC_USEC`) when a reload starts and
//! `READY=1` when it ends, and `STOPPING=1` when a stop begins. Without `NOTIFY_SOCKET` every
//! call does nothing. A failed send is logged and otherwise ignored: systemd is a spectator.

use std::os::unix::net::UnixDatagram;

/// Sends `message` to the service manager, if there is one.
pub fn notify(message: &str) {
    let Some(socket) = std::env::var_os("NOTIFY_SOCKET") else {
        return;
    };
    let socket = socket.to_string_lossy().into_owned();
    if let Err(e) = send(&socket, message) {
        tracing::debug!(notify_socket = %socket, error = %e, "sd_notify failed");
    }
}

/// `READY=1`.
pub fn ready() {
    notify("READY=1");
}

/// `RELOADING=1` with the monotonic time, as `Type=notify-reload` units require.
pub fn reloading() {
    let now = rustix::time::clock_gettime(rustix::time::ClockId::Monotonic);
    let usec = u64::try_from(now.tv_sec).unwrap_or(0) * 1_000_000
        + u64::try_from(now.tv_nsec).unwrap_or(0) / 1_000;
    notify(&format!("RELOADING=1\nMONOTONIC_USEC={usec}"));
}

/// `STOPPING=1`.
pub fn stopping() {
    notify("STOPPING=1");
}

fn send(socket: &str, message: &str) -> std::io::Result<()> {
    let datagram = UnixDatagram::unbound()?;
    match socket.strip_prefix('@') {
        // An abstract socket (Linux): `@name`.
        Some(name) => {
            use std::os::linux::net::SocketAddrExt as _;
            let addr = std::os::unix::net::SocketAddr::from_abstract_name(name.as_bytes())?;
            datagram.send_to_addr(message.as_bytes(), &addr)?;
        }
        None => {
            datagram.send_to(message.as_bytes(), socket)?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_reach_a_path_socket() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("notify.sock");
        let receiver = UnixDatagram::bind(&path).expect("bind");
        send(path.to_str().expect("utf-8 path"), "READY=1").expect("send");
        let mut buf = [0u8; 64];
        let n = receiver.recv(&mut buf).expect("receive");
        assert_eq!(&buf[..n], b"READY=1");
    }
}
