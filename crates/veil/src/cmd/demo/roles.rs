//! The three roles of the secure-monitoring demo, each in its own process (`veil demo` starts
//! three children of itself, one per role), connected by mutually authenticated TLS over
//! loopback (a throwaway CA in a temporary directory).
//!
//! * **operator** (threshold party 1, data owner): draws the CRS seed, runs the collective key
//!   generation with the inspectorate, hands the evaluation keys to the server, encrypts its
//!   readings, and sends its smudged partial decryption of the result to the inspectorate.
//! * **inspectorate** (party 2, model owner): runs the key generation, encrypts its monitor,
//!   merges the operator's share with its own (unflooded, it never leaves the process) and
//!   alone learns T² and SPE per sample, hence the alarms.
//! * **server** (evaluator): holds the public relinearisation and rotation keys only.
//!
//! The operator releases one smudged partial decryption per result ciphertext (3 for 320
//! samples at N = 2^14) under a key generated for this run alone: inside the query budget of
//! `veil_threshold::Smudging::default_for` (about 118 bits against key recovery after one
//! released decryption, 92 after 16).
//!
//! Semi-honest model: each role follows the protocol. The operator co-decrypts only the
//! ciphertexts the server returns for this job; a server colluding with the inspectorate could
//! hand it the operator's reading ciphertexts instead, which is outside this model.

use std::io::{BufRead, BufReader, Read};
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::{mpsc, Arc};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{bail, Context};
use clap::ValueEnum;
use indicatif::ProgressBar;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use veil_channel::{Channel, ChannelConfig};
use veil_ckks::{Ciphertext, Encoder, Encryptor, Evaluator, GaloisKeys, Parameters, Plaintext, PublicKey, RelinearizationKey};
use veil_math::sampler::{Prng, Seed};
use veil_threshold::round::{GaloisRound, PublicKeyRound, RelinRound1, RelinRound2, Round};
use veil_threshold::{
    merge, public_key_digest, DecryptionShare, GaloisKeyGen, PartyId, PublicKeyGen, RelinKeyGen, SecretShare, Session, Share, Smudging,
};
use veil_transport::{connect, pki, Identity, Listener, TlsChannel};

use super::circuit::{Layout, MonitorCircuit, DEPTH};

pub const OPERATOR: &str = "operator";
pub const INSPECTORATE: &str = "inspectorate";
pub const SERVER: &str = "server";

/// A role process announces its listening address on standard error with this prefix.
const LISTENING_PREFIX: &str = "veil demo: listening on ";
/// A role process reports each finished step on standard error with this prefix.
const STEP_PREFIX: &str = "veil demo: step: ";

/// One role of the demo, run in its own process.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Role {
    Operator,
    Inspectorate,
    Server,
}

impl Role {
    pub fn name(self) -> &'static str {
        match self {
            Role::Operator => OPERATOR,
            Role::Inspectorate => INSPECTORATE,
            Role::Server => SERVER,
        }
    }
}

/// Most ciphertexts one batch message may announce.
const MAX_BATCH: usize = 4096;

/// One step of one role: its own work time (waits for inputs excluded) and what it sent.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct StepRecord {
    pub role: String,
    pub step: String,
    /// Start, from the start of the run.
    pub start_ms: f64,
    pub ms: f64,
    /// Bytes sent on each link during the step (TLS payload incl. veil frame headers).
    pub sent: Vec<(String, u64)>,
}

/// Bytes carried by one link direction over the whole run.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct LinkRecord {
    pub from: String,
    pub to: String,
    pub bytes: u64,
    pub messages: u64,
}

/// What the run produced: the inspectorate's decrypted scores, per sample (T², SPE).
pub struct Outcome {
    pub scores: Vec<(f64, f64)>,
    pub steps: Vec<StepRecord>,
    pub links: Vec<LinkRecord>,
    pub key_id: String,
    pub setup_ms: f64,
    pub protocol_ms: f64,
}

/// What every role knows about the run (the private inputs are passed to their owner only).
pub struct Job {
    pub params: Arc<Parameters>,
    pub layout: Layout,
    pub timeout: Duration,
    /// The start of the run, shared by the processes (steps are timed from it).
    pub epoch: SystemTime,
}

