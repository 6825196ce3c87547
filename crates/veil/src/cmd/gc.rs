//! `veil gc run` and `veil millionaires`: two-party computation with garbled circuits, each
//! party a separate process, linked by mutually authenticated TLS.

use std::io::{BufRead, BufReader, Read};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use clap::{Args, Subcommand, ValueEnum};
use rand_core::OsRng;
use serde::Serialize;
use veil_channel::{Channel, ChannelConfig, Fingerprint};
use veil_gc::values::{format_hex, parse_value};
use veil_gc::{Circuit, Evaluator, Garbler, IknpConfig, OutputTo, Program};
use veil_transport::{Identity, Listener, TlsChannel};

/// Line a listening party prints on standard error once it accepts connections.
pub const LISTENING_PREFIX: &str = "veil gc: listening on ";

/// The two roles of Yao's protocol.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Encrypts the circuit (its inputs enter as wire labels; it holds the free-XOR offset).
    Garbler,
    /// Evaluates the garbled circuit (its inputs enter by oblivious transfer).
    Evaluator,
}

impl Role {
    fn name(self) -> &'static str {
        match self {
            Role::Garbler => "garbler",
            Role::Evaluator => "evaluator",
        }
    }
    fn other(self) -> Role {
        match self {
            Role::Garbler => Role::Evaluator,
            Role::Evaluator => Role::Garbler,
        }
    }
}

/// Who learns the output.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Reveal {
    /// Both parties.
    Both,
    /// The evaluator only.
    Evaluator,
}

/// How this party reaches the other one.
#[derive(Debug, Clone, Args)]
pub struct LinkArgs {
    /// This party's role (not needed with --local).
    #[arg(long, value_enum, required_unless_present = "local")]
    pub role: Option<Role>,
    /// Listen for the other party on ADDR (e.g. 127.0.0.1:7000; port 0 picks a free port and
    /// prints it on standard error).
    #[arg(long, value_name = "ADDR", conflicts_with = "connect")]
    pub listen: Option<SocketAddr>,
    /// Connect to the other party listening on ADDR (retries until --timeout).
    #[arg(long, value_name = "ADDR")]
    pub connect: Option<SocketAddr>,
    /// Directory with `ca.pem`, `<name>.pem` and `<name>.key` (see `veil certs init`).
    #[arg(long, value_name = "DIR", required_unless_present = "local")]
    pub certs: Option<PathBuf>,
    /// This party's certificate name (default: the role, `garbler` or `evaluator`).
    #[arg(long, value_name = "NAME")]
    pub name: Option<String>,
    /// The other party's certificate name (default: the other role).
    #[arg(long, value_name = "NAME")]
    pub peer: Option<String>,
    /// Seconds to wait for the other party at any step before giving up.
    #[arg(long, value_name = "SECS", default_value_t = 30)]
    pub timeout: u64,
    /// Run the KOS consistency check in OT extension (protects the garbler against an
    /// evaluator that deviates in the OT; both parties must agree).
    #[arg(long)]
    pub kos: bool,
    /// Run the computation N times in one session (one OT setup) and report the time per run.
    #[arg(long, value_name = "N", default_value_t = 1)]
    pub repeat: usize,
    /// Make each of the --repeat runs a batch of B executions sent in one flight (the
    /// evaluator's input corrections for all B first, then B garbled circuits back to back);
    /// times are then per batch.
    #[arg(long, value_name = "B", default_value_t = 1)]
    pub batch: usize,
    /// Print one JSON object on standard output instead of text.
    #[arg(long)]
    pub json: bool,
    /// Try it on one machine: start both parties as two child processes of this command,
    /// linked over TLS on 127.0.0.1 with certificates made for the occasion in a temporary
    /// directory.
    #[arg(long)]
    pub local: bool,
}

/// Garbled-circuit commands.
#[derive(Debug, Args)]
pub struct GcArgs {
    #[command(subcommand)]
    pub action: GcAction,
}

