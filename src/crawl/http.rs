//! The crawl's one HTTP client: polite to the hosts it visits and honest about what went
//! wrong. Every source fetches through it.
//!
//! - Retries 429, 5xx, timeouts, dropped connections and truncated bodies with exponential
//!   backoff and full jitter, up to `max_retries`.
//! - Honours `Retry-After` (seconds or an HTTP date) and GitHub-style
//!   `X-RateLimit-Remaining: 0` + `X-RateLimit-Reset`, waiting up to `max_wait`; a longer
//!   wait is returned as [`HttpError::RateLimited`] so the crawl can move on and resume.
//! - Caps concurrency overall and per host, the time per request, and the size of a body
//!   (counted as it streams in, so a lying or missing `Content-Length` does not matter).
//! - When an answer that still succeeded says `X-RateLimit-Remaining: 0`, sends nothing
//!   more to that host until its `X-RateLimit-Reset`.
//! - Sends `If-None-Match` / `If-Modified-Since` from a [`ValidatorStore`] and answers a
//!   304 with the stored body.
//! - Counts what it did ([`HttpStats`]) for the crawl summary.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use reqwest::StatusCode;
use reqwest::header::{
    ETAG, HeaderMap, HeaderValue, IF_MODIFIED_SINCE, IF_NONE_MATCH, LAST_MODIFIED, RETRY_AFTER,
};
use tokio::sync::Semaphore;

/// Settings for [`HttpClient`]. The defaults suit a long crawl of public APIs.
#[derive(Debug, Clone)]
pub struct HttpConfig {
    pub user_agent: String,
    /// Per attempt, from sending the request to the last byte of the body.
    pub timeout: Duration,
    pub max_body_bytes: u64,
    pub max_retries: u32,
    /// The first backoff; each retry doubles the ceiling, up to `max_backoff`.
    pub base_backoff: Duration,
    pub max_backoff: Duration,
    /// The longest the client waits for a rate limit to reset before giving up on a URL.
    pub max_wait: Duration,
    pub max_concurrency: usize,
    pub per_host_concurrency: usize,
    /// Extra headers on every request (e.g. `Authorization` for GitHub).
    pub headers: HeaderMap,
}

impl Default for HttpConfig {
    fn default() -> Self {
        HttpConfig {
            user_agent: concat!("mcpwarden/", env!("CARGO_PKG_VERSION")).to_owned(),
            timeout: Duration::from_secs(30),
            max_body_bytes: 100 * 1024 * 1024,
            max_retries: 4,
            base_backoff: Duration::from_millis(500),
            max_backoff: Duration::from_secs(30),
            max_wait: Duration::from_secs(120),
            max_concurrency: 16,
            per_host_concurrency: 4,
            headers: HeaderMap::new(),
        }
    }
}

/// A stored response's validators and body, for conditional requests.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CachedResponse {
    pub etag: Option<String>,
    pub last_modified: Option<String>,
    pub body: Vec<u8>,
}

/// Where validators live between runs (the catalogue's `http_cache` table in a crawl, a
/// map in tests). Implementations must be cheap to call from many tasks.
pub trait ValidatorStore: Send + Sync {
    fn get(&self, url: &str) -> Option<CachedResponse>;
    fn put(&self, url: &str, response: CachedResponse);
}

/// A [`ValidatorStore`] in memory.
#[derive(Debug, Default)]
pub struct MemoryValidators(Mutex<HashMap<String, CachedResponse>>);

impl ValidatorStore for MemoryValidators {
    fn get(&self, url: &str) -> Option<CachedResponse> {
        self.0.lock().ok()?.get(url).cloned()
    }
    fn put(&self, url: &str, response: CachedResponse) {
        if let Ok(mut map) = self.0.lock() {
            map.insert(url.to_owned(), response);
        }
    }
}

/// A successful fetch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fetched {
    pub status: u16,
    pub body: Vec<u8>,
    /// The server said 304 and `body` is the stored copy.
    pub not_modified: bool,
    /// How many attempts it took beyond the first.
    pub retries: u32,
}

