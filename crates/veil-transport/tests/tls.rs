//! Mutually authenticated TLS links over loopback: traffic, counters and every refusal.

use std::net::{SocketAddr, TcpListener};
use std::path::Path;
use std::thread;
use std::time::{Duration, Instant};

use veil_channel::FRAME_HEADER_BYTES;
use veil_transport::{
    connect, connect_with, pki, Channel, ChannelConfig, ChannelError, Fingerprint, Identity, LinkOptions, Listener, TransportError,
};

fn config(timeout_ms: u64) -> ChannelConfig {
    ChannelConfig::new(Fingerprint([5; 16])).with_timeout(Duration::from_millis(timeout_ms))
}

fn loopback() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 0))
}

fn pki_dir(parties: &[&str]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("temp dir");
    pki::create_local(dir.path(), parties).expect("create PKI");
    dir
}

fn identity(dir: &Path, party: &str) -> Identity {
    Identity::load(dir, party).expect("load identity")
}

#[test]
fn messages_cross_a_tls_link_and_are_counted() {
    let dir = pki_dir(&["party-a", "party-b"]);
    let a = identity(dir.path(), "party-a");
    let b = identity(dir.path(), "party-b");
    let listener = Listener::bind(loopback(), &b).expect("bind");
    let addr = listener.local_addr();
    let big: Vec<u8> = (0..700_000u32).map(|i| (i * 31 % 251) as u8).collect();
    let expected = big.clone();
    let server = thread::spawn(move || {
        let (mut ch, name) = listener.accept(config(5000)).expect("accept");
        assert_eq!(name, "party-a");
        assert_eq!(ch.peer(), "party-a");
        assert_eq!(ch.recv().expect("recv small"), b"ping");
        assert_eq!(ch.recv().expect("recv big"), expected);
        ch.send(b"pong").expect("send");
        ch.send(b"").expect("send empty");
        ch.flush().expect("flush");
        assert_eq!(ch.recv().expect("recv last"), b"bye");
        ch.stats()
    });
    let mut ch = connect(addr, "party-b", &a, config(5000)).expect("connect");
    assert_eq!(ch.peer(), "party-b");
    assert_eq!(ch.get_ref().cipher_suite().as_deref(), Some("TLS13_AES_128_GCM_SHA256"));
    ch.send(b"ping").expect("send");
    ch.send(&big).expect("send big");
    assert_eq!(ch.recv().expect("recv"), b"pong");
    assert_eq!(ch.recv().expect("recv empty"), b"");
    ch.send(b"bye").expect("send");
    ch.flush().expect("flush");
    let server_stats = server.join().expect("server thread");
    let stats = ch.stats();
    let h = FRAME_HEADER_BYTES as u64;
    assert_eq!(stats.messages_sent, 3);
    assert_eq!(stats.messages_received, 2);
    assert_eq!(stats.bytes_sent, 3 * h + 4 + big.len() as u64 + 3);
    assert_eq!(stats.bytes_received, 2 * h + 4);
    assert_eq!(stats.rounds, 2);
    assert_eq!(server_stats.rounds, 1);
    assert_eq!(server_stats.bytes_received, stats.bytes_sent);
    assert_eq!(server_stats.bytes_sent, stats.bytes_received);
}

#[test]
fn a_server_from_another_ca_is_refused() {
    let ours = pki_dir(&["party-a", "party-b"]);
    let theirs = pki_dir(&["party-b"]);
    let a = identity(ours.path(), "party-a");
    let impostor = identity(theirs.path(), "party-b");
    let listener = Listener::bind(loopback(), &impostor).expect("bind");
    let addr = listener.local_addr();
    let server = thread::spawn(move || listener.accept(config(3000)).map(|(_, name)| name));
    let err = connect(addr, "party-b", &a, config(3000)).expect_err("must refuse");
    assert!(matches!(&err, TransportError::Handshake { peer, .. } if peer == "party-b"), "{err}");
    // Both test CAs share a name, so the chain fails on the signature rather than the issuer.
    assert!(err.to_string().contains("certificate is not acceptable"), "{err}");
    let server_err = server.join().expect("server thread").expect_err("server must fail too");
    assert!(matches!(server_err, TransportError::Handshake { .. }), "{server_err}");
}

