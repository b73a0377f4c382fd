#![no_main]
//! Reply requests (the reply queue's messages), a destination's answer
//! with a reply, and the reply-hosts check over arbitrary input.

libfuzzer_sys::fuzz_target!(init: inlet_fuzz::init("replies"), |data: &[u8]| {
    inlet_fuzz::structures::replies(data)
});
