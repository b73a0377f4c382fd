//! The fuzz input: one control byte, then an HTTP/1-style request that
//! libFuzzer can mutate and a person can read in a crash file:
//!
//! ```text
//! <control byte>POST /telegram/devbot\n
//! x-telegram-bot-api-secret-token: dev-telegram-secret-NOT-A-SECRET\n
//! \n
//! {"update_id": 1, ...}
//! ```
//!
//! The control byte: bit 0 takes the queue down; bits 1–2 choose the
//! caller's address as API Gateway reports it; bits 3–7 choose the
//! target's mode (which settings, and how the harness signs the body).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use http::Method;
use inlet_shared::ingress::IncomingRequest;

/// One parsed input, borrowing the fuzzer's bytes.
#[derive(Debug)]
pub struct FuzzInput<'a> {
    pub control: u8,
    pub method: &'a [u8],
    /// Path and query, as on a request line.
    pub target: &'a [u8],
    pub headers: Vec<(&'a [u8], &'a [u8])>,
    pub body: &'a [u8],
}

/// Addresses bits 1–2 of the control byte choose from; `None` is a caller
/// API Gateway could not name.
const SOURCE_IPS: [Option<IpAddr>; 4] = [
    Some(IpAddr::V4(Ipv4Addr::LOCALHOST)),
    Some(IpAddr::V4(Ipv4Addr::new(203, 0, 113, 7))),
    None,
    Some(IpAddr::V6(Ipv6Addr::LOCALHOST)),
];

/// The API Gateway request id every fuzzed request carries.
pub const REQUEST_ID: &str = "fuzz-request";

impl<'a> FuzzInput<'a> {
    pub fn parse(data: &'a [u8]) -> Option<Self> {
        let (&control, rest) = data.split_first()?;
        let (request_line, mut rest) = split_line(rest);
        let (method, target) = match request_line.iter().position(|&b| b == b' ') {
            Some(at) => (&request_line[..at], &request_line[at + 1..]),
            None => (request_line, &b"/"[..]),
        };
        let mut headers = Vec::new();
        while !rest.is_empty() {
            let (line, after) = split_line(rest);
            rest = after;
            if line.is_empty() {
                break;
            }
            if let Some(at) = line.iter().position(|&b| b == b':') {
                let value = &line[at + 1..];
                let skip = value.iter().take_while(|&&b| b == b' ' || b == b'\t').count();
                headers.push((&line[..at], &value[skip..]));
            }
        }
        Some(FuzzInput { control, method, target, headers, body: rest })
    }

    pub fn publisher_down(&self) -> bool {
        self.control & 1 == 1
    }

    pub fn source_ip(&self) -> Option<IpAddr> {
        SOURCE_IPS[usize::from((self.control >> 1) & 3)]
    }

    /// The mode, one of `modes` (at most 32).
    pub fn mode(&self, modes: usize) -> usize {
        usize::from(self.control >> 3) % modes
    }

    /// The request as API Gateway would hand it to the function routed by
    /// `routes` (templates such as `/openim/{token}/{command}`, whose
    /// `{name}` segments become path parameters). None for what API Gateway
    /// never delivers: a method or path that is not a token or UTF-8.
    pub fn request(&self, routes: &[&str]) -> Option<IncomingRequest> {
        let method = Method::from_bytes(self.method).ok()?;
        let target = std::str::from_utf8(self.target).ok()?;
        let (path, query) = target.split_once('?').unwrap_or((target, ""));
        let mut request = IncomingRequest::new(method, path, self.body.to_vec());
        for (name, value) in &self.headers {
            request.append_header(name, value);
        }
        request.set_raw_query(query);
        request.path_params = routes.iter().find_map(|route| path_params(route, path)).unwrap_or_default();
        request.source_ip = self.source_ip();
        request.request_id = Some(REQUEST_ID.to_string());
        Some(request)
    }

    /// Writes an input that parses back to these parts (a seed).
    pub fn render(control: u8, method: &str, target: &str, headers: &[(String, String)], body: &[u8]) -> Vec<u8> {
        let mut out = vec![control];
        out.extend_from_slice(format!("{method} {target}\n").as_bytes());
        for (name, value) in headers {
            out.extend_from_slice(format!("{name}: {value}\n").as_bytes());
        }
        out.push(b'\n');
        out.extend_from_slice(body);
        out
    }

    /// The control byte for `mode`, the first address (127.0.0.1) and the queue up.
    pub fn control(mode: usize) -> u8 {
        u8::try_from(mode << 3).unwrap_or(0)
    }
}

fn split_line(bytes: &[u8]) -> (&[u8], &[u8]) {
    match bytes.iter().position(|&b| b == b'\n') {
        Some(at) => {
            let line = &bytes[..at];
            (line.strip_suffix(b"\r").unwrap_or(line), &bytes[at + 1..])
        }
        None => (bytes, &[]),
    }
}

/// API Gateway's match of `path` against one route template.
fn path_params(route: &str, path: &str) -> Option<std::collections::HashMap<String, String>> {
    let templates: Vec<&str> = route.split('/').collect();
    let segments: Vec<&str> = path.split('/').collect();
    if templates.len() != segments.len() {
        return None;
    }
    let mut params = std::collections::HashMap::new();
    for (template, segment) in templates.iter().zip(&segments) {
        match template.strip_prefix('{').and_then(|t| t.strip_suffix('}')) {
            Some(name) if !segment.is_empty() => {
                params.insert(name.to_string(), segment.to_string());
            }
            Some(_) => return None,
            None if template == segment => {}
            None => return None,
        }
    }
    Some(params)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rendered_seeds_parse_back() {
        let headers = vec![("x-a".to_string(), "1".to_string()), ("x-b".to_string(), " two".to_string())];
        let data = FuzzInput::render(FuzzInput::control(3), "PUT", "/openim/t/cmd?x=1", &headers, b"{\"a\":\n1}");
        let input = FuzzInput::parse(&data).unwrap();
        assert_eq!(input.mode(8), 3);
        assert!(!input.publisher_down());
        let request = input.request(&["/openim/{command}", "/openim/{token}/{command}"]).unwrap();
        assert_eq!(request.method, Method::PUT);
        assert_eq!(request.path, "/openim/t/cmd");
        assert_eq!(request.query.get("x").map(String::as_str), Some("1"));
        assert_eq!(request.path_params.get("token").map(String::as_str), Some("t"));
        assert_eq!(request.path_params.get("command").map(String::as_str), Some("cmd"));
        assert_eq!(request.header("x-b"), Some("two"));
        assert_eq!(request.body, b"{\"a\":\n1}");
        assert_eq!(request.source_ip, Some(IpAddr::V4(Ipv4Addr::LOCALHOST)));
    }
}
