//! The Lambda runtime glue: what every provider's `main` would otherwise
//! repeat — logging, reading the queue settings, building the SQS client
//! once, and serving HTTP events.

use lambda_http::request::RequestContext;
use lambda_http::{Body, RequestExt, Response, service_fn};
use time::OffsetDateTime;

use super::access::lambda_sdk_config;
use super::sqs::SqsPublisher;
use crate::config::ProcessEnv;
use crate::ingress::{IncomingRequest, Reply};
use crate::provider::{HttpFunction, Provider};
use crate::queue::QueueSettings;

/// A provider function's whole `main`: logging, settings, then serving.
/// The secret settings are read once, here, from where
/// `INLET_SECRETS_SOURCE` says (crate::aws::secrets), before the first request.
pub async fn run<P: Provider>() -> Result<(), lambda_http::Error> {
    crate::telemetry::init();
    let env = crate::aws::secrets::resolve(&ProcessEnv, P::SECRET_SETTINGS).await?;
    serve_http(P::from_env(&env)?).await
}

/// Serves `function` on the Lambda runtime with an SQS publisher built once.
pub async fn serve_http<F: HttpFunction>(function: F) -> Result<(), lambda_http::Error> {
    let queue = QueueSettings::from_env(&ProcessEnv)?;
    let sdk = lambda_sdk_config(&ProcessEnv)?;
    let publisher = SqsPublisher::new(SqsPublisher::client_with_timeout(&sdk, queue.timeout), queue.queue_url)
        .with_max_message_bytes(queue.max_message_bytes);
    if queue.warm_up {
        publisher.warm_up(queue.timeout / 4).await;
    }
    let (function, publisher) = (&function, &publisher);
    lambda_http::run(service_fn(move |request: lambda_http::Request| async move {
        let request = incoming(request);
        let reply = function.handle(publisher, &request, OffsetDateTime::now_utc()).await;
        Ok::<Answer, std::convert::Infallible>(response(reply))
    }))
    .await
}

/// The framework-free request of a Lambda HTTP event.
pub fn incoming(request: lambda_http::Request) -> IncomingRequest {
    // Only the HTTP API's context is compiled in (lambda_http's
    // `apigw_http`); a REST API's `requestTimeEpoch` would need `apigw_rest`.
    let (source_ip, request_id, received_at_ms) = match request.request_context_ref() {
        Some(RequestContext::ApiGatewayV2(context)) => (
            context.http.source_ip.as_deref().and_then(|ip| ip.parse().ok()),
            context.request_id.clone().filter(|id| !id.is_empty()),
            Some(context.time_epoch).filter(|&ms| ms > 0),
        ),
        _ => (None, None, None),
    };
    let path = match request.raw_http_path() {
        "" => request.uri().path().to_string(),
        raw => raw.to_string(),
    };
    let query = request
        .query_string_parameters_ref()
        .map(|q| q.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect())
        .unwrap_or_default();
    let path_params = request
        .path_parameters_ref()
        .map(|q| q.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect())
        .unwrap_or_default();
    // lambda_http builds the URI's query from `rawQueryString` as it came.
    let raw_query = request.uri().query().unwrap_or_default().to_string();
    let (parts, body) = request.into_parts();
    let body = match body {
        Body::Empty => Vec::new(),
        Body::Text(text) => text.into_bytes(),
        Body::Binary(bytes) => bytes,
        _ => Vec::new(),
    };
    IncomingRequest {
        method: parts.method,
        path,
        headers: parts.headers,
        query,
        raw_query,
        path_params,
        source_ip,
        request_id,
        received_at_ms,
        body,
    }
}

/// A response as [`response`] built it, handed to the runtime as it is.
/// lambda_http's own `IntoResponse` for a `Response` collects the body
/// again and decodes any text by the charset its Content-Type names,
/// which links encoding_rs and its CJK tables (150 KB of every
/// receiver); `response` has already chosen `Text` for UTF-8 and
/// `Binary` for anything else.
pub struct Answer(Response<Body>);

impl lambda_http::IntoResponse for Answer {
    fn into_response(self) -> std::pin::Pin<Box<dyn std::future::Future<Output = Response<Body>> + Send>> {
        Box::pin(std::future::ready(self.0))
    }
}

