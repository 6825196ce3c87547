//! `veil threshold ...` steps beyond N-out-of-N: t-out-of-N decryption after a Shamir
//! re-sharing of the key shares, and collective key switching of a result to a target party's
//! own key pair.
//!
//! **t-out-of-N.** After the collective key generation of a session created with
//! `init --parties N --threshold t`, every party `i` deals Shamir sub-shares `f_i(j)` of its
//! additive share `s_i` (`reshare-deal`, one owner-only file per recipient `j`), the files go to
//! their recipients over a confidential channel (each is a secret for its recipient alone), and
//! every party `j` sums the `N` sub-shares addressed to it into its threshold share
//! `t_j = Σ_i f_i(j)` (`reshare-combine`, owner-only). Any coalition `T` of at least `t` parties
//! then decrypts: each member releases a flooded partial decryption made with its
//! Lagrange-weighted share `λ_j^T·t_j` (`partial-decrypt --coalition`), and the receiver merges
//! those of `T` (`merge --coalition`). Fewer than `t` shares reveal nothing about the key; the
//! commands refuse a coalition below the threshold and a merge that misses a member of the
//! named coalition.
//!
//! **Key switching.** A target (a party or an outsider) makes its own single-key CKKS key pair
//! (`target-keygen`); the parties (all N, or a coalition of `t`) each publish a key-switching
//! share of a result ciphertext toward the target's public key (`key-switch-share`); anyone
//! combines them into a ciphertext under the target's key (`key-switch`, no secret involved);
//! the target alone decrypts it (`target-decrypt`). No one ever sees the plaintext but the
//! target, and the collective secret key no longer decrypts the switched ciphertext.

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{bail, Context};
use clap::Args;
use veil_ckks::{Decryptor, Encoder, Parameters, PublicKey, SecretKey};
use veil_math::sampler::Prng;
use veil_threshold::shamir::{deal, ShamirSubShare, ThresholdShare};
use veil_threshold::{key_switch, public_key_digest, DecryptionKey, DecryptionShare, KeySwitchShare, PartyId, Session, Smudging};
use zeroize::Zeroizing;

use super::threshold::{
    key_dir, load_bound_secret, load_ct, load_pk, load_session, preset_params, print_values, read, write_public, write_secret, Common,
    OutputArgs,
};

/// Options of `reshare-deal`.
#[derive(Debug, Args)]
pub struct ReshareDealArgs {
    #[command(flatten)]
    pub common: Common,
    /// The dealing party.
    #[arg(long)]
    pub party: u32,
    /// Directory for the sub-shares, one owner-only file `party-<i>.to-<j>.subshare` per
    /// recipient `j` (this party included). Move each to its recipient over a confidential
    /// channel only.
    #[arg(long)]
    pub out: PathBuf,
}

/// Options of `reshare-combine`.
#[derive(Debug, Args)]
pub struct ReshareCombineArgs {
    #[command(flatten)]
    pub common: Common,
    /// The receiving party.
    #[arg(long)]
    pub party: u32,
    /// Directory holding `party-<i>.to-<j>.subshare` from every party `i` (removed once
    /// combined).
    #[arg(long)]
    pub inbox: PathBuf,
}

/// Options of `target-keygen`.
#[derive(Debug, Args)]
pub struct TargetKeygenArgs {
    /// CKKS parameter preset (the session's).
    #[arg(long, default_value = "n16384_l6_sec128")]
    pub preset: String,
    /// Where to write the target's secret key (owner-only).
    #[arg(long)]
    pub secret: PathBuf,
    /// Where to write the target's public key (hand it to the parties).
    #[arg(long)]
    pub public: PathBuf,
}

/// Options of `key-switch-share`.
#[derive(Debug, Args)]
pub struct KeySwitchShareArgs {
    #[command(flatten)]
    pub common: Common,
    #[arg(long)]
    pub party: u32,
    /// The ciphertext to switch (under the collective key).
    #[arg(long)]
    pub ct: PathBuf,
    /// The target's public key (`target-keygen`).
    #[arg(long)]
    pub target: PathBuf,
    /// In a t-out-of-N session: the switching coalition (ids, comma-separated), this party
    /// included; its threshold share (`reshare-combine`) is used. Default: all N parties, with
    /// the additive share.
    #[arg(long, value_delimiter = ',')]
    pub coalition: Option<Vec<u32>>,
    /// log2 of the smudging standard deviation (default: veil's derived default).
    #[arg(long)]
    pub smudging_bits: Option<f64>,
    #[arg(long)]
    pub out: PathBuf,
}

/// Options of `key-switch`.
#[derive(Debug, Args)]
pub struct KeySwitchArgs {
    #[command(flatten)]
    pub common: Common,
    /// The ciphertext the shares were made for.
    #[arg(long)]
    pub ct: PathBuf,
    /// The target's public key.
    #[arg(long)]
    pub target: PathBuf,
    /// One key-switching share from every party (or every member of the coalition).
    #[arg(long, num_args = 1..)]
    pub shares: Vec<PathBuf>,
    /// Where to write the ciphertext under the target's key.
    #[arg(long)]
    pub out: PathBuf,
}

