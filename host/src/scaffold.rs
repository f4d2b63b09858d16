//! `weir new plugin NAME [--template request|response|router]`: a ready plugin crate (the SDK
//! vendored, a filter, native unit tests, a cases file, a `weir dev` config and a README) that
//! builds and passes `weir test` as created, without a weir source checkout.

mod vendor;

use std::path::{Path, PathBuf};

/// Where the new crate gets `weir-sdk` from.
#[derive(Clone, Debug, Default)]
pub enum SdkSource {
    /// A copy of this weir's SDK, written under the crate's `vendor/` (the default: it needs
    /// nothing but this binary, and matches the contract this weir implements).
    #[default]
    Vendored,
    /// A weir checkout's `sdk/` directory, as a `path` dependency (for SDK development).
    Path(PathBuf),
    /// A registry version requirement, e.g. `0.1`, for when the SDK is published.
    Version(String),
}

impl SdkSource {
    fn dependency(&self) -> String {
        match self {
            Self::Vendored => r#"{ path = "vendor/weir-sdk" }"#.to_owned(),
            Self::Path(path) => format!("{{ path = {:?} }}", path.display().to_string()),
            Self::Version(version) => format!("{version:?}"),
        }
    }
}

/// What the new plugin does to begin with.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Template {
    /// Edits requests: adds a header to requests under a path prefix.
    #[default]
    Request,
    /// Edits responses only: sets and removes response headers.
    Response,
    /// Chooses the backend pool of each request by path prefix, with cookie affinity.
    Router,
}

/// The files and words that differ between templates.
struct TemplateText {
    name: &'static str,
    summary: &'static str,
    lib: &'static str,
    cases: &'static str,
    config: &'static str,
    /// `[[pool]]` tables `weir.dev.toml` needs besides `main`.
    extra_pools: &'static str,
}

impl Template {
    /// Every template.
    pub const ALL: [Self; 3] = [Self::Request, Self::Response, Self::Router];

    /// The template's name on the command line.
    pub fn name(self) -> &'static str {
        self.text().name
    }

    fn text(self) -> TemplateText {
        match self {
            Self::Request => TemplateText {
                name: "request",
                summary: "One rule: requests whose path starts with `prefix` get the header \
                          `header: value`.",
                lib: include_str!("scaffold/request/lib.rs.tmpl"),
                cases: include_str!("scaffold/request/cases.toml.tmpl"),
                config: r#"{"prefix": "/api", "header": "x-seen", "value": "yes"}"#,
                extra_pools: "",
            },
            Self::Response => TemplateText {
                name: "response",
                summary: "It edits responses only: sets the headers in `set` and removes the \
                          ones in `remove` on every upstream response.",
                lib: include_str!("scaffold/response/lib.rs.tmpl"),
                cases: include_str!("scaffold/response/cases.toml.tmpl"),
                config: r#"{"set": {"x-frame-options": "DENY"}, "remove": ["server"]}"#,
                extra_pools: "",
            },
            Self::Router => TemplateText {
                name: "router",
                summary: "It chooses the backend pool: the first route whose `path_prefix` \
                          starts the path sends the request to its `pool` (a `[[pool]]` of \
                          weir's config), keeping clients with the `affinity_cookie` on one \
                          backend; other requests keep their route's pool.",
                lib: include_str!("scaffold/router/lib.rs.tmpl"),
                cases: include_str!("scaffold/router/cases.toml.tmpl"),
                config: r#"{"routes": [{"path_prefix": "/api/", "pool": "api"}], "affinity_cookie": "session"}"#,
                extra_pools: "\n[[pool]]\nname = \"api\"\nbackends = [\"127.0.0.1:9001\"]\n",
            },
        }
    }
}

/// Why the crate could not be created.
#[derive(Debug, thiserror::Error)]
pub enum ScaffoldError {
    /// The name is not a crate name.
    #[error(
        "`{0}` is not a crate name (lowercase letters, digits, `-` and `_`, starting with a letter)"
    )]
    Name(String),
    /// The directory exists.
    #[error("{0} already exists")]
    Exists(String),
    /// The embedded SDK could not be prepared (a build of weir with broken embedded files).
    #[error("cannot prepare the vendored SDK: {0}")]
    Vendor(String),
    /// Writing failed.
    #[error("cannot write {path}")]
    Write {
        /// What was being written.
        path: String,
        /// Cause.
        #[source]
        source: std::io::Error,
    },
}

