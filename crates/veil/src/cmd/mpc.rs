//! `veil mpc`: secret-sharing MPC between processes (2 parties + dealer, or 3 parties
//! replicated), with data providers and a result receiver, linked by mutually
//! authenticated TLS.
//!
//! Every participant is one process started with `--role ROLE --id N --session FILE`; the
//! session file (TOML, see [`Session`]) lists every member's id, name and address, the PKI
//! folder, the protocol and the task. `--local` writes such a file and an ephemeral PKI into a
//! temporary folder and starts every role as a child process of this one.

mod io;
mod party;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use clap::{Args, ValueEnum};
use serde::{Deserialize, Serialize};
use veil_mpc::nn::{self, Arch};

pub use party::BenchOutcome;

/// The two protocols.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Serialize, Deserialize)]
pub enum Protocol {
    /// Two parties with additive shares and a dealer for the correlated randomness.
    #[value(name = "2pc-dealer")]
    #[serde(rename = "2pc-dealer")]
    TwoPcDealer,
    /// Three parties with replicated shares (honest majority), no dealer.
    #[value(name = "3pc-replicated")]
    #[serde(rename = "3pc-replicated")]
    ThreePcReplicated,
}

impl Protocol {
    pub fn name(self) -> &'static str {
        match self {
            Protocol::TwoPcDealer => "2pc-dealer",
            Protocol::ThreePcReplicated => "3pc-replicated",
        }
    }
}

/// What the session computes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Task {
    /// Serving: provider 0 (the model owner) shares a model, provider 1 (the client) shares a
    /// batch of inputs; the receiver alone reconstructs the outputs.
    Infer,
    /// Training: every provider shares rows `features…, label`; the parties train logistic
    /// regression by mini-batch SGD; the receiver alone reconstructs the model.
    TrainLogreg,
    /// Training: every provider shares rows `features…, label` (label an integer class
    /// `0..k`, one-hot encoded by the provider); the parties train an MLP (dense layers, ReLU
    /// between them, softmax cross-entropy) by mini-batch SGD from public initial weights
    /// drawn from the session's seed; the receiver alone reconstructs the model.
    TrainMlp,
}

/// A participant's role.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Role {
    /// A computing party (2PC: ids 0 and 1; 3PC: ids 0, 1, 2).
    Party,
    /// The 2PC dealer (id 2): sends correlated randomness, receives nothing.
    Dealer,
    /// A data provider: secret-shares its data for the parties.
    Provider,
    /// The result receiver: reconstructs the output from the parties' shares.
    Receiver,
}

/// One member of a session.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Member {
    pub id: usize,
    pub name: String,
    pub role: Role,
    pub addr: SocketAddr,
}

/// The session file shared by all members.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Session {
    pub protocol: Protocol,
    pub task: Task,
    /// Fractional bits of the fixed-point encoding.
    pub frac_bits: u32,
    /// Bound on every wait, in seconds.
    pub timeout_s: u64,
    /// Folder with `ca.pem` and each member's certificate and key.
    pub pki: PathBuf,
    /// Public model architecture, e.g. `30:dense1,sigmoid`.
    pub arch: String,
    /// Rows each provider contributes (public metadata the dealer needs).
    pub rows: Vec<usize>,
    /// Training hyper-parameters.
    pub lr: f64,
    pub batch: usize,
    pub epochs: usize,
    /// Seed of the public initial weights of `train-mlp` (as `veil_ml::Model::random_mlp`).
    #[serde(default)]
    pub init_seed: u64,
    pub members: Vec<Member>,
}

impl Session {
    pub fn load(path: &Path) -> anyhow::Result<Self> {
        let text = std::fs::read_to_string(path).with_context(|| format!("reading session file {}", path.display()))?;
        let s: Session = toml::from_str(&text).with_context(|| format!("parsing session file {}", path.display()))?;
        s.validate()?;
        Ok(s)
    }

