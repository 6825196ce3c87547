//! `veil threshold party|server` with `task = "aggregate"`: secure aggregation and training
//! between separate processes over mutually authenticated TLS.
//!
//! Parties A (first `[[parties]]` entry, threshold party 1) and B (party 2) each hold rows of
//! one data set (CSV lines: features, then a 0/1 label). They run the collective key
//! generation (A draws the CRS seed and sends it to B and to the server, which needs it to
//! finalise collective refreshes), exchange their row counts, and encrypt their rows and labels
//! under the collective key in the layout of `veil_he::train` (A's rows first, then B's; the
//! server adds the two owners' chunk ciphertexts). The server holds no key share; it does hold
//! the CRS seed, so the shares' tags do not authenticate the parties against it (the TLS links
//! name every sender). It computes the encrypted sufficient statistics (`cmd/stats.rs`: count,
//! sums, second moments) and, if the job has a `[train]` table, trains a logistic regression by
//! encrypted gradient descent (`veil_he::train`). Whenever a ciphertext of the training runs
//! out of levels (the weights, or logits), the server sends it to both parties, each returns
//! its refresh share (`veil_threshold::refresh`) over its TLS link, and the server
//! finalises the refreshed ciphertext. Finally both parties decrypt the statistics and the
//! model: each sends its flooded partial decryption to the other and both merge the same two
//! released shares, so that both print the same JSON
//! (`{"statistics": {count, mean, variance, covariance}, "weights": [w_1, …, w_F, bias]}`).
//!
//! With `mailbox = "DIR"` instead of `certs`, the three members exchange the same messages as
//! files in `DIR` (`veil_transport::file`: integrity-checked, for air-gapped sites whose media
//! travel by courier; not authenticated, so the courier must be trusted or the files signed).
//!
//! Every wait is bounded by the job's `timeout_secs`: a party that disconnects or stalls makes
//! the others stop with an error naming it, and nothing is printed. A party answers at most
//! `4·iterations` refresh requests, each with a fresh nonce, so the number of flooded shares
//! it releases under the key stays bounded (see the smudging budget in `veil_threshold`).
//!
//! ```toml
//! task = "aggregate"
//! preset = "n16384_l6_sec128"
//! certs = "pki"            # or: mailbox = "exchange" (files instead of TLS links)
//! timeout_secs = 60
//! width = 64               # slots per row: a power of two >= 2·features (statistics)
//! [train]                  # optional: without it, statistics only
//! iterations = 8
//! learning_rate = 1.0
//! sigmoid_interval = 16.0  # optional: the degree-3 least-squares sigmoid on [-16, 16]
//! log2_weight_bound = 3    # optional: declared |w| <= 2^3 (sizes the refresh masks)
//! log2_logit_bound = 5     # optional: declared |x·w| <= 2^5
//! [[parties]]
//! name = "party-a"
//! addr = "127.0.0.1:7001"
//! [[parties]]
//! name = "party-b"
//! addr = "127.0.0.1:7002"
//! [server]
//! name = "server"
//! addr = "127.0.0.1:7003"
//! ```

use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

use anyhow::{bail, Context};
use serde::{Deserialize, Serialize};

use super::link::{collective_keys, exchange, recv, recv_seed, send, Link, Mesh};
use veil_ckks::{Ciphertext, Encoder, Encryptor, Evaluator, GaloisKeys, Level, Parameters, PublicKey, RelinearizationKey, Scale};
use veil_he::train::{LogRegTrainConfig, Refresher};
use veil_he::HeError;
use veil_math::sampler::{Prng, Seed};
use veil_threshold::refresh::{Refresh, RefreshSecurity, RefreshShare};
use veil_threshold::{merge, public_key_digest, DecryptionShare, Digest, PartyId, SecretShare, Session, Smudging};

use super::stats::{self, Statistics};

/// The job kind of a `veil threshold party|server` job file.
#[derive(Clone, Copy, Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum Task {
    /// Secure inference (`cmd/party.rs`).
    #[default]
    Inference,
    /// Secure aggregation and training (this module).
    Aggregate,
}

