//! Floor of a veil link on loopback: small-message round-trip latency (median of 1000
//! ping-pongs) and one-way throughput of 64 KiB messages, over TLS and over plain TCP.
//!
//! `cargo run --release -p veil-transport --example loopback`

use std::net::{SocketAddr, TcpListener, TcpStream};
use std::thread;
use std::time::{Duration, Instant};

use veil_channel::StreamChannel;
use veil_transport::{connect, pki, Channel, ChannelConfig, Identity, Listener};

const PINGS: usize = 1000;
const BULK_MESSAGES: usize = 4096;
const BULK_BYTES: usize = 64 * 1024;

fn serve(mut ch: impl Channel) {
    let mut buf = Vec::new();
    for _ in 0..PINGS + 10 {
        ch.recv_into(&mut buf).expect("ping");
        ch.send(&buf).expect("pong");
    }
    for _ in 0..BULK_MESSAGES {
        ch.recv_into(&mut buf).expect("bulk");
    }
    ch.send(b"done").expect("ack");
    ch.flush().expect("flush");
}

fn measure(label: &str, mut ch: impl Channel) {
    let msg = [7u8; 8];
    let mut buf = Vec::new();
    for _ in 0..10 {
        ch.send(&msg).expect("warm-up");
        ch.recv_into(&mut buf).expect("warm-up");
    }
    let mut rtts: Vec<Duration> = (0..PINGS)
        .map(|_| {
            let t = Instant::now();
            ch.send(&msg).expect("ping");
            ch.recv_into(&mut buf).expect("pong");
            t.elapsed()
        })
        .collect();
    rtts.sort();
    let bulk = vec![0x5au8; BULK_BYTES];
    let t = Instant::now();
    for _ in 0..BULK_MESSAGES {
        ch.send(&bulk).expect("bulk");
    }
    ch.recv_into(&mut buf).expect("ack");
    let secs = t.elapsed().as_secs_f64();
    let mb = (BULK_MESSAGES * BULK_BYTES) as f64 / 1e6;
    println!(
        "{label}: round trip of an 8-byte message: median {:.1} us (min {:.1}, p99 {:.1}); \
         64 KiB messages: {:.0} MB/s",
        rtts[PINGS / 2].as_secs_f64() * 1e6,
        rtts[0].as_secs_f64() * 1e6,
        rtts[PINGS * 99 / 100].as_secs_f64() * 1e6,
        mb / secs
    );
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let config = ChannelConfig::default().with_timeout(Duration::from_secs(30));
    let loopback = SocketAddr::from(([127, 0, 0, 1], 0));

    let dir = tempfile::tempdir()?;
    pki::create_local(dir.path(), &["party-a", "party-b"])?;
    let a = Identity::load(dir.path(), "party-a")?;
    let b = Identity::load(dir.path(), "party-b")?;
    let listener = Listener::bind(loopback, &b)?;
    let addr = listener.local_addr();
    let cfg = config.clone();
    let server = thread::spawn(move || serve(listener.accept(cfg).expect("accept").0));
    let ch = connect(addr, "party-b", &a, config.clone())?;
    let suite = ch.get_ref().cipher_suite().unwrap_or_default();
    measure(&format!("TLS 1.3 {suite}"), ch);
    server.join().map_err(|_| "server thread")?;

    let tcp = TcpListener::bind(loopback)?;
    let addr = tcp.local_addr()?;
    let cfg = config.clone();
    let server = thread::spawn(move || {
        let (s, _) = tcp.accept().expect("accept");
        s.set_nodelay(true).expect("nodelay");
        serve(StreamChannel::new(s, cfg, "client"))
    });
    let s = TcpStream::connect(addr)?;
    s.set_nodelay(true)?;
    measure("plain TCP (no TLS)", StreamChannel::new(s, config, "server"));
    server.join().map_err(|_| "server thread")?;
    Ok(())
}
