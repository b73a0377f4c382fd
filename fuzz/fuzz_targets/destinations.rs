#![no_main]
//! The destinations document (`INLET_DESTINATIONS`) and the EventBridge
//! pattern matcher over arbitrary input.

libfuzzer_sys::fuzz_target!(init: inlet_fuzz::init("destinations"), |data: &[u8]| {
    inlet_fuzz::structures::destinations(data)
});