#[derive(Deserialize)]
struct TaskOnly {
    #[serde(default)]
    task: Task,
}

/// The `task` of a job file (inference when absent).
pub fn task(path: &Path) -> anyhow::Result<Task> {
    let text = std::fs::read_to_string(path).with_context(|| format!("reading job {}", path.display()))?;
    let t: TaskOnly = toml::from_str(&text).with_context(|| format!("parsing job {}", path.display()))?;
    Ok(t.task)
}

/// Training options of the job (`[train]`); the optional ones default to
/// `LogRegTrainConfig::new`'s.
#[derive(Clone, Debug, Deserialize)]
struct TrainSpec {
    iterations: usize,
    learning_rate: f64,
    sigmoid_interval: Option<f64>,
    log2_weight_bound: Option<u32>,
    log2_logit_bound: Option<u32>,
}

#[derive(Debug, Deserialize)]
struct AggregateJob {
    preset: String,
    width: usize,
    train: Option<TrainSpec>,
    #[serde(flatten)]
    mesh: Mesh,
}

impl AggregateJob {
    fn load(path: &Path) -> anyhow::Result<Self> {
        let text = std::fs::read_to_string(path).with_context(|| format!("reading job {}", path.display()))?;
        let job: Self = toml::from_str(&text).with_context(|| format!("parsing job {}", path.display()))?;
        job.mesh.validate("secure aggregation", "A, B")?;
        if !job.width.is_power_of_two() {
            bail!("width must be a power of two, got {}", job.width);
        }
        if job.train.as_ref().is_some_and(|t| t.iterations == 0) {
            bail!("[train] needs iterations >= 1");
        }
        Ok(job)
    }

    fn params(&self) -> anyhow::Result<Arc<Parameters>> {
        super::threshold::preset_params(&self.preset)
    }

    /// The trainer's configuration for `rows` rows of `features` features.
    fn train_config(&self, spec: &TrainSpec, rows: usize, features: usize) -> anyhow::Result<LogRegTrainConfig> {
        let mut cfg = LogRegTrainConfig::new(features, rows, spec.iterations, spec.learning_rate);
        cfg.width = self.width;
        if let Some(i) = spec.sigmoid_interval {
            cfg.sigmoid = veil_he::train::PolySigmoid::least_squares(i);
        }
        cfg.log2_weight_bound = spec.log2_weight_bound.unwrap_or(cfg.log2_weight_bound);
        cfg.log2_logit_bound = spec.log2_logit_bound.unwrap_or(cfg.log2_logit_bound);
        cfg.validate(&*self.params()?)?;
        Ok(cfg)
    }
}

/// Rotation steps of the whole job: the statistics' and the trainer's.
fn job_steps(params: &Parameters, width: usize, features: usize, cfg: Option<&LogRegTrainConfig>) -> anyhow::Result<Vec<i64>> {
    let mut steps = stats::rotation_steps(params, width, features)?;
    if let Some(cfg) = cfg {
        steps.extend(veil_he::train::rotation_steps(params, cfg));
    }
    steps.sort_unstable();
    steps.dedup();
    Ok(steps)
}

/// Several byte strings as one message: `count u32 | (length u64 | bytes)*`.
fn pack_blobs(blobs: &[Vec<u8>]) -> Vec<u8> {
    let mut out = Vec::with_capacity(4 + blobs.iter().map(|b| 8 + b.len()).sum::<usize>());
    out.extend_from_slice(&(blobs.len() as u32).to_le_bytes());
    for b in blobs {
        out.extend_from_slice(&(b.len() as u64).to_le_bytes());
        out.extend_from_slice(b);
    }
    out
}

fn unpack_blobs(bytes: &[u8], what: &str) -> anyhow::Result<Vec<Vec<u8>>> {
    let bad = || anyhow::anyhow!("malformed {what}: truncated or inconsistent lengths");
    let count = u32::from_le_bytes(bytes.get(..4).ok_or_else(bad)?.try_into()?) as usize;
    let mut at = 4;
    let mut out = Vec::with_capacity(count.min(1 << 16));
    for _ in 0..count {
        let len = u64::from_le_bytes(bytes.get(at..at + 8).ok_or_else(bad)?.try_into()?);
        let len = usize::try_from(len).map_err(|_| bad())?;
        at += 8;
        let end = at.checked_add(len).ok_or_else(bad)?;
        out.push(bytes.get(at..end).ok_or_else(bad)?.to_vec());
        at = end;
    }
    if at != bytes.len() {
        return Err(bad());
    }
    Ok(out)
}

