//! HTTP authentication as webhook senders use it: `Authorization: Basic`
//! (RFC 7617), `Authorization: Bearer` (RFC 6750), and the free-form
//! `Authorization: <scheme> <credentials>` that Alertmanager's
//! `http_config.authorization.type` and Grafana's "Authentication Header
//! Scheme" let users choose.
//!
//! Schemes compare case-insensitively (RFC 9110 §11.1); credentials are
//! compared in constant time against every configured entry.

use base64::Engine;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};

use super::{NamedSecret, SecretList};
use crate::config::{self, EnvSource};
use crate::error::{ConfigError, IngressError};

/// The header every scheme here travels in (lowercase, as `http` stores names).
pub const AUTHORIZATION: &str = "authorization";

/// How the header is named in refusals.
const HEADER_NAME: &str = "Authorization header";

/// Standard base64, with or without padding: senders differ, the bytes do not.
const BASIC_BASE64: GeneralPurpose = GeneralPurpose::new(
    &base64::alphabet::STANDARD,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

/// An `Authorization` header split into its scheme and credentials.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Authorization<'a> {
    pub scheme: &'a str,
    pub credentials: &'a str,
}

impl<'a> Authorization<'a> {
    /// Splits `<scheme> <credentials>`; None when either part is missing.
    pub fn parse(value: &'a str) -> Option<Self> {
        let (scheme, credentials) = value.trim().split_once([' ', '\t'])?;
        let credentials = credentials.trim();
        (!scheme.is_empty() && !credentials.is_empty()).then_some(Authorization { scheme, credentials })
    }

    /// Whether the scheme is `scheme`, ignoring ASCII case.
    pub fn is_scheme(&self, scheme: &str) -> bool {
        self.scheme.eq_ignore_ascii_case(scheme)
    }
}

/// Decodes Basic credentials to the `user:password` bytes they carry; None
/// when they are not base64 or hold no `:`.
pub fn decode_basic(credentials: &str) -> Option<Vec<u8>> {
    let decoded = BASIC_BASE64.decode(credentials.trim()).ok()?;
    decoded.contains(&b':').then_some(decoded)
}

/// The `Authorization: Basic` header value for `user:password`, for samples and tests.
pub fn basic_header(user_and_password: &str) -> String {
    format!("Basic {}", base64::engine::general_purpose::STANDARD.encode(user_and_password))
}

/// The token of `Authorization: Bearer <token>`, scheme in any case.
pub fn bearer_token(header: &str) -> Option<&str> {
    Authorization::parse(header).filter(|auth| auth.is_scheme("bearer")).map(|auth| auth.credentials)
}

/// Reads a list of `user:password` entries (named `SETTING#1`, …). Entries
/// without a `:` or with an empty user are refused at start-up rather than
/// silently never matching.
pub fn basic_auth_list(env: &dyn EnvSource, setting: &str) -> Result<SecretList, ConfigError> {
    let list = config::secrets(env, setting);
    for entry in list.iter() {
        match entry.value.expose().split_once(':') {
            Some((user, _)) if !user.is_empty() => {}
            _ => return Err(ConfigError::new(setting, format!("entry {} must be user:password", entry.name))),
        }
    }
    Ok(list)
}

/// Which `Authorization` schemes carry a token to compare.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TokenSchemes {
    /// Only `Bearer` (an API key).
    BearerOnly,
    /// Any scheme but `Basic`: the sender lets its user choose the scheme, so
    /// only the credentials after it are compared.
    AnyButBasic,
}

/// What an `Authorization` header may be checked against.
#[derive(Clone, Debug)]
pub struct HttpCredentials {
    /// `user:password` entries for `Basic`.
    pub basic: SecretList,
    /// Tokens for the other schemes.
    pub tokens: SecretList,
    pub token_schemes: TokenSchemes,
}

/// A header that matched: the Envelope's `verification.scheme` and the entry.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Authenticated<'a> {
    /// `basic-auth`, `bearer-token`, or `authorization-token` (another scheme).
    pub scheme: &'static str,
    pub matched: &'a NamedSecret,
}

/// The two settings of a sender whose user chooses how it authenticates
/// (Alertmanager's `http_config`, Grafana's contact point), declared once
/// per platform by [`http_credential_settings!`](crate::http_credential_settings).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CredentialSettings {
    /// `<PREFIX>_BASIC_AUTH`: `user:password` entries for `Basic`.
    pub basic_auth: &'static str,
    /// `<PREFIX>_BEARER_TOKENS`: the credentials of any other scheme.
    pub bearer_tokens: &'static str,
}

