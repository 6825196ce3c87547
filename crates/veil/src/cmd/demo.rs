//! `veil demo`: secure process monitoring on the safeguards scenario (threshold CKKS).
//!
//! An inspectorate wants to know whether a plant runs as declared; the operator will not show
//! its process readings, the inspectorate will not show its detection model. The monitor is
//! a PCA model of declared normal operation (Tennessee Eastman training run 0, 500 samples,
//! 52 sensors): standardisation, `k` principal components, Hotelling's T² and the squared
//! prediction error SPE, with control limits at the 99th percentile of each statistic over
//! the reference samples ([`monitor`]).
//!
//! Three roles run in three processes (children of `veil demo`) connected by mutually
//! authenticated TLS over loopback ([`roles`]): operator and inspectorate generate a collective key
//! (neither can decrypt alone), the operator encrypts a window of readings of a test run (the
//! fault starts at sample 161), the inspectorate encrypts its monitor, the server computes T²
//! and SPE per sample with evaluation keys only ([`circuit`]), the
//! operator sends its smudged partial decryption to the inspectorate, which merges and alone
//! learns the scores and the alarms. The demo then checks them against the plaintext monitor.
//!
//! `--mode stats` keeps the single-key statistics demo ([`stats`]).

mod circuit;
mod monitor;
mod roles;
mod stats;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::{bail, ensure, Context};
use clap::{Args, ValueEnum};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use serde::Serialize;
use veil_ckks::{Parameters, ParametersLiteral};

use circuit::{encode_model, model_vectors, Layout};
use monitor::{data_dir, pick_file, read_run, Monitor, Sample, LIMIT_QUANTILE, TEST_FILES, TRAIN_FILE};
use roles::{Job, LinkRecord, Role, RoleInput, RoleLinks, StepRecord, PROGRESS_STEPS};

/// What the demo shows.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Mode {
    /// Threshold CKKS: the operator's readings, the inspectorate's PCA monitor, a server; only
    /// the inspectorate learns T², SPE and the alarms.
    Monitor,
    /// Single-key CKKS: per-sensor means, variances and a principal-component score of
    /// fault-free readings, computed by a server on ciphertexts.
    Stats,
}

/// Options of `veil demo`.
#[derive(Debug, Args)]
pub struct DemoArgs {
    /// What to show.
    #[arg(long, value_enum, default_value_t = Mode::Monitor)]
    pub mode: Mode,
    /// Monitor: number of samples of the monitored run, from sample 1 (one every 3 minutes;
    /// the fault starts at sample 161), at most 480 with the shipped data, 960 with the full
    /// test set [default: 320]. Stats: fault-free samples, a power of two up to 256
    /// [default: 256].
    #[arg(long)]
    pub rows: Option<usize>,
    /// Monitor: the Tennessee Eastman test run to monitor, 0 (normal operation) or a
    /// disturbance IDV(1)..IDV(21).
    #[arg(long, default_value_t = 1)]
    pub fault: u32,
    /// Monitor: principal components retained by the monitor.
    #[arg(long, default_value_t = 9)]
    pub components: usize,
    /// CKKS parameter preset [default: n16384_l6_sec128 (monitor), n8192_l2_sec128 (stats)];
    /// insecure_* presets are for tests only.
    #[arg(long)]
    pub preset: Option<String>,
    /// Directory with tep_train.csv.gz and tep_test_first480.csv.gz (or tep_test.csv.gz)
    /// [default: the repository's data/tep].
    #[arg(long)]
    pub data: Option<PathBuf>,
    /// Monitor: bound on every wait for another role, in seconds.
    #[arg(long, default_value_t = 300)]
    pub timeout_secs: u64,
    /// Print one JSON object on standard output instead of the story.
    #[arg(long)]
    pub json: bool,
    /// Internal (set by `veil demo` for its child processes): run this one role.
    #[arg(long, value_enum, hide = true)]
    pub role: Option<Role>,
    /// Internal: the directory of the run's throwaway CA and certificates.
    #[arg(long, hide = true)]
    pub pki: Option<PathBuf>,
    /// Internal: where the operator listens.
    #[arg(long, hide = true)]
    pub operator_addr: Option<SocketAddr>,
    /// Internal: where the inspectorate listens.
    #[arg(long, hide = true)]
    pub inspectorate_addr: Option<SocketAddr>,
    /// Internal: the start of the run, in milliseconds since the Unix epoch.
    #[arg(long, hide = true)]
    pub epoch_ms: Option<u64>,
}

