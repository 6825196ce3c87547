//! IKNP OT extension (κ = 128) producing correlated OT with a global Δ, with the optional KOS
//! consistency check against a malicious receiver.
//!
//! After 128 base OTs in the reverse direction (the extension sender is the base-OT receiver
//! with choice bits `s = Δ`), each extension of `m` OTs costs the receiver one message
//! `u^j = G(k_j^0) ⊕ G(k_j^1) ⊕ r` per column `j` (`G` = AES-CTR keyed by the base-OT key).
//! The sender computes `q^j = G(k_j^{s_j}) ⊕ s_j·u^j`, so that, row-wise after transposition,
//! `q_i = t_i ⊕ r_i·Δ` with `t_i` the receiver's row: a correlated OT. `lsb(Δ) = 1`, so the
//! correlated pairs are directly usable as free-XOR / point-and-permute wire labels.
//!
//! Security: semi-honest (IKNP, Crypto 2003) with AES as the PRG. With
//! [`IknpConfig::kos_check`] the receiver also proves consistency of its columns (Keller, Orsini,
//! Scholl, Crypto 2015): 256 extra random OTs are sacrificed and a GF(2^128) linear combination
//! with coefficients chosen by the sender after seeing `u` is checked.

use rand_chacha::ChaCha20Rng;
use rand_core::{CryptoRng, RngCore, SeedableRng};
use veil_channel::Channel;
use zeroize::Zeroize;

use crate::aes::Aes;
use crate::block::as_bytes;
use crate::transpose::transpose_128xn_strided;
use crate::{base, gf128, Block, OtError};

/// Security parameter: number of base OTs / columns.
pub const KAPPA: usize = 128;

/// OTs per message of the extension (each message carries `16 · CHUNK_OTS` bytes).
pub const CHUNK_OTS: usize = 1 << 15;

/// Padding after each column in the local matrices (64 bytes), so that the rows the
/// transposition reads together do not alias in the L1 cache.
const ROW_PAD_BLOCKS: usize = 4;

/// Extra random OTs sacrificed by the KOS check (κ + statistical margin, rounded to 128).
pub const KOS_EXTRA_OTS: usize = 256;

/// OTs produced at once when a pool runs dry.
pub const POOL_REFILL_OTS: usize = 1 << 14;

/// Options both parties must agree on.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct IknpConfig {
    /// Run the KOS consistency check on every extension (malicious-receiver security).
    pub kos_check: bool,
}

impl IknpConfig {
    fn byte(self) -> u8 {
        self.kos_check as u8
    }
}

/// The extension sender: holds Δ and learns `q_i`; the receiver learns `t_i = q_i ⊕ r_i·Δ`.
pub struct CotSender {
    delta: Block,
    prgs: Vec<Aes>,
    counter: u128,
    config: IknpConfig,
    rng: ChaCha20Rng,
    pool: Vec<Block>,
    pool_pos: usize,
    cols: Vec<Block>,
    msg: Vec<u8>,
}

/// The extension receiver: chooses `r_i` and learns `t_i = q_i ⊕ r_i·Δ`.
pub struct CotReceiver {
    prgs: Vec<[Aes; 2]>,
    counter: u128,
    config: IknpConfig,
    rng: ChaCha20Rng,
    pool_bits: Vec<bool>,
    pool: Vec<Block>,
    pool_pos: usize,
    t_cols: Vec<Block>,
    u_cols: Vec<Block>,
}

impl std::fmt::Debug for CotSender {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CotSender").field("config", &self.config).field("counter", &self.counter).finish_non_exhaustive()
    }
}

impl std::fmt::Debug for CotReceiver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CotReceiver").field("config", &self.config).field("counter", &self.counter).finish_non_exhaustive()
    }
}

impl Drop for CotSender {
    fn drop(&mut self) {
        self.delta.zeroize();
        self.pool.zeroize();
    }
}

impl Drop for CotReceiver {
    fn drop(&mut self) {
        self.pool.zeroize();
        self.pool_bits.zeroize();
    }
}

fn wrong_len(peer: &str, what: &'static str, expected: usize, got: usize) -> OtError {
    OtError::WrongLength { peer: peer.to_string(), what, expected, got }
}

