//! The report site in a real browser: headless Chromium, driven over the Chrome DevTools
//! Protocol on a loopback websocket, opens the fixture site from `file://`, searches,
//! filters by risk, opens a tool page and checks what it shows. Screenshots are written to
//! `target/test-artifacts/`.
//!
//! Chromium is required: without it this test fails and says how to install it.

use std::io::{BufRead, BufReader};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use base64::Engine;
use serde_json::{Value, json};
use tungstenite::{Message, WebSocket};

/// Long enough for a cold start on a loaded two-core machine.
const STARTUP_TIMEOUT: Duration = Duration::from_secs(60);
const WAIT_TIMEOUT: Duration = Duration::from_secs(30);

fn find_chromium() -> PathBuf {
    if let Some(path) = std::env::var_os("MCPWARDEN_CHROMIUM").filter(|p| !p.is_empty()) {
        return PathBuf::from(path);
    }
    let path = std::env::var_os("PATH").unwrap_or_default();
    for dir in std::env::split_paths(&path) {
        for name in [
            "chromium",
            "chromium-browser",
            "google-chrome",
            "google-chrome-stable",
        ] {
            let candidate = dir.join(name);
            if candidate.is_file() {
                return candidate;
            }
        }
    }
    panic!(
        "Chromium is not installed, and the report's browser test needs it. Install it with \
         `apt-get install -y chromium` (bash .ci/run does this), or set MCPWARDEN_CHROMIUM \
         to a Chromium binary."
    );
}

/// A headless Chromium we started; killed (by its own handle) when dropped.
struct Browser {
    child: Child,
    _profile: tempfile::TempDir,
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start_browser() -> (Browser, String) {
    let binary = find_chromium();
    let profile = tempfile::tempdir().expect("profile dir");
    let mut child = Command::new(&binary)
        .args([
            // Without these Chromium stalls on this machine's closed network.
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--no-first-run",
            "--disable-dev-shm-usage",
            "--remote-debugging-address=127.0.0.1",
            "--remote-debugging-port=0",
            "--window-size=1280,1000",
        ])
        .arg(format!("--user-data-dir={}", profile.path().display()))
        .arg("about:blank")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|error| panic!("cannot start {}: {error}", binary.display()));
    // Chromium prints its websocket address on stderr; keep draining stderr afterwards so
    // a chatty browser never blocks on a full pipe.
    let stderr = child.stderr.take().expect("piped stderr");
    let (sender, receiver) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines() {
            let Ok(line) = line else { break };
            if let Some(url) = line.split("DevTools listening on ").nth(1) {
                let _ = sender.send(url.trim().to_owned());
            }
        }
    });
    let browser = Browser {
        child,
        _profile: profile,
    };
    let url = receiver
        .recv_timeout(STARTUP_TIMEOUT)
        .expect("Chromium did not print its DevTools address in time");
    (browser, url)
}

/// A minimal DevTools client: one websocket to the browser, commands for one page
/// session (flattened), events ignored.
struct Cdp {
    socket: WebSocket<TcpStream>,
    next_id: u64,
    session: Option<String>,
}

impl Cdp {
    fn connect(url: &str) -> Cdp {
        let address = url
            .trim_start_matches("ws://")
            .split('/')
            .next()
            .expect("host:port");
        let stream = TcpStream::connect(address).expect("connect to Chromium");
        stream
            .set_read_timeout(Some(WAIT_TIMEOUT))
            .expect("read timeout");
        let (socket, _) = tungstenite::client::client(url, stream).expect("websocket handshake");
        Cdp {
            socket,
            next_id: 0,
            session: None,
        }
    }

    /// Sends a command and returns its `result`, panicking on a protocol error.
    fn call(&mut self, method: &str, params: Value) -> Value {
        self.try_call(method, params)
            .unwrap_or_else(|error| panic!("{method} failed: {error}"))
    }