fn ms_since(epoch: SystemTime, t: SystemTime) -> f64 {
    t.duration_since(epoch).unwrap_or_default().as_secs_f64() * 1e3
}

/// A role's log: steps and its links. Each finished step is also reported on standard error,
/// for the parent's progress bar.
struct Log {
    role: &'static str,
    steps: Vec<StepRecord>,
    epoch: SystemTime,
}

impl Log {
    fn new(role: &'static str, job: &Job) -> Self {
        Log { role, steps: Vec::new(), epoch: job.epoch }
    }

    fn start(&self, links: &[&TlsChannel]) -> (SystemTime, Instant, Vec<u64>) {
        (SystemTime::now(), Instant::now(), links.iter().map(|l| l.stats().bytes_sent).collect())
    }

    fn done(&mut self, step: &str, (wall, t0, before): (SystemTime, Instant, Vec<u64>), links: &[&TlsChannel]) {
        let sent =
            links.iter().zip(before).map(|(l, b)| (l.peer().to_string(), l.stats().bytes_sent - b)).filter(|(_, b)| *b > 0).collect();
        let start_ms = ms_since(self.epoch, wall);
        self.steps.push(StepRecord {
            role: self.role.into(),
            step: step.to_string(),
            start_ms,
            ms: t0.elapsed().as_secs_f64() * 1e3,
            sent,
        });
        eprintln!("{STEP_PREFIX}{}: {step}", self.role);
    }

    fn finish(self, links: &[&TlsChannel]) -> (Vec<StepRecord>, Vec<LinkRecord>) {
        let role = self.role;
        let links = links
            .iter()
            .map(|l| {
                let s = l.stats();
                LinkRecord { from: role.into(), to: l.peer().to_string(), bytes: s.bytes_sent, messages: s.messages_sent }
            })
            .collect();
        (self.steps, links)
    }
}

/// Number of progress steps the run reports (for the bar's length).
pub const PROGRESS_STEPS: u64 = 9;

fn ciphertexts(n: usize) -> String {
    format!("{n} ciphertext{}", if n == 1 { "" } else { "s" })
}

fn send(ch: &mut TlsChannel, bytes: &[u8], what: &str) -> anyhow::Result<()> {
    let to = ch.peer().to_string();
    ch.send(bytes).and_then(|_| ch.flush()).with_context(|| format!("sending {what} to {to}"))
}

fn recv(ch: &mut TlsChannel, what: &str) -> anyhow::Result<Vec<u8>> {
    let from = ch.peer().to_string();
    ch.recv().with_context(|| format!("waiting for {what} from {from}"))
}

fn send_cts(ch: &mut TlsChannel, params: &Parameters, cts: &[Ciphertext], what: &str) -> anyhow::Result<()> {
    send(ch, &(cts.len() as u32).to_le_bytes(), what)?;
    for ct in cts {
        send(ch, &ct.to_bytes(params), what)?;
    }
    Ok(())
}

fn recv_cts(ch: &mut TlsChannel, params: &Parameters, what: &str) -> anyhow::Result<Vec<Ciphertext>> {
    let head = recv(ch, what)?;
    let count = <[u8; 4]>::try_from(head.as_slice())
        .map(|b| u32::from_le_bytes(b) as usize)
        .map_err(|_| anyhow::anyhow!("{what} from {}: a count of {} bytes, expected 4", ch.peer(), head.len()))?;
    if count == 0 || count > MAX_BATCH {
        bail!("{what} from {}: {count} ciphertexts announced (1..={MAX_BATCH} accepted)", ch.peer());
    }
    (0..count)
        .map(|i| {
            let bytes = recv(ch, what)?;
            Ciphertext::from_bytes(params, &bytes).with_context(|| format!("{what} from {}: ciphertext {i}", ch.peer()))
        })
        .collect()
}