/// Bits of `bits` packed LSB first into bytes.
fn pack_bits(bits: &[bool], out: &mut [u8]) {
    out.fill(0);
    for (i, &b) in bits.iter().enumerate() {
        out[i / 8] |= (b as u8) << (i % 8);
    }
}

/// The KOS coefficients χ_i, expanded from the sender's seed.
fn kos_coefficients(seed: Block, n: usize) -> Vec<Block> {
    let mut chi = vec![Block::ZERO; n];
    Aes::new(seed).ctr_keystream(0, &mut chi);
    chi
}

impl CotSender {
    /// Runs the 128 base OTs (as their receiver) with a fresh random Δ (`lsb(Δ) = 1`).
    pub fn setup<C: Channel + ?Sized>(ch: &mut C, config: IknpConfig, rng: &mut (impl RngCore + CryptoRng)) -> Result<Self, OtError> {
        let mut d = [0u8; 16];
        rng.fill_bytes(&mut d);
        let delta = Block(u128::from_le_bytes(d) | 1);
        d.zeroize();
        Self::setup_with_delta(ch, config, delta, rng)
    }

    /// As [`CotSender::setup`] with a caller-chosen Δ (its lsb is forced to 1).
    pub fn setup_with_delta<C: Channel + ?Sized>(
        ch: &mut C,
        config: IknpConfig,
        delta: Block,
        rng: &mut (impl RngCore + CryptoRng),
    ) -> Result<Self, OtError> {
        let delta = Block(delta.0 | 1);
        let theirs = ch.recv_exact_len(1)?;
        if theirs[0] != config.byte() {
            return Err(OtError::ConfigMismatch { peer: ch.peer().to_string(), ours: config, theirs_kos: theirs[0] == 1 });
        }
        let choices: Vec<bool> = (0..KAPPA).map(|j| (delta.0 >> j) & 1 == 1).collect();
        let keys = base::receive(ch, &choices, rng)?;
        let prgs = keys.iter().map(|k| Aes::new(*k)).collect();
        Ok(Self {
            delta,
            prgs,
            counter: 0,
            config,
            rng: ChaCha20Rng::from_rng(rng).map_err(|_| OtError::Rng)?,
            pool: Vec::new(),
            pool_pos: 0,
            cols: Vec::new(),
            msg: Vec::new(),
        })
    }

    /// The global correlation Δ (secret: the garbler's free-XOR offset).
    pub fn delta(&self) -> Block {
        self.delta
    }

    /// Extends by `n` correlated OTs: returns `q_i` (the receiver holds `q_i ⊕ r_i·Δ`).
    pub fn extend<C: Channel + ?Sized>(&mut self, ch: &mut C, n: usize) -> Result<Vec<Block>, OtError> {
        let mut out = Vec::new();
        self.extend_into(ch, n, &mut out)?;
        Ok(out)
    }

    /// As [`CotSender::extend`], writing into `out` (cleared first; its capacity is reused).
    pub fn extend_into<C: Channel + ?Sized>(&mut self, ch: &mut C, n: usize, out: &mut Vec<Block>) -> Result<(), OtError> {
        let extra = if self.config.kos_check { KOS_EXTRA_OTS } else { 0 };
        let total = (n + extra).div_ceil(128) * 128;
        out.clear();
        out.resize(total, Block::ZERO);
        let (mut cols, mut msg) = (std::mem::take(&mut self.cols), std::mem::take(&mut self.msg));
        let result = self.extend_chunks(ch, total, out, &mut cols, &mut msg);
        cols.zeroize();
        (self.cols, self.msg) = (cols, msg);
        result?;
        if self.config.kos_check {
            self.kos_verify(ch, out)?;
        }
        out.truncate(n);
        Ok(())
    }

