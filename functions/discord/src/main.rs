use discord::DiscordFunction;
use inlet_shared::config::ProcessEnv;

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    inlet_shared::telemetry::init();
    let function = DiscordFunction::from_env(&ProcessEnv)?;
    inlet_shared::runtime::serve_http(function).await
}