fn u64_at(bytes: &[u8], at: usize, what: &str) -> anyhow::Result<u64> {
    Ok(u64::from_le_bytes(bytes.get(at..at + 8).with_context(|| format!("malformed {what}: truncated"))?.try_into()?))
}

fn cts_to_bytes(params: &Parameters, cts: &[Ciphertext]) -> Vec<u8> {
    pack_blobs(&cts.iter().map(|c| c.to_bytes(params)).collect::<Vec<_>>())
}

fn cts_from_bytes(params: &Parameters, bytes: &[u8], what: &str) -> anyhow::Result<Vec<Ciphertext>> {
    unpack_blobs(bytes, what)?.iter().map(|b| Ciphertext::from_bytes(params, b).with_context(|| format!("malformed {what}"))).collect()
}

/// The most rows a party may announce (bounds what a peer's count makes this process allocate).
const MAX_ROWS: usize = 1 << 22;

/// The most refreshes a party answers per training iteration.
const MAX_REFRESHES_PER_ITERATION: usize = 4;

/// Server-to-party message tags.
const MSG_STATISTICS: u8 = 1;
const MSG_REFRESH: u8 = 2;
const MSG_MODEL: u8 = 3;

/// A party's rows: features, then a 0/1 label.
fn read_rows(path: &Path) -> anyhow::Result<(Vec<Vec<f64>>, Vec<f64>)> {
    let text = std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let mut rows = Vec::new();
    let mut labels = Vec::new();
    for (i, line) in text.lines().enumerate().filter(|(_, l)| !l.trim().is_empty()) {
        let mut v = line
            .split(',')
            .map(|x| x.trim().parse::<f64>().with_context(|| format!("{}:{}: {x:?} is not a number", path.display(), i + 1)))
            .collect::<anyhow::Result<Vec<f64>>>()?;
        let label =
            v.pop().filter(|_| !v.is_empty()).with_context(|| format!("{}:{}: expected features and a label", path.display(), i + 1))?;
        if label != 0.0 && label != 1.0 {
            bail!("{}:{}: the label (last column) must be 0 or 1, got {label}", path.display(), i + 1);
        }
        if rows.first().is_some_and(|r: &Vec<f64>| r.len() != v.len()) {
            bail!("{}:{}: {} features, the first row has {}", path.display(), i + 1, v.len(), rows[0].len());
        }
        rows.push(v);
        labels.push(label);
    }
    if rows.is_empty() {
        bail!("{} holds no rows", path.display());
    }
    Ok((rows, labels))
}

/// What a party reports.
#[derive(Debug, Serialize)]
struct Report {
    statistics: Statistics,
    #[serde(skip_serializing_if = "Option::is_none")]
    weights: Option<Vec<f64>>,
}

/// Decrypts `cts` with the peer: both release flooded shares and merge the same two, so both
/// obtain identical slots.
#[allow(clippy::too_many_arguments)]
fn joint_decrypt(
    session: &Session,
    sk: &SecretShare,
    key: Digest,
    cts: &[Ciphertext],
    peer: &mut Link,
    peer_name: &str,
    what: &str,
    rng: &mut Prng,
) -> anyhow::Result<Vec<Vec<f64>>> {
    let first = sk.party() == PartyId(1);
    let dk = sk.decryption_key(session)?;
    let smudging = Smudging::default_for(session.params());
    let mine = cts.iter().map(|ct| dk.partial_decrypt(session, ct, &smudging, rng)).collect::<Result<Vec<_>, _>>()?;
    let theirs = exchange(peer, first, &pack_blobs(&mine.iter().map(|s| s.to_bytes(session)).collect::<Vec<_>>()), peer_name, what)?;
    let theirs = unpack_blobs(&theirs, what)?;
    if theirs.len() != cts.len() {
        bail!("{peer_name} sent {} shares of the {what}, expected {}", theirs.len(), cts.len());
    }
    let encoder = Encoder::new(session.params());
    cts.iter()
        .zip(mine)
        .zip(theirs)
        .map(|((ct, mine), theirs)| {
            let theirs = DecryptionShare::from_bytes(session, &theirs).with_context(|| format!("{what} share from {peer_name}"))?;
            let (d1, d2) = if first { (mine, theirs) } else { (theirs, mine) };
            Ok(encoder.decode(&merge(session, key, ct, &[d1, d2], None)?)?)
        })
        .collect()
}

