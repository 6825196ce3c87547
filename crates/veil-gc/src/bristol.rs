//! Bristol Fashion circuits: parser, validation, canonical digest and plaintext evaluation.
//!
//! Format (Smart, "Bristol Fashion MPC Circuits"):
//!
//! ```text
//! ngates nwires
//! niv n_1 … n_niv          input groups: group k occupies the next n_k wires, from wire 0
//! nov m_1 … m_nov          output groups: the last Σ m_j wires, in order
//!
//! 2 1 a b out XOR|AND      1 1 a out INV|EQW      1 1 v out EQ (v ∈ {0,1})
//! 2k k a_1…a_k b_1…b_k o_1…o_k MAND
//! ```
//!
//! Bit order: wire `i` of a group is bit `i` of the group's integer (LSB first), as
//! `data/bristol/TEST_VECTORS.md` states for every circuit shipped with veil.

use std::path::Path;

use crate::GcError;

/// One gate, with wire indices already checked against the wire count.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Gate {
    Xor {
        a: u32,
        b: u32,
        out: u32,
    },
    And {
        a: u32,
        b: u32,
        out: u32,
    },
    /// Negation.
    Inv {
        a: u32,
        out: u32,
    },
    /// Wire copy.
    Eqw {
        a: u32,
        out: u32,
    },
    /// Constant.
    Eq {
        value: bool,
        out: u32,
    },
}

/// A validated circuit: every wire is assigned once, before it is read, and every output is
/// assigned.
#[derive(Clone, Debug)]
pub struct Circuit {
    num_wires: usize,
    input_sizes: Vec<usize>,
    output_sizes: Vec<usize>,
    gates: Vec<Gate>,
    num_and: usize,
    digest: [u8; 32],
}

fn parse_err(line: usize, reason: impl Into<String>) -> GcError {
    GcError::Parse { line, reason: reason.into() }
}

fn numbers(line_no: usize, text: &str) -> Result<Vec<usize>, GcError> {
    text.split_whitespace()
        .map(|t| t.parse::<usize>().map_err(|_| parse_err(line_no, format!("`{t}` is not a non-negative integer"))))
        .collect()
}

impl Circuit {
    /// Reads and parses a Bristol Fashion file.
    pub fn from_file(path: &Path) -> Result<Self, GcError> {
        let text = std::fs::read_to_string(path).map_err(|source| GcError::CircuitFile { path: path.display().to_string(), source })?;
        Self::parse(&text)
    }