#[derive(Debug, Subcommand)]
pub enum GcAction {
    /// Evaluate a Bristol Fashion circuit on two parties' private inputs.
    ///
    /// The first --garbler-groups input groups of the circuit belong to the garbler, the
    /// others to the evaluator; each party gives one --input per group it owns, as a decimal
    /// integer (negative values in two's complement) or 0x-hexadecimal. Wire i of a group is
    /// bit i of the integer; for the AES and SHA-256 circuits of data/bristol a 16-byte string
    /// is the big-endian integer, so the FIPS-197 key is 0x000102030405060708090a0b0c0d0e0f.
    /// Neither party learns the other's input; the output groups are printed in hexadecimal.
    ///
    /// Examples (two terminals, certificates from `veil certs init --dir pki --parties
    /// garbler,evaluator`):
    ///
    ///   veil gc run --circuit data/bristol/aes_128.txt --role garbler --listen 127.0.0.1:7000
    ///   --certs pki --input 0x000102030405060708090a0b0c0d0e0f
    ///
    ///   veil gc run --circuit data/bristol/aes_128.txt --role evaluator --connect
    ///   127.0.0.1:7000 --certs pki --input 0x00112233445566778899aabbccddeeff
    ///
    /// or both at once: veil gc run --circuit data/bristol/adder64.txt --local
    /// --garbler-input 5 --evaluator-input 7
    Run(RunArgs),
}

#[derive(Debug, Args)]
pub struct RunArgs {
    /// The Bristol Fashion circuit file (both parties must use the same file).
    #[arg(long, value_name = "FILE")]
    pub circuit: PathBuf,
    /// How many of the leading input groups are the garbler's (default: half, rounded up).
    #[arg(long, value_name = "K")]
    pub garbler_groups: Option<usize>,
    /// This party's value for each input group it owns, in group order.
    #[arg(long = "input", value_name = "VALUE", allow_hyphen_values = true)]
    pub inputs: Vec<String>,
    /// With --local: the garbler's input values.
    #[arg(long = "garbler-input", value_name = "VALUE", allow_hyphen_values = true, requires = "local")]
    pub garbler_inputs: Vec<String>,
    /// With --local: the evaluator's input values.
    #[arg(long = "evaluator-input", value_name = "VALUE", allow_hyphen_values = true, requires = "local")]
    pub evaluator_inputs: Vec<String>,
    /// Who learns the output.
    #[arg(long, value_enum, default_value = "both")]
    pub reveal: Reveal,
    #[command(flatten)]
    pub link: LinkArgs,
}

/// Solve Yao's millionaires' problem: two parties learn who is richer, and nothing else.
///
/// Each party runs this command as its own process with its private amount (an unsigned
/// integer of at most --bits bits); the amounts are compared in a garbled circuit of one AND
/// gate per bit, and both parties learn the single bit "the evaluator is richer".
///
/// Examples: `veil millionaires --role garbler --listen 127.0.0.1:7001 --certs pki --amount
/// 1500000` and `veil millionaires --role evaluator --connect 127.0.0.1:7001 --certs pki
/// --amount 2000000`; or on one machine: `veil millionaires --local --garbler-amount 1500000
/// --evaluator-amount 2000000`.
#[derive(Debug, Args)]
pub struct MillionairesArgs {
    /// This party's private amount.
    #[arg(long, value_name = "N", required_unless_present = "local")]
    pub amount: Option<u64>,
    /// With --local: the garbler's amount.
    #[arg(long, value_name = "N", requires = "local")]
    pub garbler_amount: Option<u64>,
    /// With --local: the evaluator's amount.
    #[arg(long, value_name = "N", requires = "local")]
    pub evaluator_amount: Option<u64>,
    /// Width of the amounts in bits (both parties must agree).
    #[arg(long, default_value_t = 64, value_parser = clap::value_parser!(u16).range(1..=64))]
    pub bits: u16,
    #[command(flatten)]
    pub link: LinkArgs,
}

