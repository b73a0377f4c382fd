//! The local stack's HTTP front: API Gateway (HTTP API, payload 2.0) at
//! template.yaml's routes, Lambda's Invoke API (what `cargo lambda invoke`
//! calls), and `GET /_inlet/status` for tests and the soak.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;

use base64::Engine;
use bytes::Bytes;
use hyper::body::Incoming;
use hyper::{Method, Request, StatusCode};
use serde_json::{Value, json};

use inlet_shared::form::percent_decode;

use crate::httpd::{self, BodyError, HttpResponse};
use crate::runtime_api::{Function, InvokeError, MAX_PAYLOAD_BYTES};

/// API Gateway's limit on a request body.
pub const MAX_REQUEST_BYTES: usize = 10 * 1024 * 1024;
pub const STATUS_PATH: &str = "/_inlet/status";
const INVOKE_PREFIX: &str = "/2015-03-31/functions/";

#[derive(Clone, Debug, PartialEq, Eq)]
enum Segment {
    Literal(String),
    Parameter(String),
}

#[derive(Clone, Debug)]
struct Route {
    pattern: String,
    segments: Vec<Segment>,
    function: String,
}

/// Routes and functions; the status document comes from the stack.
pub struct Api {
    routes: Vec<Route>,
    functions: BTreeMap<String, Function>,
    status: Box<dyn Fn() -> Value + Send + Sync>,
}

/// An HTTP request as API Gateway hands it on.
pub struct HttpCall<'a> {
    pub method: &'a str,
    pub path: &'a str,
    pub query: &'a str,
    pub headers: Vec<(String, String)>,
    pub body: Bytes,
    pub source_ip: String,
}

impl Api {
    /// `router`: `"/path/{param}" = "function"`, as in Cargo.toml.
    pub fn new(
        router: &BTreeMap<String, String>,
        functions: BTreeMap<String, Function>,
        status: Box<dyn Fn() -> Value + Send + Sync>,
    ) -> Api {
        let routes = router
            .iter()
            .map(|(pattern, function)| Route {
                pattern: pattern.clone(),
                segments: segments(pattern)
                    .map(|s| match s.strip_prefix('{').and_then(|p| p.strip_suffix('}')) {
                        Some(name) => Segment::Parameter(name.to_string()),
                        None => Segment::Literal(s.to_string()),
                    })
                    .collect(),
                function: function.clone(),
            })
            .collect();
        Api { routes, functions, status }
    }

    /// The route for `path` and its path parameters; like API Gateway, the
    /// route with the most literal segments wins.
    fn route(&self, path: &str) -> Option<(&Route, Vec<(String, String)>)> {
        let parts: Vec<&str> = segments(path).collect();
        self.routes
            .iter()
            .filter(|route| route.segments.len() == parts.len())
            .filter_map(|route| {
                let mut parameters = Vec::new();
                for (segment, part) in route.segments.iter().zip(&parts) {
                    match segment {
                        Segment::Literal(literal) if literal == part => {}
                        Segment::Literal(_) => return None,
                        Segment::Parameter(_) if part.is_empty() => return None,
                        Segment::Parameter(name) => parameters.push((name.clone(), percent_decode(part, false))),
                    }
                }
                Some((route, parameters))
            })
            .max_by_key(|(route, _)| route.segments.iter().filter(|s| matches!(s, Segment::Literal(_))).count())
    }

