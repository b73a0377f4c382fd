//! Every provider's signed samples, by name.

use inlet_shared::config::EnvSource;
use inlet_shared::samples::SampleRequest;

/// All sample names, provider by provider.
pub fn names() -> Vec<&'static str> {
    [
        lark::samples::NAMES.as_slice(),
        // more providers: one line each, `<crate>::samples::NAMES.as_slice(),`
    ]
    .concat()
}

/// Builds the named sample signed with the settings in `env`.
pub fn build(name: &str, env: &dyn EnvSource, timestamp: i64, unique: &str) -> Option<SampleRequest> {
    None.or_else(|| lark::samples::sample(name, env, timestamp, unique))
    // more providers: one line each, `.or_else(|| <crate>::samples::sample(name, env, timestamp, unique))`
}
