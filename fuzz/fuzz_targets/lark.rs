#![no_main]
//! The lark handler over arbitrary requests, on the harness (inlet_fuzz::providers::lark).

inlet_fuzz::platform_target!("lark", inlet_fuzz::providers::lark::Lark);
