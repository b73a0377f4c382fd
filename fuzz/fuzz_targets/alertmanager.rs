#![no_main]
//! The alertmanager handler over arbitrary requests, on the harness (inlet_fuzz::providers::alertmanager).

inlet_fuzz::platform_target!("alertmanager", inlet_fuzz::providers::alertmanager::Alertmanager);