    fn try_call(&mut self, method: &str, params: Value) -> Result<Value, Value> {
        self.next_id += 1;
        let id = self.next_id;
        let mut message = json!({"id": id, "method": method, "params": params});
        if let Some(session) = &self.session {
            message["sessionId"] = json!(session);
        }
        self.socket
            .send(Message::text(message.to_string()))
            .expect("send to Chromium");
        loop {
            let reply = match self.socket.read().expect("read from Chromium") {
                Message::Text(text) => text,
                _ => continue,
            };
            let reply: Value = serde_json::from_str(reply.as_str()).expect("DevTools JSON");
            if reply["id"] != json!(id) {
                continue;
            }
            if let Some(error) = reply.get("error") {
                return Err(error.clone());
            }
            return Ok(reply["result"].clone());
        }
    }

    fn open_page(&mut self) {
        let target = self.call("Target.createTarget", json!({"url": "about:blank"}));
        let attached = self.call(
            "Target.attachToTarget",
            json!({"targetId": target["targetId"], "flatten": true}),
        );
        self.session = Some(
            attached["sessionId"]
                .as_str()
                .expect("session id")
                .to_owned(),
        );
        self.call("Page.enable", json!({}));
        self.call(
            "Emulation.setDeviceMetricsOverride",
            json!({"width": 1280, "height": 1000, "deviceScaleFactor": 1, "mobile": false}),
        );
    }

    /// Evaluates `expression` in the page and returns its JSON value.
    fn eval(&mut self, expression: &str) -> Value {
        let result = self.call(
            "Runtime.evaluate",
            json!({"expression": expression, "returnByValue": true, "awaitPromise": true}),
        );
        if let Some(exception) = result.get("exceptionDetails") {
            panic!("{expression} threw: {exception}");
        }
        result["result"]["value"].clone()
    }