    fn extend_chunks<C: Channel + ?Sized>(
        &mut self,
        ch: &mut C,
        total: usize,
        out: &mut [Block],
        cols: &mut Vec<Block>,
        msg: &mut Vec<u8>,
    ) -> Result<(), OtError> {
        let mut done = 0;
        while done < total {
            let m = (total - done).min(CHUNK_OTS);
            let blocks_per_col = m / 128;
            ch.recv_into(msg)?;
            if msg.len() != 16 * m {
                return Err(wrong_len(ch.peer(), "OT-extension matrix", 16 * m, msg.len()));
            }
            let stride = blocks_per_col + ROW_PAD_BLOCKS;
            cols.clear();
            cols.resize(KAPPA * stride, Block::ZERO);
            for (j, row) in cols.chunks_exact_mut(stride).enumerate() {
                let col = &mut row[..blocks_per_col];
                self.prgs[j].ctr_keystream(self.counter, col);
                let s = Block::mask((self.delta.0 >> j) & 1 == 1);
                let u = &msg[16 * j * blocks_per_col..16 * (j + 1) * blocks_per_col];
                for (q, ub) in col.iter_mut().zip(u.chunks_exact(16)) {
                    if let Some(ub) = Block::from_slice(ub) {
                        *q ^= ub & s;
                    }
                }
            }
            transpose_128xn_strided(as_bytes(cols), 16 * stride, &mut out[done..done + m]);
            self.counter += blocks_per_col as u128;
            done += m;
        }
        Ok(())
    }

    fn kos_verify<C: Channel + ?Sized>(&mut self, ch: &mut C, out: &[Block]) -> Result<(), OtError> {
        let total = out.len();
        {
            let mut seed = [0u8; 16];
            self.rng.fill_bytes(&mut seed);
            ch.send(&seed)?;
            ch.flush()?;
            let proof = ch.recv_exact_len(32)?;
            let (x, t) = match (Block::from_slice(&proof[..16]), Block::from_slice(&proof[16..])) {
                (Some(x), Some(t)) => (x, t),
                _ => return Err(wrong_len(ch.peer(), "KOS proof", 32, proof.len())),
            };
            let chi = kos_coefficients(Block::from_bytes(seed), total);
            let (mut lo, mut hi) = (0u128, 0u128);
            for (c, q) in chi.iter().zip(out) {
                let (l, h) = gf128::clmul(c.0, q.0);
                lo ^= l;
                hi ^= h;
            }
            let lhs = gf128::reduce(lo, hi);
            let rhs = t.0 ^ gf128::mul(x.0, self.delta.0);
            if !bool::from(subtle::ConstantTimeEq::ct_eq(&lhs.to_le_bytes()[..], &rhs.to_le_bytes()[..])) {
                return Err(OtError::ConsistencyCheckFailed { peer: ch.peer().to_string() });
            }
        }
        Ok(())
    }

    /// Takes `n` correlated OTs from the pool of precomputed ones, refilling it (a protocol
    /// step with the receiver, which must call [`CotReceiver::take`] with the same `n`).
    pub fn take<C: Channel + ?Sized>(&mut self, ch: &mut C, n: usize) -> Result<Vec<Block>, OtError> {
        self.reserve(ch, n)?;
        let out = self.pool[self.pool_pos..self.pool_pos + n].to_vec();
        self.pool[self.pool_pos..self.pool_pos + n].zeroize();
        self.pool_pos += n;
        Ok(out)
    }

    /// Makes sure at least `n` OTs are pooled, extending (by at least [`POOL_REFILL_OTS`]) if
    /// not; the receiver must call [`CotReceiver::reserve`] with the same `n`.
    pub fn reserve<C: Channel + ?Sized>(&mut self, ch: &mut C, n: usize) -> Result<(), OtError> {
        if self.pool.len() - self.pool_pos < n {
            let need = (n - (self.pool.len() - self.pool_pos)).max(POOL_REFILL_OTS);
            let fresh = self.extend(ch, need)?;
            self.pool.drain(..self.pool_pos);
            self.pool_pos = 0;
            self.pool.extend_from_slice(&fresh);
        }
        Ok(())
    }

    /// Number of precomputed OTs left in the pool.
    pub fn pooled(&self) -> usize {
        self.pool.len() - self.pool_pos
    }
}

impl CotReceiver {
    /// Runs the 128 base OTs (as their sender).
    pub fn setup<C: Channel + ?Sized>(ch: &mut C, config: IknpConfig, rng: &mut (impl RngCore + CryptoRng)) -> Result<Self, OtError> {
        ch.send(&[config.byte()])?;
        let keys = base::send(ch, KAPPA, rng)?;
        let prgs = keys.iter().map(|[k0, k1]| [Aes::new(*k0), Aes::new(*k1)]).collect();
        Ok(Self {
            prgs,
            counter: 0,
            config,
            rng: ChaCha20Rng::from_rng(rng).map_err(|_| OtError::Rng)?,
            pool_bits: Vec::new(),
            pool: Vec::new(),
            pool_pos: 0,
            t_cols: Vec::new(),
            u_cols: Vec::new(),
        })
    }

