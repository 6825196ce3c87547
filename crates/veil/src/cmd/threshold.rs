//! `veil threshold ...`: the threshold-CKKS roles as commands on files.
//!
//! Every command is one local step of one role; the files in the exchange directory are what
//! the parties would move over the network or by courier. Secret files (key shares, ephemeral
//! secrets, the session file with its CRS seed) are written owner-only (0600) and never
//! printed. A secure-inference run with two parties A (1) and B (2) and a server:
//!
//! ```text
//! veil threshold init --parties 2 --out job/session.toml
//! veil threshold keygen-share --session job/session.toml --party 1 --dir job     (A; B: --party 2)
//! veil threshold aggregate-pk --session job/session.toml --dir job               (anyone)
//! veil threshold relin-round1 --session job/session.toml --party 1 --dir job     (each party)
//! veil threshold relin-round2 --session job/session.toml --party 1 --dir job     (each party)
//! veil threshold rotation-share --session job/session.toml --party 1 --dir job --width 32
//! veil threshold aggregate-eval-keys --session job/session.toml --dir job --width 32
//! veil threshold encrypt --session job/session.toml --dir job --input rows.csv --width 32 --out job/a.ct
//! veil threshold encrypt --session job/session.toml --dir job --input w.csv --width 32 --replicate --out job/b.ct
//! veil threshold evaluate --session job/session.toml --dir job --a job/a.ct --b job/b.ct --width 32 --out job/score.ct
//! veil threshold partial-decrypt --session job/session.toml --party 2 --dir job --ct job/score.ct --out job/b.share
//! veil threshold merge --session job/session.toml --party 1 --dir job --ct job/score.ct --shares job/b.share --width 32 --count 100
//! ```
//!
//! t-out-of-N decryption (`reshare-deal`, `reshare-combine`, `--coalition`) and key switching
//! to a target's own key (`target-keygen`, `key-switch-share`, `key-switch`, `target-decrypt`)
//! are in `cmd/threshold_keys.rs`.
//!
//! With a trusted third party instead of collective keys, `ttp-keygen` replaces the key
//! generation steps and `ttp-decrypt` the partial decryptions and merge; `veil threshold party`
//! and `veil threshold server` run the collective flow over TLS (see `cmd/party.rs`; with
//! `task = "aggregate"` in the job, secure aggregation and training: `cmd/aggregate_net.rs`).

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{anyhow, bail, Context};
use clap::{Args, Subcommand};
use serde::{Deserialize, Serialize};
use veil_ckks::{Ciphertext, Encoder, Encryptor, Evaluator, GaloisKeys, Parameters, ParametersLiteral, PublicKey, RelinearizationKey};
use veil_math::sampler::{Prng, Seed};
use veil_threshold::round::{GaloisRound, PublicKeyRound, RelinRound1, RelinRound2};
use veil_threshold::{
    merge, public_key_digest, DecryptionShare, GaloisKeyGen, PartyId, PublicKeyGen, RelinEphemeral, RelinKeyGen, SecretShare, Session,
    Share, Smudging,
};

/// Options of `veil threshold`.
#[derive(Debug, Args)]
#[command(after_help = FLOW)]
pub struct ThresholdArgs {
    #[command(subcommand)]
    pub step: Step,
}

const FLOW: &str = "\
Secure inference on files, parties 1 (A, data) and 2 (B, model), S = --session job/s.toml:
  veil threshold init --parties 2 --out job/s.toml
  veil threshold keygen-share    --session S --dir job --party 1      (then --party 2)
  veil threshold aggregate-pk    --session S --dir job
  veil threshold relin-round1    --session S --dir job --party 1      (then 2)
  veil threshold relin-round2    --session S --dir job --party 1      (then 2)
  veil threshold rotation-share  --session S --dir job --party 1 --width 32   (then 2)
  veil threshold aggregate-eval-keys --session S --dir job --width 32
  veil threshold encrypt  --session S --dir job --input rows.csv --width 32 --out job/a.ct
  veil threshold encrypt  --session S --dir job --input w.csv --width 32 --replicate --out job/b.ct
  veil threshold evaluate --session S --dir job --a job/a.ct --b job/b.ct --width 32 --out job/r.ct
  veil threshold partial-decrypt --session S --dir job --party 2 --ct job/r.ct --out job/b.share
  veil threshold merge --session S --dir job --party 1 --ct job/r.ct --shares job/b.share --width 32
An MLP instead (B: a veil-ml model file; same keys; A's rows hold only the model's features):
  veil threshold encrypt  --session S --dir job --model model.json --out job/m.enc  (B; it prints
                          the --width of the rotation keys: 64 for 30-8-2 with the default packing)
  veil threshold encrypt  --session S --dir job --input rows.csv --for-model job/m.enc --out job/a.ct
  veil threshold evaluate --session S --dir job --a job/a.ct --model job/m.enc --count 100 --out job/r.ct
  veil threshold merge ... --ct job/r.ct --shares job/b.share --model job/m.enc --count 100 --json