/// Party A (`party` 1) or B (`party` 2) of an aggregation job.
pub fn run_party(job_path: &Path, party: u32, input: &Path) -> anyhow::Result<()> {
    if party != 1 && party != 2 {
        bail!("--party must be 1 (A) or 2 (B), got {party}");
    }
    let index = party as usize - 1;
    let job = AggregateJob::load(job_path)?;
    let params = job.params()?;
    let me = PartyId(party);
    let first = index == 0;
    let (rows, labels) = read_rows(input)?;
    let features = rows[0].len();
    stats::check(&params, job.width, features)?;
    let [(mut peer, peer_name), (mut srv, server_name)] = job.mesh.connect_party(index, &params)?;
    eprintln!("[party {party}] connected");
    let started = Instant::now();

    // CRS (A to B and the server), then row and feature counts (public: the statistics carry them).
    let crs = if first {
        let seed = Seed::random();
        send(&mut peer, &seed.0, &peer_name, "CRS seed")?;
        send(&mut srv, &seed.0, &server_name, "CRS seed")?;
        seed
    } else {
        recv_seed(&mut peer, &peer_name)?
    };
    let mut counts = Vec::with_capacity(16);
    counts.extend_from_slice(&(rows.len() as u64).to_le_bytes());
    counts.extend_from_slice(&(features as u64).to_le_bytes());
    let theirs = exchange(&mut peer, first, &counts, &peer_name, "row and feature counts")?;
    let (their_rows, their_features) = (u64_at(&theirs, 0, "counts")? as usize, u64_at(&theirs, 8, "counts")? as usize);
    if their_features != features {
        bail!("{peer_name} has {their_features} features, this party {features}");
    }
    if their_rows > MAX_ROWS || rows.len() > MAX_ROWS {
        bail!("more than {MAX_ROWS} rows per party ({peer_name}: {their_rows}, this party: {})", rows.len());
    }
    send(&mut srv, &counts, &server_name, "row and feature counts")?;
    let total = rows.len().checked_add(their_rows).context("row count overflow")?;
    let first_row = if first { 0 } else { their_rows };
    let cfg = job.train.as_ref().map(|t| job.train_config(t, total, features)).transpose()?;

    let session = Session::new(&params, crs, &[PartyId(1), PartyId(2)])?;
    let mut rng = Prng::from_os();
    let steps = job_steps(&params, job.width, features, cfg.as_ref())?;
    let (sk, pk, rlk, gks) = collective_keys(&session, me, &mut peer, &peer_name, &steps, &mut rng)?;
    let key = public_key_digest(&params, &pk);
    eprintln!("[party {party}] collective keys ready ({}) after {:.2} s", key.short_hex(), started.elapsed().as_secs_f64());
    if first {
        send(&mut srv, &pk.to_bytes(&params), &server_name, "collective public key")?;
        send(&mut srv, &rlk.to_bytes(&params), &server_name, "relinearisation key")?;
        send(&mut srv, &gks.to_bytes(&params), &server_name, "rotation keys")?;
    }

    // Rows and labels, in the trainer's layout (this owner's rows at their global positions).
    let encoder = Encoder::new(&params);
    let encryptor = Encryptor::with_public_key(&params, &pk);
    let encrypt = |v: &Vec<f64>, rng: &mut Prng| -> anyhow::Result<Ciphertext> {
        Ok(encryptor.encrypt(&encoder.encode(v, params.max_level(), params.default_scale())?, rng)?)
    };
    let (x_slots, y_slots) = match &cfg {
        Some(cfg) => {
            (veil_he::train::pack_rows(&params, cfg, first_row, &rows)?, veil_he::train::pack_labels(&params, cfg, first_row, &labels)?)
        }
        None => (stats::pack_rows(&params, &rows, job.width, features, first_row)?, Vec::new()),
    };
    let x = x_slots.iter().map(|v| encrypt(v, &mut rng)).collect::<anyhow::Result<Vec<_>>>()?;
    let y = y_slots.iter().map(|v| encrypt(v, &mut rng)).collect::<anyhow::Result<Vec<_>>>()?;
    send(&mut srv, &cts_to_bytes(&params, &x), &server_name, "encrypted rows")?;
    send(&mut srv, &cts_to_bytes(&params, &y), &server_name, "encrypted labels")?;
    eprintln!("[party {party}] {} rows encrypted and sent", rows.len());

    let mut statistics = None;
    let mut weights = None;
    let mut last_nonce = 0u64;
    let mut refreshes = 0usize;
    let max_refreshes = cfg.as_ref().map_or(0, |c| MAX_REFRESHES_PER_ITERATION * c.iterations);
    let smudging = Smudging::default_for(&params);
    loop {
        let msg = recv(&mut srv, &server_name, "the next step")?;
        match msg.first().copied() {
            Some(MSG_STATISTICS) if statistics.is_none() => {
                let cts = cts_from_bytes(&params, &msg[1..], "statistics")?;
                let expected = stats::packed_count(&params, job.width, features);
                if cts.len() != expected {
                    bail!("{server_name} sent {} statistics ciphertexts, expected {expected}", cts.len());
                }
                let slots = joint_decrypt(&session, &sk, key, &cts, &mut peer, &peer_name, "statistics", &mut rng)?;
                statistics = Some(stats::statistics(&stats::unpack_statistics(&slots, job.width, features)?, features)?);
                eprintln!("[party {party}] statistics decrypted");
                if cfg.is_none() {
                    break;
                }
            }
            Some(MSG_REFRESH) if statistics.is_some() && cfg.is_some() => {
                let nonce = u64_at(&msg, 1, "refresh request")?;
                let bound = u32::from_le_bytes(msg.get(9..13).context("malformed refresh request: truncated")?.try_into()?);
                if nonce <= last_nonce {
                    bail!("{server_name} reused refresh nonce {nonce}");
                }
                refreshes += 1;
                if refreshes > max_refreshes {
                    bail!("{server_name} asked for more than {max_refreshes} refreshes");
                }
                last_nonce = nonce;
                let ct = Ciphertext::from_bytes(&params, &msg[13..]).context("malformed ciphertext to refresh")?;
                let share = Refresh::new(&session, key, &ct, nonce, RefreshSecurity::with_bound(bound)?)?.share(
                    &sk.decryption_key(&session)?,
                    &smudging,
                    &mut rng,
                )?;
                send(&mut srv, &share.to_bytes(&session), &server_name, "refresh share")?;
                eprintln!("[party {party}] refresh {refreshes} answered");
            }
            Some(MSG_MODEL) if statistics.is_some() && cfg.is_some() => {
                let ct = Ciphertext::from_bytes(&params, &msg[1..]).context("malformed model ciphertext")?;
                let plain = joint_decrypt(&session, &sk, key, std::slice::from_ref(&ct), &mut peer, &peer_name, "model", &mut rng)?;
                let cfg = cfg.as_ref().context("no training configuration")?;
                weights = Some(veil_he::train::unpack_weights(cfg, &plain[0]));
                eprintln!("[party {party}] model decrypted");
                break;
            }
            tag => bail!("unexpected message (tag {tag:?}) from {server_name}"),
        }
    }
    let statistics = statistics.context("no statistics")?;
    println!("{}", serde_json::to_string(&Report { statistics, weights })?);
    Ok(())
}