impl CredentialSettings {
    /// `BASIC/TOKENS`: the name an error about both settings gives.
    pub fn names(&self) -> String {
        format!("{}/{}", self.basic_auth, self.bearer_tokens)
    }

    /// Reads both settings. A token is accepted under any scheme but
    /// `Basic`: the sender lets its user choose the scheme.
    pub fn read(&self, env: &dyn EnvSource) -> Result<HttpCredentials, ConfigError> {
        Ok(HttpCredentials {
            basic: basic_auth_list(env, self.basic_auth)?,
            tokens: config::secrets(env, self.bearer_tokens),
            token_schemes: TokenSchemes::AnyButBasic,
        })
    }
}

/// Declares a platform's [`CredentialSettings`] as `CREDENTIALS`, and
/// their names as `BASIC_AUTH_SETTING` (`<prefix>_BASIC_AUTH`) and
/// `BEARER_TOKENS_SETTING` (`<prefix>_BEARER_TOKENS`).
#[macro_export]
macro_rules! http_credential_settings {
    ($prefix:literal) => {
        /// `user:password` entries for `Basic`.
        pub const BASIC_AUTH_SETTING: &str = concat!($prefix, "_BASIC_AUTH");
        /// The credentials of any other `Authorization` scheme.
        pub const BEARER_TOKENS_SETTING: &str = concat!($prefix, "_BEARER_TOKENS");
        /// How the `Authorization` header's credentials are configured.
        pub const CREDENTIALS: $crate::verify::http_auth::CredentialSettings =
            $crate::verify::http_auth::CredentialSettings {
                basic_auth: BASIC_AUTH_SETTING,
                bearer_tokens: BEARER_TOKENS_SETTING,
            };
    };
}

impl HttpCredentials {
    pub fn is_empty(&self) -> bool {
        self.basic.is_empty() && self.tokens.is_empty()
    }

    /// Checks an `Authorization` header value. Missing → 401 "missing";
    /// unparsable, an unaccepted scheme, or no matching entry → 401 "does not
    /// match". Refusals never repeat what was presented.
    pub fn verify(&self, header: Option<&str>) -> Result<Authenticated<'_>, IngressError> {
        let header =
            header.map(str::trim).filter(|h| !h.is_empty()).ok_or(IngressError::MissingCredential(HEADER_NAME))?;
        let bad = IngressError::BadCredential(HEADER_NAME);
        let auth = Authorization::parse(header).ok_or_else(|| bad.clone())?;
        if auth.is_scheme("basic") {
            let user_and_password = decode_basic(auth.credentials).ok_or_else(|| bad.clone())?;
            let matched = self.basic.find_equal(&user_and_password).ok_or(bad)?;
            return Ok(Authenticated { scheme: "basic-auth", matched });
        }
        let is_bearer = auth.is_scheme("bearer");
        if self.token_schemes == TokenSchemes::BearerOnly && !is_bearer {
            return Err(bad);
        }
        let matched = self.tokens.find_equal(auth.credentials.as_bytes()).ok_or(bad)?;
        Ok(Authenticated { scheme: if is_bearer { "bearer-token" } else { "authorization-token" }, matched })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn credentials(token_schemes: TokenSchemes) -> HttpCredentials {
        HttpCredentials {
            basic: SecretList::parse("BASIC", "old:pw1, alertmanager:pa:ss"),
            tokens: SecretList::parse("TOKENS", "t-old,t-new"),
            token_schemes,
        }
    }

    fn matched(result: Result<Authenticated<'_>, IngressError>) -> (String, String) {
        let auth = result.expect("accepted");
        (auth.scheme.to_string(), auth.matched.name.clone())
    }

    #[test]
    fn authorization_splits_scheme_and_credentials() {
        assert_eq!(Authorization::parse("Bearer abc"), Some(Authorization { scheme: "Bearer", credentials: "abc" }));
        assert_eq!(Authorization::parse("  Token   a b  ").map(|a| a.credentials), Some("a b"));
        assert!(Authorization::parse("Bearer").is_none());
        assert!(Authorization::parse("Bearer   ").is_none());
        assert!(Authorization::parse("").is_none());
        assert!(Authorization::parse("bEaReR x").unwrap().is_scheme("Bearer"));
    }

    #[test]
    fn bearer_token_requires_the_bearer_scheme_in_any_case() {
        assert_eq!(bearer_token("Bearer k1"), Some("k1"));
        assert_eq!(bearer_token("bearer k1"), Some("k1"));
        assert_eq!(bearer_token("Token k1"), None);
        assert_eq!(bearer_token("k1"), None);
    }

