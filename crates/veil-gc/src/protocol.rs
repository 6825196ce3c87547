//! The two-party protocol: a garbler and an evaluator session over a [`Channel`].
//!
//! Setup (once per session): IKNP with the garbler as OT sender, so that the correlated OTs
//! share the garbler's free-XOR offset Δ. Then, per execution of a circuit:
//!
//! ```text
//! E → G  header (circuit digest, input split, output mode)
//! E ↔ G  pool refill of correlated OTs, only when the pool runs dry
//! E → G  d = x_E ⊕ r        (r: the random choice bits of pooled COTs (q_i, t_i = q_i ⊕ r_i·Δ))
//! G → E  active labels of the garbler's inputs, garbled tables in chunks, output decoding
//!        hashes (H(L⁰_k, τ_k), H(L⁰_k ⊕ Δ, τ_k)) for every output wire k (τ_k: a tweak
//!        unique in the session)
//! E → G  the output bits (only when both parties learn the output)
//! ```
//!
//! The garbler's zero label of evaluator input `i` is `q_i ⊕ d_i·Δ`; the evaluator's label is
//! `t_i`, the label of `x_i`. An output label that matches neither decoding hash (a truncated,
//! tampered or inconsistent garbled circuit) is an error, never a guessed bit.
//!
//! Security: semi-honest garbler and evaluator (with the KOS option, the OT resists a
//! malicious receiver; the garbled circuit itself is not maliciously secure). When both learn
//! the output, the garbler trusts the bits the evaluator reports.

use rand_chacha::ChaCha20Rng;
use rand_core::{CryptoRng, RngCore, SeedableRng};
use veil_channel::Channel;
use veil_ot::{Block, CotReceiver, CotSender, IknpConfig, TccrHash};
use zeroize::Zeroize;

use crate::bristol::Circuit;
use crate::halfgates::{self, TableSink, TableSource};
use crate::schedule::Schedule;
use crate::GcError;

/// Who learns the output.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OutputTo {
    /// Both parties (the evaluator sends the bits back).
    Both,
    /// Only the evaluator.
    Evaluator,
}

/// A circuit ready for repeated two-party evaluation, with its input ownership.
#[derive(Clone, Debug)]
pub struct Program {
    circuit: Circuit,
    schedule: Schedule,
    garbler_groups: usize,
    garbler_bits: usize,
}

impl Program {
    /// `garbler_groups`: the first that many input groups are the garbler's, the rest the
    /// evaluator's.
    pub fn new(circuit: Circuit, garbler_groups: usize) -> Result<Self, GcError> {
        let groups = circuit.input_sizes().len();
        if garbler_groups > groups {
            return Err(GcError::InvalidSplit { groups, garbler_groups });
        }
        let garbler_bits = circuit.input_sizes()[..garbler_groups].iter().sum();
        let schedule = Schedule::new(&circuit);
        Ok(Self { circuit, schedule, garbler_groups, garbler_bits })
    }

    pub fn circuit(&self) -> &Circuit {
        &self.circuit
    }
    pub fn garbler_groups(&self) -> usize {
        self.garbler_groups
    }
    /// Input bits the garbler provides.
    pub fn garbler_bits(&self) -> usize {
        self.garbler_bits
    }
    /// Input bits the evaluator provides.
    pub fn evaluator_bits(&self) -> usize {
        self.circuit.num_inputs() - self.garbler_bits
    }

    fn header(&self, output: OutputTo, executions: usize) -> [u8; HEADER_BYTES] {
        let mut h = [0u8; HEADER_BYTES];
        h[..16].copy_from_slice(&self.circuit.digest()[..16]);
        h[16..20].copy_from_slice(&(self.garbler_groups as u32).to_le_bytes());
        h[20] = (output == OutputTo::Both) as u8;
        h[21..25].copy_from_slice(&(executions as u32).to_le_bytes());
        h
    }
}

/// Bytes of the evaluator's execution header.
const HEADER_BYTES: usize = 25;

/// Packs bits LSB first.
pub fn pack_bits(bits: &[bool]) -> Vec<u8> {
    let mut out = vec![0u8; bits.len().div_ceil(8)];
    for (i, &b) in bits.iter().enumerate() {
        out[i / 8] |= (b as u8) << (i % 8);
    }
    out
}

