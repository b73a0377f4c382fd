#![no_main]
//! The alert splitter (shared/src/alerts.rs) over arbitrary notifications.

libfuzzer_sys::fuzz_target!(init: inlet_fuzz::init("alert_split"), |data: &[u8]| {
    inlet_fuzz::structures::alert_split(data)
});
