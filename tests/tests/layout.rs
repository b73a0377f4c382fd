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
    let out = std::env::temp_dir().join(inlet_tests::unique("events"));
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