/// Sends our share and receives the peer's: party 1 sends first, party 2 receives first.
fn swap<R: Round>(session: &Session, ch: &mut TlsChannel, sends_first: bool, mine: &Share<R>) -> anyhow::Result<Share<R>> {
    let what = format!("{:?} share", R::KIND);
    let bytes = mine.to_bytes(session);
    let theirs = if sends_first {
        send(ch, &bytes, &what)?;
        recv(ch, &what)?
    } else {
        let t = recv(ch, &what)?;
        send(ch, &bytes, &what)?;
        t
    };
    Share::<R>::from_bytes(session, &theirs).with_context(|| format!("{what} from {}", ch.peer()))
}

/// A party's result of the collective key generation.
struct PartyKeys {
    session: Session,
    share: SecretShare,
    pk: PublicKey,
    rlk: RelinearizationKey,
    gks: GaloisKeys,
}

/// Collective public, relinearisation (two rounds) and rotation keys between the two parties.
fn collective_keys(params: &Arc<Parameters>, peer: &mut TlsChannel, me: PartyId, rng: &mut Prng) -> anyhow::Result<PartyKeys> {
    let first = me == PartyId(1);
    let crs = if first {
        let seed = Seed::random();
        send(peer, &seed.0, "CRS seed")?;
        seed
    } else {
        let from = peer.peer().to_string();
        crate::cmd::link::recv_seed(peer, &from)?
    };
    let session = Session::new(params, crs, &[PartyId(1), PartyId(2)])?;
    let mut share = SecretShare::generate(&session, me, rng)?;
    let ckg = PublicKeyGen::new(&session)?;
    let mine = ckg.share(&share, rng)?;
    let theirs: Share<PublicKeyRound> = swap(&session, peer, first, &mine)?;
    let pk = ckg.aggregate(&[mine, theirs])?;
    share.bind(&session, &pk);
    let key = public_key_digest(params, &pk);
    let rkg = RelinKeyGen::new(&session)?;
    let (eph, mine) = rkg.round1(&share, rng)?;
    let theirs: Share<RelinRound1> = swap(&session, peer, first, &mine)?;
    let agg = rkg.aggregate_round1(key, &[mine, theirs])?;
    let mine = rkg.round2(&share, eph, &agg, rng)?;
    let theirs: Share<RelinRound2> = swap(&session, peer, first, &mine)?;
    let rlk = rkg.finalize(key, &agg, &[mine, theirs])?;
    let mut gks = GaloisKeys::default();
    for step in Layout::rotation_steps() {
        let gkg = GaloisKeyGen::new(&session, params.galois_element(step))?;
        let mine = gkg.share(&share, rng)?;
        let theirs: Share<GaloisRound> = swap(&session, peer, first, &mine)?;
        gks.insert(gkg.aggregate(key, &[mine, theirs])?);
    }
    Ok(PartyKeys { session, share, pk, rlk, gks })
}

fn encrypt_all(params: &Arc<Parameters>, pk: &PublicKey, pts: &[Plaintext], rng: &mut Prng) -> anyhow::Result<Vec<Ciphertext>> {
    let enc = Encryptor::with_public_key(params, pk);
    Ok(pts.iter().map(|pt| enc.encrypt(pt, rng)).collect::<Result<_, _>>()?)
}

/// What a role process prints on standard output at the end: its log, and for the
/// inspectorate what it alone learns, (T², SPE) per sample, and the collective key's id.
#[derive(Debug, Default, Serialize, Deserialize)]
struct RoleOutput {
    steps: Vec<StepRecord>,
    links: Vec<LinkRecord>,
    #[serde(default)]
    scores: Vec<(f64, f64)>,
    #[serde(default)]
    key_id: String,
}