/// Adds the two owners' chunk lists position by position.
fn add_chunks(eval: &Evaluator, a: Vec<Ciphertext>, b: Vec<Ciphertext>) -> anyhow::Result<Vec<Ciphertext>> {
    let (mut long, short) = if a.len() >= b.len() { (a, b) } else { (b, a) };
    for (l, s) in long.iter_mut().zip(&short) {
        *l = eval.add(l, s)?;
    }
    Ok(long)
}

/// The server's collective refresh: the weights go to both parties, their refresh shares come
/// back over the links, the server finalises. A failure (a link, a share) reaches the trainer's
/// caller as [`HeError::RefreshFailed`] with the cause attached.
struct NetRefresher<'a> {
    session: &'a Session,
    key: Digest,
    links: [(&'a mut Link, String); 2],
    nonce: u64,
}

impl NetRefresher<'_> {
    fn round(&mut self, ct: &Ciphertext, log2_bound: u32) -> anyhow::Result<Ciphertext> {
        self.nonce += 1;
        let params = self.session.params();
        let mut msg = vec![MSG_REFRESH];
        msg.extend_from_slice(&self.nonce.to_le_bytes());
        msg.extend_from_slice(&log2_bound.to_le_bytes());
        msg.extend_from_slice(&ct.to_bytes(params));
        for (ch, name) in self.links.iter_mut() {
            send(ch, &msg, name, "ciphertext to refresh")?;
        }
        let mut shares = Vec::with_capacity(2);
        for (ch, name) in self.links.iter_mut() {
            let bytes = recv(ch, name, "refresh share")?;
            shares.push(RefreshShare::from_bytes(self.session, &bytes).with_context(|| format!("refresh share from {name}"))?);
        }
        let refresh = Refresh::new(self.session, self.key, ct, self.nonce, RefreshSecurity::with_bound(log2_bound)?)?;
        Ok(refresh.finalize(&shares)?)
    }
}