#[derive(Debug, thiserror::Error)]
pub enum HttpError {
    #[error("{url}: {status} after {attempts} attempts")]
    Status {
        url: String,
        status: u16,
        attempts: u32,
    },
    #[error(
        "{url}: rate limited; the limit resets in {wait_secs} s, longer than the {max_wait_secs} s this crawl waits"
    )]
    RateLimited {
        url: String,
        wait_secs: u64,
        max_wait_secs: u64,
    },
    #[error("{url}: the body is larger than {limit} bytes")]
    BodyTooLarge { url: String, limit: u64 },
    #[error("{url}: {reason} after {attempts} attempts")]
    Transport {
        url: String,
        reason: String,
        attempts: u32,
    },
    #[error("{url}: not a valid URL")]
    BadUrl { url: String },
    #[error("cannot build the HTTP client")]
    Build(#[source] reqwest::Error),
}

/// Counters for the crawl summary. All relaxed: they are reported, not synchronised on.
#[derive(Debug, Default)]
pub struct HttpStats {
    pub requests: AtomicU64,
    pub retries: AtomicU64,
    pub not_modified: AtomicU64,
    pub rate_limited_waits: AtomicU64,
    pub failures: AtomicU64,
    pub bytes: AtomicU64,
}

/// A plain copy of [`HttpStats`] for printing and storing.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct HttpStatsSnapshot {
    pub requests: u64,
    pub retries: u64,
    pub not_modified: u64,
    pub rate_limited_waits: u64,
    pub failures: u64,
    pub bytes: u64,
}

impl HttpStatsSnapshot {
    /// Both clients' counts together.
    pub fn plus(self, other: HttpStatsSnapshot) -> HttpStatsSnapshot {
        HttpStatsSnapshot {
            requests: self.requests + other.requests,
            retries: self.retries + other.retries,
            not_modified: self.not_modified + other.not_modified,
            rate_limited_waits: self.rate_limited_waits + other.rate_limited_waits,
            failures: self.failures + other.failures,
            bytes: self.bytes + other.bytes,
        }
    }
}

pub struct HttpClient {
    client: reqwest::Client,
    config: HttpConfig,
    total: Arc<Semaphore>,
    hosts: Mutex<HashMap<String, Arc<Semaphore>>>,
    /// Hosts that said their rate limit is used up (`X-RateLimit-Remaining: 0` on an
    /// answer that still succeeded), and when it resets: no request goes there before.
    paused: Mutex<HashMap<String, SystemTime>>,
    validators: Option<Arc<dyn ValidatorStore>>,
    stats: HttpStats,
}

/// What one attempt came to.
enum Attempt {
    Done(Fetched),
    /// Worth another try, after at least this long (`None`: the usual backoff).
    Retry {
        after: Option<Duration>,
        reason: Failure,
    },
    Fail(HttpError),
}

enum Failure {
    Status(u16),
    Transport(String),
}

impl HttpClient {
    pub fn new(
        config: HttpConfig,
        validators: Option<Arc<dyn ValidatorStore>>,
    ) -> Result<HttpClient, HttpError> {
        let client = reqwest::Client::builder()
            .user_agent(config.user_agent.clone())
            .default_headers(config.headers.clone())
            .timeout(config.timeout)
            .connect_timeout(config.timeout.min(Duration::from_secs(10)))
            .build()
            .map_err(HttpError::Build)?;
        Ok(HttpClient {
            client,
            total: Arc::new(Semaphore::new(config.max_concurrency.max(1))),
            hosts: Mutex::new(HashMap::new()),
            paused: Mutex::new(HashMap::new()),
            config,
            validators,
            stats: HttpStats::default(),
        })
    }

    pub fn stats(&self) -> HttpStatsSnapshot {
        let load = |counter: &AtomicU64| counter.load(Ordering::Relaxed);
        HttpStatsSnapshot {
            requests: load(&self.stats.requests),
            retries: load(&self.stats.retries),
            not_modified: load(&self.stats.not_modified),
            rate_limited_waits: load(&self.stats.rate_limited_waits),
            failures: load(&self.stats.failures),
            bytes: load(&self.stats.bytes),
        }
    }

    fn host_permits(&self, host: &str) -> Arc<Semaphore> {
        let mut hosts = self
            .hosts
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        hosts
            .entry(host.to_owned())
            .or_insert_with(|| Arc::new(Semaphore::new(self.config.per_host_concurrency.max(1))))
            .clone()
    }