Over the network: `veil threshold server --job job.toml` and `veil threshold party --job job.toml
--party 1|2 --input FILE` (job: preset, certs, timeout_secs, width, count, [[parties]], [server]).
With `mailbox = \"DIR\"` instead of `certs` (no addr needed), the three processes exchange files
in DIR (air-gapped sites), for every task.
With `task = \"aggregate\"` in the job (and an optional [train] table: iterations, learning_rate),
each party's FILE holds its rows (features, then a 0/1 label); the server computes count, mean,
variance and covariance and trains a logistic regression on the encrypted rows (collective
refreshes over the links); both parties print the same JSON {statistics, weights}.
t-out-of-N (init --parties 3 --threshold 2, keys as above; ... = --session S --dir job):
  veil threshold reshare-deal    ... --party I --out out-I   (each party I; send the file
                                 out-I/party-I.to-J.subshare to party J confidentially)
  veil threshold reshare-combine ... --party J --inbox in-J  (each party J)
  then any 2 decrypt, e.g. parties 1 and 3:
  veil threshold partial-decrypt ... --party 3 --coalition 1,3 --ct r.ct --out 3.share
  veil threshold merge ... --party 1 --coalition 1,3 --ct r.ct --shares 3.share
Key switching of a result to a target T, who alone can decrypt it:
  veil threshold target-keygen --preset P --secret t.secret --public t.pk      (T)
  veil threshold key-switch-share ... --party I --ct r.ct --target t.pk --out ks-I
                                 (every party, or a --coalition of t in a t-out-of-N session)
  veil threshold key-switch ... --ct r.ct --target t.pk --shares ks-1 ks-2 --out rt.ct
  veil threshold target-decrypt --preset P --secret t.secret --ct rt.ct         (T)
Secret files (session, key shares, sub-shares, threshold shares, ephemeral secrets, the target's
key) are written owner-only (0600) and never printed.";

/// Session file, exchange directory and party of a step.
#[derive(Debug, Args)]
pub struct Common {
    /// Session file written by `veil threshold init` (secret: it holds the CRS seed).
    #[arg(long)]
    pub session: PathBuf,
    /// Exchange directory: public shares, collective keys (and, owner-only, this party's secrets
    /// unless --key-dir is given).
    #[arg(long)]
    pub dir: PathBuf,
    /// Where this party's secret files live (default: --dir).
    #[arg(long)]
    pub key_dir: Option<PathBuf>,
}

