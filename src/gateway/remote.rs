//! A remote Streamable HTTP server as one of the servers behind `gateway --config` (an
//! entry with `url` instead of `command`). The router ([`super::multi::Multi`]) hands it
//! messages exactly as it would write them to a child's stdin; [`relay`] POSTs each one,
//! keeps the server's `Mcp-Session-Id` and chosen protocol version, and hands every
//! message that comes back (a JSON body or each SSE event, and each event on the GET
//! stream it opens after `initialize`) to the transport, which gives it to the router as
//! if a child had printed it.
//!
//! Only what the entry's `headers` say is sent upstream: nothing of the gateway's own
//! client (its `Authorization` least of all) ever reaches the remote.

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use reqwest::header::{self, HeaderMap, HeaderName, HeaderValue};
use serde_json::Value;
use tokio::sync::mpsc;
use tokio::task::JoinSet;

use super::config::RemoteEntry;
use super::http::{
    MAX_UPSTREAM_LINE, SESSION_HEADER, VERSION_HEADER, heads, note_version, take_events,
};
use super::judge::code;

/// Where the messages a remote sends back go: the transport's hand-off to the router.
pub type Deliver = Arc<dyn Fn(Vec<u8>) -> Pin<Box<dyn Future<Output = ()> + Send>> + Send + Sync>;

/// How long requests still in flight may run after the queue ends, and how long the
/// closing DELETE may take.
const GRACE: Duration = Duration::from_secs(5);

/// One remote server as a session sees it.
struct Upstream {
    client: reqwest::Client,
    url: reqwest::Url,
    headers: HeaderMap,
    session: Mutex<Option<String>>,
    version: Mutex<Option<String>>,
}

/// Sends every message from `queue` to the remote `entry` until the queue ends (a `None`
/// item or a closed channel), passing whatever comes back to `deliver`. Each POST runs
/// as its own task, so a slow call does not hold up the next; a request whose POST fails
/// gets a JSON-RPC error (-32001) naming why. At the end, requests in flight get
/// [`GRACE`], then the remote's session is deleted.
pub async fn relay<T: Into<Option<Vec<u8>>>>(
    entry: &RemoteEntry,
    mut queue: mpsc::Receiver<T>,
    deliver: Deliver,
) {
    let client = match super::http::Remote::new_client() {
        Ok(client) => client,
        Err(error) => {
            eprintln!(
                "mcpwarden: cannot make an HTTP client for {}: {error}",
                entry.url
            );
            return;
        }
    };
    let mut headers = HeaderMap::new();
    for (name, value) in &entry.headers {
        // Checked when the configuration was read.
        if let (Ok(name), Ok(value)) = (
            HeaderName::from_bytes(name.as_bytes()),
            HeaderValue::from_str(value),
        ) {
            headers.insert(name, value);
        }
    }
    let upstream = Arc::new(Upstream {
        client,
        url: entry.url.clone(),
        headers,
        session: Mutex::new(None),
        version: Mutex::new(None),
    });
    // If this task is aborted (an HTTP session deleted or expired), the remote session is
    // still closed, from a task of its own.
    let mut closer = Closer(Some(upstream.clone()));
    let mut in_flight = JoinSet::new();
    let mut stream: Option<tokio::task::JoinHandle<()>> = None;
    while let Some(Some(message)) = queue.recv().await.map(Into::into) {
        // Finished POSTs are collected as we go, so the set stays small.
        while in_flight.try_join_next().is_some() {}
        let is_initialize = heads(&message)
            .iter()
            .any(|head| head.method.as_ref().and_then(Value::as_str) == Some("initialize"));
        let post = post(upstream.clone(), message, deliver.clone());
        if is_initialize {
            // What follows needs the session id its answer carries; then the stream of
            // what the server starts (list changes, requests) is opened.
            post.await;
            if let Some(old) = stream.take() {
                old.abort();
            }
            stream = Some(tokio::spawn(listen(upstream.clone(), deliver.clone())));
        } else {
            in_flight.spawn(post);
        }
    }
    if let Some(stream) = stream {
        stream.abort();
    }
    let _ = tokio::time::timeout(GRACE, async {
        while in_flight.join_next().await.is_some() {}
    })
    .await;
    in_flight.abort_all();
    if let Some(upstream) = closer.0.take() {
        close(upstream).await;
    }
}

/// DELETEs the remote session, if the remote gave one.
async fn close(upstream: Arc<Upstream>) {
    let session = lock(&upstream.session).clone();
    if let Some(session) = session {
        let request = upstream
            .client
            .delete(upstream.url.clone())
            .headers(upstream.headers.clone())
            .header(SESSION_HEADER, session);
        let _ = tokio::time::timeout(GRACE, request.send()).await;
    }
}

/// Closes the remote session when dropped with the upstream still in it, i.e. when
/// [`relay`] is cancelled before it could close it itself.
struct Closer(Option<Arc<Upstream>>);

impl Drop for Closer {
    fn drop(&mut self) {
        if let Some(upstream) = self.0.take()
            && let Ok(runtime) = tokio::runtime::Handle::try_current()
        {
            runtime.spawn(close(upstream));
        }
    }
}

