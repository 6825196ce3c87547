//! The gate schedule shared by garbler and evaluator: gates in circuit order, except that up
//! to [`MAX_BATCH`] consecutive independent AND gates are grouped so that their AES calls
//! interleave. Gates between them that do not read a pending AND output run first; AND gates
//! keep their circuit order, so the AND ordinal (the hash tweak) is the same on both sides.

use crate::bristol::{Circuit, Gate};

/// Most AND gates hashed together (4 hashes each for the garbler, 2 for the evaluator).
pub const MAX_BATCH: usize = 4;

#[derive(Clone, Copy, Debug)]
pub(crate) enum Op {
    Xor { a: u32, b: u32, out: u32 },
    Not { a: u32, out: u32 },
    Copy { a: u32, out: u32 },
    Const { value: bool, out: u32 },
    /// AND gates `first .. first + count` of [`Schedule::ands`].
    Ands { first: u32, count: u32 },
}

/// A circuit compiled for garbling.
#[derive(Clone, Debug)]
pub struct Schedule {
    pub(crate) ops: Vec<Op>,
    pub(crate) ands: Vec<[u32; 3]>,
}

impl Schedule {
    pub fn new(circuit: &Circuit) -> Self {
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
                Gate::Eq { value, out } => ops.push(Op::Const { value, out }),
            }
        }
        flush(&mut ops, &ands, &mut first_pending, &mut pending);
        Self { ops, ands }
    }

    /// Number of AND gates.
    pub fn num_and(&self) -> usize {
        self.ands.len()
    }
}