/// Options of `target-decrypt`.
#[derive(Debug, Args)]
pub struct TargetDecryptArgs {
    /// CKKS parameter preset (the session's).
    #[arg(long, default_value = "n16384_l6_sec128")]
    pub preset: String,
    /// The target's secret key.
    #[arg(long)]
    pub secret: PathBuf,
    /// The switched ciphertext (`key-switch`).
    #[arg(long)]
    pub ct: PathBuf,
    #[command(flatten)]
    pub output: OutputArgs,
}

fn sub_share_name(from: u32, to: u32) -> String {
    format!("party-{from}.to-{to}.subshare")
}

fn threshold_share_path(c: &Common, party: u32) -> PathBuf {
    key_dir(c).join(format!("party-{party}.tshare"))
}

fn coalition_ids(s: &Session, ids: &[u32]) -> anyhow::Result<Vec<PartyId>> {
    if ids.len() < s.threshold() {
        bail!(
            "coalition {ids:?} has {} members, the session's threshold is {}: fewer than t parties cannot decrypt",
            ids.len(),
            s.threshold()
        );
    }
    Ok(ids.iter().map(|&p| PartyId(p)).collect())
}

/// This party's decryption key: its threshold share weighted for `coalition`, or its additive
/// share when no coalition is named.
fn decryption_key<'a>(
    c: &Common,
    s: &Session,
    party: u32,
    coalition: Option<&[u32]>,
    additive: &'a mut Option<veil_threshold::SecretShare>,
) -> anyhow::Result<DecryptionKey<'a>> {
    match coalition {
        Some(ids) => {
            let members = coalition_ids(s, ids)?;
            let path = threshold_share_path(c, party);
            let share = ThresholdShare::from_bytes(s, &read(&path)?).with_context(|| format!("reading {}", path.display()))?;
            if share.party() != PartyId(party) {
                bail!("{} holds the threshold share of party {}, not {party}", path.display(), share.party());
            }
            Ok(share.decryption_key(s, &members)?)
        }
        None => {
            let (sk, _) = load_bound_secret(c, s, party)?;
            Ok(additive.insert(sk).decryption_key(s)?)
        }
    }
}

/// `reshare-deal`: Shamir sub-shares of this party's additive key share, one per recipient.
pub fn reshare_deal(a: &ReshareDealArgs) -> anyhow::Result<()> {
    let s = load_session(&a.common.session)?;
    if s.threshold() == s.party_count() {
        bail!("the session is {0}-out-of-{0}: create it with `init --threshold t` (t < N) to re-share", s.party_count());
    }
    let (sk, _) = load_bound_secret(&a.common, &s, a.party)?;
    let subs = deal(&s, &sk, &mut Prng::from_os())?;
    fs::create_dir_all(&a.out).with_context(|| format!("creating {}", a.out.display()))?;
    for (sub, to) in subs.iter().zip(s.parties()) {
        let bytes = Zeroizing::new(sub.to_bytes(&s));
        write_secret(&a.out.join(sub_share_name(a.party, to.0)), &bytes)?;
    }
    eprintln!(
        "party {}: {} Shamir sub-shares (threshold {}) written owner-only to {}; send each to its recipient only",
        a.party,
        subs.len(),
        s.threshold(),
        a.out.display()
    );
    Ok(())
}

/// `reshare-combine`: the threshold share `t_j = Σ_i f_i(j)` of the receiving party.
pub fn reshare_combine(a: &ReshareCombineArgs) -> anyhow::Result<()> {
    let s = load_session(&a.common.session)?;
    let pk = load_pk(&a.common, &s)?;
    let key = public_key_digest(s.params(), &pk);
    let paths: Vec<PathBuf> = s.parties().iter().map(|p| a.inbox.join(sub_share_name(p.0, a.party))).collect();
    let subs = paths
        .iter()
        .map(|p| ShamirSubShare::from_bytes(&s, &Zeroizing::new(read(p)?)).with_context(|| format!("reading {}", p.display())))
        .collect::<anyhow::Result<Vec<_>>>()?;
    for ((sub, path), dealer) in subs.iter().zip(&paths).zip(s.parties()) {
        if sub.party() != *dealer {
            bail!("{} was dealt by party {}, not by party {dealer}", path.display(), sub.party());
        }
    }
    let share = ThresholdShare::combine(&s, PartyId(a.party), key, &subs)?;
    write_secret(&threshold_share_path(&a.common, a.party), &share.to_bytes(&s))?;
    for p in &paths {
        fs::remove_file(p).with_context(|| format!("removing {}", p.display()))?;
    }
    eprintln!("party {}: threshold share ({} of {}) written owner-only; sub-shares removed", a.party, s.threshold(), s.party_count());
    Ok(())
}

