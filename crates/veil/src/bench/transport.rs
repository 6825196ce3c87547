//! `veil bench transport`: the floor every networked protocol stands on — round-trip latency
//! of a small message and throughput of 64 KiB messages over loopback, through the TLS link
//! and through plain TCP (same framing, no TLS) for comparison.

use std::net::{SocketAddr, TcpListener, TcpStream};
use std::thread;
use std::time::{Duration, Instant};

use anyhow::Context;
use veil_channel::{Channel, ChannelConfig, StreamChannel};
use veil_transport::{connect, pki, Identity, Listener};

use super::{time_ms, Report};

const PING_BYTES: usize = 8;
const BULK_BYTES: usize = 64 * 1024;

/// What the client asks of the echo server.
#[derive(Clone, Copy)]
struct Plan {
    pings: usize,
    bulk_messages: usize,
    bulk_runs: usize,
}

pub fn run(report: &mut Report) -> anyhow::Result<()> {
    let plan = if report.quick {
        Plan { pings: 50, bulk_messages: 64, bulk_runs: 10 }
    } else {
        Plan { pings: 1000, bulk_messages: 1024, bulk_runs: 10 }
    };
    let config = ChannelConfig::default().with_timeout(Duration::from_secs(60));
    let loopback = SocketAddr::from(([127, 0, 0, 1], 0));

    report.progress("TLS 1.3 over loopback");
    let dir = std::env::temp_dir().join(format!("veil-bench-transport-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    pki::create_local(&dir, &["bench-client", "bench-server"]).context("temporary PKI")?;
    let identities = (Identity::load(&dir, "bench-client"), Identity::load(&dir, "bench-server"));
    let _ = std::fs::remove_dir_all(&dir);
    let (client_id, server_id) = (identities.0?, identities.1?);
    let listener = Listener::bind(loopback, &server_id)?;
    let addr = listener.local_addr();
    let cfg = config.clone();
    let server = thread::spawn(move || -> anyhow::Result<()> { serve(listener.accept(cfg)?.0, plan) });
    let ch = connect(addr, "bench-server", &client_id, config.clone())?;
    let suite = ch.get_ref().cipher_suite().unwrap_or_default();
    measure(report, &format!("link=tls13,suite={suite}"), ch, plan)?;
    server.join().map_err(|_| anyhow::anyhow!("TLS echo server panicked"))??;

    report.progress("plain TCP over loopback");
    let tcp = TcpListener::bind(loopback)?;
    let addr = tcp.local_addr()?;
    let cfg = config.clone();
    let server = thread::spawn(move || -> anyhow::Result<()> {
        let (s, _) = tcp.accept()?;
        s.set_nodelay(true)?;
        serve(StreamChannel::new(s, cfg, "bench-client"), plan)
    });
    let s = TcpStream::connect(addr)?;
    s.set_nodelay(true)?;
    measure(report, "link=tcp", StreamChannel::new(s, config, "bench-server"), plan)?;
    server.join().map_err(|_| anyhow::anyhow!("TCP echo server panicked"))??;
    Ok(())
}

/// Echoes `pings` (+1 warm-up) messages, then acknowledges each batch of bulk messages.
fn serve(mut ch: impl Channel, plan: Plan) -> anyhow::Result<()> {
    let mut buf = Vec::new();
    for _ in 0..=plan.pings {
        ch.recv_into(&mut buf)?;
        ch.send(&buf)?;
    }
    for _ in 0..=plan.bulk_runs {
        for _ in 0..plan.bulk_messages {
            ch.recv_into(&mut buf)?;
        }
        ch.send(b"ok")?;
        ch.flush()?;
    }
    Ok(())
}

fn measure(report: &mut Report, link: &str, mut ch: impl Channel, plan: Plan) -> anyhow::Result<()> {
    let ping = [7u8; PING_BYTES];
    let mut buf = Vec::new();
    let mut failure = None;
    let t = time_ms(plan.pings, || {
        let r = ch.send(&ping).and_then(|()| ch.recv_into(&mut buf));
        if let Err(e) = r {
            failure.get_or_insert(e);
        }
    });
    if let Some(e) = failure {
        return Err(e.into());
    }
    report.timing("round_trip_8B", link, &t);

    let bulk = vec![0x5au8; BULK_BYTES];
    let mut rates = Vec::with_capacity(plan.bulk_runs);
    for run in 0..=plan.bulk_runs {
        let start = Instant::now();
        for _ in 0..plan.bulk_messages {
            ch.send(&bulk)?;
        }
        ch.recv_into(&mut buf)?;
        let mb_per_s = (plan.bulk_messages * BULK_BYTES) as f64 / 1e6 / start.elapsed().as_secs_f64();
        if run > 0 {
            rates.push(mb_per_s);
        }
    }
    rates.sort_by(f64::total_cmp);
    let median = rates.get(rates.len() / 2).copied().unwrap_or(0.0);
    report.value("throughput_64KiB", &format!("{link},messages={}", plan.bulk_messages), "MB/s", median);
    Ok(())
}
