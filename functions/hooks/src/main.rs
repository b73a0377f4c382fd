#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    inlet_shared::aws::lambda::run::<hooks::HooksFunction>().await
}