/// `partial-decrypt --coalition`: a flooded partial decryption for one coalition.
pub fn partial_decrypt(c: &Common, party: u32, coalition: &[u32], ct: &Path, bits: Option<f64>, out: &Path) -> anyhow::Result<()> {
    let s = load_session(&c.session)?;
    let ct = load_ct(s.params(), ct)?;
    let mut additive = None;
    let dk = decryption_key(c, &s, party, Some(coalition), &mut additive)?;
    let share = dk.partial_decrypt(&s, &ct, &smudging(&s, bits)?, &mut Prng::from_os())?;
    write_public(out, &share.to_bytes(&s))
}

/// `merge --coalition`: the receiver merges the released shares of the coalition (and its own,
/// unflooded, if it is a member).
pub fn merge(c: &Common, party: u32, coalition: &[u32], ct: &Path, shares: &[PathBuf], output: &OutputArgs) -> anyhow::Result<()> {
    let s = load_session(&c.session)?;
    let pk = load_pk(c, &s)?;
    let ct = load_ct(s.params(), ct)?;
    let released = shares
        .iter()
        .map(|p| DecryptionShare::from_bytes(&s, &read(p)?).with_context(|| format!("reading share {}", p.display())))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let own = if coalition.contains(&party) {
        let mut additive = None;
        Some(decryption_key(c, &s, party, Some(coalition), &mut additive)?.receiver_share(&s, &ct)?)
    } else {
        coalition_ids(&s, coalition)?;
        None
    };
    let pt = veil_threshold::merge(&s, public_key_digest(s.params(), &pk), &ct, &released, own.as_ref())?;
    print_values(&Encoder::new(s.params()).decode(&pt)?, output)
}

fn smudging(s: &Session, bits: Option<f64>) -> anyhow::Result<Smudging> {
    Ok(match bits {
        Some(b) => Smudging::with_log2_sigma(b)?,
        None => Smudging::default_for(s.params()),
    })
}

fn load_target(params: &Arc<Parameters>, path: &Path) -> anyhow::Result<PublicKey> {
    PublicKey::from_bytes(params, &read(path)?).with_context(|| format!("reading the target's public key {}", path.display()))
}

/// `target-keygen`: the target's own single-key CKKS key pair.
pub fn target_keygen(a: &TargetKeygenArgs) -> anyhow::Result<()> {
    let params = preset_params(&a.preset)?;
    let mut rng = Prng::from_os();
    let sk = SecretKey::generate(&params, &mut rng)?;
    let pk = PublicKey::generate(&sk, &mut rng)?;
    write_secret(&a.secret, &sk.to_bytes())?;
    write_public(&a.public, &pk.to_bytes(&params))?;
    eprintln!("target key pair: secret key written owner-only to {}, public key to {}", a.secret.display(), a.public.display());
    Ok(())
}

/// `key-switch-share`: this party's share of switching `ct` to the target's key.
pub fn key_switch_share(a: &KeySwitchShareArgs) -> anyhow::Result<()> {
    let s = load_session(&a.common.session)?;
    let ct = load_ct(s.params(), &a.ct)?;
    let target = load_target(s.params(), &a.target)?;
    let mut additive = None;
    let dk = decryption_key(&a.common, &s, a.party, a.coalition.as_deref(), &mut additive)?;
    let share = dk.key_switch_share(&s, &ct, &target, &smudging(&s, a.smudging_bits)?, &mut Prng::from_os())?;
    write_public(&a.out, &share.to_bytes(&s))
}

/// `key-switch`: combines the shares into a ciphertext under the target's key (no secret).
pub fn key_switch_cmd(a: &KeySwitchArgs) -> anyhow::Result<()> {
    let s = load_session(&a.common.session)?;
    let pk = load_pk(&a.common, &s)?;
    let ct = load_ct(s.params(), &a.ct)?;
    let target = load_target(s.params(), &a.target)?;
    let shares = a
        .shares
        .iter()
        .map(|p| KeySwitchShare::from_bytes(&s, &read(p)?).with_context(|| format!("reading share {}", p.display())))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let switched = key_switch(&s, public_key_digest(s.params(), &pk), &ct, &target, &shares)?;
    write_public(&a.out, &switched.to_bytes(s.params()))?;
    eprintln!("ciphertext switched to the target's key written to {}", a.out.display());
    Ok(())
}

/// `target-decrypt`: the target decrypts with its own secret key.
pub fn target_decrypt(a: &TargetDecryptArgs) -> anyhow::Result<()> {
    let params = preset_params(&a.preset)?;
    let sk =
        SecretKey::from_bytes(&params, &Zeroizing::new(read(&a.secret)?)).with_context(|| format!("reading {}", a.secret.display()))?;
    let ct = load_ct(&params, &a.ct)?;
    let pt = Decryptor::new(&sk).decrypt(&ct)?;
    print_values(&Encoder::new(&params).decode(&pt)?, &a.output)
}