/// `readings`: the operator's slot vectors, one per reading ciphertext.
fn operator(job: &Job, readings: &[Vec<f64>], listener: &Listener, config: &ChannelConfig) -> anyhow::Result<RoleOutput> {
    let params = &job.params;
    let (a, name_a) = listener.accept_one_of(config.clone(), &[INSPECTORATE.into(), SERVER.into()])?;
    let (b, _) = listener.accept_one_of(config.clone(), &[if name_a == SERVER { INSPECTORATE } else { SERVER }.into()])?;
    let (mut peer, mut srv) = if name_a == SERVER { (b, a) } else { (a, b) };
    let mut log = Log::new(OPERATOR, job);
    let mut rng = Prng::from_os();

    let t = log.start(&[&peer, &srv]);
    let keys = collective_keys(params, &mut peer, PartyId(1), &mut rng)?;
    log.done("collective key generation (pk, rlk, 6 rotation keys)", t, &[&peer, &srv]);

    let t = log.start(&[&peer, &srv]);
    send(&mut srv, &keys.rlk.to_bytes(params), "relinearisation key")?;
    send(&mut srv, &keys.gks.to_bytes(params), "rotation keys")?;
    log.done("evaluation keys to the server", t, &[&peer, &srv]);

    let t = log.start(&[&peer, &srv]);
    let encoder = Encoder::new(params);
    let pts = readings.iter().map(|v| encoder.encode(v, params.max_level(), params.default_scale())).collect::<Result<Vec<_>, _>>()?;
    let cts = encrypt_all(params, &keys.pk, &pts, &mut rng)?;
    send_cts(&mut srv, params, &cts, "encrypted readings")?;
    log.done(&format!("encrypt readings ({})", ciphertexts(cts.len())), t, &[&peer, &srv]);

    let results = recv_cts(&mut srv, params, "encrypted scores")?;
    let t = log.start(&[&peer, &srv]);
    let smudging = Smudging::default_for(params);
    let dk = keys.share.decryption_key(&keys.session)?;
    send(&mut peer, &(results.len() as u32).to_le_bytes(), "partial decryptions")?;
    for ct in &results {
        let share = dk.partial_decrypt(&keys.session, ct, &smudging, &mut rng)?;
        send(&mut peer, &share.to_bytes(&keys.session), "partial decryption")?;
    }
    log.done(&format!("partial decryption, smudged (σ = 2^{:.0})", smudging.log2_sigma()), t, &[&peer, &srv]);
    // Wait for the inspectorate to confirm, so the links close in order.
    recv(&mut peer, "end of job")?;
    let (steps, links) = log.finish(&[&peer, &srv]);
    Ok(RoleOutput { steps, links, ..RoleOutput::default() })
}

/// `model`: the inspectorate's encoded monitor.
fn inspectorate(
    job: &Job,
    model: &[Plaintext],
    listener: &Listener,
    operator_addr: SocketAddr,
    identity: &Identity,
    config: &ChannelConfig,
) -> anyhow::Result<RoleOutput> {
    let params = &job.params;
    let mut peer = connect(operator_addr, OPERATOR, identity, config.clone())?;
    let (mut srv, _) = listener.accept_one_of(config.clone(), &[SERVER.into()])?;
    let mut log = Log::new(INSPECTORATE, job);
    let mut rng = Prng::from_os();

    let t = log.start(&[&peer, &srv]);
    let keys = collective_keys(params, &mut peer, PartyId(2), &mut rng)?;
    log.done("collective key generation (pk, rlk, 6 rotation keys)", t, &[&peer, &srv]);
    let key_id = public_key_digest(params, &keys.pk);

    let t = log.start(&[&peer, &srv]);
    let cts = encrypt_all(params, &keys.pk, model, &mut rng)?;
    send_cts(&mut srv, params, &cts, "encrypted monitor")?;
    log.done(&format!("encrypt monitor ({})", ciphertexts(cts.len())), t, &[&peer, &srv]);

    let results = recv_cts(&mut srv, params, "encrypted scores")?;
    let count = recv(&mut peer, "partial decryptions")?;
    if count.as_slice() != (results.len() as u32).to_le_bytes() {
        bail!("{OPERATOR} announces a different number of partial decryptions than the {} results", results.len());
    }
    let mut theirs = Vec::with_capacity(results.len());
    for _ in &results {
        theirs.push(
            DecryptionShare::from_bytes(&keys.session, &recv(&mut peer, "partial decryption")?)
                .context("partial decryption from operator")?,
        );
    }
    let t = log.start(&[&peer, &srv]);
    let dk = keys.share.decryption_key(&keys.session)?;
    let encoder = Encoder::new(params);
    let mut scores = Vec::with_capacity(job.layout.rows);
    for (c, (ct, share)) in results.iter().zip(theirs).enumerate() {
        let own = dk.receiver_share(&keys.session, ct)?;
        let plain = merge(&keys.session, key_id, ct, &[share], Some(&own))?;
        scores.extend(job.layout.unpack_scores(&encoder.decode(&plain)?, c));
    }
    log.done("merge (own share + operator's) and decode", t, &[&peer, &srv]);
    send(&mut peer, b"done", "end of job")?;
    let (steps, links) = log.finish(&[&peer, &srv]);
    Ok(RoleOutput { steps, links, scores, key_id: key_id.short_hex() })
}

