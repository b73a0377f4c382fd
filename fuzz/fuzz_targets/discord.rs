#![no_main]
//! The discord handler over arbitrary requests, on the harness (inlet_fuzz::providers::discord).

inlet_fuzz::platform_target!("discord", inlet_fuzz::providers::discord::Discord);