    /// GETs `url`, retrying what is worth retrying. A 404 or other 4xx is returned as
    /// [`HttpError::Status`] at once.
    pub async fn get(&self, url: &str) -> Result<Fetched, HttpError> {
        let parsed = reqwest::Url::parse(url).map_err(|_| HttpError::BadUrl {
            url: url.to_owned(),
        })?;
        let host = format!(
            "{}:{}",
            parsed.host_str().unwrap_or(""),
            parsed.port_or_known_default().unwrap_or(0)
        );
        let host_permits = self.host_permits(&host);
        let cached = self.validators.as_ref().and_then(|store| store.get(url));
        let mut retries = 0;
        loop {
            self.wait_for_reset(url, &host).await?;
            let attempt = {
                // Closed semaphores never happen here (we never close them); treat it as a
                // transport failure rather than panic.
                let (Ok(_total), Ok(_host)) =
                    (self.total.acquire().await, host_permits.acquire().await)
                else {
                    return Err(HttpError::Transport {
                        url: url.to_owned(),
                        reason: "the client is shutting down".to_owned(),
                        attempts: retries + 1,
                    });
                };
                self.stats.requests.fetch_add(1, Ordering::Relaxed);
                self.attempt(url, &host, cached.as_ref()).await
            };
            let (after, reason) = match attempt {
                Attempt::Done(mut fetched) => {
                    fetched.retries = retries;
                    return Ok(fetched);
                }
                Attempt::Fail(error) => {
                    self.stats.failures.fetch_add(1, Ordering::Relaxed);
                    return Err(error);
                }
                Attempt::Retry { after, reason } => (after, reason),
            };
            if retries >= self.config.max_retries {
                self.stats.failures.fetch_add(1, Ordering::Relaxed);
                let attempts = retries + 1;
                return Err(match reason {
                    Failure::Status(status) => HttpError::Status {
                        url: url.to_owned(),
                        status,
                        attempts,
                    },
                    Failure::Transport(reason) => HttpError::Transport {
                        url: url.to_owned(),
                        reason,
                        attempts,
                    },
                });
            }
            let wait = match after {
                Some(wait) if wait > self.config.max_wait => {
                    self.stats.failures.fetch_add(1, Ordering::Relaxed);
                    return Err(HttpError::RateLimited {
                        url: url.to_owned(),
                        wait_secs: wait.as_secs(),
                        max_wait_secs: self.config.max_wait.as_secs(),
                    });
                }
                Some(wait) => {
                    self.stats
                        .rate_limited_waits
                        .fetch_add(1, Ordering::Relaxed);
                    wait
                }
                None => backoff(self.config.base_backoff, self.config.max_backoff, retries),
            };
            retries += 1;
            self.stats.retries.fetch_add(1, Ordering::Relaxed);
            tokio::time::sleep(wait).await;
        }
    }