impl Refresher for NetRefresher<'_> {
    fn min_level(&self, scale: Scale, log2_bound: u32) -> Result<Level, HeError> {
        Ok(RefreshSecurity::with_bound(log2_bound)?.min_level(self.session.params(), self.session.party_count(), scale)?)
    }

    fn refresh(&mut self, ct: &Ciphertext, log2_bound: u32) -> Result<Ciphertext, HeError> {
        self.round(ct, log2_bound).map_err(|e| HeError::RefreshFailed { source: e.into() })
    }
}

/// The evaluator of an aggregation job: statistics, then (with `[train]`) the encrypted
/// training with networked refreshes. It holds no secret key share.
pub fn run_server(job_path: &Path) -> anyhow::Result<()> {
    let job = AggregateJob::load(job_path)?;
    let params = job.params()?;
    let [(mut a, a_name), (mut b, b_name)] = job.mesh.connect_server(&params)?;
    eprintln!("[server] connected");
    let started = Instant::now();
    let session = Session::new(&params, recv_seed(&mut a, &a_name)?, &[PartyId(1), PartyId(2)])?;
    let ca = recv(&mut a, &a_name, "row and feature counts")?;
    let cb = recv(&mut b, &b_name, "row and feature counts")?;
    let features = u64_at(&ca, 8, "counts")? as usize;
    if u64_at(&cb, 8, "counts")? as usize != features {
        bail!("{a_name} and {b_name} announce different feature counts");
    }
    let (rows_a, rows_b) = (u64_at(&ca, 0, "counts")? as usize, u64_at(&cb, 0, "counts")? as usize);
    if rows_a > MAX_ROWS || rows_b > MAX_ROWS {
        bail!("more than {MAX_ROWS} rows per party ({a_name}: {rows_a}, {b_name}: {rows_b})");
    }
    let rows = rows_a + rows_b;
    let cfg = job.train.as_ref().map(|t| job.train_config(t, rows, features)).transpose()?;
    let pk = PublicKey::from_bytes(&params, &recv(&mut a, &a_name, "collective public key")?)?;
    let key = public_key_digest(&params, &pk);
    let rlk = RelinearizationKey::from_bytes(&params, &recv(&mut a, &a_name, "relinearisation key")?)?;
    let gks = GaloisKeys::from_bytes(&params, &recv(&mut a, &a_name, "rotation keys")?)?;
    let xa = cts_from_bytes(&params, &recv(&mut a, &a_name, "encrypted rows")?, "encrypted rows")?;
    let ya = cts_from_bytes(&params, &recv(&mut a, &a_name, "encrypted labels")?, "encrypted labels")?;
    let xb = cts_from_bytes(&params, &recv(&mut b, &b_name, "encrypted rows")?, "encrypted rows")?;
    let yb = cts_from_bytes(&params, &recv(&mut b, &b_name, "encrypted labels")?, "encrypted labels")?;
    let eval = Evaluator::new(&params);
    let x = add_chunks(&eval, xa, xb)?;
    let y = add_chunks(&eval, ya, yb)?;
    eprintln!(
        "[server] {rows} rows of {features} features in {} ciphertexts ({:.2} s after connecting)",
        x.len(),
        started.elapsed().as_secs_f64()
    );
    let t = Instant::now();

    let stats_cts = stats::encrypted_statistics(&params, &x, job.width, features, &rlk, &gks)?;
    let mut msg = vec![MSG_STATISTICS];
    msg.extend_from_slice(&cts_to_bytes(&params, &stats_cts));
    send(&mut a, &msg, &a_name, "encrypted statistics")?;
    send(&mut b, &msg, &b_name, "encrypted statistics")?;
    eprintln!("[server] statistics computed in {:.2} s and sent ({} ciphertext(s))", t.elapsed().as_secs_f64(), stats_cts.len());
    let Some(cfg) = cfg else {
        return Ok(());
    };
    let total = cfg.iterations;
    let mut refresher = NetRefresher { session: &session, key, links: [(&mut a, a_name.clone()), (&mut b, b_name.clone())], nonce: 0 };
    let t = Instant::now();
    let mut progress = |done: usize| eprintln!("[server] training iteration {done}/{total} ({:.2} s)", t.elapsed().as_secs_f64());
    let trained = veil_he::train::train_logistic_regression(&eval, &rlk, &gks, &x, &y, &cfg, &mut refresher, &mut progress);
    let refreshes = refresher.nonce;
    let weights = match trained {
        Ok(w) => w,
        Err(e @ HeError::RefreshFailed { .. }) => return Err(anyhow::Error::new(e).context("training stopped")),
        Err(e) => return Err(anyhow::Error::new(e).context("training failed")),
    };
    let mut msg = vec![MSG_MODEL];
    msg.extend_from_slice(&weights.to_bytes(&params));
    send(&mut a, &msg, &a_name, "encrypted model")?;
    send(&mut b, &msg, &b_name, "encrypted model")?;
    eprintln!("[server] model trained in {:.2} s with {} collective refreshes, sent", t.elapsed().as_secs_f64(), refreshes);
    Ok(())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn blobs_round_trip_and_malformed_bytes_are_errors() {
        let blobs = vec![vec![1u8, 2, 3], Vec::new(), vec![9u8; 300]];
        let bytes = pack_blobs(&blobs);
        assert_eq!(unpack_blobs(&bytes, "test").unwrap(), blobs);
        for cut in 0..bytes.len() {
            assert!(unpack_blobs(&bytes[..cut], "test").is_err(), "truncated at {cut}");
        }
        let mut long = bytes.clone();
        long.push(0);
        assert!(unpack_blobs(&long, "test").is_err());
        let mut huge = bytes;
        huge[4..12].copy_from_slice(&u64::MAX.to_le_bytes());
        assert!(unpack_blobs(&huge, "test").is_err());
        assert!(unpack_blobs(&[0xff; 4], "test").is_err());
    }

    #[test]
    fn tasks_default_to_inference() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("job.toml");
        std::fs::write(&path, "preset = \"x\"\n").unwrap();
        assert_eq!(task(&path).unwrap(), Task::Inference);
        std::fs::write(&path, "task = \"aggregate\"\n").unwrap();
        assert_eq!(task(&path).unwrap(), Task::Aggregate);
        std::fs::write(&path, "task = \"mine\"\n").unwrap();
        assert!(task(&path).is_err());
    }
}