/// One step of one role.
#[derive(Debug, Subcommand)]
pub enum Step {
    /// Start a session: parameters, a fresh CRS seed, the parties and the threshold.
    Init {
        /// Number of parties (ids 1..=N).
        #[arg(long)]
        parties: u32,
        /// Parties needed to decrypt (default: all).
        #[arg(long)]
        threshold: Option<usize>,
        /// CKKS parameter preset (names starting with `insecure_` are for tests only).
        #[arg(long, default_value = "n16384_l6_sec128")]
        preset: String,
        /// Where to write the session file (owner-only).
        #[arg(long)]
        out: PathBuf,
    },
    /// Party: draw a secret-key share (owner-only file) and write its public-key share.
    KeygenShare {
        #[command(flatten)]
        common: Common,
        /// This party's id.
        #[arg(long)]
        party: u32,
    },
    /// Anyone: sum the public-key shares of every party into the collective public key.
    AggregatePk {
        #[command(flatten)]
        common: Common,
    },
    /// Party: relinearisation key, round 1 (keeps an owner-only ephemeral secret for round 2).
    RelinRound1 {
        #[command(flatten)]
        common: Common,
        #[arg(long)]
        party: u32,
    },
    /// Party: relinearisation key, round 2 (on the sum of every round-1 share).
    RelinRound2 {
        #[command(flatten)]
        common: Common,
        #[arg(long)]
        party: u32,
    },
    /// Party: shares of the rotation keys for summing blocks of --width slots (steps 1, 2, 4, ...),
    /// or with --stats-features F those of `aggregate-stats` (steps 1..F and multiples of width).
    RotationShare {
        #[command(flatten)]
        common: Common,
        #[arg(long)]
        party: u32,
        /// Block width (a power of two).
        #[arg(long)]
        width: usize,
        /// Keys for `aggregate-stats` over F features instead.
        #[arg(long)]
        stats_features: Option<usize>,
    },
    /// Anyone: finalise the relinearisation and rotation keys the server needs.
    AggregateEvalKeys {
        #[command(flatten)]
        common: Common,
        /// Block width of the rotation keys (a power of two).
        #[arg(long)]
        width: usize,
        /// Keys for `aggregate-stats` over F features instead.
        #[arg(long)]
        stats_features: Option<usize>,
    },
    /// Evaluator (server): secure aggregation statistics over the rows of every given
    /// ciphertext (each party encrypts its rows with `encrypt --offset-blocks`, features in
    /// columns 0..F, a column of 1.0 at F): writes OUT/sum.ct (slot f: Σ x_f, slot F: the row
    /// count) and OUT/moment-k.ct for k < F (slot f: Σ x_f·x_{f+k}).
    AggregateStats {
        #[command(flatten)]
        common: Common,
        /// Encrypted rows (one ciphertext per data owner).
        #[arg(long, num_args = 1..)]
        inputs: Vec<PathBuf>,
        #[arg(long)]
        width: usize,
        /// Number of features F (2·F <= width).
        #[arg(long)]
        features: usize,
        /// Output directory.
        #[arg(long)]
        out: PathBuf,
    },
    /// Party: flooded partial decryptions of every statistics ciphertext in --stats, for the
    /// other party (written to `OUT/share-<name>`).
    StatsDecrypt {
        #[command(flatten)]
        common: Common,
        #[arg(long)]
        party: u32,
        #[arg(long)]
        stats: PathBuf,
        #[arg(long)]
        features: usize,
        #[arg(long)]
        out: PathBuf,
    },
    /// Party: merge the statistics with the other party's shares (directory --shares) and print
    /// count, mean, variance and covariance matrix as JSON.
    StatsMerge {
        #[command(flatten)]
        common: Common,
        #[arg(long)]
        party: u32,
        #[arg(long)]
        stats: PathBuf,
        #[arg(long)]
        shares: PathBuf,
        #[arg(long)]
        features: usize,
    },
    /// Encryptor: encrypt a CSV under the collective public key; line r fills slots
    /// [r·width, r·width + width) (with --replicate: the first line fills every block).
    ///
    /// Model owner of an MLP: `--model model.json` encrypts a veil-ml model (dense layers,
    /// polynomial activations of degree ≤ 2, optional final sigmoid/softmax) for `evaluate
    /// --model`. Its data owner: `--for-model model.enc` packs rows of exactly the model's input
    /// features (no bias column: the evaluator adds it) and checks them against the model.
    Encrypt {
        #[command(flatten)]
        common: Common,
        /// CSV file of numbers.
        #[arg(long, required_unless_present = "model")]
        input: Option<PathBuf>,
        /// Slots per row (a power of two; with --model: default the smallest that fits).
        #[arg(long, required_unless_present_any = ["model", "for_model"])]
        width: Option<usize>,
        #[arg(long)]
        replicate: bool,
        /// Start at block B (so that several owners' rows occupy disjoint blocks).
        #[arg(long, default_value_t = 0)]
        offset_blocks: usize,
        /// A veil-ml model file (JSON) to encrypt (model owner).
        #[arg(long, conflicts_with_all = ["input", "replicate", "for_model"])]
        model: Option<PathBuf>,
        /// The encrypted model the rows are for (only its public header is read).
        #[arg(long, conflicts_with_all = ["replicate", "offset_blocks", "width"])]
        for_model: Option<PathBuf>,
        /// Layout of the encrypted weights (with --model).
        #[arg(long, value_enum, default_value_t, requires = "model")]
        packing: super::secure_infer::PackingArg,
        #[arg(long)]
        out: PathBuf,
    },
    /// Evaluator (server, no secret): block-wise inner products of two ciphertexts: slot
    /// r·width of the result holds Σ_k a[r·width + k]·b[r·width + k].
    /// With --model: the model owner's encrypted MLP on the first --count rows of --a (decode
    /// with `merge --model`).
    Evaluate {
        #[command(flatten)]
        common: Common,
        #[arg(long)]
        a: PathBuf,
        /// The other ciphertext (e.g. replicated logistic-regression weights).
        #[arg(long, required_unless_present = "model")]
        b: Option<PathBuf>,
        #[arg(long, required_unless_present = "model")]
        width: Option<usize>,
        /// The encrypted model (`encrypt --model`).
        #[arg(long, conflicts_with_all = ["b", "width"], requires = "count")]
        model: Option<PathBuf>,
        /// Rows of --a to evaluate (with --model; only these rows' outputs are left in the result).
        #[arg(long, requires = "model")]
        count: Option<usize>,
        #[arg(long)]
        out: PathBuf,
    },
    /// Decryptor: a partial decryption flooded with smudging noise, for the receiver.
    PartialDecrypt {
        #[command(flatten)]
        common: Common,
        #[arg(long)]
        party: u32,
        #[arg(long)]
        ct: PathBuf,
        /// log2 of the smudging standard deviation (default: veil's derived default, 2^20 at
        /// N = 16384; see the veil-threshold docs for what it guarantees).
        #[arg(long)]
        smudging_bits: Option<f64>,
        /// t-out-of-N: the decrypting coalition (ids, comma-separated, at least t, this party
        /// included); uses this party's threshold share (`reshare-combine`).
        #[arg(long, value_delimiter = ',')]
        coalition: Option<Vec<u32>>,
        #[arg(long)]
        out: PathBuf,
    },
    /// Party (t-out-of-N): deal Shamir sub-shares of this party's key share, one owner-only
    /// file per recipient, to move to each recipient over a confidential channel.
    ReshareDeal(super::threshold_keys::ReshareDealArgs),
    /// Party (t-out-of-N): sum the sub-shares addressed to this party into its threshold share
    /// (owner-only), which any t parties then decrypt with (`--coalition`).
    ReshareCombine(super::threshold_keys::ReshareCombineArgs),
    /// Target of a key switch: its own single-key CKKS key pair (secret key owner-only).
    TargetKeygen(super::threshold_keys::TargetKeygenArgs),
    /// Party: a share of the switch of a ciphertext to the target's public key.
    KeySwitchShare(super::threshold_keys::KeySwitchShareArgs),
    /// Anyone (no secret): combine the key-switching shares into a ciphertext under the
    /// target's key.
    KeySwitch(super::threshold_keys::KeySwitchArgs),
    /// Target: decrypt a switched ciphertext with its own secret key alone.
    TargetDecrypt(super::threshold_keys::TargetDecryptArgs),
    /// Trusted third party: generate one ordinary CKKS key pair (secret key owner-only) and
    /// the evaluation keys, under the same file names as the collective keys, so that
    /// `encrypt` and `evaluate` work unchanged. The session file only fixes the parameters.
    TtpKeygen {
        #[command(flatten)]
        common: Common,
        /// Block width of the rotation keys (a power of two).
        #[arg(long)]
        width: usize,
    },
    /// Trusted third party: decrypt a result with its secret key.
    TtpDecrypt {
        #[command(flatten)]
        common: Common,
        /// The ciphertext to decrypt.
        #[arg(long)]
        ct: PathBuf,
        #[command(flatten)]
        output: OutputArgs,
    },
    /// Networked workflow, party side, over mutually authenticated TLS (or a file mailbox) per
    /// the job file: secure inference (A = --party 1, data owner, learns the scores; B =
    /// --party 2, model owner) or, with `task = "aggregate"`, secure aggregation and training
    /// (both parties' rows; both receive the statistics and the model).
    Party {
        /// Job file (TOML: task, preset, certs or mailbox, timeout_secs, width, count, model,
        /// `[train]`, `[[parties]]`, `[server]`; see `veil threshold --help`).
        #[arg(long)]
        job: PathBuf,
        /// 1: data owner (rows CSV, receives the result); 2: model owner (one CSV line of
        /// weights, bias last).
        #[arg(long)]
        party: u32,
        /// A: CSV of rows (each at most `width` values, bias column of 1.0 last; with
        /// `model = "mlp"` in the job: exactly the model's features); B: one CSV line of weights,
        /// bias last, or with `model = "mlp"` a veil-ml model file (JSON). With
        /// `task = "aggregate"`: each party's rows, features then a 0/1 label.
        #[arg(long)]
        input: PathBuf,
        /// Print probabilities instead of scores.
        #[arg(long)]
        sigmoid: bool,
    },
    /// Networked workflow, evaluator side: evaluates the inference, or computes the statistics
    /// and trains the model, with evaluation keys only (holds no key share).
    Server {
        /// Job file, the same the parties use.
        #[arg(long)]
        job: PathBuf,
    },
    /// Merge (the receiver): its own share plus every other party's partial decryption.
    Merge {
        #[command(flatten)]
        common: Common,
        /// The receiving party (merges its own share without releasing it).
        #[arg(long)]
        party: u32,
        #[arg(long)]
        ct: PathBuf,
        /// The other parties' partial decryptions.
        #[arg(long, num_args = 1..)]
        shares: Vec<PathBuf>,
        /// t-out-of-N: the coalition whose shares are merged (the receiver may be outside it,
        /// then it merges t released shares and uses no secret).
        #[arg(long, value_delimiter = ',')]
        coalition: Option<Vec<u32>>,
        #[command(flatten)]
        output: OutputArgs,
    },
}