    pub async fn handle(&self, request: Request<Incoming>, peer: SocketAddr) -> HttpResponse {
        let path = request.uri().path().to_string();
        if path == STATUS_PATH && request.method() == Method::GET {
            return httpd::json(StatusCode::OK, &(self.status)());
        }
        if let Some(rest) = path.strip_prefix(INVOKE_PREFIX)
            && let Some(name) = rest.strip_suffix("/invocations")
        {
            return self.invoke_api(name, request).await;
        }
        let method = request.method().to_string();
        let query = request.uri().query().unwrap_or("").to_string();
        let mut headers: Vec<(String, String)> = Vec::new();
        for (name, value) in request.headers() {
            headers.push((name.as_str().to_string(), String::from_utf8_lossy(value.as_bytes()).into_owned()));
        }
        let body = match httpd::read_body(request.into_body(), MAX_REQUEST_BYTES).await {
            Ok(body) => body,
            Err(BodyError::TooLarge) => {
                return httpd::json(StatusCode::PAYLOAD_TOO_LARGE, &json!({"message": "Request Entity Too Large"}));
            }
            Err(BodyError::Broken(_)) => {
                return httpd::json(StatusCode::BAD_REQUEST, &json!({"message": "Bad Request"}));
            }
        };
        let call =
            HttpCall { method: &method, path: &path, query: &query, headers, body, source_ip: peer.ip().to_string() };
        match self.call(call).await {
            Some(Ok(response)) => response,
            Some(Err(error)) => {
                eprintln!("api: {method} {path}: {error}");
                // What an HTTP API answers when its Lambda integration fails.
                httpd::json(StatusCode::INTERNAL_SERVER_ERROR, &json!({"message": "Internal Server Error"}))
            }
            None => httpd::json(StatusCode::NOT_FOUND, &json!({"message": "Not Found"})),
        }
    }

    /// Runs a request through its route's function; None when no route
    /// matches.
    pub async fn call(&self, call: HttpCall<'_>) -> Option<Result<HttpResponse, InvokeError>> {
        let (route, parameters) = self.route(call.path)?;
        let function = self.functions.get(&route.function)?;
        let event = apigw_v2_event(&call, &route.pattern, &parameters);
        let result = function.invoke(Bytes::from(event.to_string())).await;
        Some(result.map(|invoked| http_response(&invoked.payload)))
    }

    async fn invoke_api(&self, name: &str, request: Request<Incoming>) -> HttpResponse {
        let Some(function) = self.functions.get(name) else {
            return httpd::json(
                StatusCode::NOT_FOUND,
                &json!({"Type": "User", "message": format!("Function not found: {name}")}),
            );
        };
        if request.method() != Method::POST {
            return httpd::json(StatusCode::METHOD_NOT_ALLOWED, &json!({"message": "use POST"}));
        }
        let asynchronous = request.headers().get("x-amz-invocation-type").is_some_and(|v| v == "Event");
        let payload = match httpd::read_body(request.into_body(), MAX_PAYLOAD_BYTES).await {
            Ok(payload) => payload,
            Err(_) => {
                let error = InvokeError::RequestTooLarge { bytes: MAX_PAYLOAD_BYTES + 1 };
                return httpd::json(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    &json!({"Type": "User", "message": error.to_string()}),
                );
            }
        };
        if asynchronous {
            let function = function.clone();
            tokio::spawn(async move {
                if let Err(error) = function.invoke(payload).await {
                    eprintln!("api: asynchronous invoke of {}: {error}", function.config().name);
                }
            });
            return httpd::respond(StatusCode::ACCEPTED, "application/json", "");
        }
        let mut response = match function.invoke(payload).await {
            Ok(invoked) => httpd::respond(StatusCode::OK, "application/json", invoked.payload),
            Err(InvokeError::Stopped) => {
                return httpd::json(StatusCode::SERVICE_UNAVAILABLE, &json!({"message": "stopping"}));
            }
            Err(error) => {
                let mut response = httpd::respond(StatusCode::OK, "application/json", error.payload());
                response.headers_mut().insert("x-amz-function-error", http::HeaderValue::from_static("Unhandled"));
                response
            }
        };
        response.headers_mut().insert("x-amz-executed-version", http::HeaderValue::from_static("$LATEST"));
        response
    }
}

pub async fn serve(listener: tokio::net::TcpListener, api: Arc<Api>) {
    httpd::serve(listener, move |request, peer| {
        let api = api.clone();
        async move { api.handle(request, peer).await }
    })
    .await
}

fn segments(path: &str) -> impl Iterator<Item = &str> {
    path.strip_prefix('/').unwrap_or(path).split('/')
}

