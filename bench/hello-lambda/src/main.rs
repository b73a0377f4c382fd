//! The floor `inlet coldstart` measures the receivers against: a
//! `lambda_http` function that answers 200 and does nothing else, built
//! with the same profile and the same tokio features as the receivers.

use lambda_http::{Body, Error, Request, Response, service_fn};

#[tokio::main]
async fn main() -> Result<(), Error> {
    lambda_http::run(service_fn(|_: Request| async { Ok::<_, Error>(Response::new(Body::Empty)) })).await
}
