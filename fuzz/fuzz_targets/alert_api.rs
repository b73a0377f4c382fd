#![no_main]
//! The alert-api handler over arbitrary requests (see inlet_fuzz::providers::alert_api).

libfuzzer_sys::fuzz_target!(init: inlet_fuzz::init("alert_api"), |data: &[u8]| inlet_fuzz::providers::alert_api::run(data));
