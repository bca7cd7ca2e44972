//! npm and PyPI sources against a fixture registry on 127.0.0.1: metadata, archive
//! download, unpacking.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, Uri};
use axum::response::IntoResponse;
use mcpwarden::crawl::http::{HttpClient, HttpConfig};
use mcpwarden::crawl::packages::{PackageError, download_and_unpack, npm_package, pypi_package};
use mcpwarden::crawl::unpack::UnpackLimits;
use serde_json::json;

type Files = Arc<HashMap<String, Vec<u8>>>;

/// Binds the fixture's port first, so the documents it serves can name its own URL.
async fn bind() -> (tokio::net::TcpListener, String) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    (listener, base)
}

/// Serves fixed bodies by exact request path (percent-encoding kept), 404 otherwise, and
/// records the paths asked for.
fn serve(
    listener: tokio::net::TcpListener,
    files: HashMap<String, Vec<u8>>,
) -> Arc<Mutex<Vec<String>>> {
    let asked = Arc::new(Mutex::new(Vec::new()));
    let state = (Arc::new(files), asked.clone());
    let app = Router::new()
        .fallback(
            |State((files, asked)): State<(Files, Arc<Mutex<Vec<String>>>)>, uri: Uri| async move {
                asked.lock().unwrap().push(uri.path().to_owned());
                match files.get(uri.path()) {
                    Some(body) => body.clone().into_response(),
                    None => StatusCode::NOT_FOUND.into_response(),
                }
            },
        )
        .with_state(state);
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    asked
}

fn tar_gz(entries: &[(&str, &str)]) -> Vec<u8> {
    let mut builder = tar::Builder::new(flate2::write::GzEncoder::new(
        Vec::new(),
        flate2::Compression::fast(),
    ));
    for (path, content) in entries {
        let mut header = tar::Header::new_gnu();
        header.set_size(content.len() as u64);
        header.set_mode(0o644);
        builder
            .append_data(&mut header, path, content.as_bytes())
            .unwrap();
    }
    builder.into_inner().unwrap().finish().unwrap()
}

fn client() -> HttpClient {
    HttpClient::new(HttpConfig::default(), None).unwrap()
}

