//! TLS handshake load client for `host/benches/tls/run.sh`: opens N connections to a TLS
//! server, C at a time, and reports handshakes, failures, resumptions and wall seconds on one
//! `key=value` line. With `pid=` it also reads the server's CPU time (all its threads, from
//! `/proc/PID/task/*/schedstat`, nanoseconds) around the timed part.
//!
//! ```sh
//! cargo bench -p weir --bench tls_handshake -- certs /tmp/certs
//! cargo bench -p weir --bench tls_handshake -- addr=127.0.0.1:18443 ca=/tmp/certs/ca.crt \
//!     mode=resumed version=1.3 n=20000 c=32
//! ```
//!
//! Settings are `key=value` arguments or `TLS_<KEY>` environment variables (arguments win);
//! other arguments such as cargo's `--bench` are ignored:
//!
//! | key | default | meaning |
//! |---|---|---|
//! | `addr` | `127.0.0.1:18443` | server address |
//! | `sni` | `localhost` | server name sent and verified |
//! | `ca` | (required) | PEM file of the CA that signed the server certificate |
//! | `mode` | `full` | `full`: no resumption; `resumed`: every connection offers a ticket |
//! | `version` | `1.3` | `1.2` or `1.3` |
//! | `group` | `x25519` | key exchange: `x25519`, `p256`, `x25519mlkem768`, `default` (below) |
//! | `n` | `10000` | connections to open |
//! | `c` | `32` | connections in flight |
//! | `max_secs` | `60` | stop starting connections after this many seconds |
//! | `pid` | (none) | server process whose CPU time to report |
//!
//! Each connection: TCP connect, handshake, `close_notify`, then read to the server's EOF so a
//! TLS 1.3 NewSessionTicket sent after the handshake is received and stored. In `resumed` mode
//! each of the C workers primes its own session cache with one full handshake before the clock
//! starts (a TLS 1.3 ticket is single-use; each resumption brings fresh ones), and a connection
//! counts as resumed only if `handshake_kind()` says so.
//!
//! `group=x25519` (the default) offers X25519 then P-256 and no post-quantum hybrid, which
//! OpenSSL 3.0 lacks, so that every server does the same key exchange; P-256 is listed because a
//! TLS 1.2 server only picks an ECDSA P-256 certificate for a client that lists the curve.
//! `x25519mlkem768` offers only the hybrid; `default` is the provider's list as built.
//! `negotiated=` and `suite=` report the group and cipher suite of the first handshake (group
//! `none` after a TLS 1.2 resumption, which has no key exchange). Cipher suites are rustls's
//! defaults, in its order.

use std::fs;
use std::io;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DnType, ExtendedKeyUsagePurpose, IsCa,
    KeyPair, KeyUsagePurpose, PKCS_ECDSA_P256_SHA256, PKCS_RSA_SHA256, SignatureAlgorithm,
};
use rustls::client::Resumption;
use rustls::crypto::{CryptoProvider, SupportedKxGroup, aws_lc_rs};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName};
use rustls::{
    CipherSuite, ClientConfig, HandshakeKind, NamedGroup, RootCertStore, SupportedProtocolVersion,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;

/// How long one connection (connect, handshake, close) may take before it counts as failed.
const CONNECTION_TIMEOUT: Duration = Duration::from_secs(5);
/// How many failures are described on stderr; the rest are only counted.
const FAILURES_SHOWN: usize = 5;

#[derive(Clone, Copy, PartialEq, Eq)]
enum Mode {
    Full,
    Resumed,
}

struct Settings {
    addr: SocketAddr,
    sni: ServerName<'static>,
    ca: PathBuf,
    mode: Mode,
    version: &'static SupportedProtocolVersion,
    version_name: String,
    group: String,
    connections: usize,
    concurrency: usize,
    max_duration: Duration,
    server_pid: Option<u32>,
}

/// What one worker (or the whole run) did.
#[derive(Default)]
struct Tally {
    handshakes: usize,
    failures: usize,
    resumed: usize,
    /// Handshakes that succeeded but whose close (`close_notify`, read to EOF) failed.
    close_errors: usize,
    /// The key exchange group of the first handshake that had one.
    negotiated: Option<NamedGroup>,
    /// The cipher suite of the first handshake.
    suite: Option<CipherSuite>,
}

fn main() -> ExitCode {
    // Flags such as cargo's `--bench` are not ours.
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with("--"))
        .collect();
    let result = if args.first().map(String::as_str) == Some("certs") {
        match args.get(1) {
            Some(dir) => write_certificates(Path::new(dir)),
            None => Err("usage: tls_handshake certs DIR".to_owned()),
        }
    } else {
        Settings::from_args(&args).and_then(|settings| run(&settings))
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            report_error(&message);
            ExitCode::FAILURE
        }
    }
}

