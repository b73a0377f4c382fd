#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    inlet_shared::runtime::run::<standard_webhooks::StandardWebhooksFunction>().await
}