#[test]
fn a_client_from_another_ca_is_refused() {
    let ours = pki_dir(&["party-a", "party-b"]);
    let theirs = pki_dir(&["party-a"]);
    let b = identity(ours.path(), "party-b");
    let listener = Listener::bind(loopback(), &b).expect("bind");
    let addr = listener.local_addr();
    // The impostor trusts our CA (it copied ca.pem) but holds a certificate from its own.
    std::fs::remove_file(theirs.path().join("ca.pem")).expect("remove");
    std::fs::copy(ours.path().join("ca.pem"), theirs.path().join("ca.pem")).expect("copy");
    let impostor = identity(theirs.path(), "party-a");
    let server = thread::spawn(move || listener.accept(config(3000)).map(|(_, name)| name));
    let err = connect(addr, "party-b", &impostor, config(3000)).expect_err("must refuse");
    assert!(matches!(err, TransportError::Handshake { .. }), "{err}");
    let server_err = server.join().expect("server thread").expect_err("server must refuse");
    assert!(
        matches!(&server_err, TransportError::Handshake { reason, .. } if reason.contains("certificate is not acceptable")),
        "{server_err}"
    );
}

#[test]
fn a_server_with_another_name_is_refused() {
    let dir = pki_dir(&["party-a", "party-b", "party-c"]);
    let a = identity(dir.path(), "party-a");
    let b = identity(dir.path(), "party-b");
    let listener = Listener::bind(loopback(), &b).expect("bind");
    let addr = listener.local_addr();
    let server = thread::spawn(move || listener.accept(config(3000)).map(|(_, name)| name));
    let err = connect(addr, "party-c", &a, config(3000)).expect_err("party-b is not party-c");
    assert!(matches!(&err, TransportError::Handshake { reason, .. } if reason.contains("NotValidForName")), "{err}");
    assert!(server.join().expect("server thread").is_err());
}

#[test]
fn a_client_with_another_name_than_expected_is_refused() {
    let dir = pki_dir(&["party-a", "party-b", "party-c"]);
    let a = identity(dir.path(), "party-a");
    let b = identity(dir.path(), "party-b");
    let listener = Listener::bind(loopback(), &b).expect("bind");
    let addr = listener.local_addr();
    let server = thread::spawn(move || listener.accept_one_of(config(3000), &["party-c".to_string()]).map(|(_, n)| n));
    let client_err = connect(addr, "party-b", &a, config(3000)).expect_err("party-b does not accept party-a");
    assert!(matches!(client_err, TransportError::Handshake { .. }), "{client_err}");
    let err = server.join().expect("server thread").expect_err("must refuse");
    assert!(matches!(&err, TransportError::UnexpectedPeer { found, .. } if found == "party-a"), "{err}");
}

#[test]
fn connect_retries_until_the_listener_is_up() {
    let dir = pki_dir(&["party-a", "party-b"]);
    let a = identity(dir.path(), "party-a");
    let b = identity(dir.path(), "party-b");
    let addr = {
        let probe = TcpListener::bind(loopback()).expect("probe");
        probe.local_addr().expect("addr")
    };
    let client = thread::spawn(move || {
        let mut ch = connect(addr, "party-b", &a, config(5000))?;
        ch.send(b"late")?;
        ch.flush()?;
        Ok::<_, TransportError>(ch.recv()?)
    });
    thread::sleep(Duration::from_millis(300));
    let listener = Listener::bind(addr, &b).expect("bind after the client started");
    let (mut ch, _) = listener.accept(config(5000)).expect("accept");
    assert_eq!(ch.recv().expect("recv"), b"late");
    ch.send(b"ok").expect("send");
    ch.flush().expect("flush");
    assert_eq!(client.join().expect("client thread").expect("client"), b"ok");
}

#[test]
fn connect_gives_up_after_the_timeout() {
    let dir = pki_dir(&["party-a"]);
    let a = identity(dir.path(), "party-a");
    let addr = TcpListener::bind(loopback()).and_then(|l| l.local_addr()).expect("free port");
    let start = Instant::now();
    let err = connect(addr, "party-b", &a, config(300)).expect_err("nobody listens");
    assert!(matches!(&err, TransportError::Connect { peer, .. } if peer == "party-b"), "{err}");
    assert!(start.elapsed() < Duration::from_secs(5));
}

