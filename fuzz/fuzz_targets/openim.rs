#![no_main]
//! The openim handler over arbitrary requests, on the harness (inlet_fuzz::providers::openim).

inlet_fuzz::platform_target!("openim", inlet_fuzz::providers::openim::Openim);