/// The event an HTTP API (payload format 2.0) gives its Lambda integration.
pub fn apigw_v2_event(call: &HttpCall<'_>, route_pattern: &str, path_parameters: &[(String, String)]) -> Value {
    let mut headers = serde_json::Map::new();
    let mut cookies = Vec::new();
    for (name, value) in &call.headers {
        let name = name.to_ascii_lowercase();
        if name == "cookie" {
            cookies.extend(value.split(';').map(str::trim).filter(|c| !c.is_empty()).map(|c| json!(c)));
            continue;
        }
        match headers.get_mut(&name) {
            Some(Value::String(existing)) => {
                existing.push(',');
                existing.push_str(value);
            }
            _ => {
                headers.insert(name, json!(value));
            }
        }
    }
    // API Gateway adds the client's address and the scheme.
    let forwarded = match headers.get("x-forwarded-for").and_then(Value::as_str) {
        Some(existing) => format!("{existing}, {}", call.source_ip),
        None => call.source_ip.clone(),
    };
    headers.insert("x-forwarded-for".into(), json!(forwarded));
    headers.insert("x-forwarded-proto".into(), json!("http"));

    let mut query = serde_json::Map::new();
    for pair in call.query.split('&').filter(|p| !p.is_empty()) {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        let (key, value) = (percent_decode(key, false), percent_decode(value, false));
        match query.get_mut(&key) {
            Some(Value::String(existing)) => {
                existing.push(',');
                existing.push_str(&value);
            }
            _ => {
                query.insert(key, json!(value));
            }
        }
    }
    let now = time::OffsetDateTime::now_utc();
    let time_text = now
        .format(time::macros::format_description!("[day]/[month repr:short]/[year]:[hour]:[minute]:[second] +0000"))
        .unwrap_or_default();
    let route_key = format!("{} {route_pattern}", call.method);
    let (body, is_base64) = match std::str::from_utf8(&call.body) {
        Ok(text) => (text.to_string(), false),
        Err(_) => (base64::engine::general_purpose::STANDARD.encode(&call.body), true),
    };
    let user_agent = headers.get("user-agent").cloned().unwrap_or(json!(""));
    let mut event = json!({
        "version": "2.0",
        "routeKey": route_key,
        "rawPath": call.path,
        "rawQueryString": call.query,
        "headers": headers,
        "requestContext": {
            "accountId": crate::runtime_api::ACCOUNT_ID,
            "apiId": "inletlocal",
            "domainName": "127.0.0.1",
            "domainPrefix": "127",
            "http": {
                "method": call.method,
                "path": call.path,
                "protocol": "HTTP/1.1",
                "sourceIp": call.source_ip,
                "userAgent": user_agent
            },
            "requestId": crate::runtime_api::new_request_id(),
            "routeKey": route_key,
            "stage": "$default",
            "time": time_text,
            "timeEpoch": now.unix_timestamp_nanos() / 1_000_000
        },
        "isBase64Encoded": is_base64
    });
    if !call.body.is_empty() {
        event["body"] = json!(body);
    }
    if !cookies.is_empty() {
        event["cookies"] = Value::Array(cookies);
    }
    if !query.is_empty() {
        event["queryStringParameters"] = Value::Object(query);
    }
    if !path_parameters.is_empty() {
        event["pathParameters"] = Value::Object(path_parameters.iter().map(|(k, v)| (k.clone(), json!(v))).collect());
    }
    event
}

