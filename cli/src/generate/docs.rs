//! The docs' per-platform tables: the README's platform table, the platform
//! settings of docs/operate/parameters.md (the same descriptions as the
//! template's parameters), the dedup-window tables, and on each platform's
//! page its console steps and settings table (and hooks.md's preset table,
//! [`super::presets`]).

use crate::providers::Described;
use std::fmt::Write as _;
use std::path::Path;

use inlet_shared::platform::{Platform, Setting, Throttling, Values, human_duration};
use inlet_shared::provider::Route;
use inlet_shared::samples::Descriptor;

use super::regions::{self, Comment, cell, replace};
use super::{GeneratedFile, and_list, read};

pub const README: &str = "README.md";
pub const PARAMETERS: &str = "docs/operate/parameters.md";
pub const EXACTLY_ONCE: &str = "docs/reference/exactly-once.md";
pub const WINDOWS: &str = "docs/reference/windows-and-limits.md";
pub const DEPLOY: &str = "docs/operate/deploy.md";
pub const METRICS: &str = "docs/operate/metrics.md";

/// A platform's page.
pub fn page(name: &str) -> String {
    format!("docs/platforms/{name}.md")
}

pub fn generate(root: &Path, providers: &[Descriptor]) -> Result<Vec<GeneratedFile>, String> {
    let mut files = Vec::new();
    let edit = |path: &str, what: &str, body: String| -> Result<GeneratedFile, String> {
        let text = read(root, path)?;
        Ok(GeneratedFile::new(path, replace(path, &text, Comment::Html, what, &body)?))
    };
    files.push(edit(README, "platforms", readme_table(providers))?);
    files.push(edit(PARAMETERS, "platform settings", parameters_table(providers))?);
    files.push(edit(EXACTLY_ONCE, "dedup windows", dedup_table(providers, false))?);
    files.push(edit(WINDOWS, "dedup windows", dedup_table(providers, true))?);
    files.push(edit(DEPLOY, "throttling", throttling_table(providers))?);
    files.push(edit(METRICS, "deadlines", deadline_table(providers))?);
    for provider in providers {
        let path = page(provider.name);
        let mut text = read(root, &path).map_err(|e| format!("{e}: every platform has its page (write it first)"))?;
        for (what, heading, body) in [
            ("setup", "## Pointing it at inlet", setup_steps(provider.platform())),
            ("settings", "## Settings", settings_table(provider)),
        ] {
            if !regions::has(&text, what) {
                // A new page: the region goes at its end, under a heading.
                if !text.ends_with('\n') {
                    text.push('\n');
                }
                text.push_str(&format!("\n{heading}\n\n{}", regions::region(Comment::Html, "", what, "")));
            }
            text = replace(&path, &text, Comment::Html, what, &body)?;
        }
        // A page's own tables (hooks.md's presets), in regions it already has.
        for (what, body) in super::presets::regions(provider.name) {
            text = replace(&path, &text, Comment::Html, what, &body)?;
        }
        files.push(GeneratedFile::new(path, text));
    }
    Ok(files)
}

/// `POST /lark/event`, `/lark/card/action`: a route's methods only when they
/// differ from the previous route's.
pub fn routes(routes: &[Route]) -> String {
    let mut out = Vec::new();
    let mut previous: Option<&[&str]> = None;
    for route in routes {
        let text = if previous == Some(route.methods) {
            format!("`{}`", route.path)
        } else {
            match route.methods {
                [one] => format!("`{one} {}`", route.path),
                [rest @ .., last] => {
                    let rest: Vec<String> = rest.iter().map(|m| format!("`{m}`")).collect();
                    format!("{}/`{last} {}`", rest.join("/"), route.path)
                }
                [] => format!("`{}`", route.path),
            }
        };
        previous = Some(route.methods);
        out.push(text);
    }
    out.join(", ")
}

fn readme_table(providers: &[Descriptor]) -> String {
    let mut out = String::from("| Platform | Route | Verified by | Page |\n|---|---|---|---|\n");
    for provider in providers {
        let platform = provider.platform();
        let _ = writeln!(
            out,
            "| {} | {} | {} | [{name}](docs/platforms/{name}.md) |",
            cell(platform.summary),
            routes(provider.routes),
            cell(platform.verified_by),
            name = provider.name,
        );
    }
    out
}

/// The default as the docs show it.
fn default_text(setting: &Setting) -> String {
    if setting.default.is_empty() { "empty".into() } else { format!("`{}`", setting.default) }
}

/// Description, details, and the values a parameter accepts.
fn meaning(setting: &Setting) -> String {
    let mut text = setting.description.to_string();
    if !setting.details.is_empty() {
        text.push(' ');
        text.push_str(setting.details);
    }
    match setting.values {
        Values::Number { min, max } => {
            let _ = write!(text, " From {min} to {max}.");
        }
        Values::OneOf(values) => {
            let listed: Vec<String> = values.iter().map(|v| format!("`{v}`")).collect();
            let _ = write!(text, " One of {}.", listed.join(", "));
        }
        Values::Text => {}
    }
    cell(&text)
}

fn setting_name(setting: &Setting) -> String {
    if setting.secret { format!("`{}` (secret)", setting.name) } else { format!("`{}`", setting.name) }
}

