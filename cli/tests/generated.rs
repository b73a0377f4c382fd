//! A platform is described once: the registry (cli/src/providers.rs, each
//! platform's platform.toml) writes template.yaml's per-platform
//! sections, the docs' tables, the fuzz list and events/. These tests fail
//! when any of those files is not what `inlet gen` would write.

use inlet_cli::providers::Described;
use std::path::{Path, PathBuf};

use inlet_cli::generate::{self, GeneratedFile, Options};
use inlet_cli::providers::PROVIDERS;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// The first line where `generated` and the disk differ, for the message.
fn first_difference(root: &Path, file: &GeneratedFile) -> String {
    let Ok(current) = std::fs::read_to_string(root.join(&file.path)) else { return "missing".into() };
    let (mut current_lines, mut generated_lines) = (current.lines(), file.contents.lines());
    for number in 1.. {
        match (current_lines.next(), generated_lines.next()) {
            (None, None) => break,
            (on_disk, generated) if on_disk != generated => {
                return format!(
                    "line {number}: on disk {:?}, generated {:?}",
                    on_disk.unwrap_or("<end>"),
                    generated.unwrap_or("<end>")
                );
            }
            _ => {}
        }
    }
    "differs".into()
}

#[test]
fn every_generated_file_is_what_inlet_gen_writes() {
    let root = root();
    let files = generate::generate(&root, &Options::default()).unwrap_or_else(|e| panic!("inlet gen fails: {e}"));
    let stale = generate::stale(&root, &files);
    let report: Vec<String> = stale
        .iter()
        .map(|path| match files.iter().find(|file| &file.path == path) {
            Some(file) => format!("{} is stale ({}): run `inlet gen`", path.display(), first_difference(&root, file)),
            None => format!("{} belongs to no platform of the registry any more: run `inlet gen`", path.display()),
        })
        .collect();
    assert!(report.is_empty(), "{}", report.join("\n"));
}

#[test]
fn generating_twice_gives_the_same_files() {
    let root = root();
    let once = generate::generate(&root, &Options::default()).expect("generate");
    let twice = generate::generate(&root, &Options::default()).expect("generate");
    assert_eq!(once, twice);
    let mut paths: Vec<&PathBuf> = once.iter().map(|file| &file.path).collect();
    paths.sort();
    paths.dedup();
    assert_eq!(paths.len(), once.len(), "a file is generated twice");
}

#[test]
fn every_platform_is_described_and_has_its_page() {
    generate::check(PROVIDERS).unwrap_or_else(|e| panic!("{e}"));
    for provider in PROVIDERS {
        let page = root().join(generate::docs::page(provider.name));
        assert!(page.is_file(), "{}: its page {} is missing", provider.name, page.display());
    }
}

#[test]
fn the_processor_defaults_to_each_platforms_own_dedup_window() {
    let windows = inlet_shared::platform::DEDUP_WINDOWS;
    assert_eq!(windows.len(), PROVIDERS.len());
    for provider in PROVIDERS {
        let row = windows.iter().find(|row| row.provider == provider.name).expect("a row per platform");
        let retries = provider.platform().retries;
        assert_eq!((row.window_secs, row.retry_horizon), (retries.dedup_window_secs, retries.horizon));
        // Every window outlasts a replay inside the default timestamp window.
        assert!(retries.dedup_window_secs >= 2 * 300, "{}", provider.name);
    }
}

#[test]
fn every_setting_names_a_parameter_once_and_dev_values_start_every_function() {
    let mut parameters = std::collections::BTreeSet::new();
    let mut names = std::collections::BTreeSet::new();
    for provider in PROVIDERS {
        for setting in provider.platform().settings {
            assert!(names.insert(setting.name), "{} is declared twice", setting.name);
            if let Some(parameter) = setting.parameter {
                assert!(parameters.insert(parameter), "parameter {parameter} is declared twice");
            }
        }
    }
    let env = generate::events::settings_of(&std::fs::read_to_string(root().join("events/env.json")).unwrap())
        .expect("events/env.json");
    for provider in PROVIDERS {
        assert!((provider.open)(&env).is_ok(), "{} does not start with its dev values", provider.name);
    }
}

#[test]
fn every_platform_of_the_registry_is_in_every_generated_list() {
    let files = generate::generate(&root(), &Options::default()).expect("generate");
    let text = |path: &str| &files.iter().find(|f| f.path == Path::new(path)).expect(path).contents;
    for provider in PROVIDERS {
        let id = inlet_shared::platform::logical_id(provider.name);
        assert!(text("template.yaml").contains(&format!("\n  {id}Function:\n")), "{id}Function");
        assert!(text("template.yaml").contains(&format!("\n  Has{id}: ")), "Has{id}");
        assert!(text("README.md").contains(&format!("](docs/platforms/{}.md)", provider.name)));
        assert!(text("fuzz/run.sh").contains(&generate::fuzz::target(provider.name)));
        assert!(text("fuzz/Cargo.toml").contains(&format!("path = \"../functions/{}\"", provider.name)));
        for setting in provider.platform().settings {
            assert!(text("events/env.json").contains(&format!("\"{}\":", setting.name)), "{}", setting.name);
            assert!(text("docs/operate/parameters.md").contains(&format!("`{}`", setting.name)), "{}", setting.name);
        }
    }
}
