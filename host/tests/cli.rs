//! Process-level checks of the `weir` binary: exit codes and help text.

use std::process::Command;

use weir_tests::guests;

fn weir(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_weir"))
        .args(args)
        .env_remove("RUST_LOG")
        .output()
        .expect("weir runs")
}

fn write_config(dir: &tempfile::TempDir, body: &str) -> String {
    let path = dir.path().join("weir.toml");
    std::fs::write(&path, body).expect("write the config");
    path.display().to_string()
}

#[test]
fn check_accepts_a_valid_config_and_loads_its_plugins() {
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(
        &dir,
        &format!(
            "[runtime]\nmax_instances = 8\n[[listener]]\nbind = \"127.0.0.1:0\"\n[[pool]]\nname = \"main\"\nbackends = [\"127.0.0.1:9\"]\n[[filter]]\nname = \"rewrite\"\nplugin = {:?}\nconfig = {{ rules = [ {{ match = \"^/a\", replace = \"/b\" }} ] }}\n[[route]]\npool = \"main\"\nfilters = [\"rewrite\"]\n",
            guests::URL_REWRITE
        ),
    );
    let out = weir(&["check", "--config", &config]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains(": ok (1 routes, 1 pools, 1 filters)"));
}

#[test]
fn check_rejects_a_plugin_whose_init_refuses_its_config() {
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(
        &dir,
        &format!(
            "[runtime]\nmax_instances = 8\n[[listener]]\nbind = \"127.0.0.1:0\"\n[[pool]]\nname = \"main\"\nbackends = [\"127.0.0.1:9\"]\n[[filter]]\nname = \"rewrite\"\nplugin = {:?}\nconfig = {{ rules = [] }}\n[[route]]\npool = \"main\"\nfilters = [\"rewrite\"]\n",
            guests::URL_REWRITE
        ),
    );
    let out = weir(&["check", "--config", &config]);
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr
            .contains("error: filter `rewrite` cannot start an instance: init rejected the config"),
        "{stderr}"
    );
}

#[test]
fn check_refuses_a_plugin_importing_a_host_function_weir_lacks() {
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(
        &dir,
        &format!(
            "[runtime]\nmax_instances = 8\n[[listener]]\nbind = \"127.0.0.1:0\"\n[[pool]]\nname = \"main\"\nbackends = [\"127.0.0.1:9\"]\n[[filter]]\nname = \"extra\"\nplugin = {:?}\n[[route]]\npool = \"main\"\nfilters = [\"extra\"]\n",
            guests::EXTRA_IMPORT
        ),
    );
    let out = weir(&["check", "--config", &config]);
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("filter `extra`: plugin does not implement weir:filter@0.1.0 world"),
        "{stderr}"
    );
    assert!(
        stderr.contains("`weir:filter/host@0.1.0#extra-feature`, which this host does not provide"),
        "{stderr}"
    );
}

#[test]
fn check_reports_config_errors_with_file_line_and_key() {
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(&dir, "[[listener]]\nbind = \"nowhere\"\n");
    let out = weir(&["check", "--config", &config]);
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains(&format!("{config}:2: `listener[0].bind`")),
        "{stderr}"
    );
}

#[test]
fn missing_config_file_is_a_clear_error() {
    let out = weir(&["check", "--config", "/nonexistent/weir.toml"]);
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("/nonexistent/weir.toml: cannot read config"),
        "{stderr}"
    );
}

#[test]
fn help_documents_every_command_and_quick_mode_flag() {
    let out = weir(&["--help"]);
    let help = String::from_utf8_lossy(&out.stdout);
    for word in ["run", "check", "demo"] {
        assert!(help.contains(word), "{help}");
    }
    let out = weir(&["run", "--help"]);
    let help = String::from_utf8_lossy(&out.stdout);
    for flag in [
        "--config",
        "--listen",
        "--upstream",
        "--filter",
        "PATH[=JSON]",
        "--forward",
        "--tls-cert",
        "--tls-key",
    ] {
        assert!(help.contains(flag), "{help}");
    }
}

#[test]
fn run_without_config_or_quick_mode_fails_with_guidance() {
    let out = weir(&["run"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("give --config FILE"));
}

#[test]
fn quick_mode_needs_an_upstream_or_forward() {
    let out = weir(&["run", "--listen", "127.0.0.1:0"]);
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("--upstream URL (reverse proxy) or --forward"),
        "{stderr}"
    );
    let out = weir(&[
        "run",
        "--listen",
        "127.0.0.1:0",
        "--forward",
        "--upstream",
        "http://127.0.0.1:9",
    ]);
    assert_eq!(
        out.status.code(),
        Some(2),
        "clap refuses --forward with --upstream"
    );
}