    /// Parses Bristol Fashion text; errors name the 1-based line.
    pub fn parse(text: &str) -> Result<Self, GcError> {
        let mut lines = text.lines().enumerate().map(|(i, l)| (i + 1, l.trim())).filter(|(_, l)| !l.is_empty());
        let (l1, header) = lines.next().ok_or_else(|| parse_err(1, "empty file"))?;
        let h = numbers(l1, header)?;
        let [ngates, nwires] = h[..] else {
            return Err(parse_err(l1, "expected `ngates nwires`"));
        };
        if nwires > u32::MAX as usize {
            return Err(parse_err(l1, "more wires than supported (2^32)"));
        }
        let mut group_line = |what: &str| -> Result<Vec<usize>, GcError> {
            let (ln, text) = lines.next().ok_or_else(|| parse_err(l1 + 1, format!("missing the {what} line")))?;
            let v = numbers(ln, text)?;
            match v.split_first() {
                Some((&count, sizes)) if count == sizes.len() && sizes.iter().all(|&s| s > 0) => Ok(sizes.to_vec()),
                _ => Err(parse_err(ln, format!("{what} line must be `count size_1 … size_count` with positive sizes"))),
            }
        };
        let input_sizes = group_line("input")?;
        let output_sizes = group_line("output")?;
        let total_in: usize = input_sizes.iter().sum();
        let total_out: usize = output_sizes.iter().sum();
        if total_in > nwires || total_out > nwires {
            return Err(parse_err(l1, "more input or output wires than wires"));
        }
        let mut assigned = vec![false; nwires];
        assigned[..total_in].fill(true);
        let mut gates = Vec::with_capacity(ngates);
        let mut declared = 0usize;
        let mut num_and = 0usize;
        for (ln, text) in lines {
            declared += 1;
            let mut tokens: Vec<&str> = text.split_whitespace().collect();
            let kind = tokens.pop().unwrap_or_default();
            let nums = numbers(ln, &tokens.join(" "))?;
            let (nin, nout, wires) = match nums.split_first() {
                Some((&nin, rest)) => match rest.split_first() {
                    Some((&nout, wires)) => (nin, nout, wires),
                    None => return Err(parse_err(ln, "expected `nin nout inputs… outputs… TYPE`")),
                },
                None => return Err(parse_err(ln, "expected `nin nout inputs… outputs… TYPE`")),
            };
            if wires.len() != nin + nout {
                return Err(parse_err(ln, format!("gate declares {nin} inputs and {nout} outputs but lists {} wires", wires.len())));
            }
            let (ins, outs) = wires.split_at(nin);
            let read = |w: usize, assigned: &[bool]| -> Result<u32, GcError> {
                if w >= nwires {
                    return Err(parse_err(ln, format!("wire {w} is out of range (the circuit has {nwires} wires)")));
                }
                if !assigned[w] {
                    return Err(parse_err(ln, format!("wire {w} is read before it is assigned")));
                }
                Ok(w as u32)
            };
            let write = |w: usize, assigned: &mut [bool]| -> Result<u32, GcError> {
                if w >= nwires {
                    return Err(parse_err(ln, format!("wire {w} is out of range (the circuit has {nwires} wires)")));
                }
                if assigned[w] {
                    return Err(parse_err(ln, format!("wire {w} is assigned twice")));
                }
                assigned[w] = true;
                Ok(w as u32)
            };
            match (kind, nin, nout) {
                ("XOR" | "AND", 2, 1) => {
                    let (a, b) = (read(ins[0], &assigned)?, read(ins[1], &assigned)?);
                    let out = write(outs[0], &mut assigned)?;
                    if kind == "AND" {
                        num_and += 1;
                        gates.push(Gate::And { a, b, out });
                    } else {
                        gates.push(Gate::Xor { a, b, out });
                    }
                }
                ("INV" | "EQW", 1, 1) => {
                    let a = read(ins[0], &assigned)?;
                    let out = write(outs[0], &mut assigned)?;
                    gates.push(if kind == "INV" { Gate::Inv { a, out } } else { Gate::Eqw { a, out } });
                }
                ("EQ", 1, 1) => {
                    let value = match ins[0] {
                        0 => false,
                        1 => true,
                        v => return Err(parse_err(ln, format!("EQ constant must be 0 or 1, got {v}"))),
                    };
                    let out = write(outs[0], &mut assigned)?;
                    gates.push(Gate::Eq { value, out });
                }
                ("MAND", n, k) if n == 2 * k && k > 0 => {
                    for i in 0..k {
                        let (a, b) = (read(ins[i], &assigned)?, read(ins[k + i], &assigned)?);
                        let out = write(outs[i], &mut assigned)?;
                        num_and += 1;
                        gates.push(Gate::And { a, b, out });
                    }
                }
                ("XOR" | "AND" | "INV" | "EQW" | "EQ" | "MAND", _, _) => {
                    return Err(parse_err(ln, format!("{kind} gate with {nin} inputs and {nout} outputs")));
                }
                _ => return Err(parse_err(ln, format!("unknown gate type `{kind}`"))),
            }
        }
        if declared != ngates {
            return Err(parse_err(l1, format!("header declares {ngates} gates, the file has {declared}")));
        }
        if let Some(w) = (nwires - total_out..nwires).find(|&w| !assigned[w]) {
            return Err(parse_err(l1, format!("output wire {w} is never assigned")));
        }
        let digest = blake3::derive_key("veil-gc 2026-11 bristol circuit digest", text.as_bytes());
        Ok(Self { num_wires: nwires, input_sizes, output_sizes, gates, num_and, digest })
    }

