#![no_main]
//! The telegram handler over arbitrary requests (see inlet_fuzz::providers::telegram).

libfuzzer_sys::fuzz_target!(init: inlet_fuzz::init("telegram"), |data: &[u8]| inlet_fuzz::providers::telegram::run(data));