/// Fault descriptions (Downs & Vogel 1993), index = IDV number.
const FAULTS: [&str; 22] = [
    "normal operation", "A/C feed ratio step", "B composition step", "D feed temperature step",
    "reactor cooling-water inlet temperature step", "condenser cooling-water inlet temperature step", "A feed loss",
    "C header pressure loss", "A, B, C feed composition random variation", "D feed temperature random variation",
    "C feed temperature random variation", "reactor cooling-water inlet temperature random variation",
    "condenser cooling-water inlet temperature random variation", "reaction kinetics slow drift", "reactor cooling-water valve sticking",
    "condenser cooling-water valve sticking", "unknown disturbance 16", "unknown disturbance 17", "unknown disturbance 18",
    "unknown disturbance 19", "unknown disturbance 20", "stream 4 valve fixed at steady-state position",
];

/// Samples per test run in the full test set.
const MAX_ROWS: usize = 960;

pub fn run(args: DemoArgs) -> anyhow::Result<()> {
    let dir = data_dir(&args.data);
    match args.mode {
        Mode::Stats => stats::run(stats::StatsOptions {
            rows: args.rows.unwrap_or(256),
            preset: args.preset.unwrap_or_else(|| "n8192_l2_sec128".into()),
            data: dir.join(TRAIN_FILE),
            json: args.json,
        }),
        Mode::Monitor => run_monitor(&args, dir),
    }
}

/// Alarm counts of one stretch of the window.
#[derive(Debug, Default, Serialize)]
struct Stretch {
    first_sample: usize,
    last_sample: usize,
    samples: usize,
    t2_alarms: usize,
    spe_alarms: usize,
    alarms: usize,
    /// `alarms / samples` (T² or SPE above its limit).
    alarm_rate: f64,
}

impl Stretch {
    fn of(window: &[Sample], alarms: &[(bool, bool)], faulty: bool) -> Stretch {
        let mut s = Stretch { first_sample: usize::MAX, ..Stretch::default() };
        for (x, &(t, q)) in window.iter().zip(alarms) {
            if x.fault_active != faulty {
                continue;
            }
            s.first_sample = s.first_sample.min(x.index);
            s.last_sample = s.last_sample.max(x.index);
            s.samples += 1;
            s.t2_alarms += usize::from(t);
            s.spe_alarms += usize::from(q);
            s.alarms += usize::from(t || q);
        }
        if s.samples == 0 {
            s.first_sample = 0;
        } else {
            s.alarm_rate = s.alarms as f64 / s.samples as f64;
        }
        s
    }
}

#[derive(Debug, Serialize)]
struct SampleRow {
    sample: usize,
    fault_active: bool,
    t2: f64,
    t2_plaintext: f64,
    spe: f64,
    spe_plaintext: f64,
    alarm_t2: bool,
    alarm_spe: bool,
}

#[derive(Debug, Serialize)]
struct MonitorReport {
    mode: &'static str,
    preset: String,
    ring_degree: usize,
    secure: bool,
    fault: u32,
    fault_description: &'static str,
    rows: usize,
    reference_samples: usize,
    components: usize,
    explained_variance: f64,
    limit_rule: String,
    limit_t2: f64,
    limit_spe: f64,
    collective_key: String,
    steps: Vec<StepRecord>,
    links: Vec<LinkRecord>,
    setup_ms: f64,
    protocol_ms: f64,
    max_abs_err_t2: f64,
    max_abs_err_spe: f64,
    alarms_identical: bool,
    /// Samples whose decrypted alarm differs from the plaintext monitor's.
    alarm_mismatches: Vec<usize>,
    /// Normal stretch: false alarms (inspectorate's decrypted view).
    normal: Stretch,
    /// Faulty stretch: detections.
    faulty: Stretch,
    samples: Vec<SampleRow>,
}

