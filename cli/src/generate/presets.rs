//! docs/platforms/hooks.md's table of presets, from `hooks::presets::PRESETS`:
//! a row per preset, every cell read from the preset's data (its
//! `describe_*` renderings), so that adding a preset is one entry in
//! presets.rs and `inlet gen` (docs/contributing/adding-a-preset.md).

use std::fmt::Write as _;

use hooks::presets::{PRESETS, Preset};
use inlet_shared::platform::human_duration;

use super::regions::cell;

/// The platform whose page carries the table.
pub const PROVIDER: &str = "hooks";
/// The generated region's name in that page.
pub const REGION: &str = "presets";

/// The page regions this module writes for `provider`: the preset table
/// for `hooks`, nothing for the others.
pub fn regions(provider: &str) -> Vec<(&'static str, String)> {
    if provider == PROVIDER { vec![(REGION, table(PRESETS))] } else { Vec::new() }
}

/// The table of `presets`.
pub fn table(presets: &[Preset]) -> String {
    let mut out = String::from(
        "| Preset | Sender | Header | Scheme | Window | Handshake | Retry horizon | Dedup id (`hooks:<source>:` + …) |\n\
         |---|---|---|---|---|---|---|---|\n",
    );
    for preset in presets {
        let _ = writeln!(
            out,
            "| `{}` | [{}]({}) | {} | {} | {} | {} | {}; ids kept {} | {} |",
            preset.name,
            cell(preset.title),
            preset.docs,
            cell(&preset.describe_header()),
            cell(&preset.describe_scheme()),
            cell(&preset.describe_window()),
            cell(preset.handshake.describe()),
            cell(preset.retries),
            human_duration(preset.dedup_window_secs),
            cell(&preset.describe_dedup_id()),
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_preset_has_one_row_with_every_cell_filled() {
        let table = table(PRESETS);
        let rows: Vec<&str> = table.lines().skip(2).collect();
        assert_eq!(rows.len(), PRESETS.len());
        for (row, preset) in rows.iter().zip(PRESETS) {
            assert!(row.starts_with(&format!("| `{}` | [", preset.name)), "{row}");
            // Nine cells (the escaped `\|` of a cell is no border).
            let borders = row.replace("\\|", "").matches('|').count();
            assert_eq!(borders, 9, "{row}");
            assert!(!row.contains("|  |"), "an empty cell: {row}");
        }
        assert!(regions("lark").is_empty());
        assert_eq!(regions(PROVIDER)[0].0, REGION);
    }

    #[test]
    fn the_cells_say_what_the_data_says() {
        let row = |name: &str| {
            let table = table(PRESETS);
            table.lines().find(|line| line.starts_with(&format!("| `{name}` |"))).expect(name).to_string()
        };
        let zoom = row("zoom");
        assert!(zoom.contains("`x-zm-signature` (`v0=…`)"), "{zoom}");
        assert!(zoom.contains("hex HMAC-SHA256 of `v0:{x-zm-request-timestamp}:{body}`"), "{zoom}");
        assert!(zoom.contains("5 min (`x-zm-request-timestamp`, Unix s)"), "{zoom}");
        assert!(zoom.contains("`endpoint.url_validation` (signed)"), "{zoom}");
        assert!(zoom.contains("| sha256(body) |"), "{zoom}");
        let paddle = row("paddle");
        assert!(paddle.contains("`paddle-signature` (`ts=…;h1=…`)") && paddle.contains("| 5 s ("), "{paddle}");
        assert!(paddle.contains("; ids kept 4 days |"), "{paddle}");
        let shopify = row("shopify");
        assert!(shopify.contains("`x-shopify-webhook-id`, else `x-shopify-event-id`, else sha256(signature, body)"));
        // A token is never hashed into an id.
        assert!(row("gitlab").contains("else sha256(body) |"));
        assert!(row("postmark").contains("`authorization` (`Basic …`)"));
        assert!(row("mailgun").contains("body `/signature/signature`"));
    }
}