impl Settings {
    fn from_args(args: &[String]) -> Result<Self, String> {
        let get = |key: &str| -> Option<String> {
            let prefix = format!("{key}=");
            args.iter()
                .rev()
                .find_map(|a| a.strip_prefix(&prefix).map(str::to_owned))
                .or_else(|| std::env::var(format!("TLS_{}", key.to_uppercase())).ok())
        };
        let number = |key: &str, default: usize| -> Result<usize, String> {
            get(key).map_or(Ok(default), |v| {
                v.parse().map_err(|_| format!("{key}: not a number: {v}"))
            })
        };
        let addr = get("addr").unwrap_or_else(|| "127.0.0.1:18443".to_owned());
        let sni = get("sni").unwrap_or_else(|| "localhost".to_owned());
        let mode = match get("mode").as_deref().unwrap_or("full") {
            "full" => Mode::Full,
            "resumed" => Mode::Resumed,
            other => return Err(format!("mode: expected full or resumed, got {other}")),
        };
        let version_name = get("version").unwrap_or_else(|| "1.3".to_owned());
        let version = match version_name.as_str() {
            "1.2" => &rustls::version::TLS12,
            "1.3" => &rustls::version::TLS13,
            other => return Err(format!("version: expected 1.2 or 1.3, got {other}")),
        };
        let connections = number("n", 10_000)?;
        let concurrency = number("c", 32)?.max(1);
        let max_secs = number("max_secs", 60)?;
        let server_pid = get("pid")
            .map(|p| p.parse().map_err(|_| format!("pid: not a number: {p}")))
            .transpose()?;
        Ok(Self {
            addr: addr
                .parse()
                .map_err(|_| format!("addr: not an address: {addr}"))?,
            sni: ServerName::try_from(sni.clone()).map_err(|_| format!("sni: invalid: {sni}"))?,
            ca: get("ca").ok_or("ca=PATH (or TLS_CA) is required")?.into(),
            mode,
            version,
            version_name,
            group: get("group").unwrap_or_else(|| "x25519".to_owned()),
            connections,
            concurrency,
            max_duration: Duration::from_secs(max_secs as u64),
            server_pid,
        })
    }
}

fn run(settings: &Settings) -> Result<(), String> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("tokio runtime: {e}"))?;
    let base = client_config(settings)?;
    runtime.block_on(async {
        // One connector per worker: in resumed mode each has its own session cache, primed
        // with one full handshake before the clock starts.
        let mut connectors = Vec::with_capacity(settings.concurrency);
        for _ in 0..settings.concurrency {
            let mut config = base.clone();
            config.resumption = match settings.mode {
                Mode::Full => Resumption::disabled(),
                Mode::Resumed => Resumption::in_memory_sessions(16),
            };
            let connector = TlsConnector::from(Arc::new(config));
            if settings.mode == Mode::Resumed {
                tokio::time::timeout(
                    CONNECTION_TIMEOUT,
                    connect(&connector, settings.addr, &settings.sni),
                )
                .await
                .unwrap_or_else(|_| Err("timed out".to_owned()))
                .map_err(|e| format!("priming a session: {e}"))?;
            }
            connectors.push(connector);
        }

        let cpu_before = settings.server_pid.map(server_cpu_ns).transpose()?;
        let started = Instant::now();
        let deadline = started + settings.max_duration;
        let issued = Arc::new(AtomicUsize::new(0));
        let shown = Arc::new(AtomicUsize::new(0));
        let workers: Vec<_> = connectors
            .into_iter()
            .map(|connector| {
                let (issued, shown) = (issued.clone(), shown.clone());
                let (addr, sni, n) = (settings.addr, settings.sni.clone(), settings.connections);
                tokio::spawn(async move {
                    let mut tally = Tally::default();
                    while Instant::now() < deadline && issued.fetch_add(1, Ordering::Relaxed) < n {
                        let outcome = tokio::time::timeout(
                            CONNECTION_TIMEOUT,
                            connect(&connector, addr, &sni),
                        )
                        .await
                        .unwrap_or_else(|_| Err("timed out".to_owned()));
                        tally.count(outcome, &shown);
                    }
                    tally
                })
            })
            .collect();
        let mut total = Tally::default();
        for worker in workers {
            let tally = worker.await.map_err(|e| format!("worker: {e}"))?;
            total.handshakes += tally.handshakes;
            total.failures += tally.failures;
            total.resumed += tally.resumed;
            total.close_errors += tally.close_errors;
            total.negotiated = total.negotiated.or(tally.negotiated);
            total.suite = total.suite.or(tally.suite);
        }
        let seconds = started.elapsed().as_secs_f64();
        let cpu_after = settings.server_pid.map(server_cpu_ns).transpose()?;
        report(settings, &total, seconds, cpu_before.zip(cpu_after));
        Ok(())
    })
}