    pub fn num_wires(&self) -> usize {
        self.num_wires
    }
    pub fn input_sizes(&self) -> &[usize] {
        &self.input_sizes
    }
    pub fn output_sizes(&self) -> &[usize] {
        &self.output_sizes
    }
    pub fn gates(&self) -> &[Gate] {
        &self.gates
    }
    /// Number of AND gates (MAND counted per AND).
    pub fn num_and(&self) -> usize {
        self.num_and
    }
    /// BLAKE3 digest of the file's text: both parties must hold the same circuit.
    pub fn digest(&self) -> [u8; 32] {
        self.digest
    }
    /// Number of input wires.
    pub fn num_inputs(&self) -> usize {
        self.input_sizes.iter().sum()
    }
    /// Number of output wires.
    pub fn num_outputs(&self) -> usize {
        self.output_sizes.iter().sum()
    }
    /// Index of the first output wire.
    pub fn first_output_wire(&self) -> usize {
        self.num_wires - self.num_outputs()
    }

    /// Evaluates the circuit in the clear on the concatenated input bits (group after group,
    /// LSB first); returns the concatenated output bits.
    pub fn eval_plain(&self, inputs: &[bool]) -> Result<Vec<bool>, GcError> {
        if inputs.len() != self.num_inputs() {
            return Err(GcError::InputLength { party: "plaintext", expected: self.num_inputs(), got: inputs.len() });
        }
        let mut w = vec![false; self.num_wires];
        w[..inputs.len()].copy_from_slice(inputs);
        for g in &self.gates {
            match *g {
                Gate::Xor { a, b, out } => w[out as usize] = w[a as usize] ^ w[b as usize],
                Gate::And { a, b, out } => w[out as usize] = w[a as usize] & w[b as usize],
                Gate::Inv { a, out } => w[out as usize] = !w[a as usize],
                Gate::Eqw { a, out } => w[out as usize] = w[a as usize],
                Gate::Eq { value, out } => w[out as usize] = value,
            }
        }
        Ok(w[self.first_output_wire()..].to_vec())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn malformed_files_name_the_line() {
        let cases = [
            ("", 1),
            ("1 3\n2 1\n1 1\n\n2 1 0 1 2 XOR\n", 2),
            ("1 3\n2 1 1\n1 1\n\n2 1 0 7 2 XOR\n", 5),
            ("1 3\n2 1 1\n1 1\n\n2 1 0 1 2 NAND\n", 5),
            ("1 3\n2 1 1\n1 1\n\n2 1 0 2 2 AND\n", 5),
            ("2 3\n2 1 1\n1 1\n\n2 1 0 1 2 AND\n", 1),
            ("1 3\n2 1 1\n1 1\n\n2 1 0 1 AND\n", 5),
            ("1 3\n2 1 1\n1 1\n\n1 1 2 2 EQ\n", 5),
            ("1 4\n2 1 1\n1 1\n\n2 1 0 1 2 AND\n", 1),
            ("1 3\n2 1 1\n1 x\n", 3),
        ];
        for (text, line) in cases {
            match Circuit::parse(text) {
                Err(GcError::Parse { line: l, .. }) => assert_eq!(l, line, "{text:?}"),
                other => panic!("{text:?}: expected a parse error, got {other:?}"),
            }
        }
    }

    #[test]
    fn all_gate_kinds_evaluate() {
        let text = "6 9\n2 1 1\n1 3\n\n2 1 0 1 2 AND\n1 1 1 3 EQ\n4 2 0 2 1 3 4 5 MAND\n1 1 5 6 INV\n1 1 4 7 EQW\n2 1 7 0 8 XOR\n";
        // wires: 2 = a&b, 3 = 1, 4 = a&b, 5 = (a&b)&1, 6 = !5, 7 = 4, 8 = 7^a; outputs 6,7,8.
        let c = Circuit::parse(text).expect("parse");
        assert_eq!(c.num_and(), 3);
        for (a, b) in [(false, false), (false, true), (true, false), (true, true)] {
            let out = c.eval_plain(&[a, b]).expect("eval");
            assert_eq!(out, vec![!(a & b), a & b, (a & b) ^ a]);
        }
        assert!(matches!(c.eval_plain(&[true]), Err(GcError::InputLength { .. })));
    }
}
