//! The `weir` binary: parses the command line, installs logging, runs the chosen command.

use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use anyhow::Context;
use clap::Parser;
use tracing_subscriber::layer::SubscriberExt as _;
use tracing_subscriber::util::SubscriberInitExt as _;
use tracing_subscriber::{EnvFilter, Layer as _, fmt};
use weir::cli::{
    AccessLogFormat, Cli, Command, DemoArgs, DevArgs, LogFormat, NewCommand, OutputFormat,
    PluginTemplate, RunArgs, TestArgs,
};
use weir::config::{self, QuickMode, QuickTcp};
use weir::conformance::{self, Format, TestOptions};
use weir::scaffold::{self, SdkSource, Template};
use weir::{demo, dev, server};

/// With the `mimalloc` feature, the binary (never the library, whose benches count allocations
/// with an allocator of their own) allocates with mimalloc instead of the system's malloc.
#[cfg(feature = "mimalloc")]
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Log lines queued for the log thread at most; past this, lines are dropped (and counted).
const LOG_QUEUE_LINES: usize = 16_384;

/// The access log file given with `--access-log`, reopened on `SIGUSR1`.
static ACCESS_LOG: std::sync::OnceLock<std::sync::Arc<weir::logfile::ReopeningFile>> =
    std::sync::OnceLock::new();

fn main() -> ExitCode {
    let cli = Cli::parse();
    let default_log = match cli.command {
        Command::Test(_) => "off",
        _ => "info",
    };
    let log = cli.log.as_deref().unwrap_or(default_log);
    let filter = EnvFilter::try_from_default_env().or_else(|_| EnvFilter::try_new(log));
    let filter = match filter {
        Ok(filter) => filter,
        Err(e) => {
            report(&anyhow::anyhow!("invalid --log filter `{log}`: {e}"));
            return ExitCode::FAILURE;
        }
    };
    // With `--access-log`, access records go to their file (or stdout), not to stderr. They
    // are written by the access log's own thread from a bounded queue (module `access`).
    let access_format = match cli.access_log_format {
        AccessLogFormat::Json => weir::access::AccessFormat::Json,
        AccessLogFormat::Combined => weir::access::AccessFormat::Combined,
    };
    let access_file = match &cli.access_log {
        None => None,
        Some(path) if path.as_os_str() == "-" => {
            weir::access::write_to(Box::new(std::io::stdout()), access_format);
            None
        }
        Some(path) => match weir::logfile::ReopeningFile::open(path) {
            Ok(file) => {
                weir::access::write_to(
                    Box::new(weir::logfile::Handle(file.clone())),
                    access_format,
                );
                Some(file)
            }
            Err(e) => {
                report(&anyhow::anyhow!(
                    "cannot open the access log {}: {e}",
                    path.display()
                ));
                return ExitCode::FAILURE;
            }
        },
    };
    // Log lines (the access log included) are written by a thread of their own from a bounded
    // queue, so a slow stderr never blocks a worker; when the queue is full, lines are dropped
    // and counted in `/metrics`. The guard flushes the queue when `main` returns.
    let (writer, _log_guard) = tracing_appender::non_blocking::NonBlockingBuilder::default()
        .buffered_lines_limit(LOG_QUEUE_LINES)
        .lossy(true)
        .thread_name("weir-log")
        .finish(std::io::stderr());
    let dropped = writer.error_counter();
    let diagnostic = match cli.log_format {
        LogFormat::Json => fmt::layer().json().with_writer(writer).boxed(),
        LogFormat::Text => fmt::layer()
            .with_ansi(colours_wanted())
            .with_writer(writer)
            .boxed(),
    }
    .with_filter(filter);
    weir::metrics::count_log_drops_with(move || dropped.dropped_lines() as u64);
    tracing_subscriber::registry().with(diagnostic).init();
    if let Some(file) = access_file {
        let _ = ACCESS_LOG.set(file);
    }
    // `weir run` reads its config first: `[server] scheduler` and `workers` decide the runtime.
    let (command, scheduling) = match cli.command {
        Command::Run(args) => match run_config(&args) {
            Ok(config) => {
                let scheduling = config.scheduling;
                (Resolved::Run(Box::new(config)), Some(scheduling))
            }
            Err(e) => {
                report(&e);
                return ExitCode::FAILURE;
            }
        },
        other => (Resolved::Other(Box::new(other)), None),
    };
    let runtime = match build_runtime(scheduling) {
        Ok(runtime) => runtime,
        Err(e) => {
            report(&anyhow::Error::new(e).context("cannot start the async runtime"));
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(async {
        match command {
            Resolved::Run(config) => run(*config).await,
            Resolved::Other(other) => match *other {
                Command::Run(_) => unreachable!("`run` is resolved above"),
                Command::Check { config } => check(&config).await.map(|()| ExitCode::SUCCESS),
                Command::Demo(args) => run_demo(args).await,
                Command::Test(args) => test(args).await,
                Command::New { what } => new(what).map(|()| ExitCode::SUCCESS),
                Command::Dev(args) => run_dev(args).await,
            },
        }
    });
    match result {
        Ok(code) => code,
        Err(e) => {
            report(&e);
            ExitCode::FAILURE
        }
    }
}

/// A command ready to run: `weir run` with its config read, or any other.
enum Resolved {
    Run(Box<config::Config>),
    Other(Box<Command>),
}

/// The runtime `main` runs on. For `weir run` under per-core scheduling it only serves the
/// control plane (signals, reloads, the admin endpoint; plugins compile on its blocking
/// threads), as the workers serving connections have runtimes of their own: one thread is
/// enough. Under work-stealing it serves the connections too, with `[server] workers`
/// threads (tokio's default, one per core or `TOKIO_WORKER_THREADS`, when 0).
fn build_runtime(
    scheduling: Option<config::Scheduling>,
) -> std::io::Result<tokio::runtime::Runtime> {
    let mut builder = match scheduling {
        Some(config::Scheduling {
            scheduler: config::Scheduler::PerCore,
            ..
        }) => tokio::runtime::Builder::new_current_thread(),
        Some(config::Scheduling {
            scheduler: config::Scheduler::WorkStealing,
            workers,
        }) => {
            let mut builder = tokio::runtime::Builder::new_multi_thread();
            if let Some(workers) = workers {
                builder.worker_threads(workers.get());
            }
            builder
        }
        None => tokio::runtime::Builder::new_multi_thread(),
    };
    builder.enable_all().build()
}

/// Colours in text logs only for a person at a terminal: never when stderr is a file or a
/// pipe, and never when `NO_COLOR` is set to anything (https://no-color.org).
fn colours_wanted() -> bool {
    use std::io::IsTerminal as _;
    std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
}

#[allow(
    clippy::print_stderr,
    reason = "the binary reports fatal errors on stderr"
)]
fn report(error: &anyhow::Error) {
    eprintln!("error: {error:#}");
}

