//! The tool and its docs agree: every corpus input is documented (and nothing else is), and
//! `weir test --help` says what docs/conformance.md says about each option.

use clap::CommandFactory;

use super::{corpus, memory};

const DOCS: &str = include_str!("../../../docs/conformance.md");

/// The first cells of the rows of the table whose header row starts with `| {first} |`.
fn table_keys(first: &str) -> Vec<String> {
    let mut lines = DOCS
        .lines()
        .skip_while(|l| !l.starts_with(&format!("| {first} |")));
    lines.next();
    lines
        .skip(1)
        .take_while(|l| l.starts_with('|'))
        .filter_map(|l| l.split('|').nth(1))
        .map(|cell| cell.trim().to_owned())
        .collect()
}

#[test]
fn every_corpus_input_is_documented_and_every_documented_one_exists() {
    let requests: Vec<String> = corpus::requests()
        .iter()
        .map(|(n, _)| (*n).to_owned())
        .collect();
    assert_eq!(table_keys("request"), requests, "the request table");
    let responses: Vec<String> = corpus::responses()
        .iter()
        .map(|(n, _)| (*n).to_owned())
        .collect();
    assert_eq!(table_keys("response"), responses, "the response table");
    let sentence = format!("once for each of the {} requests below", requests.len());
    assert!(DOCS.contains(&sentence), "docs say: {sentence}");
    let sentence = format!("once for each of the {} responses below", responses.len());
    assert!(DOCS.contains(&sentence), "docs say: {sentence}");
}

#[test]
fn the_sizes_the_docs_quote_are_the_batterys() {
    let docs = DOCS.split_whitespace().collect::<Vec<_>>().join(" ");
    let (requests, responses) = (corpus::requests().len(), corpus::responses().len());
    let rounds = memory::WARM_UP_ROUNDS + memory::QUARTERS * memory::ROUNDS_PER_QUARTER;
    for quoted in [
        format!("over the whole corpus of {requests} requests and {responses} responses"),
        format!("{} for checks 3 and 4", requests + responses),
        format!("{} for the long run (check 9)", rounds * requests * 2),
        format!("serves the request corpus {rounds} times over"),
        format!("({rounds} rounds of the request corpus)"),
        format!(
            "measured after {} rounds and then after each quarter of the remaining {}",
            memory::WARM_UP_ROUNDS,
            memory::QUARTERS * memory::ROUNDS_PER_QUARTER
        ),
    ] {
        assert!(
            docs.contains(&quoted),
            "docs/conformance.md must say: {quoted}"
        );
    }
}

#[test]
fn corpus_names_are_unique_and_targets_are_kept() {
    let requests: Vec<&str> = corpus::requests().iter().map(|(n, _)| *n).collect();
    let responses: Vec<&str> = corpus::responses().iter().map(|(n, _)| *n).collect();
    for mut names in [requests, responses] {
        let count = names.len();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), count, "a name is used twice");
    }
    for (name, view) in corpus::requests() {
        if name.starts_with("OPTIONS *") {
            assert_eq!(view.path(), "*");
        }
        if name.contains("5 KiB query") {
            assert!(view.query().is_some_and(|q| q.len() > 5000));
        }
    }
    let ids: Vec<String> = corpus::requests()
        .iter()
        .map(|(_, v)| v.id.to_string())
        .collect();
    assert_eq!(ids.first().map(String::as_str), Some("conformance-0"));
    assert_eq!(ids.get(1).map(String::as_str), Some("conformance-1"));
}

/// `weir test --help`, rendered as the binary prints it.
fn help() -> String {
    let mut cli = crate::cli::Cli::command();
    // Building propagates the global options (`--log`) to the subcommands, as parsing does.
    cli.build();
    let test = cli
        .find_subcommand_mut("test")
        .expect("the CLI has a `test` subcommand");
    test.render_long_help().to_string()
}

/// Whether a help line starts an option's block (`--flag` or `-f, --flag`).
fn starts_option(line: &str) -> bool {
    let line = line.trim_start();
    line.starts_with("--") || (line.starts_with('-') && line.contains(", --"))
}

/// The help block of `--flag`, up to the next option, on one line.
fn help_block(help: &str, flag: &str) -> Option<String> {
    let mut lines = help.lines().skip_while(|l| {
        !starts_option(l)
            || !l
                .trim_start()
                .split([' ', ',', '='])
                .any(|word| word == flag)
    });
    let first = lines.next()?;
    let rest = lines.take_while(|l| !starts_option(l));
    let block: Vec<&str> = std::iter::once(first).chain(rest).collect();
    Some(
        block
            .join(" ")
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" "),
    )
}

#[test]
fn help_and_docs_name_the_same_options_with_the_same_defaults() {
    let help = help();
    let rows = table_keys("option");
    let mut documented = Vec::new();
    for row in DOCS
        .lines()
        .skip_while(|l| !l.starts_with("| option |"))
        .skip(2)
        .take_while(|l| l.starts_with('|'))
    {
        let cells: Vec<&str> = row.split('|').map(str::trim).collect();
        let (Some(option), Some(default)) = (cells.get(1), cells.get(2)) else {
            continue;
        };
        let Some(flag) = option
            .trim_matches('`')
            .split_whitespace()
            .next()
            .filter(|f| f.starts_with("--"))
        else {
            continue;
        };
        documented.push(flag.to_owned());
        let block = help_block(&help, flag)
            .unwrap_or_else(|| panic!("`{flag}` is documented but not in --help:\n{help}"));
        let default = default.replace('`', "");
        if default.is_empty() {
            continue;
        }
        let said = block.replace('`', "");
        let after_default = said.split_once("Default: ").map(|(_, rest)| rest);
        assert!(
            said.contains(&format!("[default: {default}]"))
                || after_default.is_some_and(|rest| rest.contains(&default)),
            "docs give `{flag}` the default `{default}`; --help says: {block}"
        );
    }
    assert!(!rows.is_empty());
    for word in help.split_whitespace() {
        let flag = word.trim_end_matches([',', '.']);
        // The global options that only matter to `weir run` are documented with it.
        let elsewhere = [
            "--help",
            "--version",
            "--log-format",
            "--access-log",
            "--access-log-format",
        ];
        if flag.starts_with("--") && flag.len() > 2 && !elsewhere.contains(&flag) {
            let flag = flag.split(['=', '<', '[']).next().unwrap_or(flag);
            assert!(
                documented.iter().any(|d| d == flag),
                "`{flag}` is in --help but not in the options table of docs/conformance.md"
            );
        }
    }
}
