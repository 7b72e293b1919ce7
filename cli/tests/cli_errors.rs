//! What an operator sees when a command fails: one line on stderr with what failed and why,
//! exit status 1 — never a `Debug` dump of an AWS SDK error.

use std::net::TcpListener;
use std::process::Command;

/// A loopback port with nothing listening on it: the listener is bound, its port read, then
/// dropped, so a connection there is refused at once.
fn closed_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    listener.local_addr().expect("addr").port()
}

#[test]
fn meta_check_with_ssm_unreachable_says_so_in_one_line() {
    let endpoint = format!("http://127.0.0.1:{}", closed_port());
    let out = Command::new(env!("CARGO_BIN_EXE_leadsync"))
        .args(["meta", "check", "--page", "1234567890"])
        .env_clear()
        .env(
            "META_PAGE_ACCESS_TOKEN_PARAM",
            "/leadsync/meta-page-access-token",
        )
        .env("AWS_ENDPOINT_URL", &endpoint)
        .env("AWS_REGION", "us-east-1")
        .env("AWS_ACCESS_KEY_ID", "test")
        .env("AWS_SECRET_ACCESS_KEY", "test")
        .env("AWS_MAX_ATTEMPTS", "1")
        .env("CALLTOOLS_BASE_URL", "http://127.0.0.1:9")
        .env("CALLTOOLS_API_KEY", "unused")
        .output()
        .expect("leadsync runs");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    let lines: Vec<&str> = stderr.lines().collect();
    assert_eq!(lines.len(), 1, "one line: {stderr}");
    let line = lines[0];
    assert!(line.starts_with("leadsync: "), "{line}");
    assert!(
        line.contains("/leadsync/meta-page-access-token"),
        "names what failed: {line}"
    );
    for debug in ["DispatchFailure", "ConnectorError", " { ", "Some(", "kind:"] {
        assert!(!line.contains(debug), "no Debug dump ({debug}): {line}");
    }
}

#[test]
fn a_command_with_no_stack_to_work_on_says_how_to_name_one() {
    let dir = std::env::temp_dir().join(format!("leadsync-no-stack-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let out = Command::new(env!("CARGO_BIN_EXE_leadsync"))
        .args(["trace", "--source", "ghl", "abc123"])
        .current_dir(&dir)
        .env_clear()
        .output()
        .expect("leadsync runs");
    let _ = std::fs::remove_dir(&dir);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    let lines: Vec<&str> = stderr.lines().collect();
    assert_eq!(lines.len(), 1, "one line: {stderr}");
    assert!(
        lines[0].starts_with("leadsync: no stack to work on"),
        "{stderr}"
    );
    assert!(lines[0].contains("--stack NAME"), "{stderr}");
}
