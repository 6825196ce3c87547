//! Full meshes of TLS links between parties running in threads.

use std::net::{SocketAddr, TcpListener};
use std::thread;
use std::time::Duration;

use veil_transport::mesh::{establish, PeerSpec};
use veil_transport::{pki, Channel, ChannelConfig, Fingerprint, Identity, TransportError};

fn free_ports(n: usize) -> Vec<SocketAddr> {
    let probes: Vec<TcpListener> = (0..n).map(|_| TcpListener::bind("127.0.0.1:0").expect("probe port")).collect();
    probes.iter().map(|p| p.local_addr().expect("addr")).collect()
}

fn specs(n: usize) -> Vec<PeerSpec> {
    free_ports(n).into_iter().enumerate().map(|(id, addr)| PeerSpec { id, name: format!("party-{id}"), addr }).collect()
}

fn config() -> ChannelConfig {
    ChannelConfig::new(Fingerprint([8; 16])).with_timeout(Duration::from_secs(10))
}

fn run_mesh(n: usize) {
    let dir = tempfile::tempdir().expect("temp dir");
    let names: Vec<String> = (0..n).map(|i| format!("party-{i}")).collect();
    let name_refs: Vec<&str> = names.iter().map(String::as_str).collect();
    pki::create_local(dir.path(), &name_refs).expect("PKI");
    let peers = specs(n);
    let handles: Vec<_> = (0..n)
        .map(|me| {
            let peers = peers.clone();
            let identity = Identity::load(dir.path(), &format!("party-{me}")).expect("identity");
            thread::spawn(move || {
                let mut channels = establish(me, &peers, &identity, config())?;
                assert_eq!(channels.len(), n);
                assert!(channels[me].is_none());
                // Everyone sends to everyone first, then receives: links are independent.
                for (other, ch) in channels.iter_mut().enumerate() {
                    if let Some(ch) = ch {
                        assert_eq!(ch.peer(), format!("party-{other}"));
                        ch.send(format!("{me}->{other}").as_bytes())?;
                        ch.flush()?;
                    }
                }
                for (other, ch) in channels.iter_mut().enumerate() {
                    if let Some(ch) = ch {
                        assert_eq!(ch.recv()?, format!("{other}->{me}").into_bytes());
                    }
                }
                Ok::<usize, TransportError>(channels.iter().flatten().count())
            })
        })
        .collect();
    for h in handles {
        assert_eq!(h.join().expect("party thread").expect("party"), n - 1);
    }
}

#[test]
fn three_parties_form_a_mesh() {
    run_mesh(3);
}

#[test]
fn four_parties_form_a_mesh() {
    run_mesh(4);
}

#[test]
fn inconsistent_meshes_are_refused() {
    let dir = tempfile::tempdir().expect("temp dir");
    pki::create_local(dir.path(), &["party-0", "party-1"]).expect("PKI");
    let identity = Identity::load(dir.path(), "party-0").expect("identity");
    let mut peers = specs(2);
    let cfg = config().with_timeout(Duration::from_millis(200));
    assert!(matches!(establish(5, &peers, &identity, cfg.clone()), Err(TransportError::InvalidMesh { .. })));
    assert!(matches!(establish(1, &peers, &identity, cfg.clone()), Err(TransportError::InvalidMesh { .. })));
    peers.swap(0, 1);
    assert!(matches!(establish(0, &peers, &identity, cfg.clone()), Err(TransportError::InvalidMesh { .. })));
    peers.swap(0, 1);
    peers[1].name = "party-0".to_string();
    assert!(matches!(establish(0, &peers, &identity, cfg), Err(TransportError::InvalidMesh { .. })));
}

#[test]
fn a_missing_party_stops_the_mesh_within_the_timeout() {
    let dir = tempfile::tempdir().expect("temp dir");
    pki::create_local(dir.path(), &["party-0", "party-1", "party-2"]).expect("PKI");
    let identity = Identity::load(dir.path(), "party-0").expect("identity");
    let peers = specs(3);
    let cfg = config().with_timeout(Duration::from_millis(300));
    let err = establish(0, &peers, &identity, cfg).expect_err("nobody comes");
    assert!(matches!(err, TransportError::AcceptTimeout { .. }), "{err}");
}