/// The run's parameters and packing, from the options alone.
struct Plan {
    preset: String,
    secure: bool,
    fault_description: &'static str,
    rows: usize,
    params: Arc<Parameters>,
    layout: Layout,
}

fn plan(args: &DemoArgs) -> anyhow::Result<Plan> {
    let preset = args.preset.clone().unwrap_or_else(|| "n16384_l6_sec128".into());
    let rows = args.rows.unwrap_or(320);
    ensure!((1..=MAX_ROWS).contains(&rows), "--rows must be between 1 and {MAX_ROWS} (got {rows})");
    ensure!(args.timeout_secs >= 1, "--timeout-secs must be at least 1");
    let fault_description = *FAULTS.get(args.fault as usize).with_context(|| format!("--fault must be 0..=21 (got {})", args.fault))?;
    let literal = ParametersLiteral::preset(&preset).with_context(|| {
        let names: Vec<String> = ParametersLiteral::presets().into_iter().map(|p| p.name).collect();
        format!("unknown preset {preset:?}; choose one of {}", names.join(", "))
    })?;
    let secure = !literal.name.starts_with("insecure_");
    let params = Parameters::new(literal)?;
    let layout = Layout::new(&params, rows)?;
    Ok(Plan { preset, secure, fault_description, rows, params, layout })
}

/// The inspectorate's side: the monitor, fitted on declared normal operation.
fn fit_monitor(args: &DemoArgs, dir: &Path) -> anyhow::Result<(Vec<Sample>, Monitor)> {
    let (_, reference) = read_run(&dir.join(TRAIN_FILE), 0, usize::MAX)?;
    let monitor = Monitor::fit(&reference, args.components)?;
    Ok((reference, monitor))
}

/// The operator's side: the first `rows` samples of the monitored run.
fn read_window(args: &DemoArgs, dir: &Path, rows: usize) -> anyhow::Result<Vec<Sample>> {
    let test_file = pick_file(dir, &TEST_FILES);
    let (_, window) = read_run(&test_file, args.fault, rows)?;
    if window.len() < rows {
        bail!("{} holds {} samples of run {}, {rows} requested", test_file.display(), window.len(), args.fault);
    }
    Ok(window)
}

/// A child process's side: one role, with the private input only its owner holds (the
/// operator reads its readings, the inspectorate fits its monitor, the server reads nothing).
fn run_one_role(args: &DemoArgs, dir: &Path, role: Role) -> anyhow::Result<()> {
    let plan = plan(args)?;
    let pki = args.pki.as_deref().context("--role needs --pki")?;
    let epoch = args.epoch_ms.map_or_else(SystemTime::now, |ms| UNIX_EPOCH + Duration::from_millis(ms));
    let job = Job { params: plan.params.clone(), layout: plan.layout, timeout: Duration::from_secs(args.timeout_secs), epoch };
    let input = match role {
        Role::Operator => {
            let window = read_window(args, dir, plan.rows)?;
            RoleInput::Readings((0..plan.layout.ciphertexts()).map(|c| plan.layout.pack_readings(&window, c)).collect())
        }
        Role::Inspectorate => {
            let (_, monitor) = fit_monitor(args, dir)?;
            RoleInput::Model(encode_model(&plan.params, &plan.layout, &model_vectors(&plan.layout, &monitor))?)
        }
        Role::Server => RoleInput::None,
    };
    roles::run_role(role, &job, input, &RoleLinks { pki, operator: args.operator_addr, inspectorate: args.inspectorate_addr })
}