    fn validate(&self) -> anyhow::Result<()> {
        let arch = Arch::parse(&self.arch)?;
        if self.task == Task::TrainMlp {
            mlp_sizes(&arch)?;
        }
        let parties = self.computing_parties();
        for i in 0..parties {
            let want = if self.protocol == Protocol::TwoPcDealer && i == 2 { Role::Dealer } else { Role::Party };
            match self.members.get(i) {
                Some(m) if m.id == i && m.role == want => {}
                _ => bail!("session: member {i} must be a {want:?}"),
            }
        }
        for (i, m) in self.members.iter().enumerate() {
            if m.id != i {
                bail!("session: members must have ids 0, 1, 2, … in order");
            }
        }
        if self.providers().len() != self.rows.len() {
            bail!("session: {} providers but {} row counts", self.providers().len(), self.rows.len());
        }
        if self.receiver().is_none() && self.task != Task::Infer {
            bail!("session: no receiver");
        }
        if !(self.lr.is_finite() && self.lr > 0.0) || self.batch == 0 {
            bail!("session: learning rate and batch must be positive");
        }
        Ok(())
    }

    /// 3: parties 0, 1 and the dealer, or the three parties.
    pub fn computing_parties(&self) -> usize {
        3
    }

    pub fn providers(&self) -> Vec<&Member> {
        self.members.iter().filter(|m| m.role == Role::Provider).collect()
    }

    pub fn receiver(&self) -> Option<&Member> {
        self.members.iter().find(|m| m.role == Role::Receiver)
    }

    pub fn timeout(&self) -> Duration {
        Duration::from_secs(self.timeout_s.max(1))
    }
}

/// Layer widths `[inputs, hidden…, classes]` of an MLP architecture `dense, relu, …, dense`
/// (at least two classes), the shape `train-mlp` trains.
pub fn mlp_sizes(arch: &Arch) -> anyhow::Result<Vec<usize>> {
    let mut sizes = vec![arch.inputs];
    for (i, l) in arch.layers.iter().enumerate() {
        match (i % 2, l) {
            (0, nn::ArchLayer::Dense { outputs, .. }) => sizes.push(*outputs),
            (1, nn::ArchLayer::Relu) => {}
            _ => bail!("train-mlp needs an architecture dense, relu, dense, …, dense; got {}", arch.to_text()),
        }
    }
    if arch.layers.len() % 2 == 0 || sizes.last().is_some_and(|&k| k < 2) {
        bail!("train-mlp needs an architecture ending in a dense layer with at least 2 classes; got {}", arch.to_text());
    }
    Ok(sizes)
}

/// The MLP architecture text for `inputs`, `hidden` widths and `classes`, e.g.
/// `784:dense128,relu,dense10`.
pub fn mlp_arch(inputs: usize, hidden: &[usize], classes: usize) -> String {
    let mut parts: Vec<String> = hidden.iter().flat_map(|h| [format!("dense{h}"), "relu".to_string()]).collect();
    parts.push(format!("dense{classes}"));
    format!("{inputs}:{}", parts.join(","))
}