/// The config `weir run` serves: its file, or one built from quick-mode flags.
fn run_config(args: &RunArgs) -> anyhow::Result<config::Config> {
    let upstream = match (&args.upstream, args.forward) {
        (Some(upstream), _) => Some(upstream.clone()),
        (None, true) => None,
        (None, false) if args.listen.is_some() => {
            anyhow::bail!("quick mode needs --upstream URL (reverse proxy) or --forward")
        }
        (None, false) => None,
    };
    Ok(match (&args.config, &args.listen) {
        (Some(path), _) => config::load(path)?,
        (None, None) if args.tcp_listen.is_some() => config::quick_tcp(&QuickTcp {
            listen: args.tcp_listen.clone().unwrap_or_default(),
            routers: args.router.clone(),
            allow_address_targets: args.allow_address_targets,
            cache_dir: args.cache_dir.clone(),
        })?,
        (None, Some(listen)) => config::quick(&QuickMode {
            listen: listen.clone(),
            upstream,
            filters: args.filter.clone(),
            cache_dir: args.cache_dir.clone(),
            tls: args.tls_cert.clone().zip(args.tls_key.clone()),
        })?,
        _ => anyhow::bail!(
            "give --config FILE, or --listen ADDR with --upstream URL or --forward for quick mode, or --tcp-listen ADDR with --router PATH (see weir run --help)"
        ),
    })
}

async fn run(config: config::Config) -> anyhow::Result<ExitCode> {
    let admin_bind = config.admin.clone();
    let running = server::start(config).await?;
    let _admin = match admin_bind {
        Some(admin) => Some(
            weir::admin::serve_with(admin.bind, admin.token.clone(), running.control().clone())
                .await
                .with_context(|| format!("cannot bind the admin endpoint to {}", admin.bind))?,
        ),
        None => None,
    };
    let control = running.control().clone();
    // Every handler is installed before weir says it is ready: a signal sent right after
    // `READY=1` must not meet the default action (which ends the process).
    let hangup = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup())
        .context("cannot listen for SIGHUP")?;
    let stops = StopSignals::listen()?;
    let reloader = tokio::spawn(async move {
        let mut hangup = hangup;
        while hangup.recv().await.is_some() {
            tracing::info!("SIGHUP: reloading");
            // The outcome is logged by the reload itself.
            let _ = control.reload_from_source().await;
        }
    });
    let user1 = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::user_defined1())
        .context("cannot listen for SIGUSR1")?;
    let reopener = tokio::spawn(reopen_on_sigusr1(user1));
    server::notify::ready();
    let code = serve_until_stopped(running, stops).await;
    reloader.abort();
    reopener.abort();
    code
}