#[test]
fn accept_gives_up_after_the_timeout() {
    let dir = pki_dir(&["party-b"]);
    let listener = Listener::bind(loopback(), &identity(dir.path(), "party-b")).expect("bind");
    let err = listener.accept(config(100)).expect_err("nobody connects");
    assert!(matches!(err, TransportError::AcceptTimeout { .. }), "{err}");
}

/// An established pair of TLS channels (client at party-a, server at party-b).
fn linked(timeout_ms: u64) -> (veil_transport::TlsChannel, veil_transport::TlsChannel, tempfile::TempDir) {
    let dir = pki_dir(&["party-a", "party-b"]);
    let a = identity(dir.path(), "party-a");
    let b = identity(dir.path(), "party-b");
    let listener = Listener::bind(loopback(), &b).expect("bind");
    let addr = listener.local_addr();
    let server = thread::spawn(move || listener.accept(config(timeout_ms)).map(|(ch, _)| ch));
    let client = connect(addr, "party-b", &a, config(timeout_ms)).expect("connect");
    let server = server.join().expect("server thread").expect("accept");
    (client, server, dir)
}

#[test]
fn a_stalled_peer_gives_a_timeout() {
    let (mut client, _server, _dir) = linked(1000);
    let start = Instant::now();
    let err = client.recv().expect_err("nothing is sent");
    assert!(matches!(&err, ChannelError::Timeout { peer, .. } if peer == "party-b"), "{err}");
    assert!(start.elapsed() < Duration::from_secs(5));
    assert!(client.recv().is_err(), "a timed-out link stays unusable");
}

#[test]
fn a_departed_peer_gives_disconnected() {
    let (mut client, server, _dir) = linked(3000);
    drop(server);
    let err = client.recv().expect_err("the peer is gone");
    assert!(matches!(&err, ChannelError::Disconnected { peer } if peer == "party-b"), "{err}");
}

#[test]
fn a_peer_that_drops_the_socket_without_closing_gives_disconnected() {
    let (client, mut server, _dir) = linked(3000);
    let tcp = client.get_ref().tcp().try_clone().expect("clone socket");
    tcp.shutdown(std::net::Shutdown::Both).expect("shutdown");
    let err = server.recv().expect_err("the peer is gone");
    assert!(matches!(err, ChannelError::Disconnected { .. }), "{err}");
}

#[test]
fn mismatched_fingerprints_are_refused_over_tls() {
    let dir = pki_dir(&["party-a", "party-b"]);
    let a = identity(dir.path(), "party-a");
    let b = identity(dir.path(), "party-b");
    let listener = Listener::bind(loopback(), &b).expect("bind");
    let addr = listener.local_addr();
    let server = thread::spawn(move || {
        let (mut ch, _) = listener.accept(config(3000)).expect("accept");
        ch.recv()
    });
    let other = ChannelConfig::new(Fingerprint([6; 16])).with_timeout(Duration::from_secs(3));
    let mut ch = connect(addr, "party-b", &a, other).expect("connect");
    ch.send(b"x").expect("send");
    ch.flush().expect("flush");
    let err = server.join().expect("server thread").expect_err("fingerprints differ");
    assert!(matches!(err, ChannelError::FingerprintMismatch { .. }), "{err}");
}

#[test]
fn a_client_that_does_not_speak_tls_is_refused_or_times_out() {
    use std::io::Write;
    let dir = pki_dir(&["party-b"]);
    let listener = Listener::bind(loopback(), &identity(dir.path(), "party-b")).expect("bind");
    let addr = listener.local_addr();
    let mut garbage = std::net::TcpStream::connect(addr).expect("connect");
    garbage.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n").expect("write");
    let err = listener.accept(config(2000)).expect_err("not TLS");
    assert!(matches!(err, TransportError::Handshake { .. }), "{err}");

    let _silent = std::net::TcpStream::connect(addr).expect("connect");
    let start = Instant::now();
    let err = listener.accept(config(200)).expect_err("silent client");
    assert!(matches!(err, TransportError::Channel(ChannelError::Timeout { .. })), "{err}");
    assert!(start.elapsed() < Duration::from_secs(5));
}

