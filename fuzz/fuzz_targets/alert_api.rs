#![no_main]
//! The alert-api handler over arbitrary requests, on the harness (inlet_fuzz::providers::alert_api).

inlet_fuzz::platform_target!("alert_api", inlet_fuzz::providers::alert_api::AlertApi);
