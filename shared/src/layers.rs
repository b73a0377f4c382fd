//! The layers of this crate, checked: the core (every module at the top of
//! `src/` but the ways out) names no AWS crate and nothing above it; the AWS
//! adapters (`aws/`) name no way out; the ways out (`delivery/`, `reply/`)
//! sit on both. No file reaches back to one that reaches it: no circle.
//! (docs/contributing/architecture.md draws the picture.)

#![cfg(test)]

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Crates only an adapter may name.
const AWS_CRATES: &[&str] = &["aws_sdk_", "aws_smithy_", "aws_types", "aws_sigv4", "lambda_http", "aws_lambda_events"];
/// The top-level modules above the core.
const WAYS_OUT: &[&str] = &["delivery", "reply"];
/// Modules that only gather names for others (no layer of their own).
const GATHERING: &[&str] = &["lib.rs", "prelude.rs", "layers.rs"];

fn src() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

fn files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("src/ is readable").flatten() {
        let path = entry.path();
        if path.is_dir() {
            files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The code of a file without its comments and its test module.
fn code(path: &Path) -> String {
    let text = std::fs::read_to_string(path).expect("a source file");
    let text = match text.find("#[cfg(test)]\nmod ") {
        Some(tests) => &text[..tests],
        None => &text[..],
    };
    text.lines().filter(|line| !line.trim_start().starts_with("//")).collect::<Vec<_>>().join("\n")
}

fn relative(path: &Path) -> String {
    path.strip_prefix(src()).expect("under src/").to_string_lossy().replace('\\', "/")
}

/// The files of this crate a file names through `crate::a::b…`.
fn named_files(path: &Path, code: &str) -> BTreeSet<String> {
    let mut named = BTreeSet::new();
    for (at, _) in code.match_indices("crate::") {
        let rest = &code[at + "crate::".len()..];
        let segments: Vec<&str> = rest
            .split("::")
            .map(|s| s.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_')).next().unwrap_or(""))
            .take_while(|s| !s.is_empty() && s.chars().next().is_some_and(|c| c.is_ascii_lowercase()))
            .collect();
        // The longest prefix of the path that is a file.
        for len in (1..=segments.len()).rev() {
            let base = segments[..len].join("/");
            let candidates = [format!("{base}.rs"), format!("{base}/mod.rs")];
            if let Some(found) = candidates.iter().find(|c| src().join(c).is_file()) {
                if found != &relative(path) {
                    named.insert(found.clone());
                }
                break;
            }
        }
    }
    named
}

fn layer(file: &str) -> Option<&'static str> {
    if GATHERING.contains(&file) {
        None
    } else if file.starts_with("aws/") {
        Some("aws")
    } else if WAYS_OUT.iter().any(|w| file.starts_with(&format!("{w}/")) || file == format!("{w}.rs")) {
        Some("out")
    } else {
        Some("core")
    }
}

fn graph() -> BTreeMap<String, BTreeSet<String>> {
    let mut all = Vec::new();
    files(&src(), &mut all);
    all.iter().map(|path| (relative(path), named_files(path, &code(path)))).collect()
}

#[test]
fn the_core_names_no_aws_crate_and_nothing_above_it() {
    let mut found = Vec::new();
    let mut all = Vec::new();
    files(&src(), &mut all);
    for path in &all {
        let file = relative(path);
        let code = code(path);
        match layer(&file) {
            Some("core") => {
                for name in AWS_CRATES.iter().filter(|name| code.contains(*name)) {
                    found.push(format!("{file} names {name}"));
                }
                for above in named_files(path, &code).iter().filter(|f| !matches!(layer(f), Some("core") | None)) {
                    found.push(format!("{file} imports {above}"));
                }
            }
            Some("aws") => {
                for above in named_files(path, &code).iter().filter(|f| layer(f) == Some("out")) {
                    found.push(format!("{file} imports {above}"));
                }
            }
            _ => {}
        }
    }
    assert!(found.is_empty(), "arrows that run up:\n{}", found.join("\n"));
}

#[test]
fn no_file_reaches_back_to_one_that_reaches_it() {
    let graph = graph();
    // Depth-first search for a back edge, reporting the circle it closes.
    fn visit(
        file: &str,
        graph: &BTreeMap<String, BTreeSet<String>>,
        path: &mut Vec<String>,
        done: &mut BTreeSet<String>,
    ) -> Option<Vec<String>> {
        if let Some(at) = path.iter().position(|f| f == file) {
            return Some(path[at..].iter().cloned().chain([file.to_string()]).collect());
        }
        if !done.insert(file.to_string()) {
            return None;
        }
        path.push(file.to_string());
        for next in graph.get(file).into_iter().flatten().filter(|f| !GATHERING.contains(&f.as_str())) {
            if let Some(circle) = visit(next, graph, path, done) {
                return Some(circle);
            }
        }
        path.pop();
        None
    }
    let mut done = BTreeSet::new();
    for file in graph.keys().filter(|f| !GATHERING.contains(&f.as_str())) {
        let circle = visit(file, &graph, &mut Vec::new(), &mut done);
        assert!(circle.is_none(), "an import circle: {}", circle.unwrap_or_default().join(" -> "));
    }
}