/// Reopens the access log file on every `SIGUSR1` (after rotation renamed it).
async fn reopen_on_sigusr1(mut user1: tokio::signal::unix::Signal) {
    while user1.recv().await.is_some() {
        match ACCESS_LOG.get() {
            None => tracing::info!("SIGUSR1: no --access-log file to reopen"),
            Some(file) => match file.reopen() {
                Ok(()) => {
                    tracing::info!(path = %file.path().display(), "SIGUSR1: access log reopened")
                }
                Err(e) => {
                    tracing::error!(path = %file.path().display(), error = %e, "SIGUSR1: cannot reopen the access log; still writing to the old file")
                }
            },
        }
    }
}

async fn check(path: &std::path::Path) -> anyhow::Result<()> {
    let config = config::load(path)?;
    let runtime = weir::runtime::Runtime::new(config.runtime.clone())?;
    let state = server::build_state(&config, &runtime, 1, None).await?;
    let filters: usize = config.filters.len();
    tracing::info!(
        routes = state.routes.len(),
        pools = state.pools.len(),
        filters,
        "config is valid and every plugin loads"
    );
    #[allow(clippy::print_stdout, reason = "check reports its verdict on stdout")]
    {
        println!(
            "{}: ok ({} routes, {} pools, {filters} filters)",
            path.display(),
            state.routes.len(),
            state.pools.len()
        );
    }
    Ok(())
}

async fn run_demo(args: DemoArgs) -> anyhow::Result<ExitCode> {
    let origin_a = demo::start_origin("main")
        .await
        .context("cannot start the demo origin")?;
    let origin_b = demo::start_origin("beta")
        .await
        .context("cannot start the demo origin")?;
    let config = demo::demo_config(
        &args.listen,
        &args.proxy_listen,
        origin_a,
        origin_b,
        &args.plugins_dir,
    )
    .with_context(|| {
        format!(
            "build the example plugins into {} first (see README)",
            args.plugins_dir.display()
        )
    })?;
    let running = server::start(config).await?;
    let addr_of = |name: &str| {
        running
            .addr_of(name)
            .with_context(|| format!("the demo has no `{name}` listener"))
    };
    let addr = addr_of(demo::REVERSE_LISTENER)?;
    let proxy = addr_of(demo::FORWARD_LISTENER)?;
    #[allow(clippy::print_stdout, reason = "the demo prints how to try it")]
    {
        println!("{}", demo::instructions(addr, proxy, origin_a));
    }
    let stops = StopSignals::listen()?;
    serve_until_stopped(running, stops).await
}