fn parameter_text(setting: &Setting) -> String {
    setting.parameter.map(|p| format!("`{p}`")).unwrap_or_else(|| "— (dev only)".into())
}

/// One setting's row of a settings table: name, template parameter, the
/// `platform` cell when the table has one, default and meaning.
fn setting_row(out: &mut String, setting: &Setting, platform: Option<&str>) {
    let platform = platform.map(|cell| format!(" {cell} |")).unwrap_or_default();
    let _ = writeln!(
        out,
        "| {} | {} |{platform} {} | {} |",
        setting_name(setting),
        parameter_text(setting),
        default_text(setting),
        meaning(setting),
    );
}

fn parameters_table(providers: &[Descriptor]) -> String {
    let mut out =
        String::from("| Setting | Template parameter | Platform | Default | Meaning |\n|---|---|---|---|---|\n");
    for provider in providers {
        let platform = format!("[{name}](../platforms/{name}.md)", name = provider.name);
        for setting in provider.platform().settings {
            setting_row(&mut out, setting, Some(&platform));
        }
    }
    out
}

fn dedup_setting(provider: &Descriptor) -> String {
    inlet_shared::dedup::DedupWindows::setting_for(provider.name)
}

fn dedup_table(providers: &[Descriptor], with_timestamps: bool) -> String {
    let mut out = if with_timestamps {
        String::from("| Provider | Retry horizon | Default window | Signed timestamp |\n|---|---|---|---|\n")
    } else {
        String::from("| Provider | Retry horizon | Default window | Setting |\n|---|---|---|---|\n")
    };
    for provider in providers {
        let retries = provider.platform().retries;
        let last =
            if with_timestamps { cell(retries.signed_timestamp) } else { format!("`{}`", dedup_setting(provider)) };
        let _ = writeln!(
            out,
            "| `{}` | {} | {} | {last} |",
            provider.name,
            cell(retries.horizon),
            human_duration(retries.dedup_window_secs),
        );
    }
    let default = human_duration(inlet_shared::dedup::DedupSettings::DEFAULT_WINDOW_SECS);
    let _ = writeln!(out, "| any other | unknown | {default} | {} |", if with_timestamps { "" } else { "—" });
    out
}

fn setup_steps(platform: &Platform) -> String {
    let mut out = String::new();
    for (n, step) in platform.console_steps.iter().enumerate() {
        let _ = writeln!(out, "{}. {}", n + 1, step);
    }
    out
}

fn settings_table(provider: &Descriptor) -> String {
    let mut out = String::from("| Setting | Template parameter | Default | Meaning |\n|---|---|---|---|\n");
    for setting in provider.platform().settings {
        setting_row(&mut out, setting, None);
    }
    let retries = provider.platform().retries;
    let _ = writeln!(
        out,
        "| `{}` | — | {} | the processor's dedup window for this platform's event ids; the sender's retry horizon: {} (see [Dedup windows](../reference/exactly-once.md#dedup-windows)) |",
        dedup_setting(provider),
        human_duration(retries.dedup_window_secs),
        cell(retries.horizon),
    );
    out
}

/// The throttling parameters and the platforms of each group.
fn throttling_table(providers: &[Descriptor]) -> String {
    let mut out = String::from("| Parameters | Default | Routes of |\n|---|---|---|\n");
    for group in Throttling::ALL {
        let titles: Vec<&str> =
            providers.iter().filter(|p| p.platform().throttling == group).map(|p| p.platform().title).collect();
        let (rate, burst) = group.defaults();
        let stem = group.stem();
        let _ = writeln!(
            out,
            "| `{stem}ThrottlingRateLimit` / `{stem}ThrottlingBurstLimit` | `{rate}` / `{burst}` | {} |",
            if titles.is_empty() { "no platform yet".to_string() } else { and_list(&titles) }
        );
    }
    out
}

/// `3 s`, `1.5 s`, `500 ms`.
fn deadline_text(ms: u32) -> String {
    match ms {
        ms if ms % 1000 == 0 => format!("{} s", ms / 1000),
        ms if ms > 1000 => format!("{:.1} s", f64::from(ms) / 1000.0),
        ms => format!("{ms} ms"),
    }
}

/// Every route's acknowledgement deadline, and the tighter one of answers
/// given without enqueueing, grouped by deadline (shortest first).
fn deadline_table(providers: &[Descriptor]) -> String {
    let mut groups: std::collections::BTreeMap<u32, Vec<String>> = std::collections::BTreeMap::new();
    for provider in providers {
        let title = provider.platform().title;
        for route in provider.routes {
            let path = format!("{title} `{}`", route.path);
            groups.entry(route.ack_deadline_ms).or_default().push(path.clone());
            if route.answer_deadline_ms != route.ack_deadline_ms {
                groups.entry(route.answer_deadline_ms).or_default().push(format!("{path} (answers not enqueued)"));
            }
        }
    }
    let mut out = String::from("| Deadline | 50 % is | Routes |\n|---|---|---|\n");
    for (ms, routes) in groups {
        let _ = writeln!(out, "| {} | {} | {} |", deadline_text(ms), deadline_text(ms / 2), cell(&routes.join(", ")));
    }
    out
}