#[derive(Debug, Serialize, Deserialize)]
struct SessionFile {
    preset: String,
    crs: String,
    parties: Vec<u32>,
    threshold: usize,
}

pub fn run(args: ThresholdArgs) -> anyhow::Result<()> {
    match args.step {
        Step::Init { parties, threshold, preset, out } => init(parties, threshold, &preset, &out),
        Step::KeygenShare { common, party } => keygen_share(&common, party),
        Step::AggregatePk { common } => aggregate_pk(&common),
        Step::RelinRound1 { common, party } => relin_round1(&common, party),
        Step::RelinRound2 { common, party } => relin_round2(&common, party),
        Step::RotationShare { common, party, width, stats_features } => rotation_share(&common, party, width, stats_features),
        Step::AggregateEvalKeys { common, width, stats_features } => aggregate_eval_keys(&common, width, stats_features),
        Step::Encrypt { common, input, width, replicate, offset_blocks, model, for_model, packing, out } => {
            let mlp = MlpInputs { model: model.as_deref(), for_model: for_model.as_deref(), packing };
            encrypt_step(&common, input.as_deref(), width, replicate, offset_blocks, mlp, &out)
        }
        Step::AggregateStats { common, inputs, width, features, out } => {
            super::stats::aggregate(&load_session(&common.session)?, &common.dir, &inputs, width, features, &out)
        }
        Step::StatsDecrypt { common, party, stats, features, out } => {
            let s = load_session(&common.session)?;
            let (sk, _) = load_bound_secret(&common, &s, party)?;
            super::stats::decrypt(&s, &sk, &stats, features, &out)
        }
        Step::StatsMerge { common, party, stats, shares, features } => {
            let s = load_session(&common.session)?;
            let (sk, pk) = load_bound_secret(&common, &s, party)?;
            super::stats::merge(&s, &sk, &pk, &stats, &shares, features)
        }
        Step::Evaluate { common, a, b, width, model, count, out } => match (b, width, model, count) {
            (Some(b), Some(width), None, None) => evaluate(&common, &a, &b, width, &out),
            (None, None, Some(model), Some(count)) => evaluate_model(&common, &a, &model, count, &out),
            _ => bail!("give either --b and --width, or --model and --count"),
        },
        Step::PartialDecrypt { common, party, ct, smudging_bits, coalition: Some(c), out } => {
            super::threshold_keys::partial_decrypt(&common, party, &c, &ct, smudging_bits, &out)
        }
        Step::PartialDecrypt { common, party, ct, smudging_bits, coalition: None, out } => {
            partial_decrypt(&common, party, &ct, smudging_bits, &out)
        }
        Step::ReshareDeal(a) => super::threshold_keys::reshare_deal(&a),
        Step::ReshareCombine(a) => super::threshold_keys::reshare_combine(&a),
        Step::TargetKeygen(a) => super::threshold_keys::target_keygen(&a),
        Step::KeySwitchShare(a) => super::threshold_keys::key_switch_share(&a),
        Step::KeySwitch(a) => super::threshold_keys::key_switch_cmd(&a),
        Step::TargetDecrypt(a) => super::threshold_keys::target_decrypt(&a),
        Step::Party { job, party, input, .. } if super::aggregate_net::task(&job)? == super::aggregate_net::Task::Aggregate => {
            super::aggregate_net::run_party(&job, party, &input)
        }
        Step::Server { job } if super::aggregate_net::task(&job)? == super::aggregate_net::Task::Aggregate => {
            super::aggregate_net::run_server(&job)
        }
        Step::Party { job, party, input, sigmoid } => super::party::run_party(&job, party, &input, sigmoid),
        Step::Server { job } => super::party::run_server(&job),
        Step::TtpKeygen { common, width } => ttp_keygen(&common, width),
        Step::TtpDecrypt { common, ct, output } => ttp_decrypt(&common, &ct, &output),
        Step::Merge { common, party, ct, shares, coalition: Some(c), output } => {
            super::threshold_keys::merge(&common, party, &c, &ct, &shares, &output)
        }
        Step::Merge { common, party, ct, shares, coalition: None, output } => merge_cmd(&common, party, &ct, &shares, &output),
    }
}

