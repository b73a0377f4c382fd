//! The Provider contract: what a platform's crate writes, and nothing more.
//!
//! A provider names itself, its settings prefix and its routes as data, builds
//! itself from settings, and decides what a request on one of its routes
//! means. The shared flow does the rest: it matches the path against the
//! route table (answering 404 and 405 itself), then runs limits → decision →
//! enqueue → answer.

use time::OffsetDateTime;

use crate::config::EnvSource;
use crate::error::{ConfigError, IngressError};
use crate::ingress::{DEFAULT_DEADLINE_MS, IngressSettings};
use crate::ingress::{Decision, IncomingRequest, Reply, RouteFacts, run_ingress};
use crate::queue::Publisher;
use std::future::Future;
use std::pin::Pin;

/// One HTTP route: its methods and a path template such as
/// `/openim/{token}/{command}`, where `{name}` matches one path segment.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Route {
    pub methods: &'static [&'static str],
    pub path: &'static str,
    /// Path parameters that may carry a secret: the flow logs `***` in their
    /// place (see [`logged_path`]).
    pub secret_params: &'static [&'static str],
    /// How long the platform waits for the acknowledgement of an event on
    /// this route: `AckDeadlineUsed` is measured against it.
    pub ack_deadline_ms: u32,
    /// The deadline of an answer given without enqueueing (URL checks,
    /// PINGs), where the platform's is tighter than for events.
    pub answer_deadline_ms: u32,
}

impl Route {
    /// A route on `methods` with the default deadline
    /// ([`DEFAULT_DEADLINE_MS`], for a platform that documents none).
    pub const fn new(methods: &'static [&'static str], path: &'static str) -> Self {
        Route {
            methods,
            path,
            secret_params: &[],
            ack_deadline_ms: DEFAULT_DEADLINE_MS,
            answer_deadline_ms: DEFAULT_DEADLINE_MS,
        }
    }

    pub const fn post(path: &'static str) -> Self {
        Self::new(&["POST"], path)
    }

    /// Marks path parameters as secret (logged as `***`).
    pub const fn secret(mut self, params: &'static [&'static str]) -> Self {
        self.secret_params = params;
        self
    }

    /// The platform's deadline for every answer on this route.
    pub const fn deadline_ms(mut self, ms: u32) -> Self {
        self.ack_deadline_ms = ms;
        self.answer_deadline_ms = ms;
        self
    }

    /// A tighter deadline for answers given without enqueueing (challenges).
    pub const fn answer_deadline_ms(mut self, ms: u32) -> Self {
        self.answer_deadline_ms = ms;
        self
    }

    /// The deadline of one answer: `answered` when nothing was enqueued.
    pub fn deadline_for(&self, answered: bool) -> u32 {
        if answered { self.answer_deadline_ms } else { self.ack_deadline_ms }
    }

    /// Matches `path`, which may carry an API Gateway stage prefix, against
    /// this template. Empty segments are ignored, so a URL configured with a
    /// trailing slash (OpenIM appends `/command` as is) still matches.
    pub fn matches(&self, path: &str) -> Option<Vec<(&'static str, String)>> {
        self.match_counted(path, segments(path).count())
    }

    /// [`Route::matches`] for a path of `path_segments` segments.
    fn match_counted(&self, path: &str, path_segments: usize) -> Option<Vec<(&'static str, String)>> {
        #[cfg(test)]
        tests::MATCHED.with(|count| count.set(count.get() + 1));
        // Segment by segment, allocating only for a parameter's value.
        let tail = path_segments.checked_sub(segments(self.path).count())?;
        let mut params = Vec::new();
        for (expected, got) in segments(self.path).zip(segments(path).skip(tail)) {
            match expected.strip_prefix('{').and_then(|name| name.strip_suffix('}')) {
                Some(name) => params.push((name, got.to_string())),
                None if expected == got => {}
                None => return None,
            }
        }
        Some(params)
    }

    pub fn allows(&self, method: &http::Method) -> bool {
        self.methods.iter().any(|allowed| *allowed == method.as_str())
    }
}

