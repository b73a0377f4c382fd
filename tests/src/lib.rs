//! What the integration and end-to-end tests share beyond inlet-testkit:
//! the platforms' local reply APIs they answer through, and posting a
//! signed sample to a local stack.

pub mod platforms;

use std::time::Duration;

use inlet_shared::samples::SampleRequest;

/// POSTs a signed sample to the local API at `api`, as a platform would:
/// the status and body of the answer (4xx and 5xx included).
pub async fn post_sample(api: &str, sample: SampleRequest) -> (u16, String) {
    let api = api.to_string();
    tokio::task::spawn_blocking(move || {
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(Duration::from_secs(30)))
            .build()
            .into();
        inlet_cli::samples::send(&agent, &api, &sample).expect("the local API answers")
    })
    .await
    .expect("the sending thread ends")
}