fn server(
    job: &Job,
    operator_addr: SocketAddr,
    inspectorate_addr: SocketAddr,
    identity: &Identity,
    config: &ChannelConfig,
) -> anyhow::Result<RoleOutput> {
    let params = &job.params;
    let mut op = connect(operator_addr, OPERATOR, identity, config.clone())?;
    let mut insp = connect(inspectorate_addr, INSPECTORATE, identity, config.clone())?;
    let mut log = Log::new(SERVER, job);
    let rlk = RelinearizationKey::from_bytes(params, &recv(&mut op, "relinearisation key")?)?;
    let gks = GaloisKeys::from_bytes(params, &recv(&mut op, "rotation keys")?)?;
    let readings = recv_cts(&mut op, params, "encrypted readings")?;
    let model = recv_cts(&mut insp, params, "encrypted monitor")?;
    if readings.len() != job.layout.ciphertexts() {
        bail!("{OPERATOR} sent {} reading ciphertexts, the job has {}", readings.len(), job.layout.ciphertexts());
    }

    let t = log.start(&[&op, &insp]);
    let eval = Evaluator::new(params);
    let encoder = Encoder::new(params);
    let circuit = MonitorCircuit { params, eval: &eval, encoder: &encoder, rlk: &rlk, gks: &gks, layout: job.layout };
    let results = readings.par_iter().enumerate().map(|(c, x)| circuit.evaluate(x, &model, c)).collect::<anyhow::Result<Vec<_>>>()?;
    log.done(&format!("evaluate T² and SPE ({}, depth {DEPTH})", ciphertexts(results.len())), t, &[&op, &insp]);

    let t = log.start(&[&op, &insp]);
    send_cts(&mut op, params, &results, "encrypted scores")?;
    send_cts(&mut insp, params, &results, "encrypted scores")?;
    log.done("encrypted scores to both parties", t, &[&op, &insp]);
    // Keep the links open until both parties are done with them.
    let _ = op.recv();
    let _ = insp.recv();
    let (steps, links) = log.finish(&[&op, &insp]);
    Ok(RoleOutput { steps, links, ..RoleOutput::default() })
}

/// A role's private input: the operator's slot vectors (one per reading ciphertext), or the
/// inspectorate's encoded monitor.
pub enum RoleInput {
    Readings(Vec<Vec<f64>>),
    Model(Vec<Plaintext>),
    None,
}

/// Where a role process finds the others.
pub struct RoleLinks<'a> {
    pub pki: &'a Path,
    pub operator: Option<SocketAddr>,
    pub inspectorate: Option<SocketAddr>,
}

/// Runs one role in this process (the child side): binds its listener (operator,
/// inspectorate) and announces it, runs the protocol, prints its [`RoleOutput`] as JSON.
pub fn run_role(role: Role, job: &Job, input: RoleInput, links: &RoleLinks<'_>) -> anyhow::Result<()> {
    let identity = Identity::load(links.pki, role.name())?;
    let config = ChannelConfig::new(job.params.fingerprint()).with_timeout(job.timeout);
    let loopback = SocketAddr::from(([127, 0, 0, 1], 0));
    let need =
        |addr: Option<SocketAddr>, whose: &str| addr.with_context(|| format!("the {} role needs the {whose}'s address", role.name()));
    let listen = || -> anyhow::Result<Listener> {
        let l = Listener::bind(loopback, &identity)?;
        eprintln!("{LISTENING_PREFIX}{}", l.local_addr());
        Ok(l)
    };
    let out = match (role, input) {
        (Role::Operator, RoleInput::Readings(readings)) => operator(job, &readings, &listen()?, &config)?,
        (Role::Inspectorate, RoleInput::Model(model)) => {
            let op = need(links.operator, OPERATOR)?;
            inspectorate(job, &model, &listen()?, op, &identity, &config)?
        }
        (Role::Server, RoleInput::None) => {
            server(job, need(links.operator, OPERATOR)?, need(links.inspectorate, INSPECTORATE)?, &identity, &config)?
        }
        _ => bail!("the {} role was given another role's input", role.name()),
    };
    println!("{}", serde_json::to_string(&out)?);
    Ok(())
}