/// What one party did, for text and JSON output.
#[derive(Debug, Serialize)]
pub struct PartyReport {
    pub role: Role,
    /// Output bits, when this party learns them.
    #[serde(skip)]
    pub output: Option<Vec<bool>>,
    pub executions: usize,
    pub setup_ms: f64,
    pub median_ms: f64,
    /// Bytes of the OT setup (both directions).
    pub setup_bytes: u64,
    /// Bytes of the last execution (both directions, frame headers included).
    pub run_bytes: u64,
    /// Bytes this party received in the last execution (frame headers included).
    pub run_bytes_received: u64,
    #[serde(skip)]
    pub run_times: Vec<Duration>,
}

/// What both parties of a session must agree on besides the circuit.
#[derive(Debug, Clone, Copy)]
pub struct SessionPlan {
    pub reveal: OutputTo,
    pub kos: bool,
    pub repeat: usize,
    pub batch: usize,
}

impl SessionPlan {
    fn from_link(link: &LinkArgs, reveal: OutputTo) -> Self {
        Self { reveal, kos: link.kos, repeat: link.repeat, batch: link.batch }
    }
}

/// Derives the channel fingerprint from everything both parties must agree on.
pub fn session_fingerprint(program: &Program, plan: SessionPlan) -> Fingerprint {
    let SessionPlan { reveal, kos, repeat, batch } = plan;
    let mut bytes = Vec::new();
    bytes.extend_from_slice(&program.circuit().digest());
    bytes.extend_from_slice(&(program.garbler_groups() as u64).to_le_bytes());
    bytes.push((reveal == OutputTo::Both) as u8);
    bytes.push(kos as u8);
    bytes.extend_from_slice(&(repeat as u64).to_le_bytes());
    bytes.extend_from_slice(&(batch as u64).to_le_bytes());
    Fingerprint::derive("veil-gc 2026-11 two-party session", &bytes)
}

/// Opens the TLS link to the other party as `--listen` or `--connect` say.
pub fn open_link(link: &LinkArgs, role: Role, fingerprint: Fingerprint) -> anyhow::Result<TlsChannel> {
    let certs = link.certs.as_deref().context("--certs is required")?;
    let name = link.name.clone().unwrap_or_else(|| role.name().to_string());
    let peer = link.peer.clone().unwrap_or_else(|| role.other().name().to_string());
    let identity = Identity::load(certs, &name).with_context(|| format!("loading the identity of `{name}` from {}", certs.display()))?;
    let config = ChannelConfig::new(fingerprint).with_timeout(Duration::from_secs(link.timeout.max(1)));
    match (link.listen, link.connect) {
        (Some(addr), None) => {
            let listener = Listener::bind(addr, &identity)?;
            eprintln!("{LISTENING_PREFIX}{}", listener.local_addr());
            let (ch, who) = listener.accept_one_of(config, std::slice::from_ref(&peer))?;
            tracing::info!(peer = %who, "accepted");
            Ok(ch)
        }
        (None, Some(addr)) => Ok(veil_transport::connect(addr, &peer, &identity, config)?),
        _ => bail!("give exactly one of --listen ADDR or --connect ADDR"),
    }
}