/// Creates the crate `name` from `template` in `parent/name` and returns its directory.
pub fn new_plugin(
    name: &str,
    parent: &Path,
    template: Template,
    sdk: &SdkSource,
) -> Result<PathBuf, ScaffoldError> {
    let legal = name.chars().next().is_some_and(|c| c.is_ascii_lowercase())
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_');
    if !legal {
        return Err(ScaffoldError::Name(name.to_owned()));
    }
    let dir = parent.join(name);
    if dir.exists() {
        return Err(ScaffoldError::Exists(dir.display().to_string()));
    }
    let text = template.text();
    let type_name: String = name
        .split(['-', '_'])
        .map(|part| {
            let mut chars = part.chars();
            chars
                .next()
                .map(|c| c.to_ascii_uppercase().to_string() + chars.as_str())
                .unwrap_or_default()
        })
        .collect();
    let lib_name = name.replace('-', "_");
    let fill = |template: &str| {
        template
            .replace("{{name}}", name)
            .replace("{{type}}", &type_name)
            .replace("{{lib}}", &lib_name)
            .replace("{{sdk}}", &sdk.dependency())
            .replace("{{template}}", text.name)
            .replace("{{summary}}", text.summary)
            .replace("{{config}}", text.config)
            .replace("{{extra_pools}}", text.extra_pools)
    };
    let mut files: Vec<(String, String)> = [
        ("Cargo.toml", include_str!("scaffold/Cargo.toml.tmpl")),
        ("src/lib.rs", text.lib),
        ("cases.toml", text.cases),
        ("weir.dev.toml", include_str!("scaffold/weir.dev.toml.tmpl")),
        ("README.md", include_str!("scaffold/README.md.tmpl")),
        (".gitignore", "/target\n"),
    ]
    .into_iter()
    .map(|(path, template)| (path.to_owned(), fill(template)))
    .collect();
    if matches!(sdk, SdkSource::Vendored) {
        let vendored = vendor::files().map_err(ScaffoldError::Vendor)?;
        files.extend(
            vendored
                .into_iter()
                .map(|(path, text)| (format!("vendor/{path}"), text)),
        );
        files.push(("vendor/README.md".to_owned(), vendor::NOTE.to_owned()));
    }
    for (file, contents) in files {
        let path = dir.join(file);
        let write = |path: &Path| -> std::io::Result<()> {
            if let Some(parent) = path.parent() {
                std::fs::create_dir_all(parent)?;
            }
            std::fs::write(path, contents)
        };
        write(&path).map_err(|source| ScaffoldError::Write {
            path: path.display().to_string(),
            source,
        })?;
    }
    Ok(dir)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every file under sdk/src, rules/src and wit/, as paths from the repository root.
    fn files_on_disk() -> Vec<String> {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
        let mut found = Vec::new();
        let mut stack: Vec<PathBuf> = ["sdk/src", "rules/src", "wit"]
            .iter()
            .map(|d| root.join(d))
            .collect();
        while let Some(dir) = stack.pop() {
            for entry in std::fs::read_dir(&dir).unwrap() {
                let path = entry.unwrap().path();
                if path.is_dir() {
                    stack.push(path);
                } else {
                    let relative = path.strip_prefix(&root).unwrap();
                    found.push(relative.to_str().unwrap().to_owned());
                }
            }
        }
        found.sort();
        found
    }

    #[test]
    fn the_embedded_sdk_is_every_sdk_rules_and_wit_file() {
        let mut embedded: Vec<String> =
            vendor::FILES.iter().map(|(p, _)| (*p).to_owned()).collect();
        embedded.sort();
        assert_eq!(
            embedded,
            files_on_disk(),
            "update FILES in host/src/scaffold/vendor.rs"
        );
    }

    #[test]
    fn vendored_manifests_stand_alone_with_the_workspace_versions() {
        let files = vendor::files().unwrap();
        let manifest = |name: &str| -> toml::Table {
            let (_, text) = files.iter().find(|(p, _)| p == name).unwrap();
            text.parse().unwrap()
        };
        let sdk = manifest("weir-sdk/Cargo.toml");
        let text = toml::to_string(&sdk).unwrap();
        assert!(!text.contains("workspace"), "{text}");
        assert_eq!(sdk["package"]["name"].as_str(), Some("weir-sdk"));
        assert_eq!(
            sdk["package"]["version"].as_str(),
            Some(env!("CARGO_PKG_VERSION"))
        );
        assert_eq!(
            sdk["dependencies"]["weir-rules"]["path"].as_str(),
            Some("../weir-rules")
        );
        let wit_bindgen =
            &sdk["target"]["cfg(target_arch = \"wasm32\")"]["dependencies"]["wit-bindgen"];
        assert_eq!(wit_bindgen["version"].as_str(), Some("0.63"));
        assert!(sdk.get("lints").is_none());
        assert_eq!(
            manifest("weir-rules/Cargo.toml")["package"]["name"].as_str(),
            Some("weir-rules")
        );
        assert!(files.iter().any(|(p, _)| p == "wit/filter.wit"));
        assert!(files.iter().any(|(p, _)| p == "weir-sdk/src/lib.rs"));
    }

    #[test]
    fn every_template_fills_every_placeholder() {
        let dir = tempfile::tempdir().unwrap();
        for template in Template::ALL {
            let name = format!("t-{}", template.name());
            let created = new_plugin(&name, dir.path(), template, &SdkSource::Vendored).unwrap();
            for file in [
                "Cargo.toml",
                "src/lib.rs",
                "cases.toml",
                "weir.dev.toml",
                "README.md",
            ] {
                let text = std::fs::read_to_string(created.join(file)).unwrap();
                assert!(
                    !text.contains("{{"),
                    "{name}/{file} keeps a placeholder:\n{text}"
                );
            }
            assert!(created.join("vendor/weir-sdk/src/lib.rs").is_file());
            assert!(created.join("vendor/wit/filter.wit").is_file());
        }
    }
}