impl Tally {
    fn count(&mut self, outcome: Result<Connection, String>, shown: &AtomicUsize) {
        match outcome {
            Ok(connection) => {
                self.handshakes += 1;
                self.resumed += usize::from(connection.kind == Some(HandshakeKind::Resumed));
                self.negotiated = self.negotiated.or(connection.group);
                self.suite = self.suite.or(connection.suite);
                if let Some(error) = connection.close_error {
                    self.close_errors += 1;
                    if shown.fetch_add(1, Ordering::Relaxed) < FAILURES_SHOWN {
                        report_error(&format!("close after handshake: {error}"));
                    }
                }
            }
            Err(error) => {
                self.failures += 1;
                if shown.fetch_add(1, Ordering::Relaxed) < FAILURES_SHOWN {
                    report_error(&format!("connection failed: {error}"));
                }
            }
        }
    }
}

/// A completed handshake: its kind, key exchange group, cipher suite and whether closing it
/// went wrong.
struct Connection {
    kind: Option<HandshakeKind>,
    group: Option<NamedGroup>,
    suite: Option<CipherSuite>,
    close_error: Option<io::Error>,
}

/// Connects and handshakes, then sends `close_notify` and reads to EOF (which also receives a
/// TLS 1.3 NewSessionTicket). An error after the handshake does not fail the connection.
async fn connect(
    connector: &TlsConnector,
    addr: SocketAddr,
    sni: &ServerName<'static>,
) -> Result<Connection, String> {
    let tcp = TcpStream::connect(addr)
        .await
        .map_err(|e| format!("connect {addr}: {e}"))?;
    tcp.set_nodelay(true)
        .map_err(|e| format!("TCP_NODELAY: {e}"))?;
    let mut tls = connector
        .connect(sni.clone(), tcp)
        .await
        .map_err(|e| format!("handshake: {e}"))?;
    let state = tls.get_ref().1;
    let kind = state.handshake_kind();
    let group = state.negotiated_key_exchange_group().map(|g| g.name());
    let suite = state.negotiated_cipher_suite().map(|s| s.suite());
    let close_error = close(&mut tls).await.err();
    Ok(Connection {
        kind,
        group,
        suite,
        close_error,
    })
}

async fn close(tls: &mut tokio_rustls::client::TlsStream<TcpStream>) -> io::Result<()> {
    tls.shutdown().await?;
    let mut sink = [0u8; 1024];
    loop {
        match tls.read(&mut sink).await {
            Ok(0) => return Ok(()),
            Ok(_) => {}
            // The server closed the TCP connection without its own close_notify: still done.
            Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => return Ok(()),
            Err(e) => return Err(e),
        }
    }
}

fn client_config(settings: &Settings) -> Result<ClientConfig, String> {
    let mut roots = RootCertStore::empty();
    let certs = CertificateDer::pem_file_iter(&settings.ca)
        .map_err(|e| format!("{}: {e}", settings.ca.display()))?;
    for cert in certs {
        let cert = cert.map_err(|e| format!("{}: {e}", settings.ca.display()))?;
        roots
            .add(cert)
            .map_err(|e| format!("{}: {e}", settings.ca.display()))?;
    }
    let groups: Vec<&'static dyn SupportedKxGroup> = match settings.group.as_str() {
        "x25519" => vec![aws_lc_rs::kx_group::X25519, aws_lc_rs::kx_group::SECP256R1],
        "p256" => vec![aws_lc_rs::kx_group::SECP256R1],
        "x25519mlkem768" => vec![aws_lc_rs::kx_group::X25519MLKEM768],
        "default" => aws_lc_rs::DEFAULT_KX_GROUPS.to_vec(),
        other => return Err(format!("group: unknown key exchange {other}")),
    };
    let provider = CryptoProvider {
        kx_groups: groups,
        ..aws_lc_rs::default_provider()
    };
    Ok(ClientConfig::builder_with_provider(Arc::new(provider))
        .with_protocol_versions(&[settings.version])
        .map_err(|e| format!("TLS {}: {e}", settings.version_name))?
        .with_root_certificates(roots)
        .with_no_client_auth())
}

