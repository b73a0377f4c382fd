#![no_main]
//! The telegram handler over arbitrary requests, on the harness (inlet_fuzz::providers::telegram).

inlet_fuzz::platform_target!("telegram", inlet_fuzz::providers::telegram::Telegram);
