//! Safe unpacking: every traversal, link and bomb case is refused, nothing is written
//! outside the scratch directory, and good archives unpack completely.

#![expect(
    clippy::unwrap_used,
    reason = "fixture builders: a failure to build a fixture should fail the test loudly"
)]

use std::io::Write;
use std::path::{Path, PathBuf};

use mcpwarden::crawl::unpack::{UnpackError, UnpackLimits, unpack};

/// A tar entry written byte for byte, so tests can say what the tar crate's safe
/// builders refuse to write (`..`, absolute paths, outward links).
struct RawEntry<'a> {
    name: &'a str,
    kind: tar::EntryType,
    link: &'a str,
    data: &'a [u8],
}

fn file<'a>(name: &'a str, data: &'a [u8]) -> RawEntry<'a> {
    RawEntry {
        name,
        kind: tar::EntryType::Regular,
        link: "",
        data,
    }
}

fn link<'a>(name: &'a str, target: &'a str, kind: tar::EntryType) -> RawEntry<'a> {
    RawEntry {
        name,
        kind,
        link: target,
        data: b"",
    }
}

fn tar_gz(dir: &Path, entries: &[RawEntry]) -> PathBuf {
    let path = dir.join("archive.tgz");
    let encoder = flate2::write::GzEncoder::new(
        std::fs::File::create(&path).unwrap(),
        flate2::Compression::fast(),
    );
    let mut builder = tar::Builder::new(encoder);
    for entry in entries {
        let mut header = tar::Header::new_gnu();
        {
            let gnu = header.as_gnu_mut().unwrap();
            gnu.name[..entry.name.len()].copy_from_slice(entry.name.as_bytes());
            gnu.linkname[..entry.link.len()].copy_from_slice(entry.link.as_bytes());
        }
        header.set_entry_type(entry.kind);
        header.set_size(entry.data.len() as u64);
        header.set_mode(0o644);
        header.set_cksum();
        builder.append(&header, entry.data).unwrap();
    }
    builder.into_inner().unwrap().finish().unwrap();
    path
}

fn zip_file(dir: &Path, build: impl FnOnce(&mut zip::ZipWriter<std::fs::File>)) -> PathBuf {
    let path = dir.join("archive.whl");
    let mut writer = zip::ZipWriter::new(std::fs::File::create(&path).unwrap());
    build(&mut writer);
    writer.finish().unwrap();
    path
}

fn options() -> zip::write::SimpleFileOptions {
    zip::write::SimpleFileOptions::default()
}

/// Every path under `dir`, sorted, to prove nothing appeared outside the scratch tree.
fn listing(dir: &Path) -> Vec<PathBuf> {
    let mut paths = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(next) = stack.pop() {
        for entry in std::fs::read_dir(&next).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() && !path.is_symlink() {
                stack.push(path.clone());
            }
            paths.push(path);
        }
    }
    paths.sort();
    paths
}

/// Unpacks into `<tmp>/deep/scratch` and checks that a refusal leaves `<tmp>` as it was
/// (apart from the archive) and the scratch folder gone.
fn refused(archive: &Path, tmp: &Path, limits: UnpackLimits) -> UnpackError {
    let before = listing(tmp);
    let scratch = tmp.join("deep/scratch");
    let error = unpack(archive, &scratch, limits).expect_err("must be refused");
    assert!(
        !scratch.exists(),
        "a refused archive leaves no scratch tree"
    );
    let after: Vec<PathBuf> = listing(tmp)
        .into_iter()
        .filter(|path| !path.starts_with(tmp.join("deep")))
        .collect();
    assert_eq!(
        before, after,
        "nothing was written outside the scratch directory"
    );
    error
}

