//! `veil certs` as a user runs it: the files it writes, their modes, and its refusals.

use std::os::unix::fs::PermissionsExt;
use std::process::{Command, Output};

fn veil(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_veil")).args(args).output().expect("run veil")
}

fn mode(path: &std::path::Path) -> u32 {
    std::fs::metadata(path).expect("metadata").permissions().mode() & 0o777
}

#[test]
fn certs_init_and_issue_write_a_working_pki() {
    let tmp = tempfile::tempdir().expect("temp dir");
    let dir = tmp.path().join("pki");
    let dir_s = dir.to_str().expect("utf-8 path");
    let out = veil(&["certs", "init", "--dir", dir_s, "--parties", "party-0,party-1,party-2"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(mode(&dir), 0o700);
    assert_eq!(mode(&dir.join("ca.key")), 0o600);
    assert!(dir.join("ca.pem").is_file());
    for party in ["party-0", "party-1", "party-2"] {
        assert_eq!(mode(&dir.join(format!("{party}.key"))), 0o600);
        assert!(dir.join(format!("{party}.pem")).is_file());
        let id = veil_transport::Identity::load(&dir, party).expect("the issued files load");
        assert_eq!(id.name(), party);
    }

    let out = veil(&["certs", "issue", "--dir", dir_s, "--party", "party-3"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(mode(&dir.join("party-3.key")), 0o600);
    veil_transport::Identity::load(&dir, "party-3").expect("the issued files load");

    let key_before = std::fs::read(dir.join("party-1.key")).expect("read");
    let out = veil(&["certs", "issue", "--dir", dir_s, "--party", "party-1"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("already exists"));
    assert_eq!(std::fs::read(dir.join("party-1.key")).expect("read"), key_before);

    let out = veil(&["certs", "init", "--dir", dir_s, "--parties", "party-9"]);
    assert!(!out.status.success(), "an existing CA is never replaced");
}

#[test]
fn certs_refuses_bad_names() {
    let tmp = tempfile::tempdir().expect("temp dir");
    let dir = tmp.path().join("pki");
    let dir_s = dir.to_str().expect("utf-8 path");
    for parties in ["Party-1", "a,a", "../x", "ca"] {
        let out = veil(&["certs", "init", "--dir", dir_s, "--parties", parties]);
        assert!(!out.status.success(), "{parties}");
        assert!(!dir.join("ca.key").exists(), "nothing is written for {parties}");
    }
    let out = veil(&["certs", "--help"]);
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).contains("init"));
}