fn lock(slot: &Mutex<Option<String>>) -> std::sync::MutexGuard<'_, Option<String>> {
    slot.lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// POSTs one message and delivers the answers, or an error for each request in it.
async fn post(upstream: Arc<Upstream>, message: Vec<u8>, deliver: Deliver) {
    post_message(
        &upstream.client,
        &upstream.url,
        &upstream.headers,
        &upstream.session,
        &upstream.version,
        message,
        |answer| deliver(answer),
    )
    .await;
}

/// One POST of `message` to a Streamable HTTP server, as `gateway --listen --upstream URL`
/// and a config's `url` entries both send it: `headers` (only the configured ones), the
/// upstream session id and protocol version once known (both taken from what comes back),
/// JSON or SSE accepted. Each message of the answer (the body, or each event's data as it
/// arrives) goes to `each`, in order; when the POST fails, each request in `message` gets
/// a JSON-RPC error (-32001) saying why instead.
pub(super) async fn post_message<F, Fut>(
    client: &reqwest::Client,
    url: &reqwest::Url,
    headers: &HeaderMap,
    session: &Mutex<Option<String>>,
    version: &Mutex<Option<String>>,
    message: Vec<u8>,
    mut each: F,
) where
    F: FnMut(Vec<u8>) -> Fut,
    Fut: Future<Output = ()>,
{
    let ids: Vec<Value> = heads(&message)
        .into_iter()
        .filter(|head| head.method.is_some())
        .filter_map(|head| head.id)
        .collect();
    let mut request = client
        .post(url.clone())
        .headers(headers.clone())
        .header(header::CONTENT_TYPE, "application/json")
        .header(header::ACCEPT, "application/json, text/event-stream")
        .body(message);
    let known = lock(session).clone();
    if let Some(known) = known {
        request = request.header(SESSION_HEADER, known);
    }
    let chosen = lock(version).clone();
    if let Some(chosen) = chosen {
        request = request.header(VERSION_HEADER, chosen);
    }
    let why = match request.send().await {
        Err(error) => format!("the upstream could not be reached: {error}"),
        Ok(response) if !response.status().is_success() => {
            format!("the upstream answered HTTP {}", response.status())
        }
        Ok(response) => {
            if let Some(id) = response
                .headers()
                .get(SESSION_HEADER)
                .and_then(|value| value.to_str().ok())
            {
                *lock(session) = Some(id.to_owned());
            }
            let is_sse = response
                .headers()
                .get(header::CONTENT_TYPE)
                .and_then(|value| value.to_str().ok())
                .is_some_and(|kind| kind.starts_with("text/event-stream"));
            if is_sse {
                read_events(response, version, each).await;
                return;
            }
            match response.bytes().await {
                Ok(body) if body.len() > MAX_UPSTREAM_LINE => {
                    "the upstream's answer was over the size limit".to_owned()
                }
                Ok(body) if !body.iter().all(u8::is_ascii_whitespace) => {
                    note_version(&body, version);
                    each(body.to_vec()).await;
                    return;
                }
                Ok(_) => return,
                Err(error) => format!("the upstream's answer could not be read: {error}"),
            }
        }
    };
    for id in ids {
        let error = serde_json::json!({"jsonrpc": "2.0", "id": id,
            "error": {"code": code::UPSTREAM_UNAVAILABLE, "message": why}});
        each(error.to_string().into_bytes()).await;
    }
}

/// Opens the server's GET stream for the session and hands on every message on it. A
/// server that offers none (405) or refuses is left at that: it can still answer POSTs.
async fn listen(upstream: Arc<Upstream>, deliver: Deliver) {
    let Some(session) = lock(&upstream.session).clone() else {
        return;
    };
    let mut request = upstream
        .client
        .get(upstream.url.clone())
        .headers(upstream.headers.clone())
        .header(header::ACCEPT, "text/event-stream")
        .header(SESSION_HEADER, session);
    let version = lock(&upstream.version).clone();
    if let Some(version) = version {
        request = request.header(VERSION_HEADER, version);
    }
    match request.send().await {
        Ok(response) if response.status().is_success() => {
            read_events(response, &upstream.version, |message| deliver(message)).await;
        }
        _ => {}
    }
}

/// Hands on each SSE event's data as one message, as it arrives.
async fn read_events<F, Fut>(
    mut response: reqwest::Response,
    version: &Mutex<Option<String>>,
    mut each: F,
) where
    F: FnMut(Vec<u8>) -> Fut,
    Fut: Future<Output = ()>,
{
    let mut buffer: Vec<u8> = Vec::new();
    loop {
        match response.chunk().await {
            Ok(Some(chunk)) => {
                buffer.extend_from_slice(&chunk);
                if buffer.len() > MAX_UPSTREAM_LINE {
                    eprintln!("mcpwarden: dropped an upstream event stream over the size limit");
                    break;
                }
                for data in take_events(&mut buffer) {
                    note_version(&data, version);
                    each(data).await;
                }
            }
            Ok(None) => break,
            Err(error) => {
                eprintln!("mcpwarden: an upstream event stream broke off: {error}");
                break;
            }
        }
    }
}
