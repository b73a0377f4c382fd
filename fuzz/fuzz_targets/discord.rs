#![no_main]
//! The discord handler over arbitrary requests (see inlet_fuzz::providers::discord).

libfuzzer_sys::fuzz_target!(init: inlet_fuzz::init("discord"), |data: &[u8]| inlet_fuzz::providers::discord::run(data));
