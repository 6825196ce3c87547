//! `veil bench <suite>`: every performance figure, in the JSON Lines format of BENCH.md.
//!
//! Timings warm up first, then run at least [`MIN_RUNS`] times (fewer only for cases over
//! ten seconds) and report the median, minimum and maximum. With `--json`, standard output
//! carries one JSON object per line and nothing else; progress goes to standard error.

pub(crate) mod ckks;
mod gc;
mod mpc;
mod threshold;
mod threshold_mlp;
mod transport;

use std::time::{Duration, Instant};

use clap::{Args, ValueEnum};
use serde::Serialize;

/// Runs per timed case (after warm-up), unless a single run exceeds ten seconds.
pub const MIN_RUNS: usize = 10;

/// Options of `veil bench`.
#[derive(Debug, Args)]
pub struct BenchArgs {
    /// Which suite to run.
    #[arg(value_enum)]
    pub suite: Suite,
    /// Print JSON Lines (BENCH.md format) on standard output instead of a table.
    #[arg(long)]
    pub json: bool,
    /// Worker threads (0: the library default, i.e. all cores).
    #[arg(long, default_value_t = 1)]
    pub threads: usize,
    /// Shrink the work for a smoke test (figures are then not comparable).
    #[arg(long)]
    pub quick: bool,
}

/// The benchmark suites of BENCH.md.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Suite {
    /// CKKS operations at N=8192 and N=16384.
    Ckks,
    /// Garbled circuits and oblivious transfer (half-gates, IKNP, AES-128, millionaires).
    Gc,
    /// Secret-sharing MPC: 2 parties + dealer and 3 parties replicated, as separate processes.
    Mpc,
    /// Threshold CKKS: collective keys, partial decryption, merge, 2/3/5 parties at N=16384.
    Threshold,
    /// Link floor: round-trip latency and 64 KiB throughput over loopback, TLS 1.3 and plain TCP.
    Transport,
}

impl Suite {
    pub fn name(self) -> &'static str {
        match self {
            Suite::Ckks => "ckks",
            Suite::Transport => "transport",
            Suite::Gc => "gc",
            Suite::Mpc => "mpc",
            Suite::Threshold => "threshold",
        }
    }
}

pub fn run(args: BenchArgs) -> anyhow::Result<()> {
    let mut report = Report::new(&args);
    match args.suite {
        Suite::Ckks => ckks::run(&mut report)?,
        Suite::Transport => transport::run(&mut report)?,
        Suite::Gc => gc::run(&mut report)?,
        Suite::Mpc => mpc::run(&mut report)?,
        Suite::Threshold => threshold::run(&mut report)?,
    }
    #[allow(unreachable_code)]
    {
        report.finish();
        Ok(())
    }
}

/// One line of BENCH.md output.
#[derive(Debug, Clone, Serialize)]
pub struct Record {
    pub system: &'static str,
    pub suite: &'static str,
    pub case: String,
    pub params: String,
    pub threads: usize,
    pub unit: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub median: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub min: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub runs: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub value: Option<f64>,
}

/// Collects records and prints them as they come (JSON Lines or a table row each).
#[derive(Debug)]
pub struct Report {
    suite: &'static str,
    threads: usize,
    json: bool,
    pub quick: bool,
    records: Vec<Record>,
}

impl Report {
    pub fn new(args: &BenchArgs) -> Self {
        Self { suite: args.suite.name(), threads: args.threads, json: args.json, quick: args.quick, records: Vec::new() }
    }

    /// Threads as reported in the `threads` field.
    pub fn threads(&self) -> usize {
        self.threads
    }

    /// Records a timing (milliseconds) measured by [`time_ms`].
    pub fn timing(&mut self, case: &str, params: &str, t: &Timing) {
        self.push(Record {
            system: "veil",
            suite: self.suite,
            case: case.to_string(),
            params: params.to_string(),
            threads: self.threads,
            unit: "ms".to_string(),
            median: Some(t.median_ms),
            min: Some(t.min_ms),
            max: Some(t.max_ms),
            runs: Some(t.runs),
            value: None,
        });
    }