async fn test(args: TestArgs) -> anyhow::Result<ExitCode> {
    let config_json = match (&args.config, &args.config_file) {
        (Some(json), _) => Some(json.clone()),
        (None, Some(path)) => Some(
            std::fs::read_to_string(path)
                .with_context(|| format!("cannot read {}", path.display()))?,
        ),
        (None, None) => None,
    };
    let options = TestOptions {
        config_json,
        cases: args.cases.clone(),
        pools: args.pools.clone(),
        deadline: std::time::Duration::from_millis(args.deadline_ms),
        memory_limit_bytes: args.memory_limit_bytes,
        limits: args.limits(),
        ..TestOptions::new(args.plugin.clone())
    };
    let format = match args.format {
        OutputFormat::Human => Format::Human,
        OutputFormat::Json => Format::Json,
        OutputFormat::Junit => Format::Junit,
        OutputFormat::Tap => Format::Tap,
    };
    let report = tokio::task::spawn_blocking(move || conformance::run(&options)).await?;
    #[allow(clippy::print_stdout, reason = "the report is the command's output")]
    {
        print!("{}", report.render(format));
    }
    Ok(if report.failed() == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

fn new(what: NewCommand) -> anyhow::Result<()> {
    let NewCommand::Plugin {
        name,
        template,
        dir,
        sdk_path,
        sdk_version,
    } = what;
    let sdk = match (sdk_path, sdk_version) {
        (Some(path), _) => SdkSource::Path(
            path.canonicalize()
                .with_context(|| format!("no SDK at {}", path.display()))?,
        ),
        (None, Some(version)) => SdkSource::Version(version),
        (None, None) => SdkSource::Vendored,
    };
    let template = match template {
        PluginTemplate::Request => Template::Request,
        PluginTemplate::Response => Template::Response,
        PluginTemplate::Router => Template::Router,
    };
    let created = scaffold::new_plugin(&name, &dir, template, &sdk)?;
    #[allow(clippy::print_stdout, reason = "tells the user what was created")]
    {
        println!(
            "created {} ({} template)
next: cd {} && cargo test && weir dev    (see its README.md)",
            created.display(),
            template.name(),
            created.display()
        );
    }
    Ok(())
}

/// `weir dev`: the first build, the rebuild thread, then `weir run --config` on the dev config
/// (whose file watcher reloads each new build).
async fn run_dev(args: DevArgs) -> anyhow::Result<ExitCode> {
    let dir = args
        .dir
        .canonicalize()
        .with_context(|| format!("no plugin crate at {}", args.dir.display()))?;
    let config = dir.join(&args.config);
    if !config.is_file() {
        anyhow::bail!(
            "{} not found: weir dev runs weir with the crate's dev config (`weir new plugin` writes weir.dev.toml)",
            config.display()
        );
    }
    let first = dir.clone();
    if !tokio::task::spawn_blocking(move || dev::build(&first)).await?? {
        anyhow::bail!(
            "the plugin does not build (cargo's errors are above); fix it and run weir dev again"
        );
    }
    let stop = Arc::new(AtomicBool::new(false));
    dev::spawn_rebuilder(
        dir,
        Duration::from_millis(args.poll_ms.max(50)),
        stop.clone(),
    )
    .context("cannot start the rebuild thread")?;
    let result = match config::load(&config) {
        Ok(config) => run(config).await,
        Err(e) => Err(e.into()),
    };
    stop.store(true, Ordering::Relaxed);
    result
}

/// The signals that stop weir, listened for.
struct StopSignals {
    term: tokio::signal::unix::Signal,
    int: tokio::signal::unix::Signal,
    quit: tokio::signal::unix::Signal,
}

impl StopSignals {
    fn listen() -> anyhow::Result<Self> {
        use tokio::signal::unix::{SignalKind, signal};
        let listen = |kind: SignalKind, name: &str| {
            signal(kind).with_context(|| format!("cannot listen for {name}"))
        };
        Ok(Self {
            term: listen(SignalKind::terminate(), "SIGTERM")?,
            int: listen(SignalKind::interrupt(), "SIGINT")?,
            quit: listen(SignalKind::quit(), "SIGQUIT")?,
        })
    }
}

/// The exit status when a stop had to cut connections or tunnels at its deadline.
const EXIT_CUT: u8 = 3;

/// Serves until a signal stops weir, and returns the exit status: 0 when everything in flight
/// finished, [`EXIT_CUT`] when some connections or tunnels were cut.
///
/// - `SIGQUIT`: graceful stop: stop accepting, finish every request and tunnel, however long.
/// - `SIGTERM`, `SIGINT`: fast stop: stop accepting, wait up to `shutdown_grace_ms`, then close
///   the rest.
/// - A second signal during a stop escalates it: graceful → fast → now.
async fn serve_until_stopped(
    running: server::Running,
    stops: StopSignals,
) -> anyhow::Result<ExitCode> {
    let StopSignals {
        mut term,
        mut int,
        mut quit,
    } = stops;
    let stopper = running.stopper();
    let signals = tokio::spawn(async move {
        let mut stopping = false;
        loop {
            let name = tokio::select! {
                _ = term.recv() => "SIGTERM",
                _ = int.recv() => "SIGINT",
                _ = quit.recv() => "SIGQUIT",
            };
            if stopping {
                let step = stopper.escalate();
                tracing::warn!(signal = name, step, "another signal: stopping faster");
                continue;
            }
            stopping = true;
            server::notify::stopping();
            if name == "SIGQUIT" {
                tracing::info!(
                    signal = name,
                    "graceful stop: finishing every request and tunnel in flight"
                );
                stopper.graceful();
            } else {
                tracing::info!(
                    signal = name,
                    "fast stop: closing what is left after shutdown_grace_ms"
                );
                stopper.fast();
            }
        }
    });
    let complete = running.stopped().await;
    signals.abort();
    Ok(if complete {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(EXIT_CUT)
    })
}