/// Writes `bytes` to `path`, readable and writable by the owner only.
pub(super) fn write_secret(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    let mut opts = fs::OpenOptions::new();
    opts.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    let mut f = opts.open(path).with_context(|| format!("creating {}", path.display()))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        f.set_permissions(fs::Permissions::from_mode(0o600))?;
    }
    f.write_all(bytes)?;
    Ok(())
}

pub(super) fn write_public(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    fs::write(path, bytes).with_context(|| format!("writing {}", path.display()))
}

pub(super) fn read(path: &Path) -> anyhow::Result<Vec<u8>> {
    fs::read(path).with_context(|| format!("reading {}", path.display()))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn unhex(s: &str) -> anyhow::Result<[u8; 32]> {
    if s.len() != 64 {
        bail!("the CRS must be 64 hexadecimal digits");
    }
    let mut out = [0u8; 32];
    for (i, o) in out.iter_mut().enumerate() {
        *o = u8::from_str_radix(&s[2 * i..2 * i + 2], 16).context("the CRS is not hexadecimal")?;
    }
    Ok(out)
}

/// The parameters of a named preset.
pub(super) fn preset_params(name: &str) -> anyhow::Result<Arc<Parameters>> {
    let lit = ParametersLiteral::preset(name).ok_or_else(|| anyhow!("unknown preset {name:?}"))?;
    Ok(Parameters::new(lit)?)
}

fn init(parties: u32, threshold: Option<usize>, preset: &str, out: &Path) -> anyhow::Result<()> {
    let params = preset_params(preset)?;
    let ids: Vec<PartyId> = (1..=parties).map(PartyId).collect();
    let crs = Seed::random();
    let t = threshold.unwrap_or(parties as usize);
    Session::with_threshold(&params, crs, &ids, t)?;
    let file = SessionFile { preset: preset.into(), crs: hex(&crs.0), parties: (1..=parties).collect(), threshold: t };
    write_secret(out, toml::to_string(&file)?.as_bytes())?;
    eprintln!("session for {parties} parties (threshold {t}) written to {} (owner-only: it holds the CRS seed)", out.display());
    Ok(())
}

pub(super) fn load_session(path: &Path) -> anyhow::Result<Session> {
    let text = String::from_utf8(read(path)?).context("session file is not UTF-8")?;
    let f: SessionFile = toml::from_str(&text).with_context(|| format!("parsing {}", path.display()))?;
    let params = preset_params(&f.preset)?;
    let ids: Vec<PartyId> = f.parties.iter().map(|&p| PartyId(p)).collect();
    Ok(Session::with_threshold(&params, Seed(unhex(&f.crs)?), &ids, f.threshold)?)
}

pub(super) fn key_dir(c: &Common) -> &Path {
    c.key_dir.as_deref().unwrap_or(&c.dir)
}

fn secret_path(c: &Common, party: u32) -> PathBuf {
    key_dir(c).join(format!("party-{party}.secret"))
}

fn load_secret(c: &Common, s: &Session, party: u32) -> anyhow::Result<SecretShare> {
    let share = SecretShare::from_bytes(s, &read(&secret_path(c, party))?)?;
    if share.party() != PartyId(party) {
        bail!("{} holds the share of party {}, not {party}", secret_path(c, party).display(), share.party());
    }
    Ok(share)
}

pub(super) fn load_pk(c: &Common, s: &Session) -> anyhow::Result<PublicKey> {
    Ok(PublicKey::from_bytes(s.params(), &read(&c.dir.join("collective.pk"))?)?)
}

/// The share bound to the collective key (the binding is recomputed from the public key).
pub(super) fn load_bound_secret(c: &Common, s: &Session, party: u32) -> anyhow::Result<(SecretShare, PublicKey)> {
    let mut sk = load_secret(c, s, party)?;
    let pk = load_pk(c, s)?;
    sk.bind(s, &pk);
    Ok((sk, pk))
}

fn read_shares<R: veil_threshold::round::Round>(c: &Common, s: &Session, suffix: &str) -> anyhow::Result<Vec<Share<R>>> {
    s.parties()
        .iter()
        .map(|p| {
            let path = c.dir.join(format!("party-{}.{suffix}", p.0));
            Share::<R>::from_bytes(s, &read(&path)?).with_context(|| format!("reading {}", path.display()))
        })
        .collect()
}

fn keygen_share(c: &Common, party: u32) -> anyhow::Result<()> {
    let s = load_session(&c.session)?;
    let mut rng = Prng::from_os();
    let sk = SecretShare::generate(&s, PartyId(party), &mut rng)?;
    let share = PublicKeyGen::new(&s)?.share(&sk, &mut rng)?;
    write_secret(&secret_path(c, party), &sk.to_bytes(&s))?;
    write_public(&c.dir.join(format!("party-{party}.pk-share")), &share.to_bytes(&s))?;
    eprintln!("party {party}: secret-key share written owner-only, public-key share published");
    Ok(())
}

fn aggregate_pk(c: &Common) -> anyhow::Result<()> {
    let s = load_session(&c.session)?;
    let shares = read_shares::<PublicKeyRound>(c, &s, "pk-share")?;
    let pk = PublicKeyGen::new(&s)?.aggregate(&shares)?;
    write_public(&c.dir.join("collective.pk"), &pk.to_bytes(s.params()))?;
    eprintln!("collective public key {} written", public_key_digest(s.params(), &pk).short_hex());
    Ok(())
}

fn relin_round1(c: &Common, party: u32) -> anyhow::Result<()> {
    let s = load_session(&c.session)?;
    let (sk, _) = load_bound_secret(c, &s, party)?;
    let (eph, share) = RelinKeyGen::new(&s)?.round1(&sk, &mut Prng::from_os())?;
    write_secret(&key_dir(c).join(format!("party-{party}.relin-ephemeral")), &eph.to_bytes(&s))?;
    write_public(&c.dir.join(format!("party-{party}.relin1")), &share.to_bytes(&s))?;
    Ok(())
}

fn relin_round2(c: &Common, party: u32) -> anyhow::Result<()> {
    let s = load_session(&c.session)?;
    let (sk, pk) = load_bound_secret(c, &s, party)?;
    let key = public_key_digest(s.params(), &pk);
    let eph_path = key_dir(c).join(format!("party-{party}.relin-ephemeral"));
    let eph = RelinEphemeral::from_bytes(&s, &read(&eph_path)?)?;
    let rkg = RelinKeyGen::new(&s)?;
    let agg = rkg.aggregate_round1(key, &read_shares::<RelinRound1>(c, &s, "relin1")?)?;
    let share = rkg.round2(&sk, eph, &agg, &mut Prng::from_os())?;
    write_public(&c.dir.join(format!("party-{party}.relin2")), &share.to_bytes(&s))?;
    fs::remove_file(&eph_path).with_context(|| format!("removing {}", eph_path.display()))?;
    Ok(())
}

/// The power-of-two rotations `1, 2, …, width/2` that sum a block of `width` slots.
pub(super) fn rotation_steps(width: usize) -> anyhow::Result<Vec<i64>> {
    if !width.is_power_of_two() {
        bail!("--width must be a power of two, got {width}");
    }
    Ok((0..width.trailing_zeros()).map(|k| 1i64 << k).collect())
}

fn key_steps(s: &Session, width: usize, stats_features: Option<usize>) -> anyhow::Result<Vec<i64>> {
    match stats_features {
        Some(f) => super::stats::rotation_steps(s.params(), width, f),
        None => rotation_steps(width),
    }
}

fn rotation_share(c: &Common, party: u32, width: usize, stats_features: Option<usize>) -> anyhow::Result<()> {
    let s = load_session(&c.session)?;
    let (sk, _) = load_bound_secret(c, &s, party)?;
    let mut rng = Prng::from_os();
    for step in key_steps(&s, width, stats_features)? {
        let g = s.params().galois_element(step);
        let share = GaloisKeyGen::new(&s, g)?.share(&sk, &mut rng)?;
        write_public(&c.dir.join(format!("party-{party}.rot-{g}")), &share.to_bytes(&s))?;
    }
    Ok(())
}

fn aggregate_eval_keys(c: &Common, width: usize, stats_features: Option<usize>) -> anyhow::Result<()> {
    let s = load_session(&c.session)?;
    let pk = load_pk(c, &s)?;
    let key = public_key_digest(s.params(), &pk);
    let rkg = RelinKeyGen::new(&s)?;
    let agg = rkg.aggregate_round1(key, &read_shares::<RelinRound1>(c, &s, "relin1")?)?;
    let rlk = rkg.finalize(key, &agg, &read_shares::<RelinRound2>(c, &s, "relin2")?)?;
    write_public(&c.dir.join("collective.rlk"), &rlk.to_bytes(s.params()))?;
    let mut gks = GaloisKeys::default();
    for step in key_steps(&s, width, stats_features)? {
        let g = s.params().galois_element(step);
        let gkg = GaloisKeyGen::new(&s, g)?;
        gks.insert(gkg.aggregate(key, &read_shares::<GaloisRound>(c, &s, &format!("rot-{g}"))?)?);
    }
    write_public(&c.dir.join("collective.gks"), &gks.to_bytes(s.params()))?;
    eprintln!("relinearisation and rotation keys written");
    Ok(())
}

fn read_csv(path: &Path) -> anyhow::Result<Vec<Vec<f64>>> {
    let text = String::from_utf8(read(path)?).context("CSV is not UTF-8")?;
    text.lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
        .map(|(i, l)| {
            l.split(',')
                .map(|v| v.trim().parse::<f64>().with_context(|| format!("{}:{}: {v:?} is not a number", path.display(), i + 1)))
                .collect()
        })
        .collect()
}

fn encrypt(c: &Common, input: &Path, width: usize, replicate: bool, offset: usize, out: &Path) -> anyhow::Result<()> {
    let s = load_session(&c.session)?;
    let params = s.params();
    let pk = load_pk(c, &s)?;
    let rows = read_csv(input)?;
    let slots = params.slot_count();
    if width == 0 || slots % width != 0 {
        bail!("--width must divide the {slots} slots");
    }
    let blocks = slots / width;
    if offset + rows.len() > blocks || rows.iter().any(|r| r.len() > width) {
        bail!("{} rows of up to {width} values from block {offset} do not fit {blocks} blocks", rows.len());
    }
    let mut values = vec![0.0; slots];
    for b in offset..blocks {
        let row = if replicate { rows.first() } else { rows.get(b - offset) };
        if let Some(row) = row {
            values[b * width..b * width + row.len()].copy_from_slice(row);
        }
    }
    let pt = Encoder::new(params).encode(&values, params.max_level(), params.default_scale())?;
    let ct = Encryptor::with_public_key(params, &pk).encrypt(&pt, &mut Prng::from_os())?;
    write_public(out, &ct.to_bytes(params))
}

pub(super) fn load_ct(params: &Arc<Parameters>, path: &Path) -> anyhow::Result<Ciphertext> {
    Ciphertext::from_bytes(params, &read(path)?).with_context(|| format!("reading ciphertext {}", path.display()))
}

/// The MLP options of `encrypt`.
struct MlpInputs<'a> {
    model: Option<&'a Path>,
    for_model: Option<&'a Path>,
    packing: super::secure_infer::PackingArg,
}