#[tokio::test]
async fn an_npm_package_is_found_by_name_and_its_tarball_unpacked() {
    let tarball = tar_gz(&[
        ("package/package.json", r#"{"name": "@acme/demo-mcp"}"#),
        (
            "package/dist/index.js",
            "server.tool('ping', async () => ({}))",
        ),
    ]);
    let (listener, base) = bind().await;
    let packument = json!({
        "name": "@acme/demo-mcp",
        "dist-tags": {"latest": "1.2.0", "next": "2.0.0-beta"},
        "versions": {
            "1.1.0": {"dist": {"tarball": format!("{base}/tarballs/old.tgz")}},
            "1.2.0": {
                "description": "Demo MCP server",
                "repository": {"type": "git", "url": "git+https://github.com/Acme/demo-mcp.git"},
                "license": "MIT",
                "dist": {"tarball": format!("{base}/tarballs/demo-mcp-1.2.0.tgz")}
            },
            "2.0.0-beta": {"dist": {"tarball": format!("{base}/tarballs/beta.tgz")}}
        },
        "time": {"1.2.0": "2026-03-04T05:06:07.000Z"}
    });
    let asked = serve(
        listener,
        HashMap::from([
            (
                "/@acme%2Fdemo-mcp".to_owned(),
                packument.to_string().into_bytes(),
            ),
            ("/tarballs/demo-mcp-1.2.0.tgz".to_owned(), tarball),
        ]),
    );
    let found = npm_package(&client(), &base, "@acme/demo-mcp")
        .await
        .unwrap();
    assert_eq!(
        found.version, "1.2.0",
        "dist-tags.latest, not the newest version"
    );
    assert_eq!(found.record.name, "@acme/demo-mcp", "named by its package");
    assert_eq!(
        found.record.repository.as_deref(),
        Some("https://github.com/acme/demo-mcp")
    );
    assert_eq!(found.record.packages, ["pkg:npm/%40acme/demo-mcp@1.2.0"]);
    assert_eq!(found.record.description.as_deref(), Some("Demo MCP server"));
    assert_eq!(found.record.license.as_deref(), Some("MIT"));
    assert_eq!(
        found.record.last_commit.as_deref(),
        Some("2026-03-04T05:06:07.000Z")
    );
    assert_eq!(found.record.sources[0].source, "npm");

    let scratch = tempfile::tempdir().unwrap();
    let report = download_and_unpack(
        &client(),
        &found.archive_url,
        scratch.path(),
        UnpackLimits::default(),
    )
    .await
    .unwrap();
    assert_eq!(report.files, 2);
    let index = std::fs::read_to_string(scratch.path().join("tree/package/dist/index.js")).unwrap();
    assert!(index.contains("server.tool('ping'"));
    assert_eq!(
        asked.lock().unwrap().as_slice(),
        ["/@acme%2Fdemo-mcp", "/tarballs/demo-mcp-1.2.0.tgz"]
    );
}

#[tokio::test]
async fn a_pypi_project_prefers_its_sdist() {
    let sdist = tar_gz(&[(
        "demo_mcp-0.3.0/demo_mcp/server.py",
        "@mcp.tool()\ndef ping(): ...\n",
    )]);
    let (listener, base) = bind().await;
    let project = json!({
        "info": {
            "name": "demo-mcp", "version": "0.3.0", "summary": "Demo server",
            "license": "Apache-2.0", "home_page": null,
            "project_urls": {"Documentation": "https://docs.example.com", "Source": "https://github.com/acme/demo-py"}
        },
        "urls": [
            {"packagetype": "bdist_wheel", "url": format!("{base}/files/demo_mcp-0.3.0-py3-none-any.whl"), "upload_time_iso_8601": "2026-01-01T00:00:00Z"},
            {"packagetype": "sdist", "url": format!("{base}/files/demo_mcp-0.3.0.tar.gz"), "upload_time_iso_8601": "2026-01-02T00:00:00Z"}
        ]
    });
    serve(
        listener,
        HashMap::from([
            (
                "/pypi/demo-mcp/json".to_owned(),
                project.to_string().into_bytes(),
            ),
            ("/files/demo_mcp-0.3.0.tar.gz".to_owned(), sdist),
        ]),
    );
    let found = pypi_package(&client(), &base, "demo-mcp").await.unwrap();
    assert_eq!(found.version, "0.3.0");
    assert_eq!(
        found.archive_url,
        format!("{base}/files/demo_mcp-0.3.0.tar.gz"),
        "the sdist, not the wheel"
    );
    assert_eq!(found.record.name, "demo-mcp", "named by its project");
    assert_eq!(
        found.record.repository.as_deref(),
        Some("https://github.com/acme/demo-py")
    );
    assert_eq!(found.record.packages, ["pkg:pypi/demo-mcp@0.3.0"]);
    assert_eq!(
        found.record.last_commit.as_deref(),
        Some("2026-01-02T00:00:00Z")
    );

    let scratch = tempfile::tempdir().unwrap();
    download_and_unpack(
        &client(),
        &found.archive_url,
        scratch.path(),
        UnpackLimits::default(),
    )
    .await
    .unwrap();
    assert!(
        scratch
            .path()
            .join("tree/demo_mcp-0.3.0/demo_mcp/server.py")
            .exists()
    );
}

#[tokio::test]
async fn missing_packages_and_bad_metadata_are_named() {
    let (listener, base) = bind().await;
    serve(
        listener,
        HashMap::from([
            ("/broken".to_owned(), b"<html>not json</html>".to_vec()),
            (
                "/no-versions".to_owned(),
                br#"{"name": "no-versions", "versions": {}}"#.to_vec(),
            ),
        ]),
    );
    let error = npm_package(&client(), &base, "missing").await.unwrap_err();
    assert!(error.to_string().contains("/missing: 404"), "{error}");
    let error = npm_package(&client(), &base, "broken").await.unwrap_err();
    assert!(matches!(error, PackageError::BadMetadata { .. }), "{error}");
    let error = npm_package(&client(), &base, "no-versions")
        .await
        .unwrap_err();
    assert_eq!(
        error.to_string(),
        "no-versions: the registry lists no version to fetch"
    );
}