fn segments(path: &str) -> impl Iterator<Item = &str> {
    path.split('/').filter(|segment| !segment.is_empty())
}

/// The route a request matched and its path parameters.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RouteMatch {
    pub route: &'static Route,
    /// Position of `route` in the provider's table.
    pub index: usize,
    pub params: Vec<(&'static str, String)>,
}

impl RouteMatch {
    pub fn param(&self, name: &str) -> Option<&str> {
        self.params.iter().find(|(key, _)| *key == name).map(|(_, value)| value.as_str())
    }

    pub fn is(&self, path: &str) -> bool {
        self.route.path == path
    }
}

/// Finds the route for `request` in `routes`: 404 when no template matches
/// the path, 405 when one does but not with this method. Templates are tried
/// in order, the longest match of a table first, so `/a/{x}/{y}` is not
/// mistaken for `/a/{y}` behind a stage prefix.
pub fn match_route(routes: &'static [Route], request: &IncomingRequest) -> Result<RouteMatch, IngressError> {
    RouteLookup::of(routes, request).route(request).cloned()
}

/// The table's routes with their positions, longest template first (in
/// table order among equals), without sorting a copy.
fn longest_first(routes: &'static [Route]) -> impl Iterator<Item = (usize, &'static Route)> {
    let longest = routes.iter().map(|route| segments(route.path).count()).max().unwrap_or(0);
    (0..=longest).rev().flat_map(move |length| {
        routes.iter().enumerate().filter(move |(_, route)| segments(route.path).count() == length)
    })
}

/// A request's route, looked up once for everything that needs it: the
/// provider's decision ([`RouteLookup::route`]), the redacted path of the
/// log, the metrics' `Route` dimension and the deadline.
#[derive(Clone, Debug)]
pub struct RouteLookup {
    /// The route the path and method matched, with its parameters; else
    /// whether the path matched some template (405) or none (404).
    matched: Result<RouteMatch, bool>,
    /// The first template, longest first, the path matches whatever the
    /// method.
    template: Option<&'static Route>,
}

impl RouteLookup {
    /// One pass over the table, each template matched once: the longest
    /// template that matches the path (the first of equals) is the
    /// template, the longest that also allows the method the route, as
    /// [`longest_first`] would try them.
    pub fn of(routes: &'static [Route], request: &IncomingRequest) -> Self {
        let path_segments = segments(&request.path).count();
        let mut template: Option<(usize, &'static Route)> = None;
        let mut matched: Option<(usize, RouteMatch)> = None;
        for (index, route) in routes.iter().enumerate() {
            let length = segments(route.path).count();
            let longer = |best: Option<usize>| best.is_none_or(|best| length > best);
            let (for_template, for_route) =
                (longer(template.map(|(l, _)| l)), longer(matched.as_ref().map(|(l, _)| *l)));
            if !for_template && !for_route {
                continue;
            }
            let Some(params) = route.match_counted(&request.path, path_segments) else { continue };
            if for_template {
                template = Some((length, route));
            }
            if for_route && route.allows(&request.method) {
                matched = Some((length, RouteMatch { route, index, params }));
            }
        }
        let template = template.map(|(_, route)| route);
        match matched {
            Some((_, matched)) => RouteLookup { matched: Ok(matched), template },
            None => RouteLookup { matched: Err(template.is_some()), template },
        }
    }

    /// The matched route, or the refusal: 405 when the path is a route's
    /// with another method, else 404.
    pub fn route(&self, request: &IncomingRequest) -> Result<&RouteMatch, IngressError> {
        match &self.matched {
            Ok(matched) => Ok(matched),
            Err(true) => Err(IngressError::MethodNotAllowed(request.method.to_string())),
            Err(false) => Err(IngressError::NotFound(request.path.clone())),
        }
    }

    /// The template the path matched, whatever the method.
    pub fn template(&self) -> Option<&'static Route> {
        self.template
    }
}

