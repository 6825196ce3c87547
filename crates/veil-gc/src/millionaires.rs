//! Yao's millionaires' problem: which of two private amounts is larger.
//!
//! The comparator is generated here (no file needed): the borrow of `a − b` with one AND per
//! bit, `c_{i+1} = c_i ⊕ ((¬a_i ⊕ c_i) ∧ (b_i ⊕ c_i))`, so `c_n = [a < b]` for unsigned `a, b`.

use crate::bristol::Circuit;
use crate::protocol::Program;
use crate::GcError;

/// Bristol Fashion text of the unsigned `n`-bit comparator: inputs `a`, `b`; output `[a < b]`.
pub fn less_than_bristol(n: usize) -> String {
    let mut gates = Vec::new();
    let mut next = 2 * n;
    let mut fresh = || {
        next += 1;
        next - 1
    };
    let na = fresh();
    gates.push(format!("1 1 0 {na} INV"));
    let mut carry = fresh();
    gates.push(format!("2 1 {na} {n} {carry} AND"));
    for i in 1..n {
        let x = fresh();
        gates.push(format!("2 1 {i} {carry} {x} XOR"));
        let nx = fresh();
        gates.push(format!("1 1 {x} {nx} INV"));
        let y = fresh();
        gates.push(format!("2 1 {} {carry} {y} XOR", n + i));
        let t = fresh();
        gates.push(format!("2 1 {nx} {y} {t} AND"));
        let c = fresh();
        gates.push(format!("2 1 {carry} {t} {c} XOR"));
        carry = c;
    }
    let wires = carry + 1;
    format!("{} {wires}\n2 {n} {n}\n1 1\n\n{}\n", gates.len(), gates.join("\n"))
}

/// The comparison program: group 1 (the garbler's amount `a`), group 2 (the evaluator's
/// amount `b`); the single output bit is `[a < b]`, i.e. 1 when the evaluator is richer.
pub fn program(bits: usize) -> Result<Program, GcError> {
    if !(1..=128).contains(&bits) {
        return Err(GcError::InputValue { group: 0, reason: format!("amounts of {bits} bits are not supported (1 to 128)") });
    }
    Program::new(Circuit::parse(&less_than_bristol(bits))?, 1)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::values::from_u128;

    #[test]
    fn generated_comparator_is_correct_and_has_one_and_per_bit() {
        for n in [1usize, 2, 8, 32] {
            let p = program(n).expect("program");
            assert_eq!(p.circuit().num_and(), n);
            let max = if n >= 32 { u32::MAX as u128 } else { (1u128 << n) - 1 };
            let samples = [0u128, 1, 2, max / 2, max / 2 + 1, max - 1, max];
            for &a in &samples {
                for &b in &samples {
                    let (a, b) = (a & max, b & max);
                    let mut input = from_u128(a, n);
                    input.extend(from_u128(b, n));
                    assert_eq!(p.circuit().eval_plain(&input).expect("eval"), vec![a < b], "n={n} a={a} b={b}");
                }
            }
        }
    }
}
