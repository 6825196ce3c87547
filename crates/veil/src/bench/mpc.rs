//! `veil bench mpc`: the `mpc` cases of BENCH.md for both protocols.
//!
//! Every computing party (and the 2PC dealer) is a separate `veil mpc` process, linked to
//! the others by mutually authenticated TLS over loopback, as the peers' parties are separate
//! processes. Party 0 times each run between two barriers: sharing the input (and, for
//! training, the data and the model), the secure computation, and revealing the result.
//! `bytes` is the sum over all processes of what they sent per run (all links, both
//! directions, frame headers included); `rounds` counts the protocol's communication rounds
//! on the critical path, plus one for the dealer's message in 2PC (the dealer streams its
//! correlated randomness ahead of the parties).

use std::time::{Duration, Instant};

use anyhow::Context;

use super::{Report, Timing};
use crate::cmd::mpc::{local_session, spawn_members, BenchOutcome, Protocol, Task};

const CASES: [(&str, &str); 5] = [
    ("lr_infer_b1", "model=logreg30"),
    ("lr_infer_b1000", "model=logreg30"),
    ("mlp_infer_b1", "model=mlp784-128-128-10"),
    ("mlp_infer_b100", "model=mlp784-128-128-10"),
    ("lr_train_epoch", "model=logreg30,data=breast_cancer,n=500,batch=50"),
];

pub fn run(report: &mut Report) -> anyhow::Result<()> {
    let reps = if report.quick { 3 } else { super::MIN_RUNS };
    for protocol in [Protocol::TwoPcDealer, Protocol::ThreePcReplicated] {
        let dir = tempfile::tempdir()?;
        for (case, model) in CASES {
            report.progress(&format!("{} {case}: 3 processes, {reps} runs", protocol.name()));
            let s = local_session(dir.path().join(case).as_path(), protocol, Task::Infer, "30:dense1,sigmoid", vec![], false)?;
            let file = dir.path().join(format!("{case}.toml"));
            std::fs::write(&file, toml::to_string(&s)?)?;
            let started = Instant::now();
            let mut kids =
                spawn_members(&s, &file, |_| vec!["--bench-case".into(), case.into(), "--bench-reps".into(), reps.to_string()], true)?;
            let outs = kids.wait_all(started + Duration::from_secs(900)).with_context(|| format!("{} {case}", protocol.name()))?;
            let outcomes: Vec<BenchOutcome> = outs
                .iter()
                .map(|o| serde_json::from_str(o.trim()).with_context(|| format!("reading a party's result: {o:?}")))
                .collect::<Result<_, _>>()?;
            let p0 = outcomes.iter().find(|o| o.id == 0).context("no result from party 0")?;
            let params = format!("protocol={},{model}", protocol.name());
            let t = Timing::from_samples(p0.times_ms.iter().map(|ms| Duration::from_secs_f64(ms / 1e3)).collect());
            let bytes: f64 = outcomes.iter().map(|o| o.bytes_sent_per_run).sum();
            let rounds = p0.rounds_per_run + if protocol == Protocol::TwoPcDealer { 1.0 } else { 0.0 };
            report.timing(case, &params, &t);
            report.value(case, &params, "bytes", bytes.round());
            report.value(case, &params, "rounds", rounds);
            report.progress(&format!("  {case}: median {:.2} ms, {bytes:.0} B, {rounds} rounds, check {}", t.median_ms, p0.check));
        }
    }
    Ok(())
}