#[test]
fn a_package_tarball_unpacks_completely() {
    let tmp = tempfile::tempdir().unwrap();
    let archive = tar_gz(
        tmp.path(),
        &[
            file("package/package.json", br#"{"name": "x"}"#),
            file("package/dist/index.js", b"console.log(1)"),
            file("./package/README.md", b"# x"),
        ],
    );
    let scratch = tmp.path().join("out");
    let report = unpack(&archive, &scratch, UnpackLimits::default()).unwrap();
    assert_eq!(report.files, 3);
    assert_eq!(
        std::fs::read_to_string(scratch.join("package/dist/index.js")).unwrap(),
        "console.log(1)"
    );
    assert_eq!(report.bytes, 13 + 14 + 3);
}

#[test]
fn a_wheel_unpacks_completely() {
    let tmp = tempfile::tempdir().unwrap();
    let archive = zip_file(tmp.path(), |zip| {
        zip.add_directory("server/", options()).unwrap();
        zip.start_file("server/__init__.py", options()).unwrap();
        zip.write_all(b"from mcp.server.fastmcp import FastMCP\n")
            .unwrap();
        zip.start_file("server-1.0.dist-info/METADATA", options())
            .unwrap();
        zip.write_all(b"Name: server\n").unwrap();
    });
    let scratch = tmp.path().join("out");
    let report = unpack(&archive, &scratch, UnpackLimits::default()).unwrap();
    assert_eq!((report.files, report.directories), (2, 1));
    assert!(
        std::fs::read_to_string(scratch.join("server/__init__.py"))
            .unwrap()
            .contains("FastMCP")
    );
}

#[test]
fn tar_path_traversal_is_refused() {
    for name in [
        "../evil.txt",
        "package/../../evil.txt",
        "a/b/../../../evil.txt",
    ] {
        let tmp = tempfile::tempdir().unwrap();
        let archive = tar_gz(
            tmp.path(),
            &[file("package/ok.txt", b"fine"), file(name, b"pwned")],
        );
        let error = refused(&archive, tmp.path(), UnpackLimits::default());
        assert!(
            matches!(error, UnpackError::PathTraversal { .. }),
            "{name}: {error}"
        );
        assert!(
            error.to_string().contains(name),
            "the message names the entry: {error}"
        );
    }
}

#[test]
fn tar_absolute_paths_are_refused() {
    for name in ["/tmp/mcpwarden-evil.txt", "C:\\evil.txt", "\\evil.txt"] {
        let tmp = tempfile::tempdir().unwrap();
        let archive = tar_gz(tmp.path(), &[file(name, b"pwned")]);
        let error = refused(&archive, tmp.path(), UnpackLimits::default());
        assert!(
            matches!(error, UnpackError::AbsolutePath { .. }),
            "{name}: {error}"
        );
    }
    assert!(!Path::new("/tmp/mcpwarden-evil.txt").exists());
}

#[test]
fn links_out_of_the_tree_are_refused() {
    for (name, target, kind) in [
        ("package/passwd", "/etc/passwd", tar::EntryType::Symlink),
        ("package/up", "../../outside", tar::EntryType::Symlink),
        ("package/hard", "../outside", tar::EntryType::Link),
        ("package/hard-abs", "/etc/shadow", tar::EntryType::Link),
    ] {
        let tmp = tempfile::tempdir().unwrap();
        let archive = tar_gz(tmp.path(), &[link(name, target, kind)]);
        let error = refused(&archive, tmp.path(), UnpackLimits::default());
        assert!(
            matches!(error, UnpackError::LinkOutOfTree { .. }),
            "{name}: {error}"
        );
        assert!(error.to_string().contains(target), "{error}");
    }
}

#[test]
fn links_inside_the_tree_are_skipped_not_created() {
    let tmp = tempfile::tempdir().unwrap();
    let archive = tar_gz(
        tmp.path(),
        &[
            file("package/real.js", b"x"),
            link(
                "package/lib/alias.js",
                "../real.js",
                tar::EntryType::Symlink,
            ),
            // Then a file whose path runs through where the link would have been.
            file("package/lib/alias.js", b"replaced"),
        ],
    );
    let scratch = tmp.path().join("out");
    let report = unpack(&archive, &scratch, UnpackLimits::default()).unwrap();
    assert_eq!(report.skipped.len(), 1);
    let alias = scratch.join("package/lib/alias.js");
    assert!(!alias.is_symlink());
    assert_eq!(std::fs::read_to_string(alias).unwrap(), "replaced");
    assert_eq!(
        std::fs::read_to_string(scratch.join("package/real.js")).unwrap(),
        "x"
    );
}

#[test]
fn special_files_are_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let archive = tar_gz(
        tmp.path(),
        &[link("package/fifo", "", tar::EntryType::Fifo)],
    );
    let error = refused(&archive, tmp.path(), UnpackLimits::default());
    assert!(
        matches!(error, UnpackError::SpecialEntry { kind: "FIFO", .. }),
        "{error}"
    );
}