/// A role process: killed on drop unless it has been waited for.
struct RoleProcess {
    role: Role,
    child: Option<Child>,
    /// Its standard output (the [`RoleOutput`]), read to the end on a thread.
    stdout: Option<std::thread::JoinHandle<std::io::Result<String>>>,
    /// Its standard error lines other than steps and the address: the error, if it fails.
    errors: Arc<std::sync::Mutex<Vec<String>>>,
    /// The thread reading its standard error (ends at the end of the stream).
    stderr_reader: Option<std::thread::JoinHandle<()>>,
}

impl Drop for RoleProcess {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

impl RoleProcess {
    /// Starts `veil demo <common> --role <role> <extra>`; returns it and, for a listening role,
    /// the address it announced.
    fn start(
        role: Role,
        common: &[String],
        extra: &[String],
        progress: &ProgressBar,
        timeout: Duration,
    ) -> anyhow::Result<(Self, Option<SocketAddr>)> {
        let exe = std::env::current_exe().context("locating the veil executable to start the roles")?;
        let mut child = Command::new(exe)
            .args(common)
            .args(["--role", role.name()])
            .args(extra)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .with_context(|| format!("starting the {} process", role.name()))?;
        let (stdout, stderr) = (child.stdout.take(), child.stderr.take());
        let mut process = RoleProcess { role, child: Some(child), stdout: None, errors: Arc::default(), stderr_reader: None };
        let mut stdout = stdout.context("no standard output pipe")?;
        process.stdout = Some(std::thread::spawn(move || {
            let mut s = String::new();
            stdout.read_to_string(&mut s).map(|_| s)
        }));
        let stderr = stderr.context("no standard error pipe")?;
        let (addr_tx, addr_rx) = mpsc::channel();
        let (bar, errors) = (progress.clone(), process.errors.clone());
        process.stderr_reader = Some(std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if let Some(addr) = line.strip_prefix(LISTENING_PREFIX) {
                    let _ = addr_tx.send(addr.trim().to_string());
                } else if let Some(step) = line.strip_prefix(STEP_PREFIX) {
                    bar.set_message(step.to_string());
                    bar.inc(1);
                } else if let Ok(mut e) = errors.lock() {
                    e.push(line);
                }
            }
        }));
        if role == Role::Server {
            return Ok((process, None));
        }
        let addr = match addr_rx.recv_timeout(timeout) {
            Ok(a) => a.parse().with_context(|| format!("the {} process announced the address {a:?}", role.name()))?,
            Err(_) => bail!("the {} process did not start listening: {}", role.name(), process.error_text()),
        };
        Ok((process, Some(addr)))
    }

    /// What the process said on standard error (all of it, once it has ended).
    fn error_text(&mut self) -> String {
        let ended = match self.child.as_mut() {
            Some(c) => matches!(c.try_wait(), Ok(Some(_))),
            None => true,
        };
        if ended {
            if let Some(reader) = self.stderr_reader.take() {
                let _ = reader.join();
            }
        }
        // The message, without the backtrace that RUST_BACKTRACE adds after it.
        let lines = self
            .errors
            .lock()
            .map(|e| {
                // `Error: top` then `Caused by:` and the causes (numbered when several): one line.
                let message: Vec<&str> = e
                    .iter()
                    .map(|l| l.trim())
                    .take_while(|l| !l.starts_with("Stack backtrace:"))
                    .filter(|l| !l.is_empty() && *l != "Caused by:")
                    .map(|l| l.strip_prefix("Error: ").unwrap_or(l))
                    .map(|l| l.split_once(": ").filter(|(n, _)| n.parse::<u32>().is_ok()).map_or(l, |(_, rest)| rest))
                    .collect();
                message.join(": ")
            })
            .unwrap_or_default();
        if lines.is_empty() {
            "no message".into()
        } else {
            lines
        }
    }

    /// `Some(Ok(output))` or `Some(Err(..))` once the process has ended, `None` while it runs.
    fn poll(&mut self) -> Option<anyhow::Result<RoleOutput>> {
        let child = self.child.as_mut()?;
        let status = match child.try_wait() {
            Ok(Some(status)) => status,
            Ok(None) => return None,
            Err(e) => return Some(Err(anyhow::Error::new(e).context(format!("waiting for the {} process", self.role.name())))),
        };
        self.child = None;
        let out = self.stdout.take().map(|h| h.join());
        if !status.success() {
            return Some(Err(anyhow::anyhow!("the {} process failed ({status}): {}", self.role.name(), self.error_text())));
        }
        let text = match out {
            Some(Ok(Ok(text))) => text,
            _ => return Some(Err(anyhow::anyhow!("the {} process's output could not be read", self.role.name()))),
        };
        Some(serde_json::from_str(text.trim()).with_context(|| format!("the {} process's report", self.role.name())))
    }
}

