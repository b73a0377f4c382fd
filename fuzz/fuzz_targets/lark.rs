#![no_main]
//! The lark handler over arbitrary requests (see inlet_fuzz::providers::lark).

libfuzzer_sys::fuzz_target!(init: inlet_fuzz::init("lark"), |data: &[u8]| inlet_fuzz::providers::lark::run(data));