/// Options of `veil mpc`.
#[derive(Debug, Args)]
pub struct MpcArgs {
    /// Start every role as a child process on this machine (ephemeral certificates in a
    /// temporary folder, free loopback ports) and wait for all of them.
    #[arg(long)]
    pub local: bool,
    /// This process's role (with --id and --session).
    #[arg(long, value_enum)]
    pub role: Option<Role>,
    /// This process's member id in the session file.
    #[arg(long)]
    pub id: Option<usize>,
    /// The session file (TOML) every member reads.
    #[arg(long)]
    pub session: Option<PathBuf>,
    /// Protocol (with --local).
    #[arg(long, value_enum, default_value = "2pc-dealer")]
    pub protocol: Protocol,
    /// Task (with --local).
    #[arg(long, value_enum, default_value = "infer")]
    pub task: Task,
    /// Model file (veil-ml JSON) of the model owner (provider 0 of an `infer` session).
    #[arg(long)]
    pub model: Option<PathBuf>,
    /// Input rows (CSV or .npy) of the client (provider 1 of an `infer` session).
    #[arg(long)]
    pub input: Option<PathBuf>,
    /// Training rows `features…, label` (CSV or .npy): for a provider, its file; with --local,
    /// one file per provider (repeat the option).
    #[arg(long)]
    pub data: Vec<PathBuf>,
    /// Where the receiver writes the result: outputs (CSV, or JSON with classes, by
    /// extension) or the trained model (veil-ml JSON).
    #[arg(long)]
    pub output: Option<PathBuf>,
    /// Fractional bits of the fixed-point encoding (with --local).
    #[arg(long, default_value_t = 16)]
    pub frac_bits: u32,
    /// Bound on every wait, in seconds (with --local).
    #[arg(long, default_value_t = 30)]
    pub timeout: u64,
    /// Learning rate of `train-logreg` and `train-mlp` (with --local).
    #[arg(long, default_value_t = 0.5)]
    pub lr: f64,
    /// Mini-batch size of the training tasks (with --local).
    #[arg(long, default_value_t = 50)]
    pub batch: usize,
    /// Passes over the training rows (with --local).
    #[arg(long, default_value_t = 1)]
    pub epochs: usize,
    /// Hidden-layer widths of `train-mlp`, comma-separated (with --local): `--hidden 128,128`
    /// trains inputs → 128 → ReLU → 128 → ReLU → classes. The input width is the providers'
    /// feature count; the classes are `0..=max label` over all providers' files.
    #[arg(long, value_delimiter = ',', default_value = "128")]
    pub hidden: Vec<usize>,
    /// Seed of the public initial weights of `train-mlp` (uniform ±1/√fan-in, as
    /// `veil_ml::Model::random_mlp`), so a plaintext run can start from the same weights
    /// (with --local).
    #[arg(long, default_value_t = 1)]
    pub init_seed: u64,
    /// Print a JSON summary on standard output (with --local).
    #[arg(long)]
    pub json: bool,
    /// Benchmark mode of a computing party (used by `veil bench mpc`).
    #[arg(long, hide = true)]
    pub bench_case: Option<String>,
    #[arg(long, hide = true, default_value_t = 10)]
    pub bench_reps: usize,
}

pub fn run(args: MpcArgs) -> anyhow::Result<()> {
    if args.local {
        return run_local(&args);
    }
    let (Some(role), Some(id), Some(session)) = (args.role, args.id, args.session.as_ref()) else {
        bail!("give either --local, or --role, --id and --session (see `veil mpc --help`)");
    };
    let s = Session::load(session)?;
    let me = s.members.get(id).with_context(|| format!("no member with id {id} in the session"))?;
    if me.role != role {
        bail!("member {id} is a {:?} in the session, not a {role:?}", me.role);
    }
    if let Some(case) = &args.bench_case {
        let out = party::bench_party(&s, id, case, args.bench_reps)?;
        println!("{}", serde_json::to_string(&out)?);
        return Ok(());
    }
    match role {
        Role::Party | Role::Dealer => party::compute(&s, id),
        Role::Provider => party::provide(&s, id, &args),
        Role::Receiver => party::receive(&s, id, args.output.as_deref()),
    }
}

/// Free loopback ports (bound and released; another process could take one in between, in
/// which case the mesh set-up fails with a clear error).
pub fn free_ports(n: usize) -> anyhow::Result<Vec<SocketAddr>> {
    let ls: Vec<std::net::TcpListener> = (0..n).map(|_| std::net::TcpListener::bind("127.0.0.1:0")).collect::<Result<_, _>>()?;
    Ok(ls.iter().map(|l| l.local_addr()).collect::<Result<_, _>>()?)
}

