//! Runs every participant of a session in threads of this process, linked by in-memory
//! channels: for tests and single-process experiments. Multi-process runs link the same
//! sessions with `veil-transport`.

use std::time::Duration;

use veil_channel::memory::pair_named;
use veil_channel::{Channel, ChannelConfig, Fingerprint};

use crate::threepc::ThreePc;
use crate::twopc::{Role, TwoPc};
use crate::{FixedPoint, MpcError};

/// The fingerprint every MPC message carries: protocol name and fixed-point format.
pub fn fingerprint(protocol: &str, fp: FixedPoint) -> Fingerprint {
    Fingerprint::derive("veil-mpc/session", format!("{protocol};f={}", fp.frac_bits()).as_bytes())
}

fn cfg(protocol: &str, fp: FixedPoint, timeout: Duration) -> ChannelConfig {
    ChannelConfig::new(fingerprint(protocol, fp)).with_timeout(timeout)
}

type Link = Box<dyn Channel>;

fn link(c: &ChannelConfig, a: &str, b: &str) -> (Link, Link) {
    let (x, y) = pair_named(c.clone(), b, c.clone(), a);
    (Box::new(x), Box::new(y))
}

/// Runs `f` at party 0, party 1 and the dealer (in that order in the result), each in its own
/// thread, after the 2PC set-up.
pub fn run_2pc<R: Send>(
    fp: FixedPoint,
    timeout: Duration,
    f: impl Fn(&mut TwoPc) -> Result<R, MpcError> + Sync,
) -> Vec<Result<R, MpcError>> {
    let c = cfg("2pc-dealer", fp, timeout);
    let (p0_p1, p1_p0) = link(&c, "party 0", "party 1");
    let (p0_d, d_p0) = link(&c, "party 0", "dealer");
    let (p1_d, d_p1) = link(&c, "party 1", "dealer");
    let f = &f;
    std::thread::scope(|s| {
        let h0 = s.spawn(move || TwoPc::setup(Role::P0, fp, p0_p1, p0_d).and_then(|mut e| f(&mut e)));
        let h1 = s.spawn(move || TwoPc::setup(Role::P1, fp, p1_p0, p1_d).and_then(|mut e| f(&mut e)));
        let hd = s.spawn(move || TwoPc::setup(Role::Dealer, fp, d_p0, d_p1).and_then(|mut e| f(&mut e)));
        [h0, h1, hd].into_iter().map(|h| h.join().unwrap_or_else(|_| Err(MpcError::Config("participant thread panicked".into())))).collect()
    })
}

/// Runs `f` at parties 0, 1 and 2, each in its own thread, after the 3PC set-up.
pub fn run_3pc<R: Send>(
    fp: FixedPoint,
    timeout: Duration,
    f: impl Fn(&mut ThreePc) -> Result<R, MpcError> + Sync,
) -> Vec<Result<R, MpcError>> {
    let c = cfg("3pc-replicated", fp, timeout);
    let (l01, l10) = link(&c, "party 0", "party 1");
    let (l12, l21) = link(&c, "party 1", "party 2");
    let (l20, l02) = link(&c, "party 2", "party 0");
    let f = &f;
    std::thread::scope(|s| {
        let h0 = s.spawn(move || ThreePc::setup(0, fp, l01, l02).and_then(|mut e| f(&mut e)));
        let h1 = s.spawn(move || ThreePc::setup(1, fp, l12, l10).and_then(|mut e| f(&mut e)));
        let h2 = s.spawn(move || ThreePc::setup(2, fp, l20, l21).and_then(|mut e| f(&mut e)));
        [h0, h1, h2].into_iter().map(|h| h.join().unwrap_or_else(|_| Err(MpcError::Config("participant thread panicked".into())))).collect()
    })
}
