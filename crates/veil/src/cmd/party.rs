//! `veil threshold party` and `veil threshold server`: secure inference between separate
//! processes over mutually authenticated TLS (or a file mailbox, for air-gapped sites), from a
//! small TOML job file.
//!
//! The data owner A (first `[[parties]]` entry, threshold party 1) and the model owner B
//! (second entry, party 2) run the collective key generation together (A draws the CRS seed and
//! sends it to B), A hands the evaluation keys to the server, both send their encrypted input
//! (A's rows, B's logistic-regression weights replicated per row) to the server, the server
//! returns the block-wise inner products, B sends its flooded partial decryption to A, and A
//! alone merges and prints the scores (JSON array on standard output). With `model = "mlp"` B
//! serves a veil-ml MLP instead (`--input model.json`, see `veil_he::infer`): B encrypts it and
//! sends it to the server and its public shape to A; A encrypts its first `count` rows (exactly
//! the model's input features, no bias column); A prints one JSON object
//! `{"outputs": [[…] per row], "predictions": […]}`. Every wait is bounded by
//! the job's `timeout_secs`: a party that disconnects or stalls makes the others stop with an
//! error naming it, and nothing is printed.
//!
//! ```toml
//! preset = "n16384_l6_sec128"
//! certs = "pki"            # CA and party certificates (`veil certs init`),
//!                          # or mailbox = "DIR" (files moved by courier; no addr needed)
//! timeout_secs = 30        # default 60
//! width = 32               # slots per row (a power of two)
//! count = 100              # rows A wants scored
//! model = "lr"             # or "mlp" (default "lr")
//! packing = "diagonal"     # MLP weights: "diagonal" (default, width ≥ d_in + d_out) or "row-sum"
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

use anyhow::{bail, Context};
use serde::Deserialize;

use super::link::{collective_keys, recv, recv_seed, send, Mesh};
use super::threshold::rotation_steps;
use veil_ckks::{Ciphertext, Encoder, Encryptor, Evaluator, GaloisKeys, Parameters, RelinearizationKey};
use veil_he::infer::ModelShape;
use veil_math::sampler::{Prng, Seed};
use veil_threshold::{merge, public_key_digest, DecryptionShare, PartyId, Session, Smudging};

/// The job file.
#[derive(Debug, Deserialize)]
pub struct Job {
    pub preset: String,
    pub width: usize,
    pub count: usize,
    /// The members and their links (TLS or a mailbox).
    #[serde(flatten)]
    pub mesh: Mesh,
    /// What B serves: logistic-regression weights (default) or a veil-ml MLP.
    #[serde(default)]
    pub model: ModelKind,
    /// Layout of an MLP's encrypted weights: "diagonal" (default) or "row-sum".
    #[serde(default)]
    pub packing: super::secure_infer::PackingArg,
}

/// The kind of model B serves.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ModelKind {
    /// One CSV line of weights, bias last; A's rows end in a 1.0.
    #[default]
    Lr,
    /// A veil-ml model file (JSON): dense layers and polynomial activations.
    Mlp,
}

impl Job {
    fn load(path: &Path) -> anyhow::Result<Job> {
        let text = std::fs::read_to_string(path).with_context(|| format!("reading job {}", path.display()))?;
        let job: Job = toml::from_str(&text).with_context(|| format!("parsing job {}", path.display()))?;
        job.mesh.validate("secure inference", "data owner, model owner")?;
        if !job.width.is_power_of_two() {
            bail!("width must be a power of two, got {}", job.width);
        }
        Ok(job)
    }

    fn params(&self) -> anyhow::Result<Arc<Parameters>> {
        super::threshold::preset_params(&self.preset)
    }
}

fn read_csv(path: &Path) -> anyhow::Result<Vec<Vec<f64>>> {
    let text = std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .enumerate()
        .map(|(i, l)| {
            l.split(',').map(|v| v.trim().parse::<f64>().with_context(|| format!("{}:{}: not a number", path.display(), i + 1))).collect()
        })
        .collect()
}

fn pack(params: &Parameters, rows: &[Vec<f64>], width: usize, replicate: bool) -> anyhow::Result<Vec<f64>> {
    let slots = params.slot_count();
    let blocks = slots / width;
    if rows.len() > blocks || rows.iter().any(|r| r.len() > width) {
        bail!("{} rows of up to {width} values do not fit {blocks} blocks", rows.len());
    }
    let mut values = vec![0.0; slots];
    for b in 0..blocks {
        if let Some(row) = if replicate { rows.first() } else { rows.get(b) } {
            values[b * width..b * width + row.len()].copy_from_slice(row);
        }
    }
    Ok(values)
}

