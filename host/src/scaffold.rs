//! `weir new plugin NAME`: a ready plugin crate (SDK dependency, a filter with one rule, a
//! native unit test, a cases file, a README) that builds and passes `weir test` as created.

use std::path::{Path, PathBuf};

/// Where the new crate gets `weir-sdk` from.
#[derive(Clone, Debug)]
pub enum SdkSource {
    /// A local checkout's `sdk/` directory (the default while the SDK is unpublished).
    Path(PathBuf),
    /// A crates.io version requirement, e.g. `0.1`.
    Version(String),
}

impl SdkSource {
    /// The SDK of the source tree this weir was built from, when it is still there; otherwise
    /// the crates.io release of the same version.
    pub fn default_for_this_build() -> Self {
        let sdk = Path::new(env!("CARGO_MANIFEST_DIR")).join("../sdk");
        match sdk.canonicalize() {
            Ok(path) if path.join("Cargo.toml").is_file() => Self::Path(path),
            _ => Self::Version(env!("CARGO_PKG_VERSION").to_owned()),
        }
    }

    fn dependency(&self) -> String {
        match self {
            Self::Path(path) => format!("{{ path = {:?} }}", path.display().to_string()),
            Self::Version(version) => format!("{version:?}"),
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

/// Creates the crate `name` in `parent/name` and returns its directory.
pub fn new_plugin(name: &str, parent: &Path, sdk: &SdkSource) -> Result<PathBuf, ScaffoldError> {
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
    };
    for (file, template) in [
        ("Cargo.toml", include_str!("scaffold/Cargo.toml.tmpl")),
        ("src/lib.rs", include_str!("scaffold/lib.rs.tmpl")),
        ("cases.toml", include_str!("scaffold/cases.toml.tmpl")),
        ("README.md", include_str!("scaffold/README.md.tmpl")),
        (".gitignore", "/target\n"),
    ] {
        let path = dir.join(file);
        let write = |path: &Path| -> std::io::Result<()> {
            if let Some(parent) = path.parent() {
                std::fs::create_dir_all(parent)?;
            }
            std::fs::write(path, fill(template))
        };
        write(&path).map_err(|source| ScaffoldError::Write {
            path: path.display().to_string(),
            source,
        })?;
    }
    Ok(dir)
}