/// Unpacks `n` bits; `None` if `bytes` has the wrong length or non-zero padding.
pub fn unpack_bits(bytes: &[u8], n: usize) -> Option<Vec<bool>> {
    if bytes.len() != n.div_ceil(8) {
        return None;
    }
    if n % 8 != 0 && bytes[n / 8] >> (n % 8) != 0 {
        return None;
    }
    Some((0..n).map(|i| (bytes[i / 8] >> (i % 8)) & 1 == 1).collect())
}

/// The output-decoding hash `H(L, 2^127 + o)` of an output label, with `o` the session-wide
/// ordinal of the output wire (tweaks never collide with the gates' `2g`, `2g + 1`, nor repeat
/// across executions). Revealing `H(L⁰, ·)` and `H(L⁰ ⊕ Δ, ·)` reveals nothing about Δ under
/// the circular correlation robustness that garbling already assumes.
fn decode_hash(hash: &TccrHash, label: Block, ordinal: u64) -> [u8; 16] {
    hash.hash(label, (1u128 << 127) | ordinal as u128).to_bytes()
}

fn message_len(peer: &str, what: &'static str, expected: usize, got: usize) -> GcError {
    GcError::MessageLength { peer: peer.to_string(), what, expected, got }
}

struct ChannelSink<'a, C: ?Sized>(&'a mut C);

impl<C: Channel + ?Sized> TableSink for ChannelSink<'_, C> {
    /// Full chunks are flushed at once so that the evaluator starts while the garbler goes
    /// on; the last, partial chunk leaves with the output-decoding message.
    fn push(&mut self, tables: &[u8]) -> Result<(), GcError> {
        self.0.send(tables)?;
        if tables.len() == halfgates::CHUNK_ANDS * halfgates::TABLE_BYTES {
            self.0.flush()?;
        }
        Ok(())
    }
}

struct ChannelSource<'a, C: ?Sized>(&'a mut C);

impl<C: Channel + ?Sized> TableSource for ChannelSource<'_, C> {
    fn next_chunk(&mut self, _expected: usize, buf: &mut Vec<u8>) -> Result<(), GcError> {
        self.0.recv_into(buf)?;
        Ok(())
    }
}

/// The garbler's side of a session.
pub struct Garbler {
    cot: CotSender,
    hash: TccrHash,
    rng: ChaCha20Rng,
    next_gate: u64,
    next_output: u64,
    labels: Vec<Block>,
}

impl std::fmt::Debug for Garbler {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Garbler").field("next_gate", &self.next_gate).finish_non_exhaustive()
    }
}

impl Drop for Garbler {
    fn drop(&mut self) {
        self.labels.zeroize();
    }
}

impl Garbler {
    /// Base OTs and OT-extension setup with the evaluator (as OT sender, Δ = free-XOR offset).
    pub fn setup<C: Channel + ?Sized>(ch: &mut C, ot: IknpConfig, rng: &mut (impl RngCore + CryptoRng)) -> Result<Self, GcError> {
        let cot = CotSender::setup(ch, ot, rng)?;
        Ok(Self {
            cot,
            hash: TccrHash::new(),
            rng: ChaCha20Rng::from_rng(rng).map_err(|_| GcError::Rng)?,
            next_gate: 0,
            next_output: 0,
            labels: Vec::new(),
        })
    }

    /// Precomputes `n` correlated OTs (the evaluator calls [`Evaluator::precompute`] with the
    /// same `n`), so that later executions need no OT-extension round.
    pub fn precompute<C: Channel + ?Sized>(&mut self, ch: &mut C, n: usize) -> Result<(), GcError> {
        self.cot.reserve(ch, n)?;
        Ok(())
    }

    /// Runs one execution: `inputs` are the garbler's input bits (its groups, concatenated,
    /// LSB first). Returns the output bits when `output` is [`OutputTo::Both`].
    pub fn run<C: Channel + ?Sized>(
        &mut self,
        ch: &mut C,
        program: &Program,
        inputs: &[bool],
        output: OutputTo,
    ) -> Result<Option<Vec<bool>>, GcError> {
        Ok(self.run_batch(ch, program, std::slice::from_ref(&inputs.to_vec()), output)?.and_then(|v| v.into_iter().next()))
    }

