//! Reading inputs (CSV, NumPy `.npy`) and writing outputs (CSV, JSON) for `veil mpc`.

use std::path::Path;

use anyhow::{bail, Context};
use veil_ml::Matrix;

/// Reads a 2-D matrix of numbers: `.npy` (little-endian `f8`/`f4`/`i8`/`i4`, C order, 1-D or
/// 2-D), otherwise CSV (comma-separated; a first line that does not parse as numbers is a
/// header and skipped).
pub fn read_matrix(path: &Path) -> anyhow::Result<Matrix> {
    if path.extension().is_some_and(|e| e == "npy") {
        read_npy(path)
    } else {
        read_csv(path)
    }
}

fn read_csv(path: &Path) -> anyhow::Result<Matrix> {
    let text = std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let mut rows: Vec<Vec<f64>> = Vec::new();
    for (i, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let parsed: Result<Vec<f64>, _> = line.split(',').map(|v| v.trim().parse::<f64>()).collect();
        match parsed {
            Ok(r) => {
                if r.iter().any(|v| !v.is_finite()) {
                    bail!("{}: line {}: non-finite value", path.display(), i + 1);
                }
                rows.push(r)
            }
            Err(_) if i == 0 => continue,
            Err(e) => bail!("{}: line {}: {e}", path.display(), i + 1),
        }
    }
    if rows.is_empty() {
        bail!("{}: no rows", path.display());
    }
    Matrix::from_rows(&rows).with_context(|| format!("{}: rows of different lengths", path.display()))
}

fn read_npy(path: &Path) -> anyhow::Result<Matrix> {
    let b = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    let bad = |why: &str| anyhow::anyhow!("{}: not a supported .npy file: {why}", path.display());
    if b.len() < 10 || &b[..6] != b"\x93NUMPY" {
        return Err(bad("missing magic"));
    }
    let (hlen, start) = match b[6] {
        1 => (u16::from_le_bytes([b[8], b[9]]) as usize, 10),
        2 | 3 if b.len() >= 12 => (u32::from_le_bytes([b[8], b[9], b[10], b[11]]) as usize, 12),
        _ => return Err(bad("unknown version")),
    };
    let header = b.get(start..start + hlen).ok_or_else(|| bad("truncated header"))?;
    let header = std::str::from_utf8(header).map_err(|_| bad("header is not text"))?;
    let field = |k: &str| -> Option<&str> {
        let i = header.find(k)? + k.len();
        let rest = header[i..].trim_start_matches([' ', ':', '\'']);
        Some(rest)
    };
    let descr = field("'descr'").ok_or_else(|| bad("no descr"))?;
    let (width, kind) = if descr.starts_with("<f8") {
        (8, 'f')
    } else if descr.starts_with("<f4") {
        (4, 'f')
    } else if descr.starts_with("<i8") {
        (8, 'i')
    } else if descr.starts_with("<i4") {
        (4, 'i')
    } else {
        return Err(bad("dtype must be <f8, <f4, <i8 or <i4"));
    };
    if field("'fortran_order'").is_some_and(|v| v.starts_with("True")) {
        return Err(bad("Fortran order"));
    }
    let shape = field("'shape'").ok_or_else(|| bad("no shape"))?;
    let inner = shape.trim_start_matches('(');
    let inner = &inner[..inner.find(')').ok_or_else(|| bad("bad shape"))?];
    let dims: Vec<usize> = inner
        .split(',')
        .filter(|s| !s.trim().is_empty())
        .map(|s| s.trim().parse())
        .collect::<Result<_, _>>()
        .map_err(|_| bad("bad shape"))?;
    let (rows, cols) = match dims.as_slice() {
        [n] => (1, *n),
        [r, c] => (*r, *c),
        _ => return Err(bad("only 1-D and 2-D arrays")),
    };
    let n = rows.checked_mul(cols).ok_or_else(|| bad("shape overflows"))?;
    let data = b.get(start + hlen..).ok_or_else(|| bad("truncated data"))?;
    if data.len() != n * width {
        return Err(bad(&format!("expected {} data bytes, found {}", n * width, data.len())));
    }
    let vals: Vec<f64> = data
        .chunks_exact(width)
        .map(|c| match (width, kind) {
            (8, 'f') => f64::from_le_bytes(c.try_into().unwrap_or([0; 8])),
            (4, 'f') => f64::from(f32::from_le_bytes(c.try_into().unwrap_or([0; 4]))),
            (8, _) => i64::from_le_bytes(c.try_into().unwrap_or([0; 8])) as f64,
            _ => f64::from(i32::from_le_bytes(c.try_into().unwrap_or([0; 4]))),
        })
        .collect();
    if vals.iter().any(|v| !v.is_finite()) {
        return Err(bad("non-finite value"));
    }
    Ok(Matrix::new(rows, cols, vals)?)
}

/// Writes inference outputs: JSON (`.json`: outputs and predicted classes) or CSV.
pub fn write_outputs(path: &Path, y: &Matrix, classes: &[usize]) -> anyhow::Result<()> {
    let text = if path.extension().is_some_and(|e| e == "json") {
        let rows: Vec<&[f64]> = (0..y.rows()).map(|i| y.row(i)).collect();
        serde_json::to_string_pretty(&serde_json::json!({ "rows": y.rows(), "cols": y.cols(), "outputs": rows, "classes": classes }))?
    } else {
        let mut s = String::new();
        for i in 0..y.rows() {
            let r: Vec<String> = y.row(i).iter().map(|v| format!("{v}")).collect();
            s.push_str(&r.join(","));
            s.push('\n');
        }
        s
    };
    std::fs::write(path, text).with_context(|| format!("writing {}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn npy_and_csv() {
        let dir = tempfile::tempdir().expect("tmp");
        let p = dir.path().join("a.npy");
        let header = "{'descr': '<f8', 'fortran_order': False, 'shape': (2, 2), }";
        let mut h = header.to_string();
        while (10 + h.len() + 1) % 64 != 0 {
            h.push(' ');
        }
        h.push('\n');
        let mut b = b"\x93NUMPY\x01\x00".to_vec();
        b.extend_from_slice(&(h.len() as u16).to_le_bytes());
        b.extend_from_slice(h.as_bytes());
        for v in [1.0f64, 2.0, 3.5, -4.0] {
            b.extend_from_slice(&v.to_le_bytes());
        }
        std::fs::write(&p, &b).expect("write");
        let m = read_matrix(&p).expect("npy");
        assert_eq!(m.data(), &[1.0, 2.0, 3.5, -4.0]);
        std::fs::write(&p, &b[..b.len() - 3]).expect("write");
        assert!(read_matrix(&p).is_err());
        let c = dir.path().join("a.csv");
        std::fs::write(&c, "x,y\n1,2\n3,4\n").expect("write");
        assert_eq!(read_matrix(&c).expect("csv").shape(), (2, 2));
        std::fs::write(&c, "1,2\n3\n").expect("write");
        assert!(read_matrix(&c).is_err());
    }
}
