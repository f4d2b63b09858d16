//! `weir test`: the plugin conformance suite. It loads one plugin with the real runtime (no
//! proxy, no network), reads the case files, runs the standard battery every plugin must pass,
//! then the author's cases, and reports each check with a specific reason.
//!
//! The battery checks that the plugin targets this host's world and version; that `init`
//! accepts the given config and refuses a malformed one; that each hook handles a corpus of
//! awkward and everyday requests and responses without trapping, within the deadline, the
//! memory cap and the per-call budgets; that every verdict and edit is valid; that the same
//! input gives the same result from a fresh instance, from a warm one that served other
//! requests first, and (for `on-response`) from an instance that did not see the request; and
//! that memory stays flat over a long run of calls.
//!
//! Depends on `runtime` and `filters` only (and `config` for the proxy's default budgets).

mod battery;
mod cases;
mod corpus;
mod history;
mod memory;
mod quote;
mod report;
mod stream;
#[cfg(test)]
mod tests;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::runtime::{EngineSettings, FilterSettings, Isolation, PluginLimits, Runtime, World};

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
    /// The per-call budgets (edits, header bytes and fields, local response body), applied by
    /// the same code as in the proxy. Default: the proxy's defaults.
    pub limits: PluginLimits,
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
            limits: crate::config::default_plugin_limits(),
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
    /// Something a passing check found worth a look (a plugin that accepts a config that is
    /// not JSON, a pool choice that depends on earlier requests). Does not fail the run.
    pub warning: Option<String>,
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

    /// Checks that passed with a warning.
    pub fn warnings(&self) -> usize {
        self.checks
            .iter()
            .filter(|c| c.failure.is_none() && c.warning.is_some())
            .count()
    }

    /// Renders the report.
    pub fn render(&self, format: Format) -> String {
        report::render(self, format)
    }
}

/// Runs the battery and the cases. Blocking (it compiles and calls wasm); never panics on
/// anything the plugin does. Case files are read first: when one cannot be used, the report
/// lists every such file and nothing runs.
pub fn run(options: &TestOptions) -> Report {
    let mut checks = Vec::new();
    let files = cases::load_all(&options.cases, &mut checks);
    if !checks.is_empty() {
        return report(options, checks);
    }
    let runtime = Runtime::new(EngineSettings {
        max_instances: 16,
        max_memory_bytes: options.memory_limit_bytes.max(1 << 20),
        epoch_tick: Duration::from_millis(1),
        cache_dir: None,
    });
    match runtime {
        Ok(runtime) => {
            let config = battery_config(options, &files);
            let loaded = battery::run(&runtime, options, &config, &mut checks);
            if let Some(plugin) = loaded {
                for (path, file) in &files {
                    match (plugin.world(), file) {
                        (World::HttpFilter, cases::AnyCaseFile::Filter(file)) => {
                            cases::run(&plugin, path, file, options, &mut checks);
                        }
                        (World::StreamRouter, cases::AnyCaseFile::Router(_)) => {
                            stream::run_cases(&plugin, path, options, &mut checks);
                        }
                        (world, _) => {
                            let group = path.display().to_string();
                            record(
                                &mut checks,
                                &group,
                                "case file is for this plugin's world",
                                || {
                                    Err(Failure {
                                        reason: format!(
                                            "the plugin implements {world:?}, and this case file is written for the other world"
                                        ),
                                        input: None,
                                    })
                                },
                            );
                        }
                    }
                }
            }
        }
        Err(e) => {
            record(&mut checks, "battery", "create the wasm engine", || {
                Err(Failure {
                    reason: e.to_string(),
                    input: None,
                })
            });
        }
    }
    report(options, checks)
}

fn report(options: &TestOptions, checks: Vec<Check>) -> Report {
    Report {
        plugin: options.plugin.display().to_string(),
        checks,
    }
}

/// The config the battery runs with: `--config`, else the first case file's (a filter's or a
/// router's), else `{}`.
fn battery_config(options: &TestOptions, files: &[(PathBuf, cases::AnyCaseFile)]) -> String {
    if let Some(config) = &options.config_json {
        return config.clone();
    }
    files
        .iter()
        .find_map(|(_, file)| file.config().cloned())
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
        // The proxy's budgets (its defaults unless the options say otherwise), enforced by the
        // runtime itself: a plugin that passes here stays within them in the proxy.
        limits: options.limits,
    }
}

/// Times `check` and records its outcome, its reason and input bounded.
fn record(
    checks: &mut Vec<Check>,
    group: &str,
    name: impl Into<String>,
    check: impl FnOnce() -> Result<(), Failure>,
) -> bool {
    record_outcome(checks, group, name, || check().map(|()| None))
}

/// Like [`record`], for a check that may pass with a warning (`Ok(Some(warning))`).
fn record_outcome(
    checks: &mut Vec<Check>,
    group: &str,
    name: impl Into<String>,
    check: impl FnOnce() -> Result<Option<String>, Failure>,
) -> bool {
    let started = Instant::now();
    let (failure, warning) = match check() {
        Ok(warning) => (None, warning),
        Err(failure) => (Some(failure), None),
    };
    let passed = failure.is_none();
    checks.push(Check {
        group: group.to_owned(),
        name: name.into(),
        failure: failure.map(|f| Failure {
            reason: quote::bound(f.reason, quote::REASON_BYTES),
            input: f.input.map(|i| quote::bound(i, quote::REASON_BYTES)),
        }),
        warning: warning.map(|w| quote::bound(w, quote::REASON_BYTES)),
        duration: started.elapsed(),
    });
    passed
}