pub fn response(reply: Reply) -> Answer {
    let mut builder = Response::builder().status(reply.status);
    if let Some(content_type) = reply.content_type {
        builder = builder.header(http::header::CONTENT_TYPE, content_type);
    }
    for (name, value) in &reply.headers {
        builder = builder.header(name, value);
    }
    let body = if reply.body.is_empty() {
        Body::Empty
    } else {
        match String::from_utf8(reply.body) {
            Ok(text) => Body::Text(text),
            Err(bytes) => Body::Binary(bytes.into_bytes()),
        }
    };
    Answer(builder.body(body).unwrap_or_else(|_| Response::new(Body::Empty)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Value;

    async fn answered(reply: Reply) -> lambda_http::Response<lambda_http::Body> {
        lambda_http::IntoResponse::into_response(response(reply)).await
    }

    #[tokio::test]
    async fn a_reply_reaches_the_runtime_with_its_status_type_and_exact_bytes() {
        let json =
            answered(Reply::new(http::StatusCode::OK, Some("application/json"), br#"{"challenge":"\u00e9x"}"#)).await;
        assert_eq!(json.status(), 200);
        assert_eq!(json.headers()[http::header::CONTENT_TYPE], "application/json");
        assert_eq!(json.body(), &lambda_http::Body::Text(r#"{"challenge":"\u00e9x"}"#.to_string()));
        // Bytes that are not UTF-8 stay bytes (API Gateway gets them base64
        // encoded); lambda_http's own conversion would have decoded them by
        // the Content-Type's charset, replacing them with U+FFFD.
        let bytes =
            answered(Reply::new(http::StatusCode::BAD_REQUEST, Some("text/plain"), vec![b'o', 0xff, b'k'])).await;
        assert_eq!(bytes.status(), 400);
        assert_eq!(bytes.body(), &lambda_http::Body::Binary(vec![b'o', 0xff, b'k']));
        let empty = answered(
            Reply::new(http::StatusCode::NO_CONTENT, None, Vec::new())
                .with_header(http::HeaderName::from_static("x-hook-secret"), http::HeaderValue::from_static("abc")),
        )
        .await;
        assert_eq!((empty.status(), empty.body()), (http::StatusCode::NO_CONTENT, &lambda_http::Body::Empty));
        assert!(empty.headers().get(http::header::CONTENT_TYPE).is_none());
        // A handshake's own headers go out with it (Asana's X-Hook-Secret).
        assert_eq!(empty.headers()["x-hook-secret"], "abc");
    }

    #[test]
    fn the_query_string_is_kept_exactly_as_sent() {
        // Senders that sign the URL (Twilio, Square, HubSpot) sign these bytes.
        let sample = crate::samples::SampleRequest::post_json("q", "q", "/x/y?b=2&a=%2B1+%20&a=3", "{}");
        let event = sample.to_apigw_v2_event(0);
        let request = incoming(lambda_http::request::from_str(&event.to_string()).expect("an HTTP API event"));
        assert_eq!(request.raw_query, "b=2&a=%2B1+%20&a=3");
        assert_eq!(crate::samples::incoming_from_apigw_v2_event(&event).unwrap().raw_query, request.raw_query);
        assert_eq!(sample.to_incoming().raw_query, request.raw_query);
    }

    #[test]
    fn the_arrival_time_is_read_from_the_http_apis_request_context() {
        let path = crate::samples::events_dir().join("alert-api.json");
        let text = std::fs::read_to_string(&path).expect("events/alert-api.json");
        let event: Value = serde_json::from_str(&text).unwrap();
        let request = incoming(lambda_http::request::from_str(&text).expect("an HTTP API event"));
        assert_eq!(request.received_at_ms, event.pointer("/requestContext/timeEpoch").and_then(Value::as_i64));
        assert!(request.received_at_ms.is_some());
        let sample = crate::samples::incoming_from_apigw_v2_event(&event).unwrap();
        assert_eq!(sample.received_at_ms, request.received_at_ms, "the test support reads it the same way");
    }
}
