//! The crawl's HTTP client against fixture servers on 127.0.0.1: retries, rate limits,
//! timeouts, truncated and oversized bodies, conditional requests, per-host concurrency.
//! Every loop here is bounded by the client's retry count and the tests' timeouts.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use mcpwarden::crawl::http::{HttpClient, HttpConfig, HttpError, MemoryValidators};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

#[derive(Clone, Default)]
struct Hits {
    flaky: Arc<AtomicUsize>,
    always_500: Arc<AtomicUsize>,
    retry_after: Arc<AtomicUsize>,
    github_limit: Arc<AtomicUsize>,
    not_found: Arc<AtomicUsize>,
    etag: Arc<AtomicUsize>,
    in_flight: Arc<AtomicUsize>,
    max_in_flight: Arc<AtomicUsize>,
}

async fn fixture_server() -> (String, Hits) {
    let hits = Hits::default();
    let app = Router::new()
        .route(
            "/flaky",
            get(|State(hits): State<Hits>| async move {
                // Two 500s, then the answer.
                if hits.flaky.fetch_add(1, Ordering::SeqCst) < 2 {
                    (StatusCode::INTERNAL_SERVER_ERROR, "boom").into_response()
                } else {
                    "ok".into_response()
                }
            }),
        )
        .route(
            "/always-500",
            get(|State(hits): State<Hits>| async move {
                hits.always_500.fetch_add(1, Ordering::SeqCst);
                StatusCode::BAD_GATEWAY
            }),
        )
        .route(
            "/retry-after",
            get(|State(hits): State<Hits>| async move {
                if hits.retry_after.fetch_add(1, Ordering::SeqCst) == 0 {
                    (
                        StatusCode::TOO_MANY_REQUESTS,
                        [("retry-after", "1")],
                        "slow down",
                    )
                        .into_response()
                } else {
                    "after the wait".into_response()
                }
            }),
        )
        .route(
            "/github-limit",
            get(|State(hits): State<Hits>| async move {
                if hits.github_limit.fetch_add(1, Ordering::SeqCst) == 0 {
                    let reset = SystemTime::now()
                        .duration_since(UNIX_EPOCH)
                        .unwrap()
                        .as_secs();
                    (
                        StatusCode::FORBIDDEN,
                        [
                            ("x-ratelimit-remaining", "0".to_owned()),
                            ("x-ratelimit-reset", reset.to_string()),
                        ],
                        "API rate limit exceeded",
                    )
                        .into_response()
                } else {
                    "reset".into_response()
                }
            }),
        )
        .route(
            "/long-limit",
            get(|| async {
                (
                    StatusCode::TOO_MANY_REQUESTS,
                    [("retry-after", "3600")],
                    "come back in an hour",
                )
            }),
        )
        .route(
            "/not-found",
            get(|State(hits): State<Hits>| async move {
                hits.not_found.fetch_add(1, Ordering::SeqCst);
                StatusCode::NOT_FOUND
            }),
        )
        .route(
            "/slow",
            get(|| async {
                tokio::time::sleep(Duration::from_secs(3)).await;
                "too late"
            }),
        )
        .route("/big", get(|| async { vec![b'x'; 300_000] }))
        .route(
            "/big-chunked",
            get(|| async {
                let chunks = (0..30).map(|_| Ok::<_, std::io::Error>(vec![b'y'; 10_000]));
                axum::body::Body::from_stream(futures_util::stream::iter(chunks))
            }),
        )
        .route(
            "/etag",
            get(|State(hits): State<Hits>, headers: HeaderMap| async move {
                hits.etag.fetch_add(1, Ordering::SeqCst);
                if headers.get("if-none-match").and_then(|v| v.to_str().ok()) == Some("\"v1\"") {
                    StatusCode::NOT_MODIFIED.into_response()
                } else {
                    ([("etag", "\"v1\"")], "versioned body").into_response()
                }
            }),
        )
        .route(
            "/concurrent",
            get(|State(hits): State<Hits>| async move {
                let now = hits.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
                hits.max_in_flight.fetch_max(now, Ordering::SeqCst);
                tokio::time::sleep(Duration::from_millis(50)).await;
                hits.in_flight.fetch_sub(1, Ordering::SeqCst);
                Response::new(axum::body::Body::from("done"))
            }),
        )
        .with_state(hits.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(async move {
        axum::serve(listener, app).await.unwrap();
    });
    (format!("http://{address}"), hits)
}

fn quick_config() -> HttpConfig {
    HttpConfig {
        timeout: Duration::from_millis(500),
        max_retries: 3,
        base_backoff: Duration::from_millis(10),
        max_backoff: Duration::from_millis(50),
        max_wait: Duration::from_secs(5),
        max_body_bytes: 100_000,
        ..HttpConfig::default()
    }
}

#[tokio::test]
async fn server_errors_are_retried_until_they_pass() {
    let (base, hits) = fixture_server().await;
    let client = HttpClient::new(quick_config(), None).unwrap();
    let fetched = client.get(&format!("{base}/flaky")).await.unwrap();
    assert_eq!(fetched.body, b"ok");
    assert_eq!(fetched.retries, 2);
    assert_eq!(hits.flaky.load(Ordering::SeqCst), 3);
    let stats = client.stats();
    assert_eq!((stats.requests, stats.retries, stats.failures), (3, 2, 0));
}

#[tokio::test]
async fn a_server_that_keeps_failing_is_reported_with_its_status_and_attempts() {
    let (base, hits) = fixture_server().await;
    let client = HttpClient::new(quick_config(), None).unwrap();
    let url = format!("{base}/always-500");
    let error = client.get(&url).await.unwrap_err();
    assert!(
        matches!(
            error,
            HttpError::Status {
                status: 502,
                attempts: 4,
                ..
            }
        ),
        "{error}"
    );
    assert!(error.to_string().contains(&url));
    assert_eq!(
        hits.always_500.load(Ordering::SeqCst),
        4,
        "1 try + 3 retries, no more"
    );
    assert_eq!(client.stats().failures, 1);
}

#[tokio::test]
async fn retry_after_is_honoured() {
    let (base, hits) = fixture_server().await;
    let client = HttpClient::new(quick_config(), None).unwrap();
    let started = std::time::Instant::now();
    let fetched = client.get(&format!("{base}/retry-after")).await.unwrap();
    assert_eq!(fetched.body, b"after the wait");
    assert!(
        started.elapsed() >= Duration::from_millis(950),
        "waited as asked"
    );
    assert_eq!(hits.retry_after.load(Ordering::SeqCst), 2);
    assert_eq!(client.stats().rate_limited_waits, 1);
}

#[tokio::test]
async fn an_exhausted_github_rate_limit_waits_for_the_reset() {
    let (base, hits) = fixture_server().await;
    let client = HttpClient::new(quick_config(), None).unwrap();
    let fetched = client.get(&format!("{base}/github-limit")).await.unwrap();
    assert_eq!(fetched.body, b"reset");
    assert_eq!(hits.github_limit.load(Ordering::SeqCst), 2);
    assert_eq!(client.stats().rate_limited_waits, 1);
}

#[tokio::test]
async fn a_wait_longer_than_the_crawl_allows_is_an_error_not_a_hang() {
    let (base, _) = fixture_server().await;
    let client = HttpClient::new(quick_config(), None).unwrap();
    let error = client.get(&format!("{base}/long-limit")).await.unwrap_err();
    assert!(
        matches!(
            error,
            HttpError::RateLimited {
                wait_secs: 3600,
                max_wait_secs: 5,
                ..
            }
        ),
        "{error}"
    );
}

#[tokio::test]
async fn client_errors_are_not_retried() {
    let (base, hits) = fixture_server().await;
    let client = HttpClient::new(quick_config(), None).unwrap();
    let error = client.get(&format!("{base}/not-found")).await.unwrap_err();
    assert!(
        matches!(
            error,
            HttpError::Status {
                status: 404,
                attempts: 1,
                ..
            }
        ),
        "{error}"
    );
    assert_eq!(hits.not_found.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn slow_answers_time_out_and_are_retried_then_reported() {
    let (base, _) = fixture_server().await;
    let config = HttpConfig {
        timeout: Duration::from_millis(200),
        max_retries: 1,
        ..quick_config()
    };
    let client = HttpClient::new(config, None).unwrap();
    let error = client.get(&format!("{base}/slow")).await.unwrap_err();
    assert!(
        matches!(&error, HttpError::Transport { reason, attempts: 2, .. } if reason == "timed out"),
        "{error}"
    );
}

#[tokio::test]
async fn oversized_bodies_are_refused_with_or_without_content_length() {
    let (base, _) = fixture_server().await;
    let client = HttpClient::new(quick_config(), None).unwrap();
    for path in ["big", "big-chunked"] {
        let error = client.get(&format!("{base}/{path}")).await.unwrap_err();
        assert!(
            matches!(error, HttpError::BodyTooLarge { limit: 100_000, .. }),
            "{path}: {error}"
        );
    }
}

#[tokio::test]
async fn a_truncated_body_is_retried() {
    // A raw server: the first answer promises 100 bytes, sends 5 and hangs up.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let served = Arc::new(AtomicUsize::new(0));
    let counter = served.clone();
    tokio::spawn(async move {
        for _ in 0..3 {
            let (mut socket, _) = listener.accept().await.unwrap();
            let mut request = [0u8; 4096];
            let _ = socket.read(&mut request).await;
            let answer: &[u8] = if counter.fetch_add(1, Ordering::SeqCst) == 0 {
                b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\nConnection: close\r\n\r\nshort"
            } else {
                b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nConnection: close\r\n\r\nwhole"
            };
            socket.write_all(answer).await.unwrap();
            socket.shutdown().await.unwrap();
        }
    });
    let client = HttpClient::new(quick_config(), None).unwrap();
    let fetched = client.get(&format!("http://{address}/x")).await.unwrap();
    assert_eq!(fetched.body, b"whole");
    assert_eq!(fetched.retries, 1);
}

#[tokio::test]
async fn etags_make_unchanged_answers_304_and_the_stored_body_is_returned() {
    let (base, hits) = fixture_server().await;
    let store = Arc::new(MemoryValidators::default());
    let client = HttpClient::new(quick_config(), Some(store.clone())).unwrap();
    let url = format!("{base}/etag");
    let first = client.get(&url).await.unwrap();
    assert_eq!((first.status, first.not_modified), (200, false));
    let second = client.get(&url).await.unwrap();
    assert_eq!((second.status, second.not_modified), (304, true));
    assert_eq!(second.body, b"versioned body");
    assert_eq!(hits.etag.load(Ordering::SeqCst), 2);
    assert_eq!(client.stats().not_modified, 1);
}

#[tokio::test]
async fn concurrency_per_host_is_capped() {
    let (base, hits) = fixture_server().await;
    let config = HttpConfig {
        per_host_concurrency: 2,
        max_concurrency: 8,
        ..quick_config()
    };
    let client = Arc::new(HttpClient::new(config, None).unwrap());
    let url = format!("{base}/concurrent");
    let tasks: Vec<_> = (0..10)
        .map(|_| {
            let client = client.clone();
            let url = url.clone();
            tokio::spawn(async move { client.get(&url).await })
        })
        .collect();
    for task in tasks {
        task.await.unwrap().unwrap();
    }
    assert_eq!(hits.max_in_flight.load(Ordering::SeqCst), 2);
}

#[tokio::test]
async fn a_bad_url_is_named() {
    let client = HttpClient::new(quick_config(), None).unwrap();
    let error = client.get("not a url").await.unwrap_err();
    assert_eq!(error.to_string(), "not a url: not a valid URL");
}