    /// Records a non-timing figure (bits, bytes, rounds, accuracy, rate, ...).
    pub fn value(&mut self, case: &str, params: &str, unit: &str, value: f64) {
        self.push(Record {
            system: "veil",
            suite: self.suite,
            case: case.to_string(),
            params: params.to_string(),
            threads: self.threads,
            unit: unit.to_string(),
            median: None,
            min: None,
            max: None,
            runs: None,
            value: Some(value),
        });
    }

    fn push(&mut self, r: Record) {
        if self.json {
            // Serialising a struct of strings and numbers cannot fail.
            println!("{}", serde_json::to_string(&r).unwrap_or_default());
        } else {
            let fig = match (r.median, r.value) {
                (Some(m), _) => format!(
                    "{m:>12.4} {unit:<8} (min {min:.4}, max {max:.4}, {runs} runs)",
                    unit = r.unit,
                    min = r.min.unwrap_or(m),
                    max = r.max.unwrap_or(m),
                    runs = r.runs.unwrap_or(0)
                ),
                (None, Some(v)) => format!("{v:>12.4} {}", r.unit),
                _ => String::new(),
            };
            println!("{:<26} {:<34} {fig}", r.case, r.params);
        }
        self.records.push(r);
    }

    /// Ends the report.
    pub fn finish(&self) {
        if !self.json {
            eprintln!("{} figures", self.records.len());
        }
    }

    /// Progress line on standard error.
    pub fn progress(&self, what: &str) {
        eprintln!("[bench {}] {what}", self.suite);
    }
}

/// Summary of repeated timings, in milliseconds.
#[derive(Debug, Clone, Copy)]
pub struct Timing {
    pub median_ms: f64,
    pub min_ms: f64,
    pub max_ms: f64,
    pub runs: usize,
}

impl Timing {
    /// Summarises raw durations.
    pub fn from_samples(mut samples: Vec<Duration>) -> Self {
        samples.sort();
        let ms = |d: Duration| d.as_secs_f64() * 1e3;
        let n = samples.len();
        let median = if n == 0 {
            0.0
        } else if n % 2 == 1 {
            ms(samples[n / 2])
        } else {
            (ms(samples[n / 2 - 1]) + ms(samples[n / 2])) / 2.0
        };
        Self {
            median_ms: median,
            min_ms: samples.first().map(|d| ms(*d)).unwrap_or(0.0),
            max_ms: samples.last().map(|d| ms(*d)).unwrap_or(0.0),
            runs: n,
        }
    }
}

/// Times `f`: one warm-up call, then `runs` timed calls (at least [`MIN_RUNS`] unless the
/// warm-up took over ten seconds, in which case three).
pub fn time_ms<T>(runs: usize, mut f: impl FnMut() -> T) -> Timing {
    let start = Instant::now();
    std::hint::black_box(f());
    let warm = start.elapsed();
    let runs = if warm > Duration::from_secs(10) { runs.min(3) } else { runs.max(MIN_RUNS) };
    let samples = (0..runs)
        .map(|_| {
            let t = Instant::now();
            std::hint::black_box(f());
            t.elapsed()
        })
        .collect();
    Timing::from_samples(samples)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn median_of_even_and_odd_counts() {
        let ms = |v: u64| Duration::from_millis(v);
        let t = Timing::from_samples(vec![ms(3), ms(1), ms(2)]);
        assert_eq!((t.median_ms, t.min_ms, t.max_ms, t.runs), (2.0, 1.0, 3.0, 3));
        let t = Timing::from_samples(vec![ms(4), ms(1), ms(2), ms(3)]);
        assert_eq!(t.median_ms, 2.5);
    }
}
