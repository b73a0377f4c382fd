#![no_main]
//! The grafana handler over arbitrary requests, on the harness (inlet_fuzz::providers::grafana).

inlet_fuzz::platform_target!("grafana", inlet_fuzz::providers::grafana::Grafana);