    /// Extends by `choices.len()` correlated OTs with the given choice bits: returns
    /// `t_i = q_i ⊕ choices_i·Δ`.
    pub fn extend_chosen<C: Channel + ?Sized>(&mut self, ch: &mut C, choices: &[bool]) -> Result<Vec<Block>, OtError> {
        let n = choices.len();
        let extra = if self.config.kos_check { KOS_EXTRA_OTS } else { 0 };
        let total = (n + extra).div_ceil(128) * 128;
        let mut packed = vec![0u8; total / 8];
        pack_bits(choices, &mut packed[..n.div_ceil(8)]);
        if n % 8 != 0 {
            // Fill the rest of the last byte and the padding with random bits.
            let mut pad = [0u8; 1];
            self.rng.fill_bytes(&mut pad);
            packed[n / 8] |= pad[0] & !((1u8 << (n % 8)) - 1);
        }
        self.rng.fill_bytes(&mut packed[n.div_ceil(8)..]);
        let mut out = Vec::new();
        self.extend_packed(ch, &packed, total, n, &mut out)?;
        packed.zeroize();
        Ok(out)
    }

    /// Extends by `n` correlated OTs with uniformly random choice bits: returns `(r_i, t_i)`.
    pub fn extend_random<C: Channel + ?Sized>(&mut self, ch: &mut C, n: usize) -> Result<(Vec<bool>, Vec<Block>), OtError> {
        let (mut packed, mut out) = (Vec::new(), Vec::new());
        self.extend_random_into(ch, n, &mut packed, &mut out)?;
        let bits = (0..n).map(|i| (packed[i / 8] >> (i % 8)) & 1 == 1).collect();
        packed.zeroize();
        Ok((bits, out))
    }

    /// As [`CotReceiver::extend_random`], writing the choice bits packed LSB first into
    /// `choices` (bit `i` of byte `i / 8` is `r_i`; padding bits beyond `n` are random) and the
    /// `t_i` into `out`; both are cleared first and their capacity is reused.
    pub fn extend_random_into<C: Channel + ?Sized>(
        &mut self,
        ch: &mut C,
        n: usize,
        choices: &mut Vec<u8>,
        out: &mut Vec<Block>,
    ) -> Result<(), OtError> {
        let extra = if self.config.kos_check { KOS_EXTRA_OTS } else { 0 };
        let total = (n + extra).div_ceil(128) * 128;
        choices.clear();
        choices.resize(total / 8, 0);
        self.rng.fill_bytes(choices);
        self.extend_packed(ch, choices, total, n, out)
    }