    /// Waits until a host whose rate limit ran out has reset it; a reset further away than
    /// `max_wait` is [`HttpError::RateLimited`].
    async fn wait_for_reset(&self, url: &str, host: &str) -> Result<(), HttpError> {
        let until = {
            let paused = self
                .paused
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner());
            paused.get(host).copied()
        };
        let Some(wait) = until.and_then(|until| until.duration_since(SystemTime::now()).ok())
        else {
            return Ok(());
        };
        if wait > self.config.max_wait {
            self.stats.failures.fetch_add(1, Ordering::Relaxed);
            return Err(HttpError::RateLimited {
                url: url.to_owned(),
                wait_secs: wait.as_secs(),
                max_wait_secs: self.config.max_wait.as_secs(),
            });
        }
        self.stats
            .rate_limited_waits
            .fetch_add(1, Ordering::Relaxed);
        tokio::time::sleep(wait).await;
        Ok(())
    }

    /// Remembers that `host` has no requests left until its reset, when an answer says so.
    fn note_remaining(&self, host: &str, headers: &HeaderMap) {
        let text = |name: &str| headers.get(name).and_then(|value| value.to_str().ok());
        if text("x-ratelimit-remaining").map(str::trim) != Some("0") {
            return;
        }
        let Some(reset) = text("x-ratelimit-reset").and_then(|reset| reset.trim().parse().ok())
        else {
            return;
        };
        // One second of slack: the reset time is rounded down to the second.
        let until = SystemTime::UNIX_EPOCH + Duration::from_secs(reset) + Duration::from_secs(1);
        self.paused
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .insert(host.to_owned(), until);
    }

    async fn attempt(&self, url: &str, host: &str, cached: Option<&CachedResponse>) -> Attempt {
        let mut request = self.client.get(url);
        if let Some(cached) = cached {
            if let Some(etag) = cached
                .etag
                .as_deref()
                .and_then(|value| HeaderValue::from_str(value).ok())
            {
                request = request.header(IF_NONE_MATCH, etag);
            }
            if let Some(date) = cached
                .last_modified
                .as_deref()
                .and_then(|value| HeaderValue::from_str(value).ok())
            {
                request = request.header(IF_MODIFIED_SINCE, date);
            }
        }
        let mut response = match request.send().await {
            Ok(response) => response,
            Err(error) => {
                return Attempt::Retry {
                    after: None,
                    reason: Failure::Transport(describe(&error)),
                };
            }
        };
        let status = response.status();
        if status.is_success() || status == StatusCode::NOT_MODIFIED {
            self.note_remaining(host, response.headers());
        }
        if status == StatusCode::NOT_MODIFIED
            && let Some(cached) = cached
        {
            self.stats.not_modified.fetch_add(1, Ordering::Relaxed);
            return Attempt::Done(Fetched {
                status: 304,
                body: cached.body.clone(),
                not_modified: true,
                retries: 0,
            });
        }
        if let Some(wait) = rate_limit_wait(status, response.headers(), SystemTime::now()) {
            return Attempt::Retry {
                after: Some(wait),
                reason: Failure::Status(status.as_u16()),
            };
        }
        if status.is_server_error() || status == StatusCode::TOO_MANY_REQUESTS {
            return Attempt::Retry {
                after: None,
                reason: Failure::Status(status.as_u16()),
            };
        }
        if !status.is_success() {
            return Attempt::Fail(HttpError::Status {
                url: url.to_owned(),
                status: status.as_u16(),
                attempts: 1,
            });
        }
        let limit = self.config.max_body_bytes;
        if response
            .content_length()
            .is_some_and(|length| length > limit)
        {
            return Attempt::Fail(HttpError::BodyTooLarge {
                url: url.to_owned(),
                limit,
            });
        }
        let header = |name| {
            response
                .headers()
                .get(name)
                .and_then(|value: &HeaderValue| value.to_str().ok())
                .map(str::to_owned)
        };
        let etag = header(ETAG);
        let last_modified = header(LAST_MODIFIED);
        let mut body = Vec::new();
        loop {
            match response.chunk().await {
                Ok(Some(chunk)) => {
                    if body.len() as u64 + chunk.len() as u64 > limit {
                        return Attempt::Fail(HttpError::BodyTooLarge {
                            url: url.to_owned(),
                            limit,
                        });
                    }
                    body.extend_from_slice(&chunk);
                }
                Ok(None) => break,
                // A body cut short or a timeout mid-body: the next attempt may get it whole.
                Err(error) => {
                    return Attempt::Retry {
                        after: None,
                        reason: Failure::Transport(describe(&error)),
                    };
                }
            }
        }
        self.stats
            .bytes
            .fetch_add(body.len() as u64, Ordering::Relaxed);
        if let Some(store) = &self.validators
            && (etag.is_some() || last_modified.is_some())
        {
            store.put(
                url,
                CachedResponse {
                    etag,
                    last_modified,
                    body: body.clone(),
                },
            );
        }
        Attempt::Done(Fetched {
            status: status.as_u16(),
            body,
            not_modified: false,
            retries: 0,
        })
    }
}

/// Names a reqwest failure in words, without the URL (our errors add it).
fn describe(error: &reqwest::Error) -> String {
    if error.is_timeout() {
        "timed out".to_owned()
    } else if error.is_connect() {
        "could not connect".to_owned()
    } else if error.is_body() || error.is_decode() {
        "the body was cut short".to_owned()
    } else {
        let mut text = error.to_string();
        let mut source = std::error::Error::source(error);
        while let Some(cause) = source {
            text = format!("{text}: {cause}");
            source = cause.source();
        }
        text
    }
}

