//! Slot layouts of the training data and the weights (see the parent module's docs).

use veil_ckks::Parameters;

use super::LogRegTrainConfig;
use crate::HeError;

/// Slot vectors of rows `first_row..first_row + rows.len()` of the whole training set: one
/// vector of `slots` values per ciphertext chunk, row `r` at `[r·w, r·w + features)` of its
/// chunk, the bias `1.0` at `r·w + features`, zero elsewhere (other parties' rows included), to
/// be encoded and encrypted by the rows' owner.
pub fn pack_rows(params: &Parameters, cfg: &LogRegTrainConfig, first_row: usize, rows: &[Vec<f64>]) -> Result<Vec<Vec<f64>>, HeError> {
    cfg.validate(params)?;
    check_range(cfg, first_row, rows.len())?;
    let per = cfg.rows_per_ciphertext(params);
    let mut out = vec![vec![0.0; params.slot_count()]; cfg.chunks(params)];
    for (i, row) in rows.iter().enumerate() {
        if row.len() != cfg.features {
            return Err(HeError::Packing {
                reason: format!("row {} has {} features, expected {}", first_row + i, row.len(), cfg.features),
            });
        }
        if let Some(j) = row.iter().position(|v| !v.is_finite()) {
            return Err(HeError::Packing { reason: format!("row {}: feature {j} is not finite", first_row + i) });
        }
        let r = first_row + i;
        let base = (r % per) * cfg.width;
        let slots = &mut out[r / per][base..base + cfg.width];
        slots[..cfg.features].copy_from_slice(row);
        slots[cfg.features] = 1.0;
    }
    Ok(out)
}

/// Slot vectors of labels `first_row..` (one per chunk; label `r` at slot `r·w` of its chunk,
/// zero elsewhere). Labels must be 0 or 1.
pub fn pack_labels(params: &Parameters, cfg: &LogRegTrainConfig, first_row: usize, labels: &[f64]) -> Result<Vec<Vec<f64>>, HeError> {
    cfg.validate(params)?;
    check_range(cfg, first_row, labels.len())?;
    let per = cfg.rows_per_ciphertext(params);
    let mut out = vec![vec![0.0; params.slot_count()]; cfg.chunks(params)];
    for (i, &y) in labels.iter().enumerate() {
        if y != 0.0 && y != 1.0 {
            return Err(HeError::Packing { reason: format!("label of row {} is {y}, expected 0 or 1", first_row + i) });
        }
        let r = first_row + i;
        out[r / per][(r % per) * cfg.width] = y;
    }
    Ok(out)
}

/// The `features + 1` weights (bias last) from the decrypted slots of the weight ciphertext,
/// averaged over the row blocks (each holds a copy).
pub fn unpack_weights(cfg: &LogRegTrainConfig, slots: &[f64]) -> Vec<f64> {
    let blocks = (slots.len() / cfg.width.max(1)).max(1);
    (0..=cfg.features).map(|j| (0..blocks).filter_map(|b| slots.get(b * cfg.width + j)).sum::<f64>() / blocks as f64).collect()
}

/// The mask of the slots `r·w` that hold a row of `chunk` (1.0) and zero elsewhere.
pub(crate) fn row_mask(params: &Parameters, cfg: &LogRegTrainConfig, chunk: usize) -> Vec<f64> {
    let per = cfg.rows_per_ciphertext(params);
    let rows = cfg.rows.saturating_sub(chunk * per).min(per);
    let mut m = vec![0.0; params.slot_count()];
    for r in 0..rows {
        m[r * cfg.width] = 1.0;
    }
    m
}

fn check_range(cfg: &LogRegTrainConfig, first_row: usize, count: usize) -> Result<(), HeError> {
    if first_row.checked_add(count).map_or(true, |end| end > cfg.rows) {
        return Err(HeError::Packing {
            reason: format!("rows {first_row}..{} exceed the {} rows of the training set", first_row.saturating_add(count), cfg.rows),
        });
    }
    Ok(())
}