    #[test]
    fn basic_decodes_rfc7617_example_with_or_without_padding() {
        // RFC 7617 §2: Aladdin / open sesame.
        assert_eq!(decode_basic("QWxhZGRpbjpvcGVuIHNlc2FtZQ==").unwrap(), b"Aladdin:open sesame");
        assert_eq!(decode_basic("QWxhZGRpbjpvcGVuIHNlc2FtZQ").unwrap(), b"Aladdin:open sesame");
        assert_eq!(basic_header("Aladdin:open sesame"), "Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ==");
        assert!(decode_basic("%%%").is_none());
        assert!(decode_basic("bm9jb2xvbg==").is_none(), "no colon");
    }

    #[test]
    fn basic_matches_by_position_and_passwords_may_hold_colons() {
        let creds = credentials(TokenSchemes::BearerOnly);
        let header = basic_header("alertmanager:pa:ss");
        assert_eq!(matched(creds.verify(Some(&header))), ("basic-auth".into(), "BASIC#2".into()));
        let lower = header.replacen("Basic", "basic", 1);
        assert_eq!(matched(creds.verify(Some(&lower))).1, "BASIC#2", "scheme is case-insensitive");
        assert_eq!(
            creds.verify(Some(&basic_header("alertmanager:wrong"))),
            Err(IngressError::BadCredential(HEADER_NAME))
        );
        assert_eq!(creds.verify(Some("Basic %%%")), Err(IngressError::BadCredential(HEADER_NAME)));
    }

    #[test]
    fn tokens_match_by_position() {
        let creds = credentials(TokenSchemes::BearerOnly);
        assert_eq!(matched(creds.verify(Some("Bearer t-new"))), ("bearer-token".into(), "TOKENS#2".into()));
        assert!(creds.verify(Some("Bearer t-ne")).is_err());
        assert!(creds.verify(Some("Bearer t-new2")).is_err());
    }

    #[test]
    fn other_schemes_only_when_allowed() {
        let strict = credentials(TokenSchemes::BearerOnly);
        assert_eq!(strict.verify(Some("Token t-old")), Err(IngressError::BadCredential(HEADER_NAME)));
        let open = credentials(TokenSchemes::AnyButBasic);
        assert_eq!(matched(open.verify(Some("Token t-old"))), ("authorization-token".into(), "TOKENS#1".into()));
        // A token never passes as Basic credentials.
        assert!(open.verify(Some("Basic t-old")).is_err());
    }

    #[test]
    fn missing_and_malformed_headers_are_refused() {
        let creds = credentials(TokenSchemes::AnyButBasic);
        assert_eq!(creds.verify(None), Err(IngressError::MissingCredential(HEADER_NAME)));
        assert_eq!(creds.verify(Some("  ")), Err(IngressError::MissingCredential(HEADER_NAME)));
        assert_eq!(creds.verify(Some("t-old")), Err(IngressError::BadCredential(HEADER_NAME)));
    }

    #[test]
    fn empty_lists_match_nothing() {
        let none = HttpCredentials {
            basic: SecretList::default(),
            tokens: SecretList::default(),
            token_schemes: TokenSchemes::AnyButBasic,
        };
        assert!(none.is_empty());
        assert!(none.verify(Some("Bearer ")).is_err());
        assert!(none.verify(Some(&basic_header(":"))).is_err());
    }

    #[test]
    fn refusals_never_echo_the_presented_secret() {
        let creds = credentials(TokenSchemes::BearerOnly);
        let error = creds.verify(Some("Bearer hunter2")).unwrap_err();
        assert!(!error.to_string().contains("hunter2"));
    }

    #[test]
    fn basic_auth_list_requires_user_and_colon() {
        let env: HashMap<&str, &str> = [("OK", "a:b, c:"), ("NOCOLON", "a:b,nopass"), ("NOUSER", ":pw")].into();
        assert_eq!(basic_auth_list(&env, "OK").unwrap().iter().count(), 2);
        let error = basic_auth_list(&env, "NOCOLON").unwrap_err();
        assert_eq!(error.name, "NOCOLON");
        assert!(error.reason.contains("NOCOLON#2") && !error.reason.contains("nopass"));
        assert!(basic_auth_list(&env, "NOUSER").is_err());
        assert!(basic_auth_list(&env, "UNSET").unwrap().is_empty());
    }
}