    /// Runs `inputs.len()` executions of `program` in one flight: one header and one message
    /// of input corrections from the evaluator, then the garbled executions back to back
    /// (no round trip between them). Returns every execution's output bits when `output` is
    /// [`OutputTo::Both`].
    pub fn run_batch<C: Channel + ?Sized>(
        &mut self,
        ch: &mut C,
        program: &Program,
        inputs: &[Vec<bool>],
        output: OutputTo,
    ) -> Result<Option<Vec<Vec<bool>>>, GcError> {
        if let Some(bad) = inputs.iter().find(|x| x.len() != program.garbler_bits) {
            return Err(GcError::InputLength { party: "garbler", expected: program.garbler_bits, got: bad.len() });
        }
        let k = inputs.len();
        let header = ch.recv_exact_len(HEADER_BYTES)?;
        if header[..] != program.header(output, k)[..] {
            return Err(GcError::SessionMismatch {
                peer: ch.peer().to_string(),
                reason: "the evaluator uses another circuit, input split, output mode or number of executions".to_string(),
            });
        }
        let circuit = &program.circuit;
        let (ng, ne) = (program.garbler_bits, program.evaluator_bits());
        let q = self.cot.take(ch, k * ne)?;
        let delta = self.cot.delta();
        let d_msg = ch.recv()?;
        let d = unpack_bits(&d_msg, k * ne)
            .ok_or_else(|| message_len(ch.peer(), "evaluator input corrections", (k * ne).div_ceil(8), d_msg.len()))?;

        for (e, x) in inputs.iter().enumerate() {
            self.labels.clear();
            self.labels.resize(program.schedule.num_slots(), Block::ZERO);
            let mut seeds = vec![0u8; 16 * ng];
            self.rng.fill_bytes(&mut seeds);
            let mut active = Vec::with_capacity(16 * ng);
            for (i, (x, s)) in x.iter().zip(seeds.chunks_exact(16)).enumerate() {
                let l0 = Block::from_slice(s).unwrap_or_default();
                self.labels[i] = l0;
                active.extend_from_slice(&(l0 ^ delta.and_bit(*x)).to_bytes());
            }
            seeds.zeroize();
            let range = e * ne..(e + 1) * ne;
            for (i, (qi, di)) in q[range.clone()].iter().zip(&d[range]).enumerate() {
                self.labels[ng + i] = *qi ^ delta.and_bit(*di);
            }
            if ng > 0 {
                ch.send(&active)?;
            }
            active.zeroize();

            halfgates::garble(&program.schedule, &mut self.labels, delta, &self.hash, self.next_gate, &mut ChannelSink(ch))?;
            self.next_gate += program.schedule.num_and() as u64;

            let mut decode = Vec::with_capacity(32 * circuit.num_outputs());
            for (k, slot) in program.schedule.output_slots().iter().enumerate() {
                let l0 = &self.labels[*slot as usize];
                let ordinal = self.next_output + k as u64;
                decode.extend_from_slice(&decode_hash(&self.hash, *l0, ordinal));
                decode.extend_from_slice(&decode_hash(&self.hash, *l0 ^ delta, ordinal));
            }
            self.next_output += circuit.num_outputs() as u64;
            ch.send(&decode)?;
        }
        ch.flush()?;
        if output == OutputTo::Evaluator {
            return Ok(None);
        }
        let n = circuit.num_outputs();
        let msg = ch.recv()?;
        let bits = unpack_bits(&msg, k * n).ok_or_else(|| message_len(ch.peer(), "output bits", (k * n).div_ceil(8), msg.len()))?;
        Ok(Some((0..k).map(|e| bits[e * n..(e + 1) * n].to_vec()).collect()))
    }
}

/// The evaluator's side of a session.
pub struct Evaluator {
    cot: CotReceiver,
    hash: TccrHash,
    next_gate: u64,
    next_output: u64,
    labels: Vec<Block>,
}

impl std::fmt::Debug for Evaluator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Evaluator").field("next_gate", &self.next_gate).finish_non_exhaustive()
    }
}

impl Drop for Evaluator {
    fn drop(&mut self) {
        self.labels.zeroize();
    }
}

