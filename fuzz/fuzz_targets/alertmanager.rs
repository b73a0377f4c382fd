#![no_main]
//! The alertmanager handler over arbitrary requests (see inlet_fuzz::providers::alertmanager).

libfuzzer_sys::fuzz_target!(init: inlet_fuzz::init("alertmanager"), |data: &[u8]| inlet_fuzz::providers::alertmanager::run(data));