#[test]
fn size_bombs_are_refused_by_bytes_written() {
    let limits = UnpackLimits {
        max_total_bytes: 100_000,
        max_file_bytes: 60_000,
        ..UnpackLimits::default()
    };
    let big = vec![0u8; 60_001];
    let tmp = tempfile::tempdir().unwrap();
    let archive = tar_gz(tmp.path(), &[file("package/big.bin", &big)]);
    let error = refused(&archive, tmp.path(), limits);
    assert!(
        matches!(error, UnpackError::FileTooLarge { limit: 60_000, .. }),
        "{error}"
    );

    // Each file fits; together they do not.
    let part = vec![0u8; 40_000];
    let tmp = tempfile::tempdir().unwrap();
    let archive = tar_gz(
        tmp.path(),
        &[
            file("package/a", &part),
            file("package/b", &part),
            file("package/c", &part),
        ],
    );
    let error = refused(&archive, tmp.path(), limits);
    assert!(
        matches!(error, UnpackError::TotalTooLarge { limit: 100_000, .. }),
        "{error}"
    );

    // A zip of highly compressible data: small on disk, large unpacked.
    let tmp = tempfile::tempdir().unwrap();
    let archive = zip_file(tmp.path(), |zip| {
        zip.start_file("bomb.bin", options()).unwrap();
        zip.write_all(&vec![0u8; 500_000]).unwrap();
    });
    assert!(
        std::fs::metadata(&archive).unwrap().len() < 5_000,
        "the bomb is small on disk"
    );
    let error = refused(&archive, tmp.path(), limits);
    assert!(matches!(error, UnpackError::FileTooLarge { .. }), "{error}");

    // Exactly at the cap is fine.
    let tmp = tempfile::tempdir().unwrap();
    let exact = vec![1u8; 60_000];
    let archive = tar_gz(tmp.path(), &[file("package/exact.bin", &exact)]);
    unpack(&archive, &tmp.path().join("out"), limits).unwrap();
}

#[test]
fn file_count_bombs_are_refused() {
    let limits = UnpackLimits {
        max_entries: 100,
        ..UnpackLimits::default()
    };
    let names: Vec<String> = (0..101).map(|i| format!("package/f{i}")).collect();
    let tmp = tempfile::tempdir().unwrap();
    let entries: Vec<RawEntry> = names.iter().map(|name| file(name, b"")).collect();
    let archive = tar_gz(tmp.path(), &entries);
    let error = refused(&archive, tmp.path(), limits);
    assert!(
        matches!(error, UnpackError::TooManyEntries { limit: 100, .. }),
        "{error}"
    );

    let tmp = tempfile::tempdir().unwrap();
    let archive = zip_file(tmp.path(), |zip| {
        for name in &names {
            zip.start_file(name.as_str(), options()).unwrap();
        }
    });
    let error = refused(&archive, tmp.path(), limits);
    assert!(
        matches!(error, UnpackError::TooManyEntries { .. }),
        "{error}"
    );
}

#[test]
fn zip_traversal_absolute_and_symlinks_are_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let archive = zip_file(tmp.path(), |zip| {
        zip.start_file("../../evil.py", options()).unwrap();
        zip.write_all(b"pwned").unwrap();
    });
    assert!(matches!(
        refused(&archive, tmp.path(), UnpackLimits::default()),
        UnpackError::PathTraversal { .. }
    ));

    let tmp = tempfile::tempdir().unwrap();
    let archive = zip_file(tmp.path(), |zip| {
        zip.start_file("/etc/cron.d/evil", options()).unwrap();
    });
    assert!(matches!(
        refused(&archive, tmp.path(), UnpackLimits::default()),
        UnpackError::AbsolutePath { .. }
    ));

    let tmp = tempfile::tempdir().unwrap();
    let archive = zip_file(tmp.path(), |zip| {
        zip.add_symlink("pkg/link", "../../../etc/passwd", options())
            .unwrap();
    });
    assert!(matches!(
        refused(&archive, tmp.path(), UnpackLimits::default()),
        UnpackError::LinkOutOfTree { .. }
    ));
}

#[test]
fn deep_nesting_is_refused() {
    let limits = UnpackLimits {
        max_depth: 10,
        ..UnpackLimits::default()
    };
    let deep = format!("{}f", "d/".repeat(10));
    let tmp = tempfile::tempdir().unwrap();
    let archive = tar_gz(tmp.path(), &[file(&deep, b"x")]);
    assert!(matches!(
        refused(&archive, tmp.path(), limits),
        UnpackError::TooDeep { limit: 10, .. }
    ));
}

#[test]
fn damaged_and_unknown_archives_are_clear_errors() {
    let tmp = tempfile::tempdir().unwrap();
    let text = tmp.path().join("notes.tgz");
    std::fs::write(&text, "not an archive").unwrap();
    let error = unpack(&text, &tmp.path().join("out"), UnpackLimits::default()).unwrap_err();
    assert!(
        matches!(error, UnpackError::UnknownFormat { .. }),
        "{error}"
    );
    assert!(error.to_string().contains("notes.tgz"));

    let archive = tar_gz(tmp.path(), &[file("package/a.js", &vec![7u8; 20_000])]);
    let bytes = std::fs::read(&archive).unwrap();
    let truncated = tmp.path().join("truncated.tgz");
    std::fs::write(&truncated, &bytes[..bytes.len() / 2]).unwrap();
    let error = unpack(
        &truncated,
        &tmp.path().join("out2"),
        UnpackLimits::default(),
    )
    .unwrap_err();
    assert!(matches!(error, UnpackError::Corrupt { .. }), "{error}");
    assert!(!tmp.path().join("out2").exists());
}