/// Runs the three roles as child processes of this one over loopback TLS and returns the
/// inspectorate's view plus the log. `common` are the `veil demo` options every role
/// repeats (they rebuild their own inputs from the data: the operator its readings, the
/// inspectorate its monitor). If a role fails, the others are stopped and its error returned.
pub fn run(job: &Job, common: &[String], progress: &ProgressBar) -> anyhow::Result<Outcome> {
    let t_setup = Instant::now();
    let pki_dir = tempfile::tempdir().context("creating a temporary directory for the demo's CA")?;
    pki::create_local(pki_dir.path(), &[OPERATOR, INSPECTORATE, SERVER])?;
    let epoch_ms = job.epoch.duration_since(UNIX_EPOCH).unwrap_or_default().as_millis().to_string();
    let mut common = common.to_vec();
    common.extend(["--pki".into(), pki_dir.path().display().to_string(), "--epoch-ms".into(), epoch_ms]);
    let setup_ms = t_setup.elapsed().as_secs_f64() * 1e3;

    let t_run = Instant::now();
    let (op, op_addr) = RoleProcess::start(Role::Operator, &common, &[], progress, job.timeout)?;
    let op_addr = op_addr.context("no operator address")?;
    let (insp, insp_addr) =
        RoleProcess::start(Role::Inspectorate, &common, &["--operator-addr".into(), op_addr.to_string()], progress, job.timeout)?;
    let insp_addr = insp_addr.context("no inspectorate address")?;
    let server_links = ["--operator-addr".into(), op_addr.to_string(), "--inspectorate-addr".into(), insp_addr.to_string()];
    let (srv, _) = RoleProcess::start(Role::Server, &common, &server_links, progress, job.timeout)?;
    let mut procs = [op, insp, srv];
    let mut outputs: [Option<RoleOutput>; 3] = [None, None, None];
    // Each role bounds its own waits by the timeout; this bound only catches a role that hangs
    // outside a wait.
    let deadline = Instant::now() + 4 * job.timeout + Duration::from_secs(60);
    while outputs.iter().any(Option::is_none) {
        for (p, out) in procs.iter_mut().zip(outputs.iter_mut()) {
            if out.is_none() {
                match p.poll() {
                    Some(Ok(o)) => *out = Some(o),
                    // Dropping `procs` stops the other roles.
                    Some(Err(e)) => return Err(e.context("the secure-monitoring run failed")),
                    None => {}
                }
            }
        }
        if Instant::now() > deadline {
            bail!("the secure-monitoring run did not finish within {:?}", deadline.duration_since(t_run));
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    let protocol_ms = t_run.elapsed().as_secs_f64() * 1e3;
    let [Some(op), Some(insp), Some(srv)] = outputs else { bail!("a role ended without a report") };
    let (scores, key_id) = (insp.scores.clone(), insp.key_id.clone());
    let mut steps = Vec::new();
    let mut links = Vec::new();
    for r in [op, insp, srv] {
        steps.extend(r.steps);
        links.extend(r.links);
    }
    Ok(Outcome { scores, steps, links, key_id, setup_ms, protocol_ms })
}