/// Runs this party's side: OT setup, precomputation of the evaluator's OTs, then `repeat`
/// batches of `batch` executions each (`run_times` holds one time per batch).
pub fn run_party<C: Channel + ?Sized>(
    ch: &mut C,
    role: Role,
    program: &Program,
    inputs: &[bool],
    plan: SessionPlan,
) -> anyhow::Result<PartyReport> {
    let SessionPlan { reveal, kos, repeat, batch } = plan;
    let batch = batch.max(1);
    let many: Vec<Vec<bool>> = vec![inputs.to_vec(); batch];
    let ot = IknpConfig { kos_check: kos };
    let start = Instant::now();
    let need = program.evaluator_bits() * repeat.max(1) * batch;
    let mut times = Vec::with_capacity(repeat);
    let mut output = None;
    let mut run_bytes = 0;
    let mut run_bytes_received = 0;
    let setup_bytes;
    let setup_ms;
    match role {
        Role::Garbler => {
            let mut g = Garbler::setup(ch, ot, &mut OsRng)?;
            g.precompute(ch, need)?;
            setup_ms = start.elapsed().as_secs_f64() * 1e3;
            setup_bytes = ch.stats().total_bytes();
            for _ in 0..repeat.max(1) {
                let before = ch.stats();
                let t = Instant::now();
                output = g.run_batch(ch, program, &many, reveal)?.and_then(|v| v.into_iter().next());
                times.push(t.elapsed());
                let delta = ch.stats().since(&before);
                (run_bytes, run_bytes_received) = (delta.total_bytes(), delta.bytes_received);
            }
        }
        Role::Evaluator => {
            let mut e = Evaluator::setup(ch, ot, &mut OsRng)?;
            e.precompute(ch, need)?;
            setup_ms = start.elapsed().as_secs_f64() * 1e3;
            setup_bytes = ch.stats().total_bytes();
            for _ in 0..repeat.max(1) {
                let before = ch.stats();
                let t = Instant::now();
                output = e.run_batch(ch, program, &many, reveal)?.into_iter().next();
                times.push(t.elapsed());
                let delta = ch.stats().since(&before);
                (run_bytes, run_bytes_received) = (delta.total_bytes(), delta.bytes_received);
            }
        }
    }
    ch.flush()?;
    let mut sorted = times.clone();
    sorted.sort();
    let median_ms = sorted.get(sorted.len() / 2).map(|d| d.as_secs_f64() * 1e3).unwrap_or(0.0);
    Ok(PartyReport {
        role,
        output,
        executions: times.len(),
        setup_ms,
        median_ms,
        setup_bytes,
        run_bytes,
        run_bytes_received,
        run_times: times,
    })
}

fn parse_inputs(circuit: &Circuit, groups: std::ops::Range<usize>, values: &[String], who: &str) -> anyhow::Result<Vec<bool>> {
    if values.len() != groups.len() {
        bail!(
            "the {who} owns input groups {}..{} of the circuit ({} of them) but {} value(s) were given with --input",
            groups.start + 1,
            groups.end,
            groups.len(),
            values.len()
        );
    }
    let mut bits = Vec::new();
    for (k, v) in groups.zip(values) {
        bits.extend(parse_value(v, circuit.input_sizes()[k], k + 1)?);
    }
    Ok(bits)
}

fn reveal_mode(r: Reveal) -> OutputTo {
    match r {
        Reveal::Both => OutputTo::Both,
        Reveal::Evaluator => OutputTo::Evaluator,
    }
}

pub fn run(args: GcArgs) -> anyhow::Result<()> {
    match args.action {
        GcAction::Run(a) => run_circuit(a),
    }
}

