//! An access token a client exchanges its credentials for (Lark's tenant
//! token, WeCom's access token): fetched once, shared by every reply of the
//! function, renewed shortly before it expires, and dropped at once when
//! the platform calls it invalid.

use std::future::Future;
use std::time::Duration;

use tokio::sync::Mutex;
use tokio::time::Instant;

use super::ReplyError;
use crate::verify::Secret;

/// How long before its stated expiry a token is renewed: calls in flight
/// must not carry a token that expires on the way.
pub const RENEW_BEFORE: Duration = Duration::from_secs(5 * 60);
/// The longest a token is kept, whatever the platform says: a lifetime read
/// from an answer is data, and a huge one must neither overflow the clock
/// nor keep a token for ever.
pub const MAX_LIFETIME: Duration = Duration::from_secs(24 * 3600);

/// What one call made with a token came to.
#[derive(Debug, PartialEq)]
pub enum Judged<T> {
    /// The platform answered the call: what it came to.
    Done(Result<T, ReplyError>),
    /// The platform refused the token as invalid or expired: why.
    TokenRefused(String),
}

/// One cached token.
#[derive(Default)]
pub struct TokenCache {
    slot: Mutex<Option<Cached>>,
}

struct Cached {
    token: Secret,
    renew_at: Instant,
}

impl std::fmt::Debug for TokenCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TokenCache(***)")
    }
}

impl TokenCache {
    pub fn new() -> Self {
        TokenCache::default()
    }

    /// The cached token, or a new one from `fetch` (the token and how long
    /// the platform says it lives) when there is none or it is due for
    /// renewal. Concurrent callers wait for one fetch.
    pub async fn get<F, Fut, E>(&self, fetch: F) -> Result<Secret, E>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<(Secret, Duration), E>>,
    {
        let mut slot = self.slot.lock().await;
        if let Some(cached) = slot.as_ref()
            && Instant::now() < cached.renew_at
        {
            return Ok(cached.token.clone());
        }
        let (token, lifetime) = fetch().await?;
        let lifetime = lifetime.min(MAX_LIFETIME);
        // A short-lived token is renewed at half its life rather than never
        // being used.
        let margin = RENEW_BEFORE.min(lifetime / 2);
        *slot = Some(Cached { token: token.clone(), renew_at: Instant::now() + lifetime.saturating_sub(margin) });
        Ok(token)
    }

    /// Makes a call with the token (`attempt`), and once more with a new one
    /// when the platform refuses the first as invalid or expired (it may
    /// revoke a token early, e.g. when the secret is reset). A token refused
    /// right after it was issued is the platform's trouble, or the app was
    /// just changed: transient, and the queue's retry comes later.
    pub async fn call<T, F, FetchFut, A, CallFut>(
        &self,
        api: &str,
        event_id: &str,
        fetch: F,
        attempt: A,
    ) -> Result<T, ReplyError>
    where
        F: Fn() -> FetchFut,
        FetchFut: Future<Output = Result<(Secret, Duration), ReplyError>>,
        A: Fn(Secret) -> CallFut,
        CallFut: Future<Output = Result<Judged<T>, ReplyError>>,
    {
        let token = self.get(&fetch).await?;
        let refused = match attempt(token.clone()).await? {
            Judged::Done(done) => return done,
            Judged::TokenRefused(refused) => refused,
        };
        tracing::info!(event_id, "{api}: the access token was refused ({refused}): fetching a new one");
        self.invalidate(&token).await;
        match attempt(self.get(&fetch).await?).await? {
            Judged::Done(done) => done,
            Judged::TokenRefused(again) => Err(ReplyError::transient(format!(
                "{api} refused a newly issued access token too ({refused}, then {again})"
            ))),
        }
    }