/// Members and PKI for a session on this machine: three computing parties, then
/// `providers` providers, then a receiver if asked.
pub fn local_session(dir: &Path, protocol: Protocol, task: Task, arch: &str, rows: Vec<usize>, receiver: bool) -> anyhow::Result<Session> {
    let providers = rows.len();
    let n = 3 + providers + usize::from(receiver);
    let addrs = free_ports(n)?;
    let mut members = Vec::new();
    for (id, addr) in addrs.into_iter().enumerate() {
        let (name, role) = if id < 3 {
            if protocol == Protocol::TwoPcDealer && id == 2 {
                ("dealer".to_string(), Role::Dealer)
            } else {
                (format!("party-{id}"), Role::Party)
            }
        } else if id < 3 + providers {
            (format!("provider-{}", id - 3), Role::Provider)
        } else {
            ("receiver".to_string(), Role::Receiver)
        };
        members.push(Member { id, name, role, addr });
    }
    let pki = dir.join("pki");
    let names: Vec<&str> = members.iter().map(|m| m.name.as_str()).collect();
    veil_transport::pki::create_local(&pki, &names)?;
    Ok(Session {
        protocol,
        task,
        frac_bits: 16,
        timeout_s: 30,
        pki,
        arch: arch.to_string(),
        rows,
        lr: 0.5,
        batch: 50,
        epochs: 1,
        init_seed: 0,
        members,
    })
}

/// Children that are killed unless they all finish.
pub struct Children(pub Vec<(String, Child)>);

impl Drop for Children {
    fn drop(&mut self) {
        for (_, c) in self.0.iter_mut() {
            if let Ok(None) = c.try_wait() {
                let _ = c.kill();
                let _ = c.wait();
            }
        }
    }
}

