//! The three roles of the secure-monitoring demo, each in its own thread, connected by
//! mutually authenticated TLS over loopback (a throwaway CA in a temporary directory).
//!
//! * **operator** (threshold party 1, data owner): draws the CRS seed, runs the collective key
//!   generation with the inspectorate, hands the evaluation keys to the server, encrypts its
//!   readings, and sends its smudged partial decryption of the result to the inspectorate.
//! * **inspectorate** (party 2, model owner): runs the key generation, encrypts its monitor,
//!   merges the operator's share with its own (unflooded, it never leaves the thread) and alone
//!   learns T² and SPE per sample, hence the alarms.
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

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use indicatif::ProgressBar;
use rayon::prelude::*;
use serde::Serialize;
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

/// Most ciphertexts one batch message may announce.
const MAX_BATCH: usize = 4096;

/// One step of one role: its own work time (waits for inputs excluded) and what it sent.
#[derive(Clone, Debug, Serialize)]
pub struct StepRecord {
    pub role: &'static str,
    pub step: String,
    /// Start, from the start of the run.
    pub start_ms: f64,
    pub ms: f64,
    /// Bytes sent on each link during the step (TLS payload incl. veil frame headers).
    pub sent: Vec<(String, u64)>,
}

/// Bytes carried by one link direction over the whole run.
#[derive(Clone, Debug, Serialize)]
pub struct LinkRecord {
    pub from: &'static str,
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
    pub progress: ProgressBar,
    /// The start of the run (steps are timed from it).
    pub epoch: Instant,
}

/// A role's log: steps and its links.
struct Log {
    role: &'static str,
    steps: Vec<StepRecord>,
    progress: ProgressBar,
    epoch: Instant,
}

impl Log {
    fn new(role: &'static str, job: &Job) -> Self {
        Log { role, steps: Vec::new(), progress: job.progress.clone(), epoch: job.epoch }
    }

    fn start(&self, what: &str, links: &[&TlsChannel]) -> (Instant, Vec<u64>) {
        self.progress.set_message(format!("{}: {what}", self.role));
        (Instant::now(), links.iter().map(|l| l.stats().bytes_sent).collect())
    }

    fn done(&mut self, step: &str, (t0, before): (Instant, Vec<u64>), links: &[&TlsChannel]) {
        let sent =
            links.iter().zip(before).map(|(l, b)| (l.peer().to_string(), l.stats().bytes_sent - b)).filter(|(_, b)| *b > 0).collect();
        let start_ms = t0.duration_since(self.epoch).as_secs_f64() * 1e3;
        self.steps.push(StepRecord { role: self.role, step: step.to_string(), start_ms, ms: t0.elapsed().as_secs_f64() * 1e3, sent });
        self.progress.inc(1);
    }

