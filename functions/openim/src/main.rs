use inlet_shared::config::ProcessEnv;
use openim::OpenimFunction;

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    inlet_shared::telemetry::init();
    let function = OpenimFunction::from_env(&ProcessEnv)?;
    inlet_shared::runtime::serve_http(function).await
}
