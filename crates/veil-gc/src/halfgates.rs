//! Free-XOR + half-gates garbling with point-and-permute (Zahur, Rosulek, Evans, Eurocrypt
//! 2015): two ciphertexts per AND gate, none for XOR / NOT / copy.
//!
//! For AND gate number `g` (ordinal over the whole session) with zero labels `A₀, B₀`, colour
//! bits `p_a = lsb(A₀)`, `p_b = lsb(B₀)`, tweaks `j = 2g`, `j' = 2g + 1` and the
//! correlation-robust hash `H` of [`veil_ot::TccrHash`]:
//!
//! ```text
//! T_G = H(A₀, j) ⊕ H(A₀ ⊕ Δ, j) ⊕ p_b·Δ        W_G = H(A₀, j) ⊕ p_a·T_G
//! T_E = H(B₀, j') ⊕ H(B₀ ⊕ Δ, j') ⊕ A₀         W_E = H(B₀, j') ⊕ p_b·(T_E ⊕ A₀)
//! C₀ = W_G ⊕ W_E; the table is (T_G, T_E)
//! ```
//!
//! The evaluator holding `A, B` computes `H(A, j) ⊕ lsb(A)·T_G ⊕ H(B, j') ⊕ lsb(B)·(T_E ⊕ A)`.
//! Selections use masks, never branches.

use veil_ot::{Block, TccrHash};

use crate::schedule::{Op, Schedule};
use crate::GcError;

/// AND gates per streamed message (32 bytes each).
pub const CHUNK_ANDS: usize = 1024;

/// Bytes of one garbled AND gate.
pub const TABLE_BYTES: usize = 32;

/// The public active label of constant wire `out` (its zero label is this ⊕ value·Δ).
#[inline]
pub(crate) fn constant_label(out: u32) -> Block {
    Block((0x5eed_c0de_u128 << 96) | out as u128)
}

/// Where the garbler's tables go (a channel, or nowhere when only measuring).
pub trait TableSink {
    /// Takes one chunk of tables (`32 · k` bytes).
    fn push(&mut self, tables: &[u8]) -> Result<(), GcError>;
}

/// Where the evaluator's tables come from.
pub trait TableSource {
    /// Fills `buf` with the next chunk, which must be exactly `expected` bytes.
    fn next_chunk(&mut self, expected: usize, buf: &mut Vec<u8>) -> Result<(), GcError>;
}

macro_rules! hash_first {
    ($hash:expr, $xs:expr, $tw:expr, $n:literal) => {
        if let (Some(x), Some(t)) = ($xs.first_chunk_mut::<$n>(), $tw.first_chunk::<$n>()) {
            $hash.hash_array::<$n>(x, t);
        }
    };
}

/// Garbles every gate of `schedule`. `labels` (of [`Schedule::num_slots`] blocks) holds the
/// zero labels of the input wires on entry and those of the output wires, at
/// [`Schedule::output_slots`], on return; `first_gate` is the session-wide ordinal of the
/// first AND gate. Tables go to `sink` in chunks of [`CHUNK_ANDS`] gates.
pub fn garble(
    schedule: &Schedule,
    labels: &mut [Block],
    delta: Block,
    hash: &TccrHash,
    first_gate: u64,
    sink: &mut dyn TableSink,
) -> Result<(), GcError> {
    let mut buf: Vec<Block> = Vec::with_capacity(2 * CHUNK_ANDS);
    for op in &schedule.ops {
        match *op {
            Op::Xor { a, b, out } => labels[out as usize] = labels[a as usize] ^ labels[b as usize],
            Op::Not { a, out } => labels[out as usize] = labels[a as usize] ^ delta,
            Op::Copy { a, out } => labels[out as usize] = labels[a as usize],
            Op::Const { value, out, wire } => labels[out as usize] = constant_label(wire) ^ delta.and_bit(value),
            Op::Ands { first, count } => {
                let gates = &schedule.ands[first as usize..(first + count) as usize];
                let k = gates.len();
                let mut xs = [Block::ZERO; 16];
                let mut tw = [0u128; 16];
                for (i, g) in gates.iter().enumerate() {
                    let id = (first_gate + first as u64 + i as u64) as u128;
                    let (a0, b0) = (labels[g[0] as usize], labels[g[1] as usize]);
                    xs[4 * i] = a0;
                    xs[4 * i + 1] = a0 ^ delta;
                    xs[4 * i + 2] = b0;
                    xs[4 * i + 3] = b0 ^ delta;
                    tw[4 * i] = 2 * id;
                    tw[4 * i + 1] = 2 * id;
                    tw[4 * i + 2] = 2 * id + 1;
                    tw[4 * i + 3] = 2 * id + 1;
                }
                match k {
                    1 => hash_first!(hash, xs, tw, 4),
                    2 => hash_first!(hash, xs, tw, 8),
                    3 => hash_first!(hash, xs, tw, 12),
                    _ => hash_first!(hash, xs, tw, 16),
                }
                for (i, g) in gates.iter().enumerate() {
                    let (a0, b0) = (labels[g[0] as usize], labels[g[1] as usize]);
                    let (pa, pb) = (a0.lsb(), b0.lsb());
                    let (ha0, ha1, hb0, hb1) = (xs[4 * i], xs[4 * i + 1], xs[4 * i + 2], xs[4 * i + 3]);
                    let tg = ha0 ^ ha1 ^ delta.and_bit(pb);
                    let wg = ha0 ^ tg.and_bit(pa);
                    let te = hb0 ^ hb1 ^ a0;
                    let we = hb0 ^ (te ^ a0).and_bit(pb);
                    labels[g[2] as usize] = wg ^ we;
                    buf.push(tg);
                    buf.push(te);
                }
                if buf.len() >= 2 * CHUNK_ANDS {
                    let (now, rest) = buf.split_at(2 * CHUNK_ANDS);
                    sink.push(veil_ot::block::as_bytes(now))?;
                    let rest = rest.to_vec();
                    buf.clear();
                    buf.extend_from_slice(&rest);
                }
            }
        }
    }
    if !buf.is_empty() {
        sink.push(veil_ot::block::as_bytes(&buf))?;
    }
    Ok(())
}