    fn finish(self, links: &[&TlsChannel]) -> (Vec<StepRecord>, Vec<LinkRecord>) {
        let role = self.role;
        let links = links
            .iter()
            .map(|l| {
                let s = l.stats();
                LinkRecord { from: role, to: l.peer().to_string(), bytes: s.bytes_sent, messages: s.messages_sent }
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
        let b = peer.recv_exact_len(32).with_context(|| format!("waiting for the CRS seed from {}", peer.peer()))?;
        let mut s = [0u8; 32];
        s.copy_from_slice(&b);
        Seed(s)
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

struct RoleResult {
    steps: Vec<StepRecord>,
    links: Vec<LinkRecord>,
}

/// The inspectorate's log and what it alone learns: (T², SPE) per sample.
struct InspectorateResult {
    role: RoleResult,
    scores: Vec<(f64, f64)>,
    key_id: String,
}

/// `readings`: the operator's slot vectors, one per reading ciphertext.
fn operator(job: &Job, readings: &[Vec<f64>], listener: &Listener, config: &ChannelConfig) -> anyhow::Result<RoleResult> {
    let params = &job.params;
    let (a, name_a) = listener.accept_one_of(config.clone(), &[INSPECTORATE.into(), SERVER.into()])?;
    let (b, _) = listener.accept_one_of(config.clone(), &[if name_a == SERVER { INSPECTORATE } else { SERVER }.into()])?;
    let (mut peer, mut srv) = if name_a == SERVER { (b, a) } else { (a, b) };
    let mut log = Log::new(OPERATOR, job);
    let mut rng = Prng::from_os();

    let t = log.start("collective key generation", &[&peer, &srv]);
    let keys = collective_keys(params, &mut peer, PartyId(1), &mut rng)?;
    log.done("collective key generation (pk, rlk, 6 rotation keys)", t, &[&peer, &srv]);

    let t = log.start("evaluation keys to the server", &[&peer, &srv]);
    send(&mut srv, &keys.rlk.to_bytes(params), "relinearisation key")?;
    send(&mut srv, &keys.gks.to_bytes(params), "rotation keys")?;
    log.done("evaluation keys to the server", t, &[&peer, &srv]);

    let t = log.start("encrypt readings", &[&peer, &srv]);
    let encoder = Encoder::new(params);
    let pts = readings.iter().map(|v| encoder.encode(v, params.max_level(), params.default_scale())).collect::<Result<Vec<_>, _>>()?;
    let cts = encrypt_all(params, &keys.pk, &pts, &mut rng)?;
    send_cts(&mut srv, params, &cts, "encrypted readings")?;
    log.done(&format!("encrypt readings ({})", ciphertexts(cts.len())), t, &[&peer, &srv]);

    let results = recv_cts(&mut srv, params, "encrypted scores")?;
    let t = log.start("partial decryption", &[&peer, &srv]);
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
    Ok(RoleResult { steps, links })
}

/// `model`: the inspectorate's encoded monitor.
fn inspectorate(
    job: &Job,
    model: &[Plaintext],
    listener: &Listener,
    operator_addr: SocketAddr,
    identity: &Identity,
    config: &ChannelConfig,
) -> anyhow::Result<InspectorateResult> {
    let params = &job.params;
    let mut peer = connect(operator_addr, OPERATOR, identity, config.clone())?;
    let (mut srv, _) = listener.accept_one_of(config.clone(), &[SERVER.into()])?;
    let mut log = Log::new(INSPECTORATE, job);
    let mut rng = Prng::from_os();

    let t = log.start("collective key generation", &[&peer, &srv]);
    let keys = collective_keys(params, &mut peer, PartyId(2), &mut rng)?;
    log.done("collective key generation (pk, rlk, 6 rotation keys)", t, &[&peer, &srv]);
    let key_id = public_key_digest(params, &keys.pk);

    let t = log.start("encrypt monitor", &[&peer, &srv]);
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
    let t = log.start("merge", &[&peer, &srv]);
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
    Ok(InspectorateResult { role: RoleResult { steps, links }, scores, key_id: key_id.short_hex() })
}

fn server(
    job: &Job,
    operator_addr: SocketAddr,
    inspectorate_addr: SocketAddr,
    identity: &Identity,
    config: &ChannelConfig,
) -> anyhow::Result<RoleResult> {
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

    let t = log.start("evaluate T² and SPE", &[&op, &insp]);
    let eval = Evaluator::new(params);
    let encoder = Encoder::new(params);
    let circuit = MonitorCircuit { params, eval: &eval, encoder: &encoder, rlk: &rlk, gks: &gks, layout: job.layout };
    let results = readings.par_iter().enumerate().map(|(c, x)| circuit.evaluate(x, &model, c)).collect::<anyhow::Result<Vec<_>>>()?;
    log.done(&format!("evaluate T² and SPE ({}, depth {DEPTH})", ciphertexts(results.len())), t, &[&op, &insp]);

    let t = log.start("results to both parties", &[&op, &insp]);
    send_cts(&mut op, params, &results, "encrypted scores")?;
    send_cts(&mut insp, params, &results, "encrypted scores")?;
    log.done("encrypted scores to both parties", t, &[&op, &insp]);
    // Keep the links open until both parties are done with them.
    let _ = op.recv();
    let _ = insp.recv();
    let (steps, links) = log.finish(&[&op, &insp]);
    Ok(RoleResult { steps, links })
}

fn join<T>(handle: std::thread::ScopedJoinHandle<'_, anyhow::Result<T>>, who: &str) -> anyhow::Result<anyhow::Result<T>> {
    handle.join().map_err(|_| anyhow::anyhow!("the {who} thread panicked"))
}

/// Runs the three roles over loopback TLS, the operator with its `readings` and the
/// inspectorate with its `model`, and returns the inspectorate's view plus the log.
pub fn run(job: Job, readings: Vec<Vec<f64>>, model: Vec<Plaintext>) -> anyhow::Result<Outcome> {
    let t_setup = Instant::now();
    let pki_dir = tempfile::tempdir().context("creating a temporary directory for the demo's CA")?;
    pki::create_local(pki_dir.path(), &[OPERATOR, INSPECTORATE, SERVER])?;
    let ids = [OPERATOR, INSPECTORATE, SERVER].map(|n| Identity::load(pki_dir.path(), n));
    let [op_id, insp_id, srv_id] = ids;
    let (op_id, insp_id, srv_id) = (op_id?, insp_id?, srv_id?);
    let loopback: SocketAddr = SocketAddr::from(([127, 0, 0, 1], 0));
    let op_listener = Listener::bind(loopback, &op_id)?;
    let insp_listener = Listener::bind(loopback, &insp_id)?;
    let (op_addr, insp_addr) = (op_listener.local_addr(), insp_listener.local_addr());
    let config = ChannelConfig::new(job.params.fingerprint()).with_timeout(job.timeout);
    let setup_ms = t_setup.elapsed().as_secs_f64() * 1e3;

    let t_run = Instant::now();
    let (op_res, insp_res, srv_res) = std::thread::scope(|s| {
        let op = s.spawn(|| operator(&job, &readings, &op_listener, &config));
        let insp = s.spawn(|| inspectorate(&job, &model, &insp_listener, op_addr, &insp_id, &config));
        let srv = s.spawn(|| server(&job, op_addr, insp_addr, &srv_id, &config));
        (join(op, OPERATOR), join(insp, INSPECTORATE), join(srv, SERVER))
    });
    let protocol_ms = t_run.elapsed().as_secs_f64() * 1e3;
    let op_res = op_res.and_then(|r| r.context("operator"));
    let insp_res = insp_res.and_then(|r| r.context("inspectorate"));
    let srv_res = srv_res.and_then(|r| r.context("server"));
    let (op_res, InspectorateResult { role: insp_res, scores, key_id }, srv_res) = match (op_res, insp_res, srv_res) {
        (Ok(a), Ok(b), Ok(c)) => (a, b, c),
        (a, b, c) => {
            let errors: Vec<String> = [a.err(), b.err(), c.err()].into_iter().flatten().map(|e| format!("{e:#}")).collect();
            bail!("the secure-monitoring run failed: {}", errors.join("; "));
        }
    };
    let mut steps = Vec::new();
    let mut links = Vec::new();
    for r in [op_res, insp_res, srv_res] {
        steps.extend(r.steps);
        links.extend(r.links);
    }
    Ok(Outcome { scores, steps, links, key_id, setup_ms, protocol_ms })
}
