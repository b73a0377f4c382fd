#![no_main]
//! The grafana handler over arbitrary requests (see inlet_fuzz::providers::grafana).

libfuzzer_sys::fuzz_target!(init: inlet_fuzz::init("grafana"), |data: &[u8]| inlet_fuzz::providers::grafana::run(data));