    fn extend_packed<C: Channel + ?Sized>(
        &mut self,
        ch: &mut C,
        packed: &[u8],
        total: usize,
        n: usize,
        out: &mut Vec<Block>,
    ) -> Result<(), OtError> {
        out.clear();
        out.resize(total, Block::ZERO);
        let (mut t_cols, mut u_cols) = (std::mem::take(&mut self.t_cols), std::mem::take(&mut self.u_cols));
        let mut done = 0;
        while done < total {
            let m = (total - done).min(CHUNK_OTS);
            let blocks_per_col = m / 128;
            let stride = blocks_per_col + ROW_PAD_BLOCKS;
            t_cols.clear();
            t_cols.resize(KAPPA * stride, Block::ZERO);
            u_cols.clear();
            u_cols.resize(KAPPA * blocks_per_col, Block::ZERO);
            let r = &packed[done / 8..(done + m) / 8];
            for (j, (t, u)) in t_cols.chunks_exact_mut(stride).zip(u_cols.chunks_exact_mut(blocks_per_col)).enumerate() {
                let t = &mut t[..blocks_per_col];
                self.prgs[j][0].ctr_keystream(self.counter, t);
                self.prgs[j][1].ctr_keystream(self.counter, u);
                for ((ub, tb), rb) in u.iter_mut().zip(t.iter()).zip(r.chunks_exact(16)) {
                    if let Some(rb) = Block::from_slice(rb) {
                        *ub ^= *tb ^ rb;
                    }
                }
            }
            let sent = ch.send(as_bytes(&u_cols)).and_then(|()| ch.flush());
            if let Err(e) = sent {
                t_cols.zeroize();
                (self.t_cols, self.u_cols) = (t_cols, u_cols);
                return Err(e.into());
            }
            transpose_128xn_strided(as_bytes(&t_cols), 16 * stride, &mut out[done..done + m]);
            self.counter += blocks_per_col as u128;
            done += m;
        }
        t_cols.zeroize();
        (self.t_cols, self.u_cols) = (t_cols, u_cols);
        if self.config.kos_check {
            let seed = Block::from_slice(&ch.recv_exact_len(16)?).unwrap_or_default();
            let chi = kos_coefficients(seed, total);
            let (mut lo, mut hi) = (0u128, 0u128);
            let mut x = 0u128;
            for (i, (c, t)) in chi.iter().zip(out.iter()).enumerate() {
                let (l, h) = gf128::clmul(c.0, t.0);
                lo ^= l;
                hi ^= h;
                x ^= c.0 & (((packed[i / 8] >> (i % 8)) & 1) as u128).wrapping_neg();
            }
            let t = gf128::reduce(lo, hi);
            let mut proof = [0u8; 32];
            proof[..16].copy_from_slice(&x.to_le_bytes());
            proof[16..].copy_from_slice(&t.to_le_bytes());
            ch.send(&proof)?;
            ch.flush()?;
        }
        out.truncate(n);
        Ok(())
    }

    /// Takes `n` random correlated OTs `(r_i, t_i)` from the pool (see [`CotSender::take`]).
    pub fn take<C: Channel + ?Sized>(&mut self, ch: &mut C, n: usize) -> Result<(Vec<bool>, Vec<Block>), OtError> {
        self.reserve(ch, n)?;
        let range = self.pool_pos..self.pool_pos + n;
        let out = (self.pool_bits[range.clone()].to_vec(), self.pool[range.clone()].to_vec());
        self.pool[range.clone()].zeroize();
        self.pool_bits[range].zeroize();
        self.pool_pos += n;
        Ok(out)
    }

    /// Makes sure at least `n` random OTs are pooled (see [`CotSender::reserve`]).
    pub fn reserve<C: Channel + ?Sized>(&mut self, ch: &mut C, n: usize) -> Result<(), OtError> {
        if self.pool.len() - self.pool_pos < n {
            let need = (n - (self.pool.len() - self.pool_pos)).max(POOL_REFILL_OTS);
            let (bits, fresh) = self.extend_random(ch, need)?;
            self.pool.drain(..self.pool_pos);
            self.pool_bits.drain(..self.pool_pos);
            self.pool_pos = 0;
            self.pool.extend_from_slice(&fresh);
            self.pool_bits.extend_from_slice(&bits);
        }
        Ok(())
    }

    /// Number of precomputed OTs left in the pool.
    pub fn pooled(&self) -> usize {
        self.pool.len() - self.pool_pos
    }
}

/// Random OT from correlated OT (sender side): `(H(q_i, τ_i), H(q_i ⊕ Δ, τ_i))` with
/// `τ_i = first_tweak + i`; tweaks must never be reused with the same Δ.
pub fn random_ot_sender(hash: &crate::TccrHash, delta: Block, q: &[Block], first_tweak: u128) -> Vec<[Block; 2]> {
    let mut m0 = q.to_vec();
    let mut m1: Vec<Block> = q.iter().map(|x| *x ^ delta).collect();
    hash.hash_slice(&mut m0, first_tweak);
    hash.hash_slice(&mut m1, first_tweak);
    m0.into_iter().zip(m1).map(|(a, b)| [a, b]).collect()
}

/// Random OT from correlated OT (receiver side): `H(t_i, τ_i)`, equal to the sender's message
/// of index `r_i`.
pub fn random_ot_receiver(hash: &crate::TccrHash, t: &[Block], first_tweak: u128) -> Vec<Block> {
    let mut m = t.to_vec();
    hash.hash_slice(&mut m, first_tweak);
    m
}