#[test]
fn quick_mode_tls_files_are_checked_before_listening() {
    let out = weir(&[
        "run",
        "--listen",
        "127.0.0.1:0",
        "--forward",
        "--tls-cert",
        "/nonexistent/weir.crt",
        "--tls-key",
        "/nonexistent/weir.key",
    ]);
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr
            .contains("`listener[0].tls.certificates[0].cert`: cannot read /nonexistent/weir.crt"),
        "{stderr}"
    );
}

#[test]
fn sigterm_drains_and_exits_cleanly() {
    use std::io::{BufRead, BufReader};
    use std::process::Stdio;

    let mut child = Command::new(env!("CARGO_BIN_EXE_weir"))
        .args([
            "run",
            "--listen",
            "127.0.0.1:0",
            "--upstream",
            "http://127.0.0.1:9",
        ])
        .env_remove("RUST_LOG")
        .stderr(Stdio::piped())
        .spawn()
        .expect("weir starts");
    let stderr = child.stderr.take().expect("piped stderr");
    let mut lines = BufReader::new(stderr).lines();
    // Wait for the readiness line; bounded by the process's own output.
    let listening = lines
        .by_ref()
        .take(50)
        .map_while(Result::ok)
        .any(|line| line.contains("listening"));
    assert!(listening, "weir logged that it is listening");
    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .expect("kill runs");
    assert!(status.success());
    let exit = child.wait().expect("weir exits");
    assert!(exit.success(), "{exit:?}");
    let rest: Vec<String> = lines.map_while(Result::ok).collect();
    assert!(rest.iter().any(|l| l.contains("draining")), "{rest:?}");
}

/// The target directory every scaffolded crate builds into, shared between tests and runs so
/// the SDK's dependencies compile once (a crate's own target dir would rebuild them each time).
fn scaffold_target() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("scaffold-target")
}