/// A (`party` 1: data owner, merges) or B (`party` 2: model owner).
pub fn run_party(job_path: &Path, party: u32, input: &Path, sigmoid: bool) -> anyhow::Result<()> {
    if party != 1 && party != 2 {
        bail!("--party must be 1 (data owner) or 2 (model owner), got {party}");
    }
    let index = party as usize - 1;
    let job = Job::load(job_path)?;
    let params = job.params()?;
    let me = PartyId(index as u32 + 1);
    let mlp = job.model == ModelKind::Mlp;
    if mlp && sigmoid {
        bail!("--sigmoid is for logistic regression; an MLP's own final activation is applied");
    }
    let (rows, model) =
        if mlp && index == 1 { (Vec::new(), Some(super::secure_infer::load_model(input)?)) } else { (read_csv(input)?, None) };
    let [(mut peer, peer_name), (mut srv, server_name)] = job.mesh.connect_party(index, &params)?;
    eprintln!("[party {}] connected", me.0);
    let first = index == 0;
    let crs = if first {
        let seed = Seed::random();
        send(&mut peer, &seed.0, &peer_name, "CRS seed")?;
        seed
    } else {
        recv_seed(&mut peer, &peer_name)?
    };
    let session = Session::new(&params, crs, &[PartyId(1), PartyId(2)])?;
    let mut rng = Prng::from_os();
    let (sk, pk, rlk, gks) = collective_keys(&session, me, &mut peer, &peer_name, &rotation_steps(job.width)?, &mut rng)?;
    let key = public_key_digest(&params, &pk);
    eprintln!("[party {}] collective keys ready ({})", me.0, key.short_hex());
    let mut shape = None;
    if let Some(model) = &model {
        let em = super::secure_infer::encrypt_model(&params, &pk, model, job.packing, Some(job.width))?;
        send(&mut peer, &em.shape().to_bytes(&params), &peer_name, "model shape")?;
        send(&mut srv, &em.to_bytes(&params), &server_name, "encrypted model")?;
    } else if mlp {
        let bytes = recv(&mut peer, &peer_name, "model shape")?;
        shape = Some(ModelShape::from_bytes(&params, &bytes).with_context(|| format!("model shape from {peer_name}"))?);
    }
    if first {
        send(&mut srv, &rlk.to_bytes(&params), &server_name, "relinearisation key")?;
        send(&mut srv, &gks.to_bytes(&params), &server_name, "rotation keys")?;
        let ct = match &shape {
            Some(shape) => super::secure_infer::encrypt_rows(&params, &pk, shape, &rows, Some(job.count))?,
            None => {
                let values = pack(&params, &rows, job.width, false)?;
                let pt = Encoder::new(&params).encode(&values, params.max_level(), params.default_scale())?;
                Encryptor::with_public_key(&params, &pk).encrypt(&pt, &mut rng)?
            }
        };
        send(&mut srv, &ct.to_bytes(&params), &server_name, "encrypted input")?;
    } else if !mlp {
        let values = pack(&params, &rows, job.width, true)?;
        let pt = Encoder::new(&params).encode(&values, params.max_level(), params.default_scale())?;
        let ct = Encryptor::with_public_key(&params, &pk).encrypt(&pt, &mut rng)?;
        send(&mut srv, &ct.to_bytes(&params), &server_name, "encrypted input")?;
    }
    let result = Ciphertext::from_bytes(&params, &recv(&mut srv, &server_name, "encrypted result")?)?;
    if !first {
        let share = sk.decryption_key(&session)?.partial_decrypt(&session, &result, &Smudging::default_for(&params), &mut rng)?;
        send(&mut peer, &share.to_bytes(&session), &peer_name, "partial decryption")?;
        eprintln!("[party {}] partial decryption sent to {peer_name}", me.0);
        return Ok(());
    }
    let theirs = DecryptionShare::from_bytes(&session, &recv(&mut peer, &peer_name, "partial decryption")?)?;
    let own = sk.decryption_key(&session)?.receiver_share(&session, &result)?;
    let plain = merge(&session, key, &result, &[theirs], Some(&own))?;
    let slots = Encoder::new(&params).decode(&plain)?;
    if let Some(shape) = &shape {
        println!("{}", super::secure_infer::outputs_json(shape, &slots, job.count)?);
        return Ok(());
    }
    let scores: Vec<f64> = (0..job.count)
        .filter_map(|r| slots.get(r * job.width).copied())
        .map(|v| if sigmoid { 1.0 / (1.0 + (-v).exp()) } else { v })
        .collect();
    println!("{}", serde_json::to_string(&scores)?);
    Ok(())
}

/// The evaluator: receives the evaluation keys from A and one ciphertext from each party,
/// returns the block-wise inner products to both. It never holds a secret.
pub fn run_server(job_path: &Path) -> anyhow::Result<()> {
    let job = Job::load(job_path)?;
    let params = job.params()?;
    let [(mut a, a_name), (mut b, b_name)] = job.mesh.connect_server(&params)?;
    eprintln!("[server] connected");
    let rlk = RelinearizationKey::from_bytes(&params, &recv(&mut a, &a_name, "relinearisation key")?)?;
    let gks = GaloisKeys::from_bytes(&params, &recv(&mut a, &a_name, "rotation keys")?)?;
    let ct_a = Ciphertext::from_bytes(&params, &recv(&mut a, &a_name, "encrypted input")?)?;
    let acc = if job.model == ModelKind::Mlp {
        let model = recv(&mut b, &b_name, "encrypted model")?;
        super::secure_infer::evaluate(&params, &model, &ct_a, job.count, &rlk, &gks)?
    } else {
        let ct_b = Ciphertext::from_bytes(&params, &recv(&mut b, &b_name, "encrypted input")?)?;
        let eval = Evaluator::new(&params);
        let mut acc = eval.mul_relin_rescale(&ct_a, &ct_b, &rlk)?;
        for step in rotation_steps(job.width)? {
            let r = eval.rotate(&acc, step, &gks)?;
            acc = eval.add(&acc, &r)?;
        }
        super::secure_infer::keep_block_sums(&params, &acc, job.width)?
    };
    let bytes = acc.to_bytes(&params);
    send(&mut a, &bytes, &a_name, "encrypted result")?;
    send(&mut b, &bytes, &b_name, "encrypted result")?;
    eprintln!("[server] result sent");
    Ok(())
}