fn run_monitor(args: &DemoArgs, dir: PathBuf) -> anyhow::Result<()> {
    if let Some(role) = args.role {
        return run_one_role(args, &dir, role);
    }
    let Plan { preset, secure, fault_description, rows, params, layout } = plan(args)?;
    // The narrator reads both sides too, for the plaintext check after the run; the roles
    // read only their own.
    let (reference, monitor) = fit_monitor(args, &dir)?;
    let window = read_window(args, &dir, rows)?;

    let progress = ProgressBar::with_draw_target(Some(PROGRESS_STEPS), ProgressDrawTarget::stderr());
    progress.set_style(
        ProgressStyle::with_template("{elapsed:>4} {bar:24} {pos}/{len} {msg}").unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    progress.enable_steady_tick(Duration::from_millis(200));
    let job = Job { params: params.clone(), layout, timeout: Duration::from_secs(args.timeout_secs), epoch: SystemTime::now() };
    let mut common: Vec<String> =
        ["demo", "--rows", &rows.to_string(), "--fault", &args.fault.to_string()].iter().map(|s| s.to_string()).collect();
    common.extend(["--components".into(), args.components.to_string(), "--preset".into(), preset.clone()]);
    common.extend(["--data".into(), dir.display().to_string(), "--timeout-secs".into(), args.timeout_secs.to_string()]);
    let outcome = roles::run(&job, &common, &progress);
    progress.finish_and_clear();
    let outcome = outcome?;
    ensure!(outcome.scores.len() == rows, "the inspectorate decoded {} scores for {rows} samples", outcome.scores.len());

    // The check (not part of the protocol): the plaintext monitor on the same readings.
    let plain: Vec<_> = window.iter().map(|s| monitor.scores(&s.readings)).collect();
    let mut samples = Vec::with_capacity(rows);
    let (mut err_t2, mut err_spe) = (0.0f64, 0.0f64);
    let mut mismatches = Vec::new();
    let mut alarms = Vec::with_capacity(rows);
    for ((s, p), &(t2, spe)) in window.iter().zip(&plain).zip(&outcome.scores) {
        err_t2 = err_t2.max((t2 - p.t2).abs());
        err_spe = err_spe.max((spe - p.spe).abs());
        let he = (t2 > monitor.limit_t2, spe > monitor.limit_spe);
        if he != monitor.alarms(*p) {
            mismatches.push(s.index);
        }
        alarms.push(he);
        samples.push(SampleRow {
            sample: s.index,
            fault_active: s.fault_active,
            t2,
            t2_plaintext: p.t2,
            spe,
            spe_plaintext: p.spe,
            alarm_t2: he.0,
            alarm_spe: he.1,
        });
    }
    let mut steps = outcome.steps;
    steps.sort_by(|a, b| a.start_ms.total_cmp(&b.start_ms));
    let report = MonitorReport {
        mode: "monitor",
        preset,
        ring_degree: params.n(),
        secure,
        fault: args.fault,
        fault_description,
        rows,
        reference_samples: reference.len(),
        components: monitor.components(),
        explained_variance: monitor.explained,
        limit_rule: format!("{:.0}th percentiles of the reference samples' statistics", LIMIT_QUANTILE * 100.0),
        limit_t2: monitor.limit_t2,
        limit_spe: monitor.limit_spe,
        collective_key: outcome.key_id,
        steps,
        links: outcome.links,
        setup_ms: outcome.setup_ms,
        protocol_ms: outcome.protocol_ms,
        max_abs_err_t2: err_t2,
        max_abs_err_spe: err_spe,
        alarms_identical: mismatches.is_empty(),
        alarm_mismatches: mismatches,
        normal: Stretch::of(&window, &alarms, false),
        faulty: Stretch::of(&window, &alarms, true),
        samples,
    };
    if args.json {
        println!("{}", serde_json::to_string(&report)?);
    } else {
        print_story(&report);
    }
    Ok(())
}

fn mb(bytes: u64) -> String {
    if bytes >= 1 << 20 {
        format!("{:.1} MB", bytes as f64 / (1u64 << 20) as f64)
    } else {
        format!("{:.0} kB", bytes as f64 / 1024.0)
    }
}

fn seconds(ms: f64) -> String {
    if ms >= 1000.0 {
        format!("{:.2} s", ms / 1e3)
    } else {
        format!("{ms:.0} ms")
    }
}

fn rate(n: usize, of: usize) -> String {
    if of == 0 {
        "-".into()
    } else {
        format!("{n} ({:.1} %)", 100.0 * n as f64 / of as f64)
    }
}

fn print_story(r: &MonitorReport) {
    let security = if r.secure { "128-bit security" } else { "INSECURE test preset" };
    println!("veil demo: is the plant running as declared? Secure process monitoring with threshold CKKS");
    println!("           {} (N = {}, {security}), Tennessee Eastman process, 52 sensors\n", r.preset, r.ring_degree);
    let run = if r.fault == 0 {
        "normal operation throughout".to_string()
    } else {
        format!("IDV({}) {} from sample 161", r.fault, r.fault_description)
    };
    println!("  operator      party 1, data owner: samples 1-{} (one every 3 min) of test run {},", r.rows, r.fault);
    println!("                {run}; learns neither the monitor nor any score");
    println!("  inspectorate  party 2, model owner: PCA of declared normal operation (training run 0, {} samples),", r.reference_samples);
    println!(
        "                {} components ({:.1} % of variance); alarm when T² > {:.2} or SPE > {:.2}",
        r.components,
        100.0 * r.explained_variance,
        r.limit_t2,
        r.limit_spe
    );
    println!("                ({}); alone learns the scores, never a reading", r.limit_rule);
    println!("  server        evaluator: relinearisation and rotation keys only, no share of the secret key");
    println!("  links         one process per role, TLS 1.3 over loopback, mutually authenticated (throwaway CA)");
    println!("                collective key {}\n", r.collective_key);

    println!("  {:<13} {:<56} {:>9}  sent", "role", "step", "time");
    for s in &r.steps {
        let sent: Vec<String> = s.sent.iter().map(|(to, b)| format!("{} to {to}", mb(*b))).collect();
        println!("  {:<13} {:<56} {:>9}  {}", s.role, s.step, seconds(s.ms), sent.join(", "));
    }
    let links: Vec<String> = r.links.iter().filter(|l| l.bytes > 0).map(|l| format!("{} -> {} {}", l.from, l.to, mb(l.bytes))).collect();
    for (i, chunk) in links.chunks(3).enumerate() {
        println!("{}{}", if i == 0 { "\n  traffic: " } else { "           " }, chunk.join(", "));
    }
    println!("  wall time: {} for the three role processes ({} for the CA)\n", seconds(r.protocol_ms), seconds(r.setup_ms));

    println!("  what the inspectorate learns, checked against the plaintext monitor on the same readings:");
    println!(
        "    max abs error: T² {:.1e}, SPE {:.1e}; alarms {} on all {} samples{}",
        r.max_abs_err_t2,
        r.max_abs_err_spe,
        if r.alarms_identical { "identical" } else { "DIFFER" },
        r.rows,
        if r.alarms_identical { String::new() } else { format!(" (samples {:?})", r.alarm_mismatches) }
    );
    let onset = r.samples.iter().position(|s| s.fault_active).unwrap_or(r.samples.len());
    let from = onset.saturating_sub(2);
    println!("    {:>8} {:>12} {:>12} {:>12} {:>12}  alarm", "sample", "T²", "T² (plain)", "SPE", "SPE (plain)");
    for s in r.samples.iter().skip(from).take(5) {
        let alarm = match (s.alarm_t2, s.alarm_spe) {
            (true, true) => "T², SPE",
            (true, false) => "T²",
            (false, true) => "SPE",
            (false, false) => "-",
        };
        println!("    {:>8} {:>12.4} {:>12.4} {:>12.4} {:>12.4}  {alarm}", s.sample, s.t2, s.t2_plaintext, s.spe, s.spe_plaintext);
    }
    println!("\n    {:<26} {:>8} {:>14} {:>14} {:>14}", "stretch", "samples", "T² alarms", "SPE alarms", "either");
    for (name, st) in [("normal", &r.normal), ("faulty", &r.faulty)] {
        if st.samples == 0 {
            continue;
        }
        println!(
            "    {:<26} {:>8} {:>14} {:>14} {:>14}",
            format!("{name} (samples {}-{})", st.first_sample, st.last_sample),
            st.samples,
            rate(st.t2_alarms, st.samples),
            rate(st.spe_alarms, st.samples),
            rate(st.alarms, st.samples)
        );
    }
    let mut verdict = Vec::new();
    if r.normal.samples > 0 {
        verdict.push(format!("false-alarm rate {:.1} %", 100.0 * r.normal.alarm_rate));
    }
    if r.faulty.samples > 0 {
        verdict.push(format!("detection rate {:.1} %", 100.0 * r.faulty.alarm_rate));
    }
    println!("    {}", verdict.join(", "));
}
