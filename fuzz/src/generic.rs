//! A target for any platform: the general promises of [`crate::harness`]
//! over arbitrary requests on the platform's routes, with its dev settings.
//! `inlet gen` writes `fuzz_targets/<target>.rs` running [`Generic`] for
//! every platform of the registry that has no target of its own, so a new
//! platform is fuzzed from the day it is added; a target of its own adds
//! the platform's oracles (signing modes, what a 2xx proves).
//!
//! Seeds: the platform's own samples, signed with the fuzz settings at
//! [`crate::NOW_UNIX`], in the fuzz input format (mode 0, the only one),
//! with the queue up and down.

use inlet_shared::ingress::IncomingRequest;
use inlet_shared::samples::Samples;

use crate::fuzz_settings;
use crate::harness::{Exchange, Platform, Prepared};
use crate::seeds::{self, Seeds};

/// A platform with nothing but its dev deployment: one mode, the request as
/// the input gives it, and no oracle of its own.
pub struct Generic<P> {
    function: P,
}

impl<P: Samples> Platform for Generic<P> {
    type Function = P;
    const MODES: usize = 1;

    fn deploy() -> Self {
        Generic { function: P::from_env(&fuzz_settings()).expect("the platform starts with events/env.json") }
    }

    fn seeds(&self, _target: &str) -> Result<Seeds, String> {
        seeds::from_samples::<P>(Self::MODES)
    }

    fn prepare(&self, _mode: usize, _request: &mut IncomingRequest) -> Prepared<'_, P> {
        Prepared::by(&self.function)
    }

    /// No oracle: only a target of the platform's own knows what a 2xx needs.
    fn authenticated(&self, _exchange: &Exchange<'_>) -> Result<(), String> {
        Ok(())
    }
}