#[test]
fn a_server_that_does_not_speak_tls_is_refused_or_times_out() {
    use std::io::{Read, Write};
    let dir = pki_dir(&["party-a"]);
    let a = identity(dir.path(), "party-a");
    let tcp = TcpListener::bind(loopback()).expect("bind");
    let addr = tcp.local_addr().expect("addr");
    let server = thread::spawn(move || {
        let (mut s, _) = tcp.accept().expect("accept");
        let mut hello = [0u8; 5];
        s.read_exact(&mut hello).expect("client hello");
        s.write_all(b"HTTP/1.1 400 Bad Request\r\n\r\n").expect("write");
        let (silent, _) = tcp.accept().expect("accept");
        thread::sleep(Duration::from_millis(600));
        drop(silent);
    });
    let err = connect(addr, "party-b", &a, config(2000)).expect_err("not TLS");
    assert!(matches!(err, TransportError::Handshake { .. }), "{err}");
    let err = connect(addr, "party-b", &a, config(200)).expect_err("silent server");
    assert!(matches!(err, TransportError::Channel(ChannelError::Timeout { .. })), "{err}");
    server.join().expect("server thread");
}

#[test]
fn a_peer_that_stops_reading_makes_sending_time_out() {
    let (mut client, _server, _dir) = linked(1000);
    let chunk = vec![1u8; 1 << 20];
    let start = Instant::now();
    let mut result = Ok(());
    for _ in 0..1024 {
        result = client.send(&chunk).and_then(|()| client.flush());
        if result.is_err() {
            break;
        }
    }
    let err = result.expect_err("loopback buffers cannot absorb 1 GiB");
    assert!(matches!(err, ChannelError::Timeout { .. }), "{err}");
    assert!(start.elapsed() < Duration::from_secs(20));
}

/// A pair of TLS channels whose sockets both use `options`.
fn linked_with(timeout_ms: u64, options: LinkOptions) -> (veil_transport::TlsChannel, veil_transport::TlsChannel, tempfile::TempDir) {
    let dir = pki_dir(&["party-a", "party-b"]);
    let a = identity(dir.path(), "party-a");
    let b = identity(dir.path(), "party-b");
    let listener = Listener::bind(loopback(), &b).expect("bind").with_options(options);
    let addr = listener.local_addr();
    let server = thread::spawn(move || listener.accept(config(timeout_ms)).map(|(ch, _)| ch));
    let client = connect_with(addr, "party-b", &a, config(timeout_ms), options).expect("connect");
    let server = server.join().expect("server thread").expect("accept");
    (client, server, dir)
}

#[test]
fn every_receive_spin_budget_carries_small_and_large_messages_and_times_out() {
    for spin in [Duration::ZERO, LinkOptions::DEFAULT_RECEIVE_SPIN, Duration::from_millis(5)] {
        let (mut client, mut server, _dir) = linked_with(3000, LinkOptions::default().with_receive_spin(spin));
        let echo = thread::spawn(move || -> Result<(), ChannelError> {
            for _ in 0..50 {
                let m = server.recv()?;
                server.send(&m)?;
                server.flush()?;
            }
            let big = server.recv()?;
            server.send(&big)?;
            server.flush()?;
            server.recv().map(|_| ())
        });
        for i in 0..50u8 {
            client.send(&[i; 3]).expect("send small");
            client.flush().expect("flush");
            assert_eq!(client.recv().expect("echo"), [i; 3], "spin {spin:?}");
        }
        // Larger than the socket buffers, so a non-blocking write finds them full.
        let big: Vec<u8> = (0..12 << 20).map(|i: u32| (i % 251) as u8).collect();
        client.send(&big).expect("send large");
        client.flush().expect("flush");
        assert!(client.recv().expect("large echo") == big, "spin {spin:?}");
        let start = Instant::now();
        let err = echo.join().expect("echo thread").expect_err("the client stalls");
        assert!(matches!(err, ChannelError::Timeout { .. }), "spin {spin:?}: {err}");
        assert!(start.elapsed() >= Duration::from_millis(2500), "spin {spin:?}: timed out early");
        drop(client);
    }
}