/// CPU time of every thread of `pid`, in nanoseconds.
fn server_cpu_ns(pid: u32) -> Result<u64, String> {
    let tasks = format!("/proc/{pid}/task");
    let entries = fs::read_dir(&tasks).map_err(|e| format!("{tasks}: {e}"))?;
    let mut total = 0;
    for entry in entries.flatten() {
        // A thread may exit between listing and reading: skip it.
        let Ok(stat) = fs::read_to_string(entry.path().join("schedstat")) else {
            continue;
        };
        total += stat
            .split_whitespace()
            .next()
            .and_then(|ns| ns.parse::<u64>().ok())
            .unwrap_or(0);
    }
    Ok(total)
}

#[allow(
    clippy::print_stdout,
    reason = "the client reports its result on stdout"
)]
fn report(settings: &Settings, tally: &Tally, seconds: f64, cpu_ns: Option<(u64, u64)>) {
    let mode = match settings.mode {
        Mode::Full => "full",
        Mode::Resumed => "resumed",
    };
    let rate = tally.handshakes as f64 / seconds;
    let mut line = format!(
        "mode={mode} version={} group={} negotiated={} suite={} handshakes={} failures={} resumed={} close_errors={} seconds={seconds:.3} handshakes_per_second={rate:.1}",
        settings.version_name,
        settings.group,
        tally
            .negotiated
            .map_or_else(|| "none".to_owned(), |g| format!("{g:?}")),
        tally
            .suite
            .map_or_else(|| "none".to_owned(), |s| format!("{s:?}")),
        tally.handshakes,
        tally.failures,
        tally.resumed,
        tally.close_errors,
    );
    if let Some((before, after)) = cpu_ns {
        let cpu = after.saturating_sub(before) as f64 / 1e9;
        let per_handshake = cpu * 1e6 / tally.handshakes.max(1) as f64;
        line.push_str(&format!(
            " server_cpu_seconds={cpu:.3} server_cpu_us_per_handshake={per_handshake:.1}"
        ));
    }
    println!("{line}");
}

#[allow(clippy::print_stderr, reason = "the client reports failures on stderr")]
fn report_error(message: &str) {
    eprintln!("tls_handshake: {message}");
}

/// Writes `ca.crt` and, signed by it for `localhost` and 127.0.0.1, `ecdsa.crt`/`ecdsa.key`
/// (P-256) and `rsa.crt`/`rsa.key` (RSA-2048). Keys are PKCS#8 PEM.
fn write_certificates(dir: &Path) -> Result<(), String> {
    let failed = |what: &str| {
        let what = what.to_owned();
        move |e: rcgen::Error| format!("{what}: {e}")
    };
    fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).map_err(failed("CA"))?;
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params
        .distinguished_name
        .push(DnType::CommonName, "weir bench CA");
    ca_params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    let ca_key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256).map_err(failed("CA key"))?;
    let ca = CertifiedIssuer::self_signed(ca_params, ca_key).map_err(failed("CA"))?;
    write(&dir.join("ca.crt"), &ca.pem())?;
    let servers: [(&str, &'static SignatureAlgorithm); 2] = [
        ("ecdsa", &PKCS_ECDSA_P256_SHA256),
        // RSA-2048: rcgen generates RSA keys with aws-lc-rs.
        ("rsa", &PKCS_RSA_SHA256),
    ];
    for (name, algorithm) in servers {
        let key = KeyPair::generate_for(algorithm).map_err(failed(name))?;
        let mut params =
            CertificateParams::new(vec!["localhost".to_owned(), "127.0.0.1".to_owned()])
                .map_err(failed(name))?;
        params
            .distinguished_name
            .push(DnType::CommonName, "localhost");
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        params.use_authority_key_identifier_extension = true;
        let cert = params.signed_by(&key, &ca).map_err(failed(name))?;
        write(&dir.join(format!("{name}.crt")), &cert.pem())?;
        write(&dir.join(format!("{name}.key")), &key.serialize_pem())?;
    }
    Ok(())
}

fn write(path: &Path, contents: &str) -> Result<(), String> {
    fs::write(path, contents).map_err(|e| format!("{}: {e}", path.display()))
}
