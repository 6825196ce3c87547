//! The CA, the issued files and how identities load them.

use std::os::unix::fs::PermissionsExt;

use veil_transport::{pki, Identity, TransportError};

fn mode(path: &std::path::Path) -> u32 {
    std::fs::metadata(path).expect("metadata").permissions().mode() & 0o777
}

#[test]
fn create_local_writes_owner_only_keys() {
    let dir = tempfile::tempdir().expect("temp dir");
    pki::create_local(dir.path(), &["party-1", "party-2"]).expect("PKI");
    assert_eq!(mode(&dir.path().join("ca.key")), 0o600);
    for party in ["party-1", "party-2"] {
        assert_eq!(mode(&pki::key_path(dir.path(), party)), 0o600);
        assert!(pki::cert_path(dir.path(), party).is_file());
        let id = Identity::load(dir.path(), party).expect("load");
        assert_eq!(id.name(), party);
        assert_eq!(id.certificate_chain().len(), 1);
        assert!(!format!("{id:?}").contains("PRIVATE"));
    }
}

#[test]
fn a_key_readable_by_others_is_refused() {
    let dir = tempfile::tempdir().expect("temp dir");
    pki::create_local(dir.path(), &["party-1"]).expect("PKI");
    let key = pki::key_path(dir.path(), "party-1");
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o640)).expect("chmod");
    let err = Identity::load(dir.path(), "party-1").expect_err("group-readable key");
    assert!(matches!(err, TransportError::KeyFilePermissions { mode: 0o640, .. }), "{err}");
    assert!(err.to_string().contains("chmod 600"), "{err}");
    // Issuing with a CA key readable by others is refused as well.
    std::fs::set_permissions(dir.path().join("ca.key"), std::fs::Permissions::from_mode(0o644)).expect("chmod");
    assert!(matches!(pki::issue(dir.path(), "party-2"), Err(TransportError::KeyFilePermissions { .. })));
}

#[test]
fn existing_files_are_never_overwritten() {
    let dir = tempfile::tempdir().expect("temp dir");
    pki::create_local(dir.path(), &["party-1"]).expect("PKI");
    let before = std::fs::read(pki::key_path(dir.path(), "party-1")).expect("read");
    assert!(matches!(pki::issue(dir.path(), "party-1"), Err(TransportError::AlreadyExists { .. })));
    assert!(matches!(pki::create_ca(dir.path(), "again"), Err(TransportError::AlreadyExists { .. })));
    assert_eq!(std::fs::read(pki::key_path(dir.path(), "party-1")).expect("read"), before);
    pki::issue(dir.path(), "party-2").expect("a new party can still be issued");
    Identity::load(dir.path(), "party-2").expect("load the new party");
}

#[test]
fn files_that_do_not_match_are_refused() {
    let dir = tempfile::tempdir().expect("temp dir");
    pki::create_local(dir.path(), &["party-1", "party-2"]).expect("PKI");
    let err = Identity::load(dir.path(), "party-3").expect_err("no such party");
    assert!(matches!(&err, TransportError::ReadFile { path, .. } if path.ends_with("party-3.pem")), "{err}");
    // party-1's files are replaced by party-2's certificate with party-1's key.
    std::fs::copy(pki::cert_path(dir.path(), "party-2"), pki::cert_path(dir.path(), "party-1")).expect("copy");
    let err = Identity::load(dir.path(), "party-1").expect_err("certificate for another name");
    assert!(matches!(&err, TransportError::CertificateName { found, .. } if found == "party-2"), "{err}");
    std::fs::write(dir.path().join("ca.pem"), b"not pem").expect("write");
    assert!(matches!(Identity::load(dir.path(), "party-2"), Err(TransportError::Pem { .. })));
    assert!(matches!(pki::create_local(dir.path(), &["a", "a"]), Err(TransportError::InvalidName { .. })));
}

#[test]
fn a_key_that_does_not_match_its_certificate_is_refused() {
    let dir = tempfile::tempdir().expect("temp dir");
    pki::create_local(dir.path(), &["party-1", "party-2"]).expect("PKI");
    let key1 = pki::key_path(dir.path(), "party-1");
    std::fs::remove_file(&key1).expect("rm");
    std::fs::copy(pki::key_path(dir.path(), "party-2"), &key1).expect("copy");
    std::fs::set_permissions(&key1, std::fs::Permissions::from_mode(0o600)).expect("chmod");
    let err = Identity::load(dir.path(), "party-1").expect_err("key of party-2");
    assert!(matches!(err, TransportError::TlsConfig { .. }), "{err}");
}
