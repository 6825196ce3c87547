//! Input and output values of circuit groups: integers (decimal, negative allowed in two's
//! complement) or hexadecimal, with wire `i` of a group = bit `i` of the integer.

use crate::GcError;

/// Parses `text` as the value of input group `group` of `bits` wires: `0x…` hexadecimal (any
/// width up to `bits`), or a decimal integer (negative values in two's complement).
pub fn parse_value(text: &str, bits: usize, group: usize) -> Result<Vec<bool>, GcError> {
    let err = |reason: String| GcError::InputValue { group, reason };
    let t = text.trim().replace('_', "");
    if let Some(hex) = t.strip_prefix("0x").or_else(|| t.strip_prefix("0X")) {
        if hex.is_empty() {
            return Err(err("empty hexadecimal value".into()));
        }
        let mut out = vec![false; bits];
        for (pos, c) in hex.chars().rev().enumerate() {
            let v = c.to_digit(16).ok_or_else(|| err(format!("`{c}` is not a hexadecimal digit")))?;
            for b in 0..4 {
                let bit = (v >> b) & 1 == 1;
                let i = 4 * pos + b;
                if i < bits {
                    out[i] = bit;
                } else if bit {
                    return Err(err(format!("{text} does not fit in {bits} bits")));
                }
            }
        }
        return Ok(out);
    }
    let (neg, digits) = match t.strip_prefix('-') {
        Some(d) => (true, d),
        None => (false, t.as_str()),
    };
    let magnitude: u128 = digits.parse().map_err(|_| err(format!("`{text}` is neither a decimal integer nor 0x-prefixed hexadecimal")))?;
    let fits = if bits >= 128 {
        !neg || magnitude <= 1u128 << 127
    } else if neg {
        magnitude <= 1u128 << (bits - 1)
    } else {
        magnitude >> bits == 0
    };
    if !fits || bits == 0 {
        return Err(err(format!("{text} does not fit in {bits} bits")));
    }
    let value = if neg { magnitude.wrapping_neg() } else { magnitude };
    Ok((0..bits).map(|i| if i < 128 { (value >> i) & 1 == 1 } else { neg }).collect())
}

/// Hexadecimal rendering of a group's bits (`0x`, `⌈n/4⌉` digits).
pub fn format_hex(bits: &[bool]) -> String {
    let digits = bits.len().div_ceil(4);
    let mut s = String::with_capacity(2 + digits);
    s.push_str("0x");
    for d in (0..digits).rev() {
        let mut v = 0u32;
        for b in 0..4 {
            if bits.get(4 * d + b).copied().unwrap_or(false) {
                v |= 1 << b;
            }
        }
        s.push(char::from_digit(v, 16).unwrap_or('?'));
    }
    s
}

/// The unsigned integer of at most 128 bits.
pub fn to_u128(bits: &[bool]) -> Option<u128> {
    if bits.len() > 128 {
        return None;
    }
    Some(bits.iter().enumerate().fold(0u128, |acc, (i, b)| acc | ((*b as u128) << i)))
}

/// The `bits` low bits of `value`.
pub fn from_u128(value: u128, bits: usize) -> Vec<bool> {
    (0..bits).map(|i| i < 128 && (value >> i) & 1 == 1).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_round_trip_and_are_checked() {
        assert_eq!(to_u128(&parse_value("1234", 32, 0).expect("dec")), Some(1234));
        assert_eq!(to_u128(&parse_value("-1", 8, 0).expect("neg")), Some(0xff));
        assert_eq!(to_u128(&parse_value("0xff_01", 16, 0).expect("hex")), Some(0xff01));
        assert_eq!(
            format_hex(&parse_value("0x000102030405060708090a0b0c0d0e0f", 128, 0).expect("hex")),
            "0x000102030405060708090a0b0c0d0e0f"
        );
        assert!(parse_value("256", 8, 1).is_err());
        assert!(parse_value("-129", 8, 1).is_err());
        assert!(parse_value("0x1ff", 8, 1).is_err());
        assert!(parse_value("12a", 8, 1).is_err());
        assert!(parse_value("0x", 8, 1).is_err());
        assert_eq!(format_hex(&from_u128(0xabc, 12)), "0xabc");
    }
}
