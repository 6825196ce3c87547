//! The gate schedule shared by garbler and evaluator.
//!
//! Gates run in circuit order, except that up to [`MAX_BATCH`] consecutive independent AND
//! gates are grouped so that their AES calls interleave; gates between them that do not read
//! a pending AND output run first. AND gates keep their circuit order, so the AND ordinal (the
//! hash tweak) is the same on both sides.
//!
//! Wires are then mapped to label *slots*: a slot is freed after the last read of its wire and
//! reused, so the label array holds only the live wires (a few thousand for AES-128 or
//! SHA-256 instead of all 36,919 or 135,841 wires), which keeps it in the L1/L2 cache and
//! keeps the memory of a streamed evaluation independent of the circuit's length.
//! Input wires occupy slots `0..num_inputs`; output wires are never freed.

use crate::bristol::{Circuit, Gate};

/// Most AND gates hashed together (4 hashes each for the garbler, 2 for the evaluator).
pub const MAX_BATCH: usize = 4;

#[derive(Clone, Copy, Debug)]
pub(crate) enum Op {
    Xor {
        a: u32,
        b: u32,
        out: u32,
    },
    Not {
        a: u32,
        out: u32,
    },
    Copy {
        a: u32,
        out: u32,
    },
    /// A constant; `wire` (the circuit's wire index) names its public label.
    Const {
        value: bool,
        out: u32,
        wire: u32,
    },
    /// AND gates `first .. first + count` of [`Schedule::ands`].
    Ands {
        first: u32,
        count: u32,
    },
}

/// A circuit compiled for garbling: operations on label slots.
#[derive(Clone, Debug)]
pub struct Schedule {
    pub(crate) ops: Vec<Op>,
    /// `[a, b, out]` slots of every AND gate, in circuit order.
    pub(crate) ands: Vec<[u32; 3]>,
    num_slots: usize,
    output_slots: Vec<u32>,
}

impl Schedule {
    pub fn new(circuit: &Circuit) -> Self {
        let (ops, ands) = batch(circuit);
        allocate_slots(circuit, ops, ands)
    }

    /// Number of AND gates.
    pub fn num_and(&self) -> usize {
        self.ands.len()
    }

    /// Size of the label array (input labels go to slots `0..num_inputs`).
    pub fn num_slots(&self) -> usize {
        self.num_slots
    }

    /// The slots of the output wires, in output order.
    pub fn output_slots(&self) -> &[u32] {
        &self.output_slots
    }
}

/// Groups independent AND gates; operands are still wire indices.
fn batch(circuit: &Circuit) -> (Vec<Op>, Vec<[u32; 3]>) {
    let mut ops = Vec::with_capacity(circuit.gates().len());
    let mut ands: Vec<[u32; 3]> = Vec::with_capacity(circuit.num_and());
    let mut pending = vec![false; circuit.num_wires()];
    let mut first_pending = 0usize;
    let flush = |ops: &mut Vec<Op>, ands: &[[u32; 3]], first: &mut usize, pending: &mut [bool]| {
        if ands.len() > *first {
            for g in &ands[*first..] {
                pending[g[2] as usize] = false;
            }
            ops.push(Op::Ands { first: *first as u32, count: (ands.len() - *first) as u32 });
            *first = ands.len();
        }
    };
    for g in circuit.gates() {
        let reads_pending = match *g {
            Gate::Xor { a, b, .. } | Gate::And { a, b, .. } => pending[a as usize] || pending[b as usize],
            Gate::Inv { a, .. } | Gate::Eqw { a, .. } => pending[a as usize],
            Gate::Eq { .. } => false,
        };
        if reads_pending {
            flush(&mut ops, &ands, &mut first_pending, &mut pending);
        }
        match *g {
            Gate::And { a, b, out } => {
                ands.push([a, b, out]);
                pending[out as usize] = true;
                if ands.len() - first_pending == MAX_BATCH {
                    flush(&mut ops, &ands, &mut first_pending, &mut pending);
                }
            }
            Gate::Xor { a, b, out } => ops.push(Op::Xor { a, b, out }),
            Gate::Inv { a, out } => ops.push(Op::Not { a, out }),
            Gate::Eqw { a, out } => ops.push(Op::Copy { a, out }),
            Gate::Eq { value, out } => ops.push(Op::Const { value, out, wire: out }),
        }
    }
    flush(&mut ops, &ands, &mut first_pending, &mut pending);
    (ops, ands)
}

