#![no_main]
//! The openim handler over arbitrary requests (see inlet_fuzz::providers::openim).

libfuzzer_sys::fuzz_target!(init: inlet_fuzz::init("openim"), |data: &[u8]| inlet_fuzz::providers::openim::run(data));
