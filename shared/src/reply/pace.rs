//! Per-conversation pacing: platforms limit how often a bot may post in one
//! chat (Telegram about one message a second, Lark five, Slack one a second
//! per channel). Replies to one chat are spaced by the platform's interval
//! inside one function instance; what gets past that (other instances,
//! the platform's global limits) comes back as the platform's throttling
//! answer, which the queue retries after the wait it names.

use std::collections::HashMap;
use std::time::Duration;

use tokio::sync::Mutex;
use tokio::time::Instant;

/// Past this many chats, entries whose turn has passed are forgotten.
const PRUNE_ABOVE: usize = 1024;

/// Spaces calls per key by a fixed interval.
pub struct Pacer {
    interval: Duration,
    next: Mutex<HashMap<String, Instant>>,
}

/// The interval only: the keys are conversations.
impl std::fmt::Debug for Pacer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pacer").field("interval", &self.interval).finish_non_exhaustive()
    }
}

impl Pacer {
    pub fn new(interval: Duration) -> Self {
        Pacer { interval, next: Mutex::new(HashMap::new()) }
    }

    /// Waits for `key`'s turn and takes it: the first call goes at once,
    /// each later one `interval` after the one before.
    pub async fn wait_turn(&self, key: &str) {
        let at = {
            let mut next = self.next.lock().await;
            let now = Instant::now();
            if next.len() > PRUNE_ABOVE {
                next.retain(|_, at| *at > now);
            }
            let at = next.get(key).copied().filter(|at| *at > now).unwrap_or(now);
            next.insert(key.to_string(), at + self.interval);
            at
        };
        tokio::time::sleep_until(at).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn calls_to_one_chat_are_spaced_and_other_chats_are_not_held_back() {
        let pacer = Pacer::new(Duration::from_secs(1));
        let start = Instant::now();
        pacer.wait_turn("a").await;
        pacer.wait_turn("b").await;
        assert_eq!(start.elapsed(), Duration::ZERO, "first calls of two chats go at once");
        pacer.wait_turn("a").await;
        assert_eq!(start.elapsed(), Duration::from_secs(1));
        pacer.wait_turn("a").await;
        assert_eq!(start.elapsed(), Duration::from_secs(2));
        tokio::time::advance(Duration::from_secs(5)).await;
        let later = Instant::now();
        pacer.wait_turn("a").await;
        assert_eq!(later.elapsed(), Duration::ZERO, "an idle chat starts again at once");
    }
}