    /// Forgets `token` after the platform refused it as invalid or expired,
    /// unless another caller has already replaced it.
    pub async fn invalidate(&self, token: &Secret) {
        let mut slot = self.slot.lock().await;
        if slot.as_ref().is_some_and(|cached| &cached.token == token) {
            *slot = None;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    async fn fetch_counted(count: &AtomicUsize, lifetime: Duration) -> Result<(Secret, Duration), String> {
        let n = count.fetch_add(1, Ordering::SeqCst) + 1;
        Ok((Secret::new(format!("t-{n}")), lifetime))
    }

    #[tokio::test(start_paused = true)]
    async fn a_token_is_reused_until_shortly_before_it_expires_then_renewed() {
        let (cache, count) = (TokenCache::new(), AtomicUsize::new(0));
        let lifetime = Duration::from_secs(7200);
        let first = cache.get(|| fetch_counted(&count, lifetime)).await.unwrap();
        tokio::time::advance(lifetime - RENEW_BEFORE - Duration::from_secs(1)).await;
        assert_eq!(cache.get(|| fetch_counted(&count, lifetime)).await.unwrap(), first, "still fresh");
        tokio::time::advance(Duration::from_secs(2)).await;
        let second = cache.get(|| fetch_counted(&count, lifetime)).await.unwrap();
        assert_ne!(second, first, "renewed inside the last five minutes");
        assert_eq!(count.load(Ordering::SeqCst), 2);
    }

    #[tokio::test(start_paused = true)]
    async fn an_invalid_token_is_dropped_once_and_a_newer_one_is_kept() {
        let (cache, count) = (TokenCache::new(), AtomicUsize::new(0));
        let lifetime = Duration::from_secs(7200);
        let first = cache.get(|| fetch_counted(&count, lifetime)).await.unwrap();
        cache.invalidate(&first).await;
        let second = cache.get(|| fetch_counted(&count, lifetime)).await.unwrap();
        assert_ne!(first, second);
        cache.invalidate(&first).await;
        assert_eq!(
            cache.get(|| fetch_counted(&count, lifetime)).await.unwrap(),
            second,
            "a stale refusal keeps the new token"
        );
        let failed: Result<Secret, String> = TokenCache::new().get(|| async { Err("down".to_string()) }).await;
        // A lifetime no clock can hold is capped, not a panic.
        let huge = TokenCache::new();
        let kept = huge.get(|| async { Ok::<_, String>((Secret::new("t"), Duration::from_secs(u64::MAX))) }).await;
        assert_eq!(kept.unwrap(), Secret::new("t"));
        assert_eq!(failed.unwrap_err(), "down");
    }

    #[tokio::test(start_paused = true)]
    async fn a_refused_token_is_replaced_once_and_a_new_one_refused_too_is_transient() {
        let (cache, count) = (TokenCache::new(), AtomicUsize::new(0));
        let fetch = || async { fetch_counted(&count, Duration::from_secs(7200)).await.map_err(ReplyError::transient) };
        let first_refused = |token: Secret| async move {
            Ok(match token.expose() {
                "t-1" => Judged::TokenRefused("40014 invalid".into()),
                other => Judged::Done(Ok(other.to_string())),
            })
        };
        assert_eq!(cache.call("api", "e1", &fetch, first_refused).await.unwrap(), "t-2");
        assert_eq!(count.load(Ordering::SeqCst), 2, "one new token");
        let all_refused = |_: Secret| async { Ok(Judged::<String>::TokenRefused("42001 expired".into())) };
        let error = cache.call("api", "e1", &fetch, all_refused).await.unwrap_err();
        assert!(!error.is_permanent(), "{error}");
        assert_eq!(error.reason, "api refused a newly issued access token too (42001 expired, then 42001 expired)");
        assert_eq!(count.load(Ordering::SeqCst), 3, "not retried further");
        let failed = |_: Secret| async { Ok(Judged::<String>::Done(Err(ReplyError::permanent("refused")))) };
        assert!(cache.call("api", "e1", &fetch, failed).await.unwrap_err().is_permanent());
        assert_eq!(count.load(Ordering::SeqCst), 3, "another failure keeps the token");
    }
}