impl Children {
    /// Waits for every child until `deadline`; returns each one's standard output, or an
    /// error naming the first that failed (after killing the others).
    pub fn wait_all(&mut self, deadline: Instant) -> anyhow::Result<Vec<String>> {
        let mut done: Vec<Option<std::process::ExitStatus>> = vec![None; self.0.len()];
        loop {
            for (i, (_, c)) in self.0.iter_mut().enumerate() {
                if done[i].is_none() {
                    done[i] = c.try_wait()?;
                }
            }
            if let Some(i) = done.iter().position(|d| d.is_some_and(|s| !s.success())) {
                bail!("{} failed ({})", self.0[i].0, done[i].map(|s| s.to_string()).unwrap_or_default());
            }
            if done.iter().all(Option::is_some) {
                break;
            }
            if Instant::now() > deadline {
                bail!("the session did not finish in time; children killed");
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        let mut outs = Vec::new();
        for (_, c) in self.0.iter_mut() {
            let mut s = String::new();
            if let Some(mut o) = c.stdout.take() {
                std::io::Read::read_to_string(&mut o, &mut s)?;
            }
            outs.push(s);
        }
        Ok(outs)
    }
}

/// Starts `veil mpc --role … --id … --session …` plus `extra` for every member.
pub fn spawn_members(s: &Session, session_file: &Path, extra: impl Fn(&Member) -> Vec<String>, capture: bool) -> anyhow::Result<Children> {
    let exe = std::env::current_exe().context("locating the veil executable")?;
    let mut kids = Children(Vec::new());
    for m in &s.members {
        let role = match m.role {
            Role::Party => "party",
            Role::Dealer => "dealer",
            Role::Provider => "provider",
            Role::Receiver => "receiver",
        };
        let mut cmd = Command::new(&exe);
        cmd.args(["mpc", "--role", role, "--id", &m.id.to_string(), "--session"]).arg(session_file).args(extra(m));
        cmd.stdin(Stdio::null());
        if capture {
            cmd.stdout(Stdio::piped());
        }
        let child = cmd.spawn().with_context(|| format!("starting {}", m.name))?;
        kids.0.push((m.name.clone(), child));
    }
    Ok(kids)
}

fn run_local(args: &MpcArgs) -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let output = args.output.clone().context("--output is required (where the receiver writes the result)")?;
    let (arch, rows) = match args.task {
        Task::Infer => {
            let model = args.model.as_ref().context("--model is required for --task infer")?;
            let input = args.input.as_ref().context("--input is required for --task infer")?;
            let m = veil_ml::Model::load(model)?;
            let x = io::read_matrix(input)?;
            (Arch::of(&m)?.to_text(), vec![0, x.rows()])
        }
        Task::TrainLogreg => {
            if args.data.is_empty() {
                bail!("--data FILE (one per provider) is required for --task train-logreg");
            }
            let mats: Vec<veil_ml::Matrix> = args.data.iter().map(|p| io::read_matrix(p)).collect::<Result<_, _>>()?;
            let f = mats[0].cols().checked_sub(1).context("training rows need features and a label")?;
            if mats.iter().any(|m| m.cols() != f + 1) {
                bail!("every provider's file must have {} columns", f + 1);
            }
            (format!("{f}:dense1,sigmoid"), mats.iter().map(|m| m.rows()).collect())
        }
        Task::TrainMlp => {
            if args.data.is_empty() {
                bail!("--data FILE (one per provider) is required for --task train-mlp");
            }
            if args.hidden.contains(&0) {
                bail!("--hidden widths must be positive");
            }
            let mats: Vec<veil_ml::Matrix> = args.data.iter().map(|p| io::read_matrix(p)).collect::<Result<_, _>>()?;
            let f = mats[0].cols().checked_sub(1).filter(|f| *f > 0).context("training rows need features and a label")?;
            if mats.iter().any(|m| m.cols() != f + 1) {
                bail!("every provider's file must have {} columns", f + 1);
            }
            let mut top = 0usize;
            for (m, p) in mats.iter().zip(&args.data) {
                for i in 0..m.rows() {
                    top = top.max(party::class_label(m.row(i)[f]).with_context(|| format!("{}: row {}", p.display(), i + 1))?);
                }
            }
            (mlp_arch(f, &args.hidden, (top + 1).max(2)), mats.iter().map(|m| m.rows()).collect())
        }
    };
    let mut s = local_session(dir.path(), args.protocol, args.task, &arch, rows, true)?;
    s.frac_bits = args.frac_bits;
    s.timeout_s = args.timeout;
    s.lr = args.lr;
    s.batch = args.batch;
    s.epochs = args.epochs;
    s.init_seed = args.init_seed;
    s.validate()?;
    let file = dir.path().join("session.toml");
    std::fs::write(&file, toml::to_string(&s)?)?;
    let started = Instant::now();
    let mut kids = spawn_members(
        &s,
        &file,
        |m| {
            let path = |o: &Option<PathBuf>| o.as_ref().map(|p| p.display().to_string()).unwrap_or_default();
            match (m.role, args.task) {
                (Role::Provider, Task::Infer) if m.id == 3 => vec!["--model".into(), path(&args.model)],
                (Role::Provider, Task::Infer) => vec!["--input".into(), path(&args.input)],
                (Role::Provider, Task::TrainLogreg | Task::TrainMlp) => vec!["--data".into(), args.data[m.id - 3].display().to_string()],
                (Role::Receiver, _) => vec!["--output".into(), output.display().to_string()],
                _ => vec![],
            }
        },
        false,
    )?;
    // Generous bound: set-up, the computation and every timeout along the way.
    kids.wait_all(started + s.timeout() * 4 + Duration::from_secs(60))?;
    let secs = started.elapsed().as_secs_f64();
    if args.json {
        println!(
            "{}",
            serde_json::json!({ "protocol": s.protocol.name(), "task": format!("{:?}", s.task), "output": output, "seconds": secs })
        );
    } else {
        eprintln!("{} {:?}: done in {secs:.2} s; result in {}", s.protocol.name(), s.task, output.display());
    }
    Ok(())
}