fn encrypt_step(
    c: &Common,
    input: Option<&Path>,
    width: Option<usize>,
    replicate: bool,
    offset: usize,
    mlp: MlpInputs<'_>,
    out: &Path,
) -> anyhow::Result<()> {
    match (input, width, mlp.model, mlp.for_model) {
        (None, width, Some(model), None) => {
            let s = load_session(&c.session)?;
            let model = super::secure_infer::load_model(model)?;
            let em = super::secure_infer::encrypt_model(s.params(), &load_pk(c, &s)?, &model, mlp.packing, width)?;
            write_public(out, &em.to_bytes(s.params()))
        }
        (Some(input), None, None, Some(for_model)) => {
            let s = load_session(&c.session)?;
            let shape = super::secure_infer::read_shape(s.params(), for_model)?;
            let ct = super::secure_infer::encrypt_rows(s.params(), &load_pk(c, &s)?, &shape, &read_csv(input)?, None)?;
            write_public(out, &ct.to_bytes(s.params()))
        }
        (Some(input), Some(width), None, None) => encrypt(c, input, width, replicate, offset, out),
        _ => bail!("give --input with --width or --for-model, or --model"),
    }
}

/// The encrypted MLP `model` on the first `count` rows of `a`.
fn evaluate_model(c: &Common, a: &Path, model: &Path, count: usize, out: &Path) -> anyhow::Result<()> {
    let s = load_session(&c.session)?;
    let params = s.params();
    let rlk = RelinearizationKey::from_bytes(params, &read(&c.dir.join("collective.rlk"))?)?;
    let gks = GaloisKeys::from_bytes(params, &read(&c.dir.join("collective.gks"))?)?;
    let result = super::secure_infer::evaluate(params, &read(model)?, &load_ct(params, a)?, count, &rlk, &gks)?;
    write_public(out, &result.to_bytes(params))
}