/// Runs cargo in a scaffolded crate, offline (the scaffold's dependencies are the workspace's,
/// already in the local registry cache), into the shared target directory.
fn scaffold_cargo(crate_dir: &std::path::Path, args: &[&str]) {
    let out = Command::new(env!("CARGO"))
        .args(args)
        .arg("--offline")
        .current_dir(crate_dir)
        .env("CARGO_TARGET_DIR", scaffold_target())
        .env_remove("RUSTFLAGS")
        .env_remove("CARGO_ENCODED_RUSTFLAGS")
        .output()
        .expect("cargo runs");
    assert!(
        out.status.success(),
        "cargo {args:?} in {}: {}",
        crate_dir.display(),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn every_template_builds_without_a_checkout_and_passes_weir_test() {
    let dir = tempfile::tempdir().unwrap();
    for (template, first_case) in [
        ("request", "requests under the prefix get the header"),
        ("response", "responses get the header and lose server"),
        ("router", "api requests go to the api pool"),
    ] {
        let name = format!("hello-{template}");
        let out = weir(&[
            "new",
            "plugin",
            &name,
            "--template",
            template,
            "--dir",
            dir.path().to_str().unwrap(),
        ]);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let crate_dir = dir.path().join(&name);
        for file in [
            "Cargo.toml",
            "src/lib.rs",
            "cases.toml",
            "weir.dev.toml",
            "README.md",
            "vendor/weir-sdk/Cargo.toml",
            "vendor/weir-rules/Cargo.toml",
            "vendor/wit/filter.wit",
        ] {
            assert!(crate_dir.join(file).is_file(), "{name}: {file} was created");
        }
        let manifest = std::fs::read_to_string(crate_dir.join("Cargo.toml")).unwrap();
        assert!(
            manifest.contains(r#"weir-sdk = { path = "vendor/weir-sdk" }"#),
            "the SDK is the vendored copy, not this checkout:\n{manifest}"
        );
        scaffold_cargo(&crate_dir, &["test"]);
        scaffold_cargo(
            &crate_dir,
            &["build", "--release", "--target", "wasm32-wasip2"],
        );
        let wasm = scaffold_target().join(format!(
            "wasm32-wasip2/release/{}.wasm",
            name.replace('-', "_")
        ));
        let cases = crate_dir.join("cases.toml");
        let out = weir(&["test", wasm.to_str().unwrap(), cases.to_str().unwrap()]);
        let report = String::from_utf8_lossy(&out.stdout);
        assert!(out.status.success(), "{name}: {report}");
        assert!(
            report.contains(&format!("ok   cases.toml: {first_case}")),
            "{name}: {report}"
        );
        assert!(report.ends_with(" passed, 0 failed\n"), "{name}: {report}");
    }
}

/// Sends `GET path` to `addr` over HTTP/1.1 and returns the status line; bounded by timeouts.
fn http_get(addr: &str, path: &str) -> String {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect(addr).expect("connect to weir");
    let timeout = Some(std::time::Duration::from_secs(10));
    stream
        .set_read_timeout(timeout)
        .expect("set a read timeout");
    stream
        .set_write_timeout(timeout)
        .expect("set a write timeout");
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: app.test\r\nConnection: close\r\n\r\n"
    )
    .expect("send the request");
    let mut response = String::new();
    let _ = stream.read_to_string(&mut response);
    response.lines().next().unwrap_or_default().to_owned()
}

#[test]
fn dev_builds_runs_and_reloads_the_plugin_after_a_source_change() {
    use std::io::{BufRead, BufReader};
    use std::process::Stdio;
    use std::sync::mpsc;
    use std::time::{Duration, Instant};

    let dir = tempfile::tempdir().unwrap();
    let out = weir(&[
        "new",
        "plugin",
        "dev-filter",
        "--dir",
        dir.path().to_str().unwrap(),
    ]);
    assert!(out.status.success());
    let crate_dir = dir.path().join("dev-filter");
    // `weir dev` builds into the crate's `target/`; point that at the shared directory.
    std::fs::create_dir_all(scaffold_target()).unwrap();
    std::os::unix::fs::symlink(scaffold_target(), crate_dir.join("target")).unwrap();

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let backend = runtime.block_on(weir_tests::Backend::start("dev"));
    let config_path = crate_dir.join("weir.dev.toml");
    let config = std::fs::read_to_string(&config_path)
        .unwrap()
        .replace("127.0.0.1:8080", "127.0.0.1:0")
        .replace("127.0.0.1:9000", &backend.addr().to_string());
    std::fs::write(&config_path, config).unwrap();

    let mut child = Command::new(env!("CARGO_BIN_EXE_weir"))
        .args(["dev", "--poll-ms", "100", "--dir"])
        .arg(&crate_dir)
        .env_remove("RUST_LOG")
        .env_remove("CARGO_TARGET_DIR")
        .env_remove("RUSTFLAGS")
        .env_remove("CARGO_ENCODED_RUSTFLAGS")
        .env("CARGO_NET_OFFLINE", "true")
        .stderr(Stdio::piped())
        .spawn()
        .expect("weir dev starts");
    let stderr = child.stderr.take().expect("piped stderr");
    let (lines_tx, lines) = mpsc::channel::<String>();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if lines_tx.send(line).is_err() {
                return;
            }
        }
    });
    // Builds take seconds with warm dependencies; the bound covers a cold shared directory.
    let wait_for = |needle: &str| -> String {
        let deadline = Instant::now() + Duration::from_secs(600);
        let mut seen = Vec::new();
        while let Some(left) = deadline.checked_duration_since(Instant::now()) {
            match lines.recv_timeout(left) {
                Ok(line) if line.contains(needle) => return line,
                Ok(line) => seen.push(line),
                Err(_) => break,
            }
        }
        panic!("weir dev never logged `{needle}`:\n{}", seen.join("\n"));
    };
    // The listener binds port 0; its log line names the address.
    let listening = wait_for("listening");
    let listen = listening
        .split_whitespace()
        .find_map(|field| field.strip_prefix("addr="))
        .unwrap_or_else(|| panic!("no addr= in {listening:?}"))
        .to_owned();
    assert!(http_get(&listen, "/api/x").contains(" 200 "));
    assert_eq!(backend.last().header("x-seen"), "yes");

    let lib = crate_dir.join("src/lib.rs");
    let source = std::fs::read_to_string(&lib).unwrap();
    let changed = source.replace(
        "req.set_header(&self.config.header, &self.config.value)",
        "req.set_header(&self.config.header, \"rebuilt\")",
    );
    assert_ne!(
        changed, source,
        "the template still sets the configured value"
    );
    std::fs::write(&lib, changed).unwrap();
    let _ = wait_for("reload applied");
    assert!(http_get(&listen, "/api/x").contains(" 200 "));
    assert_eq!(backend.last().header("x-seen"), "rebuilt");

    let _ = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
    let exit = child.wait().expect("weir dev exits");
    assert!(exit.success(), "{exit:?}");
}

#[test]
fn new_plugin_refuses_a_bad_name_and_an_existing_directory() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().to_str().unwrap();
    let out = weir(&["new", "plugin", "Bad Name", "--dir", path]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("is not a crate name"));
    std::fs::create_dir(dir.path().join("taken")).unwrap();
    let out = weir(&["new", "plugin", "taken", "--dir", path]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("already exists"));
}

