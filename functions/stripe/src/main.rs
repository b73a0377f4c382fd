#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    inlet_shared::runtime::run::<stripe::StripeFunction>().await
}