fn evaluate(c: &Common, a: &Path, b: &Path, width: usize, out: &Path) -> anyhow::Result<()> {
    let s = load_session(&c.session)?;
    let params = s.params();
    let rlk = RelinearizationKey::from_bytes(params, &read(&c.dir.join("collective.rlk"))?)?;
    let gks = GaloisKeys::from_bytes(params, &read(&c.dir.join("collective.gks"))?)?;
    let eval = Evaluator::new(params);
    let mut acc = eval.mul_relin_rescale(&load_ct(params, a)?, &load_ct(params, b)?, &rlk)?;
    for step in rotation_steps(width)? {
        let r = eval.rotate(&acc, step, &gks)?;
        acc = eval.add(&acc, &r)?;
    }
    let acc = super::secure_infer::keep_block_sums(params, &acc, width)?;
    write_public(out, &acc.to_bytes(params))
}

fn partial_decrypt(c: &Common, party: u32, ct: &Path, bits: Option<f64>, out: &Path) -> anyhow::Result<()> {
    let s = load_session(&c.session)?;
    let (sk, _) = load_bound_secret(c, &s, party)?;
    let ct = load_ct(s.params(), ct)?;
    let smudging = match bits {
        Some(b) => Smudging::with_log2_sigma(b)?,
        None => Smudging::default_for(s.params()),
    };
    let share = sk.decryption_key(&s)?.partial_decrypt(&s, &ct, &smudging, &mut Prng::from_os())?;
    write_public(out, &share.to_bytes(&s))
}