#[test]
fn weir_test_exit_code_and_machine_formats() {
    let passing = weir(&[
        "test",
        guests::URL_REWRITE,
        "--config",
        r#"{"rules":[{"match":"^/a","replace":"/b"}]}"#,
        "--format",
        "tap",
    ]);
    assert!(passing.status.success());
    let tap = String::from_utf8_lossy(&passing.stdout);
    assert!(tap.starts_with("TAP version 13\n1.."), "{tap}");
    assert!(!tap.contains("not ok"), "{tap}");

    let failing = weir(&[
        "test",
        guests::MISBEHAVE,
        "--config",
        r#"{"fault":"trap"}"#,
        "--format",
        "junit",
    ]);
    assert_eq!(failing.status.code(), Some(1));
    let junit = String::from_utf8_lossy(&failing.stdout);
    assert!(
        junit.contains("<failure message=\"trapped: filter panicked: deliberate trap\">"),
        "{junit}"
    );
}

#[test]
fn weir_test_takes_budgets_only_within_the_config_range() {
    let out = weir(&["test", guests::DENY, "--max-edits-per-call", "0"]);
    assert_eq!(out.status.code(), Some(2), "a usage error");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("--max-edits-per-call"), "{stderr}");
    let out = weir(&["test", guests::DENY, "--max-header-count", "8193"]);
    assert_eq!(out.status.code(), Some(2), "8192 is the config's ceiling");
}

/// The first stderr lines of `weir run` in quick mode with `extra` arguments, until it logs
/// that it listens; the process is killed then.
fn first_log_lines(extra: &[&str]) -> Vec<String> {
    use std::io::{BufRead, BufReader};
    use std::process::Stdio;
    let mut child = Command::new(env!("CARGO_BIN_EXE_weir"))
        .args(extra)
        .args([
            "run",
            "--listen",
            "127.0.0.1:0",
            "--upstream",
            "http://127.0.0.1:9",
        ])
        .env_remove("RUST_LOG")
        .env_remove("NO_COLOR")
        .stderr(Stdio::piped())
        .spawn()
        .expect("weir starts");
    let stderr = child.stderr.take().expect("piped stderr");
    let mut lines = Vec::new();
    for line in BufReader::new(stderr)
        .lines()
        .take(50)
        .map_while(Result::ok)
    {
        let done = line.contains("listening");
        lines.push(line);
        if done {
            break;
        }
    }
    let _ = child.kill();
    let _ = child.wait();
    lines
}

#[test]
fn logs_have_no_colours_without_a_terminal_and_are_json_on_request() {
    let text = first_log_lines(&[]);
    assert!(text.iter().any(|l| l.contains("listening")), "{text:?}");
    assert!(
        text.iter().all(|l| !l.contains('\u{1b}')),
        "no ANSI escapes when stderr is a pipe: {text:?}"
    );
    let json = first_log_lines(&["--log-format", "json"]);
    let listening = json
        .iter()
        .find(|l| l.contains("listening"))
        .expect("a listening event");
    let event: serde_json::Value = serde_json::from_str(listening).expect("a JSON object");
    assert_eq!(event["fields"]["message"], "listening");
    assert_eq!(event["level"], "INFO");
    assert!(event["fields"]["addr"].as_str().is_some(), "{event}");
}

#[test]
fn quick_tcp_mode_checks_the_routers_world_and_needs_a_router() {
    let out = weir(&[
        "run",
        "--tcp-listen",
        "127.0.0.1:0",
        "--router",
        guests::HEADERS,
    ]);
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("`listener[0].tcp.routers` names filter `0-weir_plugin_headers`, a http-filter plugin; it needs a stream-router plugin"),
        "{stderr}"
    );
    let out = weir(&["run", "--tcp-listen", "127.0.0.1:0"]);
    assert_eq!(out.status.code(), Some(2), "clap requires --router");
    let help = String::from_utf8_lossy(&weir(&["run", "--help"]).stdout).into_owned();
    for flag in ["--tcp-listen", "--router", "--allow-address-targets"] {
        assert!(help.contains(flag), "{help}");
    }
}

#[test]
fn check_accepts_a_tcp_listener_with_a_stream_router() {
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(
        &dir,
        &format!(
            "[runtime]\nmax_instances = 8\n[[listener]]\nbind = \"127.0.0.1:0\"\nmode = \"tcp\"\n[listener.tcp]\nrouters = [\"sni\"]\n[[pool]]\nname = \"tls\"\nbackends = [\"127.0.0.1:9\"]\n[[filter]]\nname = \"sni\"\nplugin = {:?}\nconfig = {{ routes = [ {{ sni = \"a.example\", pool = \"tls\" }} ] }}\n",
            guests::SNI_ROUTER
        ),
    );
    let out = weir(&["check", "--config", &config]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains(": ok (0 routes, 1 pools, 1 filters)"));
}
