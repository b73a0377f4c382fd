//! The local stack must serve exactly the routes that template.yaml deploys,
//! with the same functions, and every committed event must be current.

use std::collections::BTreeMap;
use std::path::Path;

fn root() -> &'static Path {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/.."))
}

/// `Path:` → `Binary:` of every HttpApi route in template.yaml.
fn template_routes() -> BTreeMap<String, String> {
    let text = std::fs::read_to_string(root().join("template.yaml")).expect("template.yaml");
    let mut routes = BTreeMap::new();
    let mut binary = String::new();
    for line in text.lines().map(str::trim) {
        if let Some(name) = line.strip_prefix("Binary: ") {
            binary = name.to_string();
        }
        if let Some(path) = line.strip_prefix("Path: ") {
            routes.insert(path.to_string(), binary.clone());
        }
    }
    routes
}

#[test]
fn template_local_router_and_every_provider_route_table_agree() {
    let template = template_routes();
    assert_eq!(inlet_cli::providers::router(), template, "provider route tables vs template.yaml");
    for provider in inlet_cli::providers::PROVIDERS {
        for route in provider.routes {
            assert_eq!(template.get(route.path).map(String::as_str), Some(provider.name), "{}", route.path);
        }
    }
}

#[test]
fn every_sample_is_sent_on_a_route_of_its_own_provider() {
    let settings = inlet_shared::config::load_env_file(&root().join("events/env.json")).expect("env.json");
    for provider in inlet_cli::providers::PROVIDERS {
        let mut built = 0;
        for name in provider.sample_names {
            // As in `make events`: a sample whose settings env.json lacks is skipped.
            let Some(sample) = (provider.sample)(name, &settings, 1_700_000_000, "layout") else {
                continue;
            };
            built += 1;
            let request = sample.to_incoming();
            let route = inlet_shared::provider::match_route(provider.routes, &request);
            assert!(route.is_ok(), "{name}: {} {} matches no route of {}", sample.method, sample.path, provider.name);
        }
        assert!(built > 0, "no sample of {} builds from events/env.json", provider.name);
    }
}

#[test]
fn every_function_binary_in_the_template_is_a_workspace_crate() {
    for binary in template_routes().values() {
        let manifest = root().join("functions").join(binary).join("Cargo.toml");
        assert!(manifest.is_file(), "template names binary {binary} but {} is missing", manifest.display());
    }
}

#[tokio::test]
async fn committed_events_are_current() {
    // `make events` regenerates them; a signing or sample change without it fails here.
    let settings = inlet_shared::config::load_env_file(&root().join("events/env.json")).expect("env.json");
    let out = std::env::temp_dir().join(inlet_testkit::moto::unique("events"));
    std::fs::create_dir_all(&out).unwrap();
    inlet_cli::samples::write_events(&settings, 1_700_000_000, &out).await.expect("generate");
    for entry in std::fs::read_dir(&out).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().to_string();
        let committed = std::fs::read_to_string(root().join("events").join(&name))
            .unwrap_or_else(|_| panic!("events/{name} is missing: run `make events`"));
        assert_eq!(committed, std::fs::read_to_string(&path).unwrap(), "events/{name} is stale: run `make events`");
    }
    std::fs::remove_dir_all(&out).ok();
}

/// Every file under `dir` (skipping target/, .git/, .venv/ and node_modules/).
fn walk(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        if path.is_dir() {
            if !matches!(name.as_str(), "target" | ".git" | ".venv" | "node_modules") {
                walk(&path, out);
            }
        } else {
            out.push(path);
        }
    }
}

/// The targets of the inline Markdown links `[text](target)` in `text`.
fn markdown_links(text: &str) -> Vec<String> {
    let mut links = Vec::new();
    let mut in_fence = false;
    for line in text.lines() {
        if line.trim_start().starts_with("```") {
            in_fence = !in_fence;
            continue;
        }
        if in_fence {
            continue;
        }
        let mut rest = line;
        while let Some(at) = rest.find("](") {
            let after = &rest[at + 2..];
            let end = after.find(')').unwrap_or(after.len());
            links.push(after[..end].trim().to_string());
            rest = &after[end..];
        }
    }
    links
}

#[test]
fn readme_is_short_and_every_doc_link_resolves() {
    let readme = std::fs::read_to_string(root().join("README.md")).unwrap();
    let lines = readme.lines().count();
    assert!(lines <= 200, "README.md has {lines} lines (at most 200)");

    let mut docs = vec![root().join("README.md")];
    walk(&root().join("docs"), &mut docs);
    docs.retain(|p| p.extension().is_some_and(|e| e == "md"));
    let mut broken = Vec::new();
    for doc in &docs {
        let text = std::fs::read_to_string(doc).unwrap();
        for link in markdown_links(&text) {
            if link.starts_with("http://")
                || link.starts_with("https://")
                || link.starts_with("mailto:")
                || link.starts_with('#')
                || link.is_empty()
            {
                continue;
            }
            let file = link.split('#').next().unwrap();
            if !doc.parent().unwrap().join(file).exists() {
                broken.push(format!("{}: {link}", doc.display()));
            }
        }
    }
    assert!(broken.is_empty(), "links to missing files:\n{}", broken.join("\n"));
}

#[test]
fn nothing_cites_a_providers_md_that_does_not_exist() {
    let mut files = Vec::new();
    walk(root(), &mut files);
    let needle = ["PROVIDERS", ".md"].concat();
    let offenders: Vec<String> = files
        .iter()
        .filter(|p| p.extension().is_some_and(|e| ["rs", "md", "py", "yaml", "toml"].contains(&&*e.to_string_lossy())))
        .filter(|p| std::fs::read_to_string(p).is_ok_and(|t| t.contains(&needle)))
        .map(|p| p.display().to_string())
        .collect();
    assert!(offenders.is_empty(), "files citing {needle}: {offenders:?}");
}