fn run_circuit(args: RunArgs) -> anyhow::Result<()> {
    let circuit = Circuit::from_file(&args.circuit)?;
    let groups = circuit.input_sizes().len();
    let garbler_groups = args.garbler_groups.unwrap_or(groups.div_ceil(2));
    let program = Program::new(circuit, garbler_groups)?;
    if args.link.local {
        let circuit_arg = args.circuit.display().to_string();
        let common = vec![
            "gc".to_string(),
            "run".into(),
            "--circuit".into(),
            circuit_arg,
            "--garbler-groups".into(),
            garbler_groups.to_string(),
            "--reveal".into(),
            format!("{:?}", args.reveal).to_lowercase(),
        ];
        let per_role = |role: Role| -> Vec<String> {
            let values = if role == Role::Garbler { &args.garbler_inputs } else { &args.evaluator_inputs };
            values.iter().flat_map(|v| ["--input".to_string(), v.clone()]).collect()
        };
        // Check both parties' inputs here, so that a typo fails before any process starts.
        parse_inputs(program.circuit(), 0..garbler_groups, &args.garbler_inputs, "garbler")?;
        parse_inputs(program.circuit(), garbler_groups..groups, &args.evaluator_inputs, "evaluator")?;
        return run_local(&args.link, &common, per_role);
    }
    let role = args.link.role.context("--role is required")?;
    let range = if role == Role::Garbler { 0..garbler_groups } else { garbler_groups..groups };
    let inputs = parse_inputs(program.circuit(), range, &args.inputs, role.name())?;
    let reveal = reveal_mode(args.reveal);
    let plan = SessionPlan::from_link(&args.link, reveal);
    let mut ch = open_link(&args.link, role, session_fingerprint(&program, plan))?;
    let report = run_party(&mut ch, role, &program, &inputs, plan)?;
    let outputs: Option<Vec<String>> = report.output.as_ref().map(|bits| {
        let mut at = 0;
        program
            .circuit()
            .output_sizes()
            .iter()
            .map(|n| {
                at += n;
                format_hex(&bits[at - n..at])
            })
            .collect()
    });
    if args.link.json {
        let mut v = serde_json::to_value(&report)?;
        v["circuit"] = args.circuit.display().to_string().into();
        v["and_gates"] = program.circuit().num_and().into();
        v["outputs"] = serde_json::to_value(&outputs)?;
        println!("{v}");
    } else {
        match &outputs {
            Some(outs) => {
                for (k, o) in outs.iter().enumerate() {
                    println!("{}: output {}: {o}", role.name(), k + 1);
                }
            }
            None => println!("{}: the output is revealed to the evaluator only", role.name()),
        }
        print_stats(&report, program.circuit().num_and());
    }
    Ok(())
}

fn print_stats(report: &PartyReport, and_gates: usize) {
    eprintln!(
        "{}: {} run(s) of {and_gates} AND gates, median {:.3} ms each after {:.1} ms of OT setup; {} bytes per run, {} bytes of setup",
        report.role.name(),
        report.executions,
        report.median_ms,
        report.setup_ms,
        report.run_bytes,
        report.setup_bytes
    );
}

pub fn run_millionaires(args: MillionairesArgs) -> anyhow::Result<()> {
    let bits = args.bits as usize;
    let program = veil_gc::millionaires::program(bits)?;
    if args.link.local {
        let (Some(ga), Some(ea)) = (args.garbler_amount, args.evaluator_amount) else {
            bail!("--local needs --garbler-amount and --evaluator-amount");
        };
        let common = vec!["millionaires".to_string(), "--bits".into(), bits.to_string()];
        let per_role =
            |role: Role| -> Vec<String> { vec!["--amount".to_string(), if role == Role::Garbler { ga } else { ea }.to_string()] };
        return run_local(&args.link, &common, per_role);
    }
    let role = args.link.role.context("--role is required")?;
    let amount = args.amount.context("--amount is required")?;
    if bits < 64 && amount >> bits != 0 {
        bail!("the amount {amount} does not fit in --bits {bits}");
    }
    let inputs = veil_gc::values::from_u128(amount as u128, bits);
    let plan = SessionPlan::from_link(&args.link, OutputTo::Both);
    let mut ch = open_link(&args.link, role, session_fingerprint(&program, plan))?;
    let report = run_party(&mut ch, role, &program, &inputs, plan)?;
    let evaluator_richer = report.output.as_ref().and_then(|b| b.first().copied()).context("no output")?;
    if args.link.json {
        let mut v = serde_json::to_value(&report)?;
        v["evaluator_richer"] = evaluator_richer.into();
        v["bits"] = bits.into();
        println!("{v}");
    } else {
        let verdict = match (role, evaluator_richer) {
            (Role::Evaluator, true) => "you (the evaluator) are richer",
            (Role::Evaluator, false) => "the garbler is at least as rich as you",
            (Role::Garbler, true) => "the evaluator is richer than you",
            (Role::Garbler, false) => "you (the garbler) are at least as rich as the evaluator",
        };
        println!("{}: {verdict}", role.name());
        print_stats(&report, bits);
    }
    Ok(())
}

/// Kills a child process unless it has already been waited for.
struct ChildGuard(Option<Child>);

