use inlet_shared::config::ProcessEnv;
use telegram::TelegramFunction;

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    inlet_shared::telemetry::init();
    let function = TelegramFunction::from_env(&ProcessEnv)?;
    inlet_shared::runtime::serve_http(function).await
}
