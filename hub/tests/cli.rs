//! The `hub` command line: bad flags get one line and a non-zero exit; a
//! port in use is a clear runtime error; `--help` documents every default.

use std::process::Command;

fn hub(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_hub"))
        .args(args)
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn bad_flags_get_one_line_and_exit_2() {
    for args in [
        &["--tcp-port", "x"][..],
        &["--bind", "nowhere"],
        &["--cycle-timeout", "3 parsecs"],
        &["--cycle-len", "65"],
        &["--no-such-flag"],
        &["--max-line", "10"],
    ] {
        let (code, out, err) = hub(args);
        assert_eq!(code, 2, "{args:?}: {err}");
        assert!(out.is_empty());
        assert_eq!(err.lines().count(), 1, "{args:?}: {err:?}");
        assert!(err.starts_with("hub: "), "{err}");
    }
}

#[test]
fn a_port_in_use_is_a_clear_error() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port().to_string();
    let (code, _, err) = hub(&[
        "--tcp-port",
        &port,
        "--udp-port",
        "0",
        "--admin-port",
        "0",
        "--log-file",
        "/dev/null",
    ]);
    assert_eq!(code, 1);
    assert!(
        err.starts_with(&format!("hub: cannot bind TCP 127.0.0.1:{port}:")),
        "{err}"
    );
}

#[test]
fn help_shows_the_defaults() {
    let (code, out, _) = hub(&["--help"]);
    assert_eq!(code, 0);
    for d in [
        "[default: 127.0.0.1]",
        "[default: 5050]",
        "[default: 6060]",
        "[default: 5051]",
        "[default: server_log.txt]",
        "[default: 3s]",
        "[default: 10s]",
        "--classic",
    ] {
        assert!(out.contains(d), "--help lacks {d}");
    }
}
