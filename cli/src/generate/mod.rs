//! `inlet gen`: everything per-platform, written from the registry.
//!
//! A platform is described once: its crate's `Provider` impl (routes,
//! secret settings) and its platform.toml, listed in
//! [`crate::providers::PROVIDERS`]. From that list this module writes, in
//! memory and deterministically:
//!
//! - template.yaml's per-platform sections ([`template`]): parameters,
//!   conditions, functions, log groups, alarms, outputs and the throttling
//!   parameters' lists, between `# BEGIN GENERATED` / `# END GENERATED`;
//! - the docs' tables ([`docs`]): the README's platform table, the settings
//!   table of docs/operate/parameters.md and of each docs/platforms page, the
//!   console steps of each page, the dedup-window tables, and
//!   docs/platforms/hooks.md's table of presets ([`presets`]);
//! - the fuzz harness's platform list ([`fuzz`]): fuzz/Cargo.toml's crates
//!   and targets, fuzz/run.sh's list, a target for each platform that has no
//!   hand-written one;
//! - events/ ([`events`]): the dev settings of events/env.json and every
//!   signed sample as an API Gateway event (what `gen-events` wrote), and the
//!   dedup windows of shared/src/platform.rs.
//!
//! [`generate`] returns the files, [`write`] writes those that changed (and
//! removes generated files whose platform is gone), [`stale`] names those
//! that differ from the disk.

use crate::providers::Described;
use std::path::{Path, PathBuf};

use inlet_shared::samples::Descriptor;

pub mod docs;
pub mod events;
pub mod fuzz;
pub mod presets;
pub mod regions;
pub mod template;

pub use events::EVENTS_TIMESTAMP;

/// One file as `inlet gen` writes it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GeneratedFile {
    /// Relative to the repository root.
    pub path: PathBuf,
    pub contents: String,
}

impl GeneratedFile {
    pub fn new(path: impl Into<PathBuf>, contents: impl Into<String>) -> Self {
        GeneratedFile { path: path.into(), contents: contents.into() }
    }
}

/// How to generate.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Options {
    /// The time the samples in events/ are signed at (Unix seconds): the
    /// fixed [`EVENTS_TIMESTAMP`] for the committed files (handler tests use
    /// it as their clock); `gen-events --now` passes the current time.
    pub events_timestamp: i64,
}

impl Default for Options {
    fn default() -> Self {
        Options { events_timestamp: EVENTS_TIMESTAMP }
    }
}

/// Every generated file of the repository at `root`, from the registry.
pub fn generate(root: &Path, options: &Options) -> Result<Vec<GeneratedFile>, String> {
    generate_for(root, crate::providers::PROVIDERS, options)
}

/// [`generate`] for another list of providers (tests).
pub fn generate_for(root: &Path, providers: &[Descriptor], options: &Options) -> Result<Vec<GeneratedFile>, String> {
    check(providers)?;
    let mut files = Vec::new();
    files.push(template::generate(root, providers)?);
    files.extend(docs::generate(root, providers)?);
    files.extend(fuzz::generate(root, providers)?);
    files.extend(events::generate(root, providers, options)?);
    files.push(dedup_windows(root, providers)?);
    Ok(files)
}

/// Where the processor's default dedup windows live.
pub const DEDUP_WINDOWS: &str = "shared/src/platform.rs";

/// `DEDUP_WINDOWS` of shared/src/platform.rs: each platform's window (its
/// `Retries`), which the processor reads without depending on the
/// platforms' crates.
fn dedup_windows(root: &Path, providers: &[Descriptor]) -> Result<GeneratedFile, String> {
    let mut body = String::from("pub const DEDUP_WINDOWS: &[DedupWindowDefault] = &[\n");
    for provider in providers {
        let retries = provider.platform().retries;
        body.push_str(&format!(
            "    DedupWindowDefault {{ provider: {:?}, retry_horizon: {:?}, window_secs: {} }},\n",
            provider.name, retries.horizon, retries.dedup_window_secs
        ));
    }
    body.push_str("];\n");
    let text = read(root, DEDUP_WINDOWS)?;
    let text = regions::replace(DEDUP_WINDOWS, &text, regions::Comment::Slashes, "dedup windows", &body)?;
    Ok(GeneratedFile::new(DEDUP_WINDOWS, text))
}

