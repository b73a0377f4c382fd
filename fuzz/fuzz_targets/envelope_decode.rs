#![no_main]
//! The processor's Envelope decoder over arbitrary queue message bodies.

libfuzzer_sys::fuzz_target!(init: inlet_fuzz::init("envelope_decode"), |data: &[u8]| {
    inlet_fuzz::structures::envelope_decode(data)
});