/// Reads tables chunk by chunk, checking every chunk's length.
struct TableReader<'a> {
    source: &'a mut dyn TableSource,
    chunk: Vec<u8>,
    pos: usize,
    remaining: usize,
}

impl TableReader<'_> {
    #[inline]
    fn next(&mut self) -> Result<(Block, Block), GcError> {
        if self.pos + TABLE_BYTES > self.chunk.len() {
            let gates = self.remaining.min(CHUNK_ANDS);
            self.source.next_chunk(gates * TABLE_BYTES, &mut self.chunk)?;
            if self.chunk.len() != gates * TABLE_BYTES || gates == 0 {
                return Err(GcError::TableLength { expected: gates * TABLE_BYTES, got: self.chunk.len() });
            }
            self.remaining -= gates;
            self.pos = 0;
        }
        let t = &self.chunk[self.pos..self.pos + TABLE_BYTES];
        self.pos += TABLE_BYTES;
        match (Block::from_slice(&t[..16]), Block::from_slice(&t[16..])) {
            (Some(tg), Some(te)) => Ok((tg, te)),
            _ => Err(GcError::TableLength { expected: TABLE_BYTES, got: t.len() }),
        }
    }
}

/// Evaluates every gate of `schedule` on active labels (inputs filled on entry, outputs at
/// [`Schedule::output_slots`] on return).
pub fn evaluate(
    schedule: &Schedule,
    labels: &mut [Block],
    hash: &TccrHash,
    first_gate: u64,
    source: &mut dyn TableSource,
) -> Result<(), GcError> {
    let mut reader = TableReader { source, chunk: Vec::new(), pos: 0, remaining: schedule.ands.len() };
    for op in &schedule.ops {
        match *op {
            Op::Xor { a, b, out } => labels[out as usize] = labels[a as usize] ^ labels[b as usize],
            Op::Not { a, out } | Op::Copy { a, out } => labels[out as usize] = labels[a as usize],
            Op::Const { out, wire, .. } => labels[out as usize] = constant_label(wire),
            Op::Ands { first, count } => {
                let gates = &schedule.ands[first as usize..(first + count) as usize];
                let mut xs = [Block::ZERO; 8];
                let mut tw = [0u128; 8];
                for (i, g) in gates.iter().enumerate() {
                    let id = (first_gate + first as u64 + i as u64) as u128;
                    xs[2 * i] = labels[g[0] as usize];
                    xs[2 * i + 1] = labels[g[1] as usize];
                    tw[2 * i] = 2 * id;
                    tw[2 * i + 1] = 2 * id + 1;
                }
                match gates.len() {
                    1 => hash_first!(hash, xs, tw, 2),
                    2 => hash_first!(hash, xs, tw, 4),
                    3 => hash_first!(hash, xs, tw, 6),
                    _ => hash_first!(hash, xs, tw, 8),
                }
                for (i, g) in gates.iter().enumerate() {
                    let (tg, te) = reader.next()?;
                    let (a, b) = (labels[g[0] as usize], labels[g[1] as usize]);
                    let wg = xs[2 * i] ^ tg.and_bit(a.lsb());
                    let we = xs[2 * i + 1] ^ (te ^ a).and_bit(b.lsb());
                    labels[g[2] as usize] = wg ^ we;
                }
            }
        }
    }
    Ok(())
}