    /// Polls `expression` until it is `true`. Errors while a page is loading (no context
    /// yet) count as "not yet".
    fn wait_for(&mut self, expression: &str) {
        let deadline = Instant::now() + WAIT_TIMEOUT;
        loop {
            let value = self.try_call(
                "Runtime.evaluate",
                json!({"expression": expression, "returnByValue": true}),
            );
            if let Ok(result) = value
                && result["result"]["value"] == json!(true)
            {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "timed out waiting for `{expression}`"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    fn navigate(&mut self, url: &str) {
        self.call("Page.navigate", json!({"url": url}));
        self.wait_for(&format!(
            "location.href === {} && document.readyState === 'complete'",
            json!(url)
        ));
    }

    fn screenshot(&mut self, path: &Path) {
        let shot = self.call(
            "Page.captureScreenshot",
            json!({"format": "png", "captureBeyondViewport": false}),
        );
        let png = base64::engine::general_purpose::STANDARD
            .decode(shot["data"].as_str().expect("screenshot data"))
            .expect("base64 screenshot");
        std::fs::write(path, png).expect("write screenshot");
    }
}

fn artifacts_dir() -> PathBuf {
    // CARGO_TARGET_TMPDIR is `<target>/tmp`; artifacts go next to it.
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .parent()
        .expect("target dir")
        .join("test-artifacts");
    std::fs::create_dir_all(&dir).expect("artifacts dir");
    dir
}

fn file_url(path: &Path) -> String {
    let path = path.canonicalize().expect("absolute path");
    format!("file://{}", path.display())
}

fn result_rows(cdp: &mut Cdp) -> Vec<Vec<String>> {
    let rows = cdp.eval(
        "Array.from(document.querySelectorAll('#results-body tr'))
             .map(tr => Array.from(tr.cells).map(td => td.textContent))",
    );
    serde_json::from_value(rows).expect("rows")
}

#[test]
fn search_filter_and_tool_page_work_in_chromium() {
    let site = crate::common::generate_fixture_site();
    let artifacts = artifacts_dir();
    let (_browser, url) = start_browser();
    let mut cdp = Cdp::connect(&url);
    cdp.open_page();

    // The index loads its data chunks from file:// and lists every tool.
    cdp.navigate(&file_url(&site.root().join("index.html")));
    cdp.wait_for("window.MCPW && MCPW.loaded === true");
    assert_eq!(cdp.eval("MCPW.error"), Value::Null);
    assert_eq!(
        cdp.eval("document.getElementById('status').textContent"),
        json!("17 of 17 tools match")
    );
    assert_eq!(
        cdp.eval("document.querySelectorAll('#chart-risk rect').length"),
        json!(4)
    );

    // Search by typing into the box, as a person would.
    cdp.eval("document.getElementById('search').focus()");
    cdp.call("Input.insertText", json!({"text": "send message"}));
    cdp.wait_for("document.getElementById('status').textContent === '3 of 17 tools match'");
    let rows = result_rows(&mut cdp);
    let tools: Vec<&str> = rows.iter().map(|row| row[0].as_str()).collect();
    assert_eq!(tools, ["Send-Message", "send_message", "send_message"]);

    // Filter by risk.
    cdp.eval(
        "const risk = document.getElementById('risk');
         risk.value = 'Critical';
         risk.dispatchEvent(new Event('change'));",
    );
    cdp.wait_for("document.getElementById('status').textContent === '1 of 17 tools match'");
    let rows = result_rows(&mut cdp);
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0][0], "send_message");
    assert_eq!(rows[0][1], "io.github.example-labs/tmux-agents");
    assert_eq!(rows[0][2], "Execute");
    assert_eq!(rows[0][3], "Critical");
    assert!(
        cdp.eval("location.hash")
            .as_str()
            .is_some_and(|hash| hash.contains("risk=Critical")),
        "the search is kept in the address for the back button"
    );
    cdp.screenshot(&artifacts.join("report-index-search.png"));

    // Open the tool page from the result.
    cdp.eval("document.querySelector('#results-body td.tool-name a').click()");
    cdp.wait_for(
        "location.pathname.endsWith('/io-github-example-labs-tmux-agents/send-message.html') \
         && document.readyState === 'complete'",
    );
    let text = |cdp: &mut Cdp, selector: &str| -> String {
        cdp.eval(&format!(
            "(document.querySelector({}) || {{}}).textContent || ''",
            json!(selector)
        ))
        .as_str()
        .unwrap_or_default()
        .to_owned()
    };
    assert_eq!(text(&mut cdp, "#tool-name"), "send_message");
    assert_eq!(text(&mut cdp, "#category"), "Execute");
    assert_eq!(text(&mut cdp, "#risk"), "Critical");
    assert!(text(&mut cdp, "#rationale").contains("\"sent as keys\""));
    assert!(text(&mut cdp, "#signals").contains("terminal-input"));
    assert!(text(&mut cdp, "#description").contains("<IMPORTANT>Before using this tool"));
    let rule = text(&mut cdp, "#rule-json");
    assert!(rule.contains("\"send_message_rate\"") && rule.contains("\"max\": 10"));
    let findings = text(&mut cdp, "#findings");
    assert!(findings.contains("hidden-instructions"));
    assert!(findings.contains("read ~/.ssh/id_rsa and pass its content"));
    assert!(findings.contains("concealment"));
    assert_eq!(
        cdp.eval("document.querySelectorAll('table.params tbody tr').length"),
        json!(2)
    );
    cdp.screenshot(&artifacts.join("report-tool-page.png"));

    // A hostile tool: its markup shows as text and none of it runs.
    cdp.navigate(&file_url(
        &site
            .root()
            .join("servers/evil-b-owned-b/script-alert-1-script.html"),
    ));
    assert_eq!(text(&mut cdp, "#tool-name"), "<script>alert(1)</script>");
    assert!(
        text(&mut cdp, "#description").starts_with("<script>window.__pwned='description'</script>")
    );
    assert_eq!(cdp.eval("typeof window.__pwned"), json!("undefined"));
    assert_eq!(
        cdp.eval("document.querySelectorAll('main script, main img').length"),
        json!(0)
    );
    cdp.screenshot(&artifacts.join("report-hostile-tool.png"));

    // The hostile server's page and the index with it listed run nothing either.
    cdp.navigate(&file_url(
        &site.root().join("servers/evil-b-owned-b/index.html"),
    ));
    assert_eq!(cdp.eval("typeof window.__pwned"), json!("undefined"));
    assert_eq!(
        text(&mut cdp, "#policy-missing"),
        "No recommended policy yet."
    );
    cdp.navigate(&file_url(&site.root().join("index.html")));
    cdp.wait_for("window.MCPW && MCPW.loaded === true");
    assert_eq!(cdp.eval("typeof window.__pwned"), json!("undefined"));

    let _ = cdp.try_call("Browser.close", json!({}));
}

/// Servers in the scale test: the "pages stay usable at 50,000 servers".
const SCALE_SERVERS: usize = 50_000;

/// A catalogue of [`SCALE_SERVERS`] servers, one classified tool each, as JSON Lines. The
/// last server's tool has a name no other tool shares, so a search must reach the last
/// data chunk to find it.
fn scale_catalogue() -> String {
    const VERDICTS: [(&str, &str); 5] = [
        ("Read", "Low"),
        ("Write", "Medium"),
        ("Execute", "High"),
        ("Destructive", "Critical"),
        ("Financial", "Critical"),
    ];
    let mut out = String::with_capacity(SCALE_SERVERS * 600);
    for s in 0..SCALE_SERVERS {
        let (category, risk) = VERDICTS[s % VERDICTS.len()];
        let name = if s == SCALE_SERVERS - 1 {
            "rotate_signing_keys_everywhere".to_owned()
        } else {
            format!("get_record_{}", s % 977)
        };
        let line = json!({
            "name": format!("io.github.owner{}/server-{s:05}", s % 997),
            "description": "A synthetic server for the scale test.",
            "tools": [{
                "name": name,
                "description": format!("Reads record {s} of the service and returns it as JSON."),
                "input_schema": {"type": "object", "properties": {
                    "id": {"type": "string", "description": "The record id"}
                }, "required": ["id"]},
                "classification": {
                    "category": category, "risk": risk,
                    "signals": [], "rationale": "Synthetic verdict for the scale test.",
                    "rule_ids": ["scale.test"], "findings": [],
                    "confidence": 0.9, "version": "scale"
                }
            }]
        });
        out.push_str(&line.to_string());
        out.push('\n');
    }
    out
}

/// Where the 100,001-page site goes: a memory-backed folder (`/dev/shm`) when it has room,
/// because creating and then deleting 100,000 files on this kind of virtual disk takes
/// minutes (measured: 300 s to delete the site while other builds ran) and says nothing
/// about the report. Any other place works the same, only slower.
fn scratch_dir_for_many_files() -> tempfile::TempDir {
    const NEEDED_KIB: u64 = 2 * 1024 * 1024;
    let shm = Path::new("/dev/shm");
    let available_kib = Command::new("df")
        .args(["-Pk", "/dev/shm"])
        .output()
        .ok()
        .and_then(|output| {
            let text = String::from_utf8(output.stdout).ok()?;
            text.lines()
                .nth(1)?
                .split_whitespace()
                .nth(3)?
                .parse::<u64>()
                .ok()
        })
        .unwrap_or(0);
    if shm.is_dir() && available_kib >= NEEDED_KIB {
        tempfile::tempdir_in(shm).expect("temp dir in /dev/shm")
    } else {
        eprintln!("/dev/shm has {available_kib} KiB free; writing the scale site to the temp dir");
        tempfile::tempdir().expect("temp dir")
    }
}

fn file_size(path: &Path) -> u64 {
    std::fs::metadata(path)
        .unwrap_or_else(|error| panic!("{}: {error}", path.display()))
        .len()
}

/// At 50,000 servers every page stays small (the index carries no rows itself, the search
/// data is cut into bounded chunks, a server page holds only its own tools), and in
/// Chromium the index shows its first page of results, pages through them and finds a
/// tool that only the last chunk holds.
#[test]
fn the_index_stays_small_and_searchable_at_50000_servers() {
    let started = Instant::now();
    let mut catalog = mcpwarden::catalog::Catalog::open_in_memory().expect("catalogue");
    let imported = mcpwarden::catalog::import_jsonl(
        &mut catalog,
        std::io::Cursor::new(scale_catalogue()),
        &mcpwarden::progress::NoProgress,
    )
    .expect("import");
    assert!(imported.errors.is_empty(), "{:?}", imported.errors);
    let dir = scratch_dir_for_many_files();
    let summary = crate::common::generate_into(&catalog, dir.path());
    drop(catalog);
    eprintln!(
        "scale test: catalogue and site of {SCALE_SERVERS} servers in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    assert_eq!(summary.servers, SCALE_SERVERS as u64);
    assert_eq!(summary.tools, SCALE_SERVERS as u64);
    assert_eq!(summary.pages, 1 + 2 * SCALE_SERVERS as u64);
    let site = dir.path().join("site");

    // The index page is the same few kilobytes whatever the catalogue's size: its rows
    // come from the data chunks.
    let index = file_size(&site.join("index.html"));
    assert!(index < 16 * 1024, "index.html is {index} bytes");
    let mut chunks: Vec<PathBuf> = std::fs::read_dir(site.join("data"))
        .expect("data dir")
        .map(|entry| entry.expect("entry").path())
        .filter(|path| {
            path.file_name()
                .and_then(|name| name.to_str())
                .is_some_and(|name| name.starts_with("servers-"))
        })
        .collect();
    chunks.sort();
    assert_eq!(chunks.len() as u64, summary.data_chunks);
    assert!(
        chunks.len() >= 10,
        "50,000 servers must be split into many chunks, got {}",
        chunks.len()
    );
    let largest = chunks.iter().map(|path| file_size(path)).max().unwrap_or(0);
    assert!(
        largest < 1024 * 1024,
        "the largest data chunk is {largest} bytes"
    );
    let server_page = file_size(&site.join("servers/io-github-owner0-server-00000/index.html"));
    assert!(
        server_page < 16 * 1024,
        "a server page is {server_page} bytes"
    );

    let (_browser, url) = start_browser();
    let mut cdp = Cdp::connect(&url);
    cdp.open_page();
    cdp.navigate(&file_url(&site.join("index.html")));
    // One page of 50 rows is shown (the table never holds the whole catalogue).
    cdp.wait_for("document.querySelectorAll('#results-body tr').length === 50");
    cdp.wait_for("window.MCPW && MCPW.loaded === true");
    assert_eq!(
        cdp.eval("document.querySelectorAll('#results-body tr').length"),
        json!(50)
    );
    assert_eq!(cdp.eval("MCPW.error"), Value::Null);
    let total = cdp.eval("(50000).toLocaleString()");
    let total = total.as_str().expect("a number as text");
    assert_eq!(
        cdp.eval("document.getElementById('status').textContent"),
        json!(format!("{total} of {total} tools match"))
    );
    assert_eq!(
        cdp.eval("document.getElementById('page-info').textContent"),
        json!("page 1 of 1000")
    );
    cdp.eval("document.getElementById('next').click()");
    assert_eq!(
        cdp.eval("document.getElementById('page-info').textContent"),
        json!("page 2 of 1000")
    );
    assert_eq!(result_rows(&mut cdp).len(), 50);

    // A tool only the last chunk holds.
    cdp.eval("document.getElementById('search').focus()");
    cdp.call("Input.insertText", json!({"text": "rotate signing"}));
    cdp.wait_for(&format!(
        "document.getElementById('status').textContent === '1 of {total} tools match'"
    ));
    let rows = result_rows(&mut cdp);
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0][0], "rotate_signing_keys_everywhere");
    assert_eq!(rows[0][1], "io.github.owner149/server-49999");
    cdp.screenshot(&artifacts_dir().join("report-index-50000-servers.png"));

    cdp.eval("document.querySelector('#results-body td.tool-name a').click()");
    cdp.wait_for(
        "location.pathname.endsWith('/rotate-signing-keys-everywhere.html') \
         && document.readyState === 'complete'",
    );
    assert_eq!(
        cdp.eval("document.getElementById('tool-name').textContent"),
        json!("rotate_signing_keys_everywhere")
    );
    let _ = cdp.try_call("Browser.close", json!({}));
    drop(_browser);
    drop(dir);
}