/// `path` as the logs show it, with nothing a route table marks secret.
///
/// On a path a route matched, the segments bound to that route's secret
/// parameters become `***`. A path no route matched, or one the provider
/// refused as unknown (`not_found`), of a provider that has any secret
/// parameter: every segment after the first of the table's literal segments
/// becomes `***` unless it is itself a literal, since any of them may be a
/// mistyped or guessed secret.
pub fn logged_path(routes: &'static [Route], path: &str, not_found: bool) -> String {
    let template = longest_first(routes).map(|(_, route)| route).find(|route| route.matches(path).is_some());
    logged_path_of(routes, path, template, not_found)
}

/// [`logged_path`] with the template the path matched already known.
fn logged_path_of(routes: &'static [Route], path: &str, template: Option<&'static Route>, not_found: bool) -> String {
    if routes.iter().all(|route| route.secret_params.is_empty()) {
        return path.to_string();
    }
    let literals: Vec<&str> = routes.iter().flat_map(|route| segments(route.path)).filter(|s| !is_param(s)).collect();
    let matched = template.filter(|_| !not_found);
    let mut raw: Vec<&str> = path.split('/').collect();
    let filled: Vec<usize> = raw.iter().enumerate().filter(|(_, s)| !s.is_empty()).map(|(i, _)| i).collect();
    match matched {
        Some(route) => {
            let template: Vec<&str> = segments(route.path).collect();
            let tail = filled.len() - template.len();
            for (offset, expected) in template.iter().enumerate() {
                let name = expected.strip_prefix('{').and_then(|name| name.strip_suffix('}'));
                if name.is_some_and(|name| route.secret_params.contains(&name)) {
                    raw[filled[tail + offset]] = "***";
                }
            }
        }
        None => {
            let first_literal = filled.iter().position(|&i| literals.contains(&raw[i])).unwrap_or(0);
            for &index in &filled[first_literal..] {
                if !literals.contains(&raw[index]) {
                    raw[index] = "***";
                }
            }
        }
    }
    raw.join("/")
}

fn is_param(segment: &str) -> bool {
    segment.starts_with('{') && segment.ends_with('}')
}

/// What a provider decides about a request: a [`Decision`], or the refusal.
pub type Decided = Result<Decision, IngressError>;

/// A webhook platform: its protocol, and only its protocol.
pub trait Provider: Send + Sync + Sized + 'static {
    /// `Envelope.provider`, and the crate's name in the registry.
    const NAME: &'static str;
    /// The settings prefix, e.g. `ALERT_API` for `ALERT_API_ALLOWED_CIDRS`.
    const SETTINGS_PREFIX: &'static str;
    const ROUTES: &'static [Route];

    /// Settings that hold a secret: never logged, never in an Envelope,
    /// `NoEcho` in template.yaml.
    const SECRET_SETTINGS: &'static [&'static str];

    /// Everything else the repository needs to know of the platform: the
    /// text of its `platform.toml`, beside the crate's `src/` (a
    /// [`crate::platform::Platform`]; docs/contributing/adding-a-platform.md).
    /// `inlet gen` writes template.yaml's sections, the docs' tables, the
    /// fuzz list and events/ from it; the function itself never reads it.
    /// The registry's tests refuse a provider left undescribed.
    const PLATFORM: &'static str = "";

    fn from_env(env: &dyn EnvSource) -> Result<Self, ConfigError>;

    fn ingress(&self) -> &IngressSettings;

    /// What a request on one of [`Provider::ROUTES`] means: verification
    /// first, then normalization. Called after the body cap and address
    /// allowlist, with the method already checked against the route.
    fn decide(&self, route: &RouteMatch, request: &IncomingRequest, now: OffsetDateTime) -> Decided;
}

/// What the flow logs and measures of a request, from a route table and
/// the request's route, looked up once.
struct TableRoute<'a> {
    routes: &'static [Route],
    request: &'a IncomingRequest,
    lookup: &'a RouteLookup,
}