impl Evaluator {
    /// Base OTs and OT-extension setup with the garbler (as OT receiver).
    pub fn setup<C: Channel + ?Sized>(ch: &mut C, ot: IknpConfig, rng: &mut (impl RngCore + CryptoRng)) -> Result<Self, GcError> {
        let cot = CotReceiver::setup(ch, ot, rng)?;
        Ok(Self { cot, hash: TccrHash::new(), next_gate: 0, next_output: 0, labels: Vec::new() })
    }

    /// Precomputes `n` correlated OTs (see [`Garbler::precompute`]).
    pub fn precompute<C: Channel + ?Sized>(&mut self, ch: &mut C, n: usize) -> Result<(), GcError> {
        self.cot.reserve(ch, n)?;
        Ok(())
    }

    /// Runs one execution with the evaluator's input bits; returns the output bits.
    pub fn run<C: Channel + ?Sized>(
        &mut self,
        ch: &mut C,
        program: &Program,
        inputs: &[bool],
        output: OutputTo,
    ) -> Result<Vec<bool>, GcError> {
        Ok(self.run_batch(ch, program, std::slice::from_ref(&inputs.to_vec()), output)?.into_iter().next().unwrap_or_default())
    }

    /// Runs `inputs.len()` executions in one flight (see [`Garbler::run_batch`]); returns the
    /// output bits of each.
    pub fn run_batch<C: Channel + ?Sized>(
        &mut self,
        ch: &mut C,
        program: &Program,
        inputs: &[Vec<bool>],
        output: OutputTo,
    ) -> Result<Vec<Vec<bool>>, GcError> {
        let (ng, ne) = (program.garbler_bits, program.evaluator_bits());
        if let Some(bad) = inputs.iter().find(|x| x.len() != ne) {
            return Err(GcError::InputLength { party: "evaluator", expected: ne, got: bad.len() });
        }
        let k = inputs.len();
        let circuit = &program.circuit;
        ch.send(&program.header(output, k))?;
        let (r, t) = self.cot.take(ch, k * ne)?;
        let d: Vec<bool> = inputs.iter().flatten().zip(&r).map(|(x, r)| x ^ r).collect();
        ch.send(&pack_bits(&d))?;
        ch.flush()?;

        let n = circuit.num_outputs();
        let mut outputs = Vec::with_capacity(k);
        for e in 0..k {
            self.labels.clear();
            self.labels.resize(program.schedule.num_slots(), Block::ZERO);
            if ng > 0 {
                let msg = ch.recv()?;
                if msg.len() != 16 * ng {
                    return Err(message_len(ch.peer(), "garbler input labels", 16 * ng, msg.len()));
                }
                for (i, c) in msg.chunks_exact(16).enumerate() {
                    self.labels[i] = Block::from_slice(c).unwrap_or_default();
                }
            }
            self.labels[ng..ng + ne].copy_from_slice(&t[e * ne..(e + 1) * ne]);

            halfgates::evaluate(&program.schedule, &mut self.labels, &self.hash, self.next_gate, &mut ChannelSource(ch))?;
            self.next_gate += program.schedule.num_and() as u64;

            let decode = ch.recv()?;
            if decode.len() != 32 * n {
                return Err(message_len(ch.peer(), "output decoding table", 32 * n, decode.len()));
            }
            let mut bits = Vec::with_capacity(n);
            for (k, slot) in program.schedule.output_slots().iter().enumerate() {
                let l = &self.labels[*slot as usize];
                let h = decode_hash(&self.hash, *l, self.next_output + k as u64);
                let bit = if h[..] == decode[32 * k..32 * k + 16] {
                    false
                } else if h[..] == decode[32 * k + 16..32 * k + 32] {
                    true
                } else {
                    return Err(GcError::InvalidOutputLabel { peer: ch.peer().to_string(), output: k });
                };
                bits.push(bit);
            }
            self.next_output += n as u64;
            outputs.push(bits);
        }
        if output == OutputTo::Both {
            let all: Vec<bool> = outputs.iter().flatten().copied().collect();
            ch.send(&pack_bits(&all))?;
            ch.flush()?;
        }
        Ok(outputs)
    }
}
