use inlet_shared::config::ProcessEnv;
use lark::LarkFunction;

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    inlet_shared::telemetry::init();
    let function = LarkFunction::from_env(&ProcessEnv)?;
    inlet_shared::runtime::serve_http(function).await
}