/// How long a rate-limited answer asks us to wait, if it is one: `Retry-After` on 429 or
/// 503 (and on 403, as GitHub's secondary limits send it), or an exhausted
/// `X-RateLimit-Remaining` with its `X-RateLimit-Reset` on 403 or 429.
pub fn rate_limit_wait(
    status: StatusCode,
    headers: &HeaderMap,
    now: SystemTime,
) -> Option<Duration> {
    let limited_status = matches!(
        status,
        StatusCode::TOO_MANY_REQUESTS | StatusCode::FORBIDDEN | StatusCode::SERVICE_UNAVAILABLE
    );
    if !limited_status {
        return None;
    }
    let text = |name: &str| {
        headers
            .get(name)
            .and_then(|value| value.to_str().ok())
            .map(str::trim)
    };
    if let Some(value) = text(RETRY_AFTER.as_str()) {
        if let Ok(seconds) = value.parse::<u64>() {
            return Some(Duration::from_secs(seconds));
        }
        if let Ok(date) = httpdate::parse_http_date(value) {
            return Some(date.duration_since(now).unwrap_or_default());
        }
    }
    let exhausted = text("x-ratelimit-remaining").is_some_and(|remaining| remaining == "0");
    if exhausted && status != StatusCode::SERVICE_UNAVAILABLE {
        let reset = text("x-ratelimit-reset")?.parse::<u64>().ok()?;
        let reset = SystemTime::UNIX_EPOCH + Duration::from_secs(reset);
        // One second of slack: the reset time is rounded down to the second.
        return Some(reset.duration_since(now).unwrap_or_default() + Duration::from_secs(1));
    }
    None
}

/// Exponential backoff with full jitter: a random wait in `[0, min(max, base * 2^retry)]`,
/// so many crawlers hitting one failing host spread out instead of retrying in step.
pub fn backoff(base: Duration, max: Duration, retry: u32) -> Duration {
    let ceiling = base
        .saturating_mul(2u32.saturating_pow(retry.min(20)))
        .min(max);
    let millis = u64::try_from(ceiling.as_millis()).unwrap_or(u64::MAX);
    Duration::from_millis(fastrand::u64(0..=millis))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.insert(*name, HeaderValue::from_str(value).unwrap());
        }
        map
    }

    #[test]
    fn rate_limit_waits_come_from_the_headers() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000);
        let wait = |status: u16, pairs: &[(&'static str, &str)]| {
            rate_limit_wait(StatusCode::from_u16(status).unwrap(), &headers(pairs), now)
        };
        assert_eq!(
            wait(429, &[("retry-after", "7")]),
            Some(Duration::from_secs(7))
        );
        assert_eq!(
            wait(
                503,
                &[(
                    "retry-after",
                    &httpdate::fmt_http_date(now + Duration::from_secs(30))
                )]
            ),
            Some(Duration::from_secs(30))
        );
        assert_eq!(
            wait(
                403,
                &[
                    ("x-ratelimit-remaining", "0"),
                    ("x-ratelimit-reset", "1000010")
                ]
            ),
            Some(Duration::from_secs(11))
        );
        assert_eq!(
            wait(
                403,
                &[
                    ("x-ratelimit-remaining", "12"),
                    ("x-ratelimit-reset", "1000010")
                ]
            ),
            None
        );
        assert_eq!(wait(403, &[]), None, "a plain 403 is not a rate limit");
        assert_eq!(wait(200, &[("retry-after", "7")]), None);
        assert_eq!(
            wait(429, &[("retry-after", "soon")]),
            None,
            "unparseable: the usual backoff"
        );
    }

    #[test]
    fn backoff_stays_within_its_ceiling() {
        let base = Duration::from_millis(100);
        let max = Duration::from_secs(2);
        for retry in 0..40 {
            let ceiling = (base * 2u32.saturating_pow(retry.min(20))).min(max);
            for _ in 0..50 {
                assert!(backoff(base, max, retry) <= ceiling);
            }
        }
    }
}