/// The HTTP response API Gateway makes of a function's answer (payload 2.0):
/// `statusCode`, `headers`, `multiValueHeaders`, `cookies`, `body`,
/// `isBase64Encoded`; an answer without `statusCode` is a 200 JSON body.
pub fn http_response(payload: &[u8]) -> HttpResponse {
    let value: Value = serde_json::from_slice(payload).unwrap_or(Value::Null);
    let Some(status) = value.get("statusCode").and_then(Value::as_u64) else {
        return match value {
            Value::Null => httpd::json(StatusCode::INTERNAL_SERVER_ERROR, &json!({"message": "Internal Server Error"})),
            Value::String(text) => httpd::respond(StatusCode::OK, "application/json", text),
            other => httpd::json(StatusCode::OK, &other),
        };
    };
    let body = value.get("body").and_then(Value::as_str).unwrap_or("");
    let body = if value.get("isBase64Encoded").and_then(Value::as_bool) == Some(true) {
        base64::engine::general_purpose::STANDARD.decode(body).unwrap_or_default()
    } else {
        body.as_bytes().to_vec()
    };
    let Ok(status) = u16::try_from(status).map_err(|_| ()).and_then(|s| StatusCode::from_u16(s).map_err(|_| ())) else {
        return httpd::json(StatusCode::INTERNAL_SERVER_ERROR, &json!({"message": "Internal Server Error"}));
    };
    let mut response = httpd::respond(status, "application/json", body);
    let headers = response.headers_mut();
    let mut add = |name: &str, value: &str, replace: bool| {
        if let (Ok(name), Ok(value)) =
            (http::HeaderName::from_bytes(name.as_bytes()), http::HeaderValue::from_str(value))
        {
            if replace {
                headers.insert(name, value);
            } else {
                headers.append(name, value);
            }
        }
    };
    if let Some(map) = value.get("headers").and_then(Value::as_object) {
        for (name, value) in map {
            if let Some(value) = value.as_str() {
                add(name, value, true);
            }
        }
    }
    if let Some(map) = value.get("multiValueHeaders").and_then(Value::as_object) {
        for (name, values) in map {
            for value in values.as_array().into_iter().flatten().filter_map(Value::as_str) {
                add(name, value, false);
            }
        }
    }
    for cookie in value.get("cookies").and_then(Value::as_array).into_iter().flatten().filter_map(Value::as_str) {
        add("set-cookie", cookie, false);
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body_util::BodyExt;

    fn api() -> Api {
        let router: BTreeMap<String, String> = [
            ("/lark/event", "lark"),
            ("/telegram/{bot}", "telegram"),
            ("/openim/{command}", "openim"),
            ("/openim/{token}/{command}", "openim"),
            ("/openim/fixed/{command}", "other"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        Api::new(&router, BTreeMap::new(), Box::new(|| json!({})))
    }

    fn routed(api: &Api, path: &str) -> Option<(String, Vec<(String, String)>)> {
        api.route(path).map(|(route, params)| (route.pattern.clone(), params))
    }

    #[test]
    fn routes_match_like_api_gateway() {
        let api = api();
        assert_eq!(routed(&api, "/lark/event"), Some(("/lark/event".into(), vec![])));
        assert_eq!(routed(&api, "/lark/event/"), None, "a trailing slash is another path");
        assert_eq!(routed(&api, "/lark"), None);
        assert_eq!(
            routed(&api, "/telegram/alerts%5Fbot"),
            Some(("/telegram/{bot}".into(), vec![("bot".into(), "alerts_bot".into())]))
        );
        assert_eq!(routed(&api, "/telegram/"), None, "an empty parameter matches nothing");
        assert_eq!(
            routed(&api, "/openim/secret/callbackX"),
            Some((
                "/openim/{token}/{command}".into(),
                vec![("token".into(), "secret".into()), ("command".into(), "callbackX".into())]
            ))
        );
        assert_eq!(routed(&api, "/openim/fixed/c").map(|r| r.0), Some("/openim/fixed/{command}".into()));
    }

    #[test]
    fn event_carries_what_the_receivers_read() {
        let call = HttpCall {
            method: "POST",
            path: "/telegram/bot1",
            query: "a=1&b=x%20y&a=2",
            headers: vec![
                ("Content-Type".into(), "application/json".into()),
                ("X-Thing".into(), "one".into()),
                ("x-thing".into(), "two".into()),
                ("cookie".into(), "c1=v1; c2=v2".into()),
            ],
            body: Bytes::from_static(b"{\"k\":1}"),
            source_ip: "127.0.0.1".into(),
        };
        let event = apigw_v2_event(&call, "/telegram/{bot}", &[("bot".into(), "bot1".into())]);
        assert_eq!(event["routeKey"], "POST /telegram/{bot}");
        assert_eq!(event["rawPath"], "/telegram/bot1");
        assert_eq!(event["headers"]["content-type"], "application/json");
        assert_eq!(event["headers"]["x-thing"], "one,two");
        assert_eq!(event["headers"]["x-forwarded-for"], "127.0.0.1");
        assert!(event["headers"].get("cookie").is_none());
        assert_eq!(event["cookies"], json!(["c1=v1", "c2=v2"]));
        assert_eq!(event["queryStringParameters"], json!({"a": "1,2", "b": "x y"}));
        assert_eq!(event["pathParameters"], json!({"bot": "bot1"}));
        assert_eq!(event["requestContext"]["http"]["sourceIp"], "127.0.0.1");
        assert_eq!(event["body"], "{\"k\":1}");
        assert_eq!(event["isBase64Encoded"], false);

        let binary = HttpCall { body: Bytes::from_static(&[0xff, 0x00]), ..call };
        let event = apigw_v2_event(&binary, "/x", &[]);
        assert_eq!(event["isBase64Encoded"], true);
        assert_eq!(event["body"], "/wA=");
    }

    /// The event lambda_http parses is the request the receivers see.
    #[test]
    fn lambda_http_reads_the_event_as_the_original_request() {
        let call = HttpCall {
            method: "POST",
            path: "/openim/tok/callbackAfterSendGroupMsgCommand",
            query: "x=1",
            headers: vec![("x-signature".into(), "abc".into())],
            body: Bytes::from_static(b"{\"a\":\"\xc3\xa9\"}"),
            source_ip: "127.0.0.1".into(),
        };
        let parameters = [("token".to_string(), "tok".to_string()), ("command".to_string(), "c".to_string())];
        let event = apigw_v2_event(&call, "/openim/{token}/{command}", &parameters);
        let request = lambda_http::request::from_str(&event.to_string()).expect("lambda_http accepts the event");
        let incoming = inlet_shared::aws::lambda::incoming(request);
        assert_eq!(incoming.path, "/openim/tok/callbackAfterSendGroupMsgCommand");
        assert_eq!(incoming.body, "{\"a\":\"é\"}".as_bytes());
        assert_eq!(incoming.header("x-signature"), Some("abc"));
        assert_eq!(incoming.path_params.get("token").map(String::as_str), Some("tok"));
        assert_eq!(incoming.query.get("x").map(String::as_str), Some("1"));
        assert_eq!(incoming.source_ip, Some("127.0.0.1".parse().unwrap()));
    }

    async fn body_of(response: HttpResponse) -> (u16, Vec<(String, String)>, Vec<u8>) {
        let status = response.status().as_u16();
        let headers =
            response.headers().iter().map(|(k, v)| (k.to_string(), v.to_str().unwrap().to_string())).collect();
        let body = response.into_body().collect().await.unwrap().to_bytes().to_vec();
        (status, headers, body)
    }

    #[tokio::test]
    async fn function_answers_become_http_responses() {
        let (status, headers, body) = body_of(http_response(
            br#"{"statusCode":401,"headers":{"content-type":"text/plain"},"multiValueHeaders":{"x-a":["1","2"]},
                "cookies":["s=1"],"body":"no","isBase64Encoded":false}"#,
        ))
        .await;
        assert_eq!(status, 401);
        assert_eq!(body, b"no");
        assert!(headers.contains(&("content-type".into(), "text/plain".into())));
        assert!(headers.contains(&("x-a".into(), "1".into())) && headers.contains(&("x-a".into(), "2".into())));
        assert!(headers.contains(&("set-cookie".into(), "s=1".into())));

        let (status, _, body) =
            body_of(http_response(br#"{"statusCode":200,"body":"AAE=","isBase64Encoded":true}"#)).await;
        assert_eq!((status, body), (200, vec![0, 1]));
        // Without statusCode, API Gateway takes the answer as a JSON body.
        let (status, _, body) = body_of(http_response(br#"{"ok":true}"#)).await;
        assert_eq!((status, body), (200, br#"{"ok":true}"#.to_vec()));
        let (status, _, _) = body_of(http_response(b"not json")).await;
        assert_eq!(status, 500);
    }
}