impl Drop for ChildGuard {
    fn drop(&mut self) {
        if let Some(mut c) = self.0.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// Waits for the line announcing the listening address on `stderr`; forwards every other
/// line to this process's standard error.
pub fn read_listening_addr(stderr: impl Read + Send + 'static, timeout: Duration) -> anyhow::Result<SocketAddr> {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut sent = false;
        for line in BufReader::new(stderr).lines() {
            let Ok(line) = line else { break };
            if !sent {
                if let Some(addr) = line.strip_prefix(LISTENING_PREFIX) {
                    let _ = tx.send(addr.trim().to_string());
                    sent = true;
                    continue;
                }
            }
            eprintln!("{line}");
        }
    });
    let addr = rx.recv_timeout(timeout).context("the listening party did not start in time")?;
    addr.parse().with_context(|| format!("bad listening address `{addr}`"))
}

/// Spawns `veil <args>` with piped output.
fn spawn_self(args: &[String], stderr: Stdio) -> anyhow::Result<Child> {
    let exe = std::env::current_exe().context("locating the veil executable")?;
    Command::new(exe).args(args).stdout(Stdio::piped()).stderr(stderr).spawn().context("starting a party process")
}

/// `--local`: both roles as child processes, an ephemeral PKI, the garbler listening on a
/// free loopback port.
fn run_local(link: &LinkArgs, common: &[String], per_role: impl Fn(Role) -> Vec<String>) -> anyhow::Result<()> {
    let dir = tempfile::tempdir().context("creating a temporary directory for certificates")?;
    veil_transport::pki::create_local(dir.path(), &["garbler", "evaluator"])?;
    let certs = dir.path().display().to_string();
    let mut shared: Vec<String> = common.to_vec();
    shared.extend(["--certs".into(), certs, "--timeout".into(), link.timeout.to_string(), "--repeat".into(), link.repeat.to_string()]);
    shared.extend(["--batch".into(), link.batch.to_string()]);
    if link.kos {
        shared.push("--kos".into());
    }
    if link.json {
        shared.push("--json".into());
    }
    let mut g_args = shared.clone();
    g_args.extend(["--role".into(), "garbler".into(), "--listen".into(), "127.0.0.1:0".into()]);
    g_args.extend(per_role(Role::Garbler));
    let mut garbler = ChildGuard(Some(spawn_self(&g_args, Stdio::piped())?));
    let stderr = garbler.0.as_mut().and_then(|c| c.stderr.take()).context("garbler stderr")?;
    let addr = read_listening_addr(stderr, Duration::from_secs(link.timeout.max(1)))?;
    let mut e_args = shared;
    e_args.extend(["--role".into(), "evaluator".into(), "--connect".into(), addr.to_string()]);
    e_args.extend(per_role(Role::Evaluator));
    let mut evaluator = ChildGuard(Some(spawn_self(&e_args, Stdio::inherit())?));
    let deadline = Instant::now() + Duration::from_secs(2 * link.timeout.max(1) + 10);
    let mut outputs = Vec::new();
    for (name, guard) in [("garbler", &mut garbler), ("evaluator", &mut evaluator)] {
        let child = guard.0.as_mut().context("child")?;
        let mut stdout = child.stdout.take().context("child stdout")?;
        let reader = std::thread::spawn(move || {
            let mut s = String::new();
            let _ = stdout.read_to_string(&mut s);
            s
        });
        let status = loop {
            if let Some(status) = child.try_wait()? {
                break status;
            }
            if Instant::now() > deadline {
                bail!("the {name} process did not finish in time (killed)");
            }
            std::thread::sleep(Duration::from_millis(5));
        };
        guard.0 = None;
        let out = reader.join().unwrap_or_default();
        if !status.success() {
            bail!("the {name} process failed ({status})");
        }
        outputs.push(out);
    }
    for out in outputs {
        print!("{out}");
    }
    Ok(())
}

/// Locates a circuit of `data/bristol` from the source tree this binary was built from.
pub fn bristol_path(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../data/bristol").join(name)
}