fn ttp_keygen(c: &Common, width: usize) -> anyhow::Result<()> {
    let s = load_session(&c.session)?;
    let params = s.params();
    let mut rng = Prng::from_os();
    let sk = veil_ckks::SecretKey::generate(params, &mut rng)?;
    let pk = PublicKey::generate(&sk, &mut rng)?;
    let rlk = RelinearizationKey::generate(&sk, &mut rng)?;
    let gks = GaloisKeys::generate(&sk, &rotation_steps(width)?, false, &mut rng)?;
    write_secret(&key_dir(c).join("ttp.secret"), &sk.to_bytes())?;
    write_public(&c.dir.join("collective.pk"), &pk.to_bytes(params))?;
    write_public(&c.dir.join("collective.rlk"), &rlk.to_bytes(params))?;
    write_public(&c.dir.join("collective.gks"), &gks.to_bytes(params))?;
    eprintln!("trusted third party: secret key written owner-only, public and evaluation keys published");
    Ok(())
}

/// How a decrypted result is printed (`ttp-decrypt`, `merge`).
#[derive(Debug, Clone, clap::Args)]
pub struct OutputArgs {
    /// Print slot r·width for r < count (default width 1: the first `count` slots).
    #[arg(long, default_value_t = 1)]
    width: usize,
    /// Number of values to print.
    #[arg(long, default_value_t = 16)]
    count: usize,
    /// Apply the logistic function to each output (scores to probabilities).
    #[arg(long)]
    sigmoid: bool,
    /// One JSON array on standard output instead of one value per line.
    #[arg(long)]
    json: bool,
    /// The result is an encrypted MLP's (`evaluate --model`): this is the encrypted model file
    /// (only its public header is read). Prints, for the first `count` rows, the predicted
    /// class and the outputs after the model's final sigmoid/softmax (applied in the clear);
    /// with --json one object {"outputs": [[…], …], "predictions": […]}.
    #[arg(long, conflicts_with_all = ["width", "sigmoid"])]
    model: Option<PathBuf>,
}

pub(super) fn print_values(slots: &[f64], output: &OutputArgs) -> anyhow::Result<()> {
    let (width, count, sigmoid, json) = (output.width, output.count, output.sigmoid, output.json);
    if output.model.is_some() {
        bail!("--model is read by `ttp-decrypt` and `merge` only");
    }
    let width = width.max(1);
    let values: Vec<f64> =
        (0..count).filter_map(|r| slots.get(r * width).copied()).map(|v| if sigmoid { 1.0 / (1.0 + (-v).exp()) } else { v }).collect();
    if json {
        println!("{}", serde_json::to_string(&values)?);
    } else {
        for v in values {
            println!("{v}");
        }
    }
    Ok(())
}

fn ttp_decrypt(c: &Common, ct: &Path, output: &OutputArgs) -> anyhow::Result<()> {
    let s = load_session(&c.session)?;
    let params = s.params();
    let sk = veil_ckks::SecretKey::from_bytes(params, &read(&key_dir(c).join("ttp.secret"))?)?;
    let ct = load_ct(params, ct)?;
    let pt = veil_ckks::Decryptor::new(&sk).decrypt(&ct)?;
    print_result(params, &Encoder::new(params).decode(&pt)?, output)
}

/// [`print_values`], or per-row outputs of an encrypted MLP with `--model`.
fn print_result(params: &Parameters, slots: &[f64], output: &OutputArgs) -> anyhow::Result<()> {
    match &output.model {
        Some(model) => {
            super::secure_infer::print_outputs(&super::secure_infer::read_shape(params, model)?, slots, output.count, output.json)
        }
        None => print_values(slots, output),
    }
}

#[allow(clippy::too_many_arguments)]
fn merge_cmd(c: &Common, party: u32, ct: &Path, shares: &[PathBuf], output: &OutputArgs) -> anyhow::Result<()> {
    let s = load_session(&c.session)?;
    let (sk, pk) = load_bound_secret(c, &s, party)?;
    let ct = load_ct(s.params(), ct)?;
    let released = shares
        .iter()
        .map(|p| DecryptionShare::from_bytes(&s, &read(p)?).with_context(|| format!("reading share {}", p.display())))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let own = sk.decryption_key(&s)?.receiver_share(&s, &ct)?;
    let pt = merge(&s, public_key_digest(s.params(), &pk), &ct, &released, Some(&own))?;
    print_result(s.params(), &Encoder::new(s.params()).decode(&pt)?, output)
}