/// Maps wires to reusable slots (see the module documentation).
fn allocate_slots(circuit: &Circuit, mut ops: Vec<Op>, mut ands: Vec<[u32; 3]>) -> Schedule {
    const NEVER: usize = usize::MAX;
    let n = circuit.num_wires();
    // Position (op index) of the last read of every wire; outputs are read at the end.
    let mut last_read = vec![0usize; n];
    let mut seen = vec![false; n];
    for (pos, op) in ops.iter().enumerate() {
        let mut read = |w: u32| {
            last_read[w as usize] = pos;
            seen[w as usize] = true;
        };
        match *op {
            Op::Xor { a, b, .. } => {
                read(a);
                read(b);
            }
            Op::Not { a, .. } | Op::Copy { a, .. } => read(a),
            Op::Const { .. } => {}
            Op::Ands { first, count } => {
                for g in &ands[first as usize..(first + count) as usize] {
                    read(g[0]);
                    read(g[1]);
                }
            }
        }
    }
    let first_out = circuit.first_output_wire();
    last_read[first_out..n].fill(NEVER);
    let mut slot_of = vec![u32::MAX; n];
    let mut free: Vec<u32> = Vec::new();
    let mut next = 0u32;
    for (w, s) in slot_of.iter_mut().enumerate().take(circuit.num_inputs()) {
        *s = w as u32;
        next += 1;
    }
    // Inputs never read (and not outputs) are free from the start.
    for w in 0..circuit.num_inputs() {
        if !seen[w] && last_read[w] != NEVER {
            free.push(slot_of[w]);
        }
    }
    let mut to_free: Vec<u32> = Vec::new();
    let dead = |w: u32| !seen[w as usize] && last_read[w as usize] != NEVER;
    for (pos, op) in ops.iter_mut().enumerate() {
        to_free.clear();
        let read = |w: u32, slot_of: &[u32], to_free: &mut Vec<u32>| -> u32 {
            let s = slot_of[w as usize];
            if last_read[w as usize] == pos && !to_free.contains(&s) {
                to_free.push(s);
            }
            s
        };
        let write = |w: u32, slot_of: &mut [u32], free: &mut Vec<u32>, next: &mut u32| -> u32 {
            let s = free.pop().unwrap_or_else(|| {
                *next += 1;
                *next - 1
            });
            slot_of[w as usize] = s;
            s
        };
        // Reads are mapped before writes; freed read slots become available only after the op,
        // and a written wire that is never read (and is no output) is freed right after it.
        match op {
            Op::Xor { a, b, out } => {
                *a = read(*a, &slot_of, &mut to_free);
                *b = read(*b, &slot_of, &mut to_free);
                let w = *out;
                *out = write(w, &mut slot_of, &mut free, &mut next);
                if dead(w) {
                    to_free.push(*out);
                }
            }
            Op::Not { a, out } | Op::Copy { a, out } => {
                *a = read(*a, &slot_of, &mut to_free);
                let w = *out;
                *out = write(w, &mut slot_of, &mut free, &mut next);
                if dead(w) {
                    to_free.push(*out);
                }
            }
            Op::Const { out, .. } => {
                let w = *out;
                *out = write(w, &mut slot_of, &mut free, &mut next);
                if dead(w) {
                    to_free.push(*out);
                }
            }
            Op::Ands { first, count } => {
                let range = *first as usize..(*first + *count) as usize;
                for g in &mut ands[range.clone()] {
                    g[0] = read(g[0], &slot_of, &mut to_free);
                    g[1] = read(g[1], &slot_of, &mut to_free);
                }
                for g in &mut ands[range] {
                    let w = g[2];
                    g[2] = write(w, &mut slot_of, &mut free, &mut next);
                    if dead(w) {
                        to_free.push(g[2]);
                    }
                }
            }
        }
        free.extend_from_slice(&to_free);
    }
    let output_slots = (first_out..n).map(|w| slot_of[w]).collect();
    Schedule { ops, ands, num_slots: next as usize, output_slots }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slots_are_reused_and_outputs_kept() {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../data/bristol/aes_128.txt");
        let c = Circuit::from_file(&path).expect("aes");
        let s = Schedule::new(&c);
        assert!(s.num_slots() < c.num_wires() / 4, "{} slots for {} wires", s.num_slots(), c.num_wires());
        assert_eq!(s.output_slots().len(), 128);
        let mut distinct = s.output_slots().to_vec();
        distinct.sort_unstable();
        distinct.dedup();
        assert_eq!(distinct.len(), 128, "output slots are distinct");
        assert_eq!(s.num_and(), c.num_and());
    }
}