impl RouteFacts for TableRoute<'_> {
    fn logged_path(&self, refusal: Option<&IngressError>) -> String {
        let not_found = matches!(refusal, Some(IngressError::NotFound(_)));
        logged_path_of(self.routes, &self.request.path, self.lookup.template, not_found)
    }

    fn deadline_ms(&self, answered: bool) -> u32 {
        self.lookup.matched.as_ref().map(|matched| matched.route.deadline_for(answered)).unwrap_or(DEFAULT_DEADLINE_MS)
    }

    fn is_known_path(&self) -> bool {
        self.lookup.template.is_some()
    }

    fn template(&self) -> Option<&'static str> {
        self.lookup.template.map(|route| route.path)
    }
}

impl<P: Provider> HttpFunction for P {
    async fn handle(&self, publisher: &dyn Publisher, request: &IncomingRequest, now: OffsetDateTime) -> Reply {
        // Matched once: the decision, the log, the metrics and the deadline
        // all read this lookup.
        let lookup = RouteLookup::of(P::ROUTES, request);
        let facts = TableRoute { routes: P::ROUTES, request, lookup: &lookup };
        run_ingress(P::NAME, &facts, self.ingress(), publisher, request, |request| {
            self.decide(lookup.route(request)?, request, now)
        })
        .await
    }
}

/// A provider's request handler: verification, normalization and the
/// answer, with its dependencies passed in so tests can swap them.
pub trait HttpFunction: Send + Sync {
    fn handle<'a>(
        &'a self,
        publisher: &'a dyn Publisher,
        request: &'a IncomingRequest,
        now: OffsetDateTime,
    ) -> impl Future<Output = Reply> + Send + 'a;
}

/// [`HttpFunction`] behind a pointer, for tools that hold every provider in
/// one list (the registry, the bench harness).
pub trait DynFunction: Send + Sync {
    fn handle_boxed<'a>(
        &'a self,
        publisher: &'a dyn Publisher,
        request: &'a IncomingRequest,
        now: OffsetDateTime,
    ) -> Pin<Box<dyn Future<Output = Reply> + Send + 'a>>;
}