/// Generated files on disk that no longer have a source: events of samples
/// and fuzz targets of platforms that are gone.
pub fn obsolete(root: &Path, files: &[GeneratedFile]) -> Vec<PathBuf> {
    let mut found = events::obsolete(root, files);
    found.extend(fuzz::obsolete(root, files));
    found.sort();
    found
}

/// Writes every file whose contents differ from the disk and removes the
/// [`obsolete`] ones; returns the paths it changed, relative to `root`.
pub fn write(root: &Path, files: &[GeneratedFile]) -> Result<Vec<PathBuf>, String> {
    let mut changed = Vec::new();
    for file in files {
        let path = root.join(&file.path);
        if std::fs::read_to_string(&path).is_ok_and(|current| current == file.contents) {
            continue;
        }
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).map_err(|e| format!("{}: {e}", parent.display()))?;
        }
        std::fs::write(&path, &file.contents).map_err(|e| format!("{}: {e}", path.display()))?;
        changed.push(file.path.clone());
    }
    for path in obsolete(root, files) {
        std::fs::remove_file(root.join(&path)).map_err(|e| format!("{}: {e}", path.display()))?;
        changed.push(path);
    }
    Ok(changed)
}

/// The files on disk that `inlet gen` would change: different, missing or
/// obsolete. Relative to `root`.
pub fn stale(root: &Path, files: &[GeneratedFile]) -> Vec<PathBuf> {
    let mut found: Vec<PathBuf> = files
        .iter()
        .filter(
            |file| !matches!(std::fs::read_to_string(root.join(&file.path)), Ok(current) if current == file.contents),
        )
        .map(|file| file.path.clone())
        .collect();
    found.extend(obsolete(root, files));
    found
}

/// Generates and writes: what `inlet gen` does. Returns the changed paths.
pub fn run(root: &Path, options: &Options) -> Result<Vec<PathBuf>, String> {
    write(root, &generate(root, options)?)
}

/// What the generators rely on: every provider described, its data in line
/// with its `Provider` consts.
pub fn check(providers: &[Descriptor]) -> Result<(), String> {
    for provider in providers {
        let name = provider.name;
        if let Some(error) = provider.description_error() {
            return Err(format!("{name}: {error}"));
        }
        let platform = provider.platform();
        let fail = |why: String| Err(format!("{name}: {why} (functions/{name}/platform.toml)"));
        if platform.title.is_empty() || platform.summary.is_empty() || platform.function_description.is_empty() {
            return fail("no title, summary or function description: the platform is not described".into());
        }
        let secrets: Vec<&str> = platform.secret_settings().map(|s| s.name).collect();
        if secrets != provider.secret_settings {
            return fail(format!(
                "secret settings {secrets:?} are not SECRET_SETTINGS {:?}, in order",
                provider.secret_settings
            ));
        }
        let cidrs = format!("{}_ALLOWED_CIDRS", provider.settings_prefix);
        if !platform.deployed_settings().any(|s| s.name == cidrs) {
            return fail(format!("{cidrs}, which every receiver reads, is not among its settings"));
        }
        let events: usize = provider.routes.iter().map(|route| route.methods.len()).sum();
        if platform.route_names.len() != events {
            return fail(format!("{} route names for {events} routes and methods", platform.route_names.len()));
        }
        if !platform.settings.iter().any(|s| s.deploys != inlet_shared::platform::Deploys::No) {
            return fail("no setting decides whether its function is deployed".into());
        }
        if platform.urls.is_empty() || platform.console_steps.is_empty() {
            return fail("no URL to give the platform, or no console steps".into());
        }
        if platform.retries.horizon.is_empty() || platform.retries.dedup_window_secs == 0 {
            return fail("no retry horizon or dedup window".into());
        }
        for setting in platform.settings {
            if setting.description.contains('\n') || setting.description.trim().is_empty() {
                return fail(format!("{}: a one-line description", setting.name));
            }
        }
    }
    Ok(())
}

/// `A`, `A and B`, `A, B and C`.
pub(crate) fn and_list(items: &[&str]) -> String {
    match items {
        [] => String::new(),
        [one] => one.to_string(),
        [rest @ .., last] => format!("{} and {last}", rest.join(", ")),
    }
}

/// Reads a file of the repository, naming it when it cannot.
pub(crate) fn read(root: &Path, path: &str) -> Result<String, String> {
    std::fs::read_to_string(root.join(path)).map_err(|e| format!("{path}: {e}"))
}
