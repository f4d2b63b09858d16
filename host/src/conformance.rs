//! `weir test`: the plugin conformance suite. It loads one plugin with the real runtime (no
//! proxy, no network), runs the standard battery every plugin must pass, then the author's
//! cases, and reports each check with a specific reason.
//!
//! The battery checks that the plugin targets this host's world and version; that `init`
//! accepts the given config and survives a malformed one; that each hook handles a corpus of
//! awkward but legal requests and responses without trapping, within the deadline and the
//! memory cap; that every verdict and edit is valid; and that the same input gives the same
//! result from a fresh instance.
//!
//! Depends on `runtime` and `filters` only.

mod battery;
mod cases;
mod corpus;
mod report;
mod stream;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::runtime::{EngineSettings, FilterSettings, Isolation, Runtime, World};

pub use cases::{CaseError, CaseFile};
pub use report::Format;

/// What to test and how.
#[derive(Clone, Debug)]
pub struct TestOptions {
    /// The component to test.
    pub plugin: PathBuf,
    /// The config handed to `init` (JSON). Default: the `config` of the first case file that
    /// has one, else `{}`.
    pub config_json: Option<String>,
    /// Case files to run after the battery.
    pub cases: Vec<PathBuf>,
    /// Pool names that exist; a selected pool outside this list fails the check.
    pub pools: Option<Vec<String>>,
    /// Deadline per hook call.
    pub deadline: Duration,
    /// Memory cap per instance.
    pub memory_limit_bytes: usize,
}

impl TestOptions {
    /// Options with the proxy's defaults for `plugin`.
    pub fn new(plugin: PathBuf) -> Self {
        Self {
            plugin,
            config_json: None,
            cases: Vec::new(),
            pools: None,
            deadline: Duration::from_millis(50),
            memory_limit_bytes: 16 << 20,
        }
    }
}

/// One check's result.
#[derive(Clone, Debug)]
pub struct Check {
    /// `battery`, or the case file's name.
    pub group: String,
    /// What was checked.
    pub name: String,
    /// `None` when it passed, else why it failed.
    pub failure: Option<Failure>,
    /// Time it took.
    pub duration: Duration,
}

/// Why a check failed, and the input that made it fail.
#[derive(Clone, Debug)]
pub struct Failure {
    /// The specific reason.
    pub reason: String,
    /// The input, described for people (`GET app.test/old/x`).
    pub input: Option<String>,
}

/// Every check of one run.
#[derive(Clone, Debug)]
pub struct Report {
    /// The plugin tested.
    pub plugin: String,
    /// Checks in the order they ran.
    pub checks: Vec<Check>,
}

impl Report {
    /// Checks that passed.
    pub fn passed(&self) -> usize {
        self.checks.iter().filter(|c| c.failure.is_none()).count()
    }

    /// Checks that failed.
    pub fn failed(&self) -> usize {
        self.checks.len() - self.passed()
    }

    /// Renders the report.
    pub fn render(&self, format: Format) -> String {
        report::render(self, format)
    }
}

/// Runs the battery and the cases. Blocking (it compiles and calls wasm); never panics on
/// anything the plugin does.
pub fn run(options: &TestOptions) -> Report {
    let mut checks = Vec::new();
    let runtime = Runtime::new(EngineSettings {
        max_instances: 16,
        max_memory_bytes: options.memory_limit_bytes.max(1 << 20),
        epoch_tick: Duration::from_millis(1),
        cache_dir: None,
    });
    match runtime {
        Ok(runtime) => {
            let config = battery_config(options);
            let loaded = battery::run(&runtime, options, &config, &mut checks);
            if let Some(plugin) = loaded {
                for path in &options.cases {
                    match plugin.world() {
                        World::HttpFilter => cases::run(&plugin, path, options, &mut checks),
                        World::StreamRouter => {
                            stream::run_cases(&plugin, path, options, &mut checks)
                        }
                    }
                }
            }
        }
        Err(e) => checks.push(Check {
            group: "battery".into(),
            name: "create the wasm engine".into(),
            failure: Some(Failure {
                reason: e.to_string(),
                input: None,
            }),
            duration: Duration::ZERO,
        }),
    }
    Report {
        plugin: options.plugin.display().to_string(),
        checks,
    }
}

/// The config the battery runs with: `--config`, else the first case file's, else `{}`. A
/// case file is read as a filter's or a router's, whichever parses.
fn battery_config(options: &TestOptions) -> String {
    if let Some(config) = &options.config_json {
        return config.clone();
    }
    options
        .cases
        .iter()
        .find_map(|path| {
            CaseFile::load(path)
                .ok()
                .and_then(|file| file.config)
                .or_else(|| stream::StreamCaseFile::load(path).ok()?.config)
        })
        .unwrap_or_else(|| "{}".to_owned())
}

/// The settings a plugin under test runs with.
fn settings(options: &TestOptions, config_json: &str, isolation: Isolation) -> FilterSettings {
    FilterSettings {
        name: Arc::from("under-test"),
        config_json: config_json.to_owned(),
        deadline: options.deadline,
        init_deadline: Duration::from_secs(1),
        memory_limit_bytes: options.memory_limit_bytes,
        isolation,
        recycle_after_calls: u64::MAX,
        max_idle_instances: 2,
        // The budgets a `[[filter]]` gets when it sets none: a plugin that passes here stays
        // within them in the proxy.
        limits: crate::config::default_plugin_limits(),
    }
}

/// Times `check` and records its outcome.
fn record(
    checks: &mut Vec<Check>,
    group: &str,
    name: impl Into<String>,
    check: impl FnOnce() -> Result<(), Failure>,
) -> bool {
    let started = Instant::now();
    let failure = check().err();
    let passed = failure.is_none();
    checks.push(Check {
        group: group.to_owned(),
        name: name.into(),
        failure,
        duration: started.elapsed(),
    });
    passed
}
