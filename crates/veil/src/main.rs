//! `veil`: one command for every privacy technique and every role.
//!
//! Each subsystem lives in its own module under `cmd/` (the roles and workflows) and `bench/`
//! (the performance figures of `veil bench`, in the format of BENCH.md).
#![forbid(unsafe_code)]

mod bench;
mod cmd;

use clap::{Parser, Subcommand};

/// Privacy-preserving machine learning: compute on data that its owners cannot show each other.
///
/// veil offers CKKS homomorphic encryption, secret-sharing MPC and garbled circuits behind one
/// command. Start with `veil demo`; every performance figure comes from `veil bench`.
#[derive(Debug, Parser)]
#[command(name = "veil", version, propagate_version = true)]
struct Cli {
    /// Log verbosity for diagnostics on standard error (error, warn, info, debug, trace).
    /// Secrets are never logged at any level.
    #[arg(long, global = true, default_value = "warn", env = "VEIL_LOG")]
    log: String,

    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Secure process monitoring on real plant data (Tennessee Eastman): the operator's readings,
    /// the inspectorate's PCA monitor and a server, three processes, threshold CKKS over TLS;
    /// checked against plaintext.
    Demo(cmd::demo::DemoArgs),
    /// Secret-sharing MPC between processes: 2 parties + dealer or 3 parties replicated,
    /// with data providers and a result receiver (`--local` runs every role on this machine).
    Mpc(cmd::mpc::MpcArgs),
    /// Measure performance; prints the figures of BENCH.md (`--json` for JSON Lines).
    Bench(bench::BenchArgs),
    /// Create the CA and the parties' TLS certificates (`veil certs init`, `veil certs issue`).
    Certs(cmd::certs::CertsArgs),
    /// Two-party computation of a Bristol Fashion circuit with garbled circuits and OT
    /// (`veil gc run`).
    Gc(cmd::gc::GcArgs),
    /// Yao's millionaires' problem: two processes learn who is richer, and nothing else.
    Millionaires(cmd::gc::MillionairesArgs),
    /// Threshold CKKS roles on files: collective key generation, encryption under the
    /// collective key, evaluation, partial decryption and merge (`veil threshold --help`).
    Threshold(cmd::threshold::ThresholdArgs),
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::try_new(&cli.log).unwrap_or_else(|_| "warn".into()))
        .with_writer(std::io::stderr)
        .init();
    match cli.command {
        Command::Demo(args) => cmd::demo::run(args),
        Command::Bench(args) => bench::run(args),
        Command::Mpc(args) => cmd::mpc::run(args),
        Command::Certs(args) => cmd::certs::run(args),
        Command::Gc(args) => cmd::gc::run(args),
        Command::Millionaires(args) => cmd::gc::run_millionaires(args),
        Command::Threshold(args) => cmd::threshold::run(args),
    }
}