impl<F: HttpFunction> DynFunction for F {
    fn handle_boxed<'a>(
        &'a self,
        publisher: &'a dyn Publisher,
        request: &'a IncomingRequest,
        now: OffsetDateTime,
    ) -> Pin<Box<dyn Future<Output = Reply> + Send + 'a>> {
        Box::pin(self.handle(publisher, request, now))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::{Method, StatusCode};

    const ROUTES: &[Route] = &[
        Route::post("/openim/{command}"),
        Route::post("/openim/{token}/{command}").secret(&["token"]),
        Route::new(&["POST", "PUT"], "/grafana/alerts").deadline_ms(10_000),
    ];

    fn matched(method: Method, path: &str) -> Result<RouteMatch, IngressError> {
        match_route(ROUTES, &IncomingRequest::new(method, path, ""))
    }

    #[test]
    fn templates_match_with_or_without_a_stage_and_bind_parameters() {
        let route = matched(Method::POST, "/prod/openim/tok/callbackX").unwrap();
        assert_eq!((route.param("token"), route.param("command")), (Some("tok"), Some("callbackX")));
        let route = matched(Method::POST, "/openim//callbackX").unwrap();
        assert_eq!((route.index, route.param("command")), (0, Some("callbackX")));
        assert_eq!(matched(Method::PUT, "/grafana/alerts").unwrap().index, 2);
    }

    #[test]
    fn secret_parameters_are_redacted_from_the_logged_path() {
        let logged = |path| logged_path(ROUTES, path, false);
        assert_eq!(logged("/prod/openim/s3cret/callbackX"), "/prod/openim/***/callbackX");
        assert_eq!(logged("/openim/s3cret//callbackX"), "/openim/***//callbackX");
        assert_eq!(logged("/openim/callbackX"), "/openim/callbackX");
        assert_eq!(logged("/grafana/alerts"), "/grafana/alerts");
    }

    #[test]
    fn unknown_paths_of_a_table_with_secrets_keep_only_its_literals() {
        assert_eq!(logged_path(ROUTES, "/openim/s3cret/x/y", false), "/openim/***/***/***");
        assert_eq!(logged_path(ROUTES, "/prod/openim/s3cret", true), "/prod/openim/***");
        assert_eq!(logged_path(ROUTES, "/s3cret", false), "/***");
        const PLAIN: &[Route] = &[Route::post("/telegram/{bot}")];
        assert_eq!(logged_path(PLAIN, "/telegram/a/b", true), "/telegram/a/b", "nothing secret to hide");
    }

    #[test]
    fn each_answer_is_measured_against_its_routes_deadline() {
        let route = |method, path| {
            let request = IncomingRequest::new(method, path, "");
            let lookup = RouteLookup::of(ROUTES, &request);
            TableRoute { routes: ROUTES, request: &request, lookup: &lookup }.deadline_ms(false)
        };
        assert_eq!(route(Method::PUT, "/grafana/alerts"), 10_000);
        assert_eq!(route(Method::POST, "/openim/x"), DEFAULT_DEADLINE_MS);
        assert_eq!(route(Method::POST, "/nowhere"), DEFAULT_DEADLINE_MS, "no route: the default");
        let challenge = Route::post("/lark/event").deadline_ms(3000).answer_deadline_ms(1000);
        assert_eq!((challenge.deadline_for(false), challenge.deadline_for(true)), (3000, 1000));
    }

    #[test]
    fn unknown_paths_are_404_and_known_paths_with_another_method_405() {
        for path in ["/openim/a/b/c", "/openim/", "/grafana/alerts/x", "/other"] {
            assert_eq!(matched(Method::POST, path).unwrap_err().status(), StatusCode::NOT_FOUND, "{path}");
        }
        assert_eq!(matched(Method::GET, "/grafana/alerts").unwrap_err().status(), StatusCode::METHOD_NOT_ALLOWED);
        assert_eq!(matched(Method::DELETE, "/openim/x").unwrap_err().status(), StatusCode::METHOD_NOT_ALLOWED);
    }

    /// A provider with a secret path segment and a challenge, measured.
    struct Measured {
        ingress: IngressSettings,
    }

    impl Provider for Measured {
        const NAME: &'static str = "measured";
        const SETTINGS_PREFIX: &'static str = "MEASURED";
        const ROUTES: &'static [Route] =
            &[Route::post("/m/{token}/{command}").secret(&["token"]).deadline_ms(5000).answer_deadline_ms(1000)];
        const SECRET_SETTINGS: &'static [&'static str] = &[];

        fn from_env(env: &dyn EnvSource) -> Result<Self, ConfigError> {
            Ok(Measured { ingress: IngressSettings::from_env(env, Self::SETTINGS_PREFIX)? })
        }
        fn ingress(&self) -> &IngressSettings {
            &self.ingress
        }
        fn decide(&self, route: &RouteMatch, _: &IncomingRequest, now: OffsetDateTime) -> Decided {
            match route.param("command") {
                Some("challenge") => Ok(Decision::Answer(Reply::ok_json(serde_json::json!({"challenge": 1})))),
                Some("event") => Ok(Decision::enqueue(
                    vec![crate::Envelope::new(
                        Self::NAME,
                        "1",
                        "k",
                        now,
                        crate::envelope::Verification { scheme: "none".into(), matched: None },
                        serde_json::json!({}),
                    )],
                    Reply::ok_json(serde_json::json!({})),
                )),
                _ => Err(IngressError::malformed("unknown command")),
            }
        }
    }

    thread_local! {
        /// How many times `Route::matches` ran on this thread.
        pub(super) static MATCHED: std::cell::Cell<usize> = const { std::cell::Cell::new(0) };
    }

    #[tokio::test]
    async fn a_request_is_matched_against_the_table_once() {
        // Measured's table has one route: one match per request, whatever
        // else needs the route (the decision, the metric line's `Route` and
        // deadline, the logged path of an answer or a refusal).
        let captured = crate::metrics::CapturedMetrics::new();
        // No refusal records: the other test of this provider counts its own.
        let ingress = IngressSettings {
            metrics: crate::metrics::Metrics::to(captured.clone()),
            refusal_records_per_sec: 0,
            ..Default::default()
        };
        let function = Measured { ingress };
        let publisher = crate::queue::MemoryPublisher::new();
        for command in ["event", "challenge", "other"] {
            let request = IncomingRequest::new(Method::POST, &format!("/m/S3CRET/{command}"), "{}");
            MATCHED.with(|count| count.set(0));
            function.handle(&publisher, &request, OffsetDateTime::now_utc()).await;
            assert_eq!(MATCHED.with(std::cell::Cell::get), 1, "{command}");
        }
        assert_eq!(captured.lines().len(), 3);
    }

    #[test]
    fn the_lookup_agrees_with_matching_and_the_logged_path() {
        for (method, path) in [
            (Method::POST, "/prod/openim/tok/callbackX"),
            (Method::POST, "/openim//callbackX"),
            (Method::GET, "/grafana/alerts"),
            (Method::PUT, "/grafana/alerts"),
            (Method::DELETE, "/openim/x"),
            (Method::POST, "/nowhere/at/all/x"),
        ] {
            let request = IncomingRequest::new(method.clone(), path, "");
            let lookup = RouteLookup::of(ROUTES, &request);
            assert_eq!(lookup.route(&request).cloned(), match_route(ROUTES, &request), "{method} {path}");
            let template = longest_first(ROUTES).map(|(_, r)| r).find(|r| r.matches(path).is_some());
            assert_eq!(lookup.template(), template, "{method} {path}");
            for not_found in [false, true] {
                assert_eq!(
                    logged_path_of(ROUTES, path, lookup.template(), not_found),
                    logged_path(ROUTES, path, not_found)
                );
            }
        }
    }

    #[tokio::test]
    async fn a_provider_request_writes_one_line_with_its_routes_deadline_and_no_secret() {
        let captured = crate::metrics::CapturedMetrics::new();
        let ingress = IngressSettings { metrics: crate::metrics::Metrics::to(captured.clone()), ..Default::default() };
        let function = Measured { ingress };
        let publisher = crate::queue::MemoryPublisher::new();
        let now = OffsetDateTime::now_utc();
        for (command, status, deadline) in [("event", 200, 5000), ("challenge", 200, 1000), ("other", 400, 5000)] {
            let request = IncomingRequest::new(Method::POST, &format!("/m/S3CRET/{command}"), "{}");
            let before = captured.lines().len();
            let reply = function.handle(&publisher, &request, now).await;
            assert_eq!(reply.status.as_u16(), status, "{command}");
            let lines = captured.lines();
            assert_eq!(lines.len(), before + 1, "{command}: one line per request");
            let line: serde_json::Value = serde_json::from_str(&lines[before]).unwrap();
            assert_eq!(line["DeadlineMs"], deadline, "{command}");
            assert_eq!(line["Route"], "/m/{token}/{command}", "the template: a path parameter's values add no metrics");
            assert!(!lines[before].contains("S3CRET"), "{}", lines[before]);
        }
        let records = format!("{:?}", publisher.records());
        assert!(records.contains("/m/***/other") && !records.contains("S3CRET"), "{records}");

        // Refused before the route is looked up, on a path of no route.
        let small = IngressSettings { max_body_bytes: 1, ..function.ingress.clone() };
        let function = Measured { ingress: small };
        let request = IncomingRequest::new(Method::POST, "/guess/S3CRET", "{}");
        assert_eq!(function.handle(&publisher, &request, now).await.status, StatusCode::PAYLOAD_TOO_LARGE);
        let last = captured.lines().pop().unwrap_or_default();
        assert!(last.contains(r#""Route":"(unmatched)""#) && last.contains(r#""Class":"too_large""#), "{last}");
    }
}
