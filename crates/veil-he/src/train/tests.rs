use super::*;
use veil_ckks::ParametersLiteral;

fn params() -> std::sync::Arc<Parameters> {
    Parameters::new(ParametersLiteral::insecure_n1024_l2()).unwrap()
}

#[test]
fn rows_and_labels_land_in_their_blocks_and_chunks() {
    let p = params();
    let slots = p.slot_count();
    let cfg = LogRegTrainConfig::new(3, 40, 1, 0.1);
    assert_eq!((cfg.width, cfg.rows_per_ciphertext(&p), cfg.chunks(&p)), (4, slots / 4, 1));
    let cfg = LogRegTrainConfig { rows: slots / 4 + 3, ..cfg };
    assert_eq!(cfg.chunks(&p), 2);
    let rows: Vec<Vec<f64>> = (0..5).map(|r| vec![r as f64, -1.0, 0.5]).collect();
    let first = slots / 4 - 2;
    let x = pack_rows(&p, &cfg, first, &rows).unwrap();
    let y = pack_labels(&p, &cfg, first, &[1.0, 0.0, 1.0, 1.0, 0.0]).unwrap();
    assert_eq!((x.len(), y.len()), (2, 2));
    // Rows `first` and `first + 1` close chunk 0; the other three open chunk 1.
    assert_eq!(&x[0][slots - 8..], &[0.0, -1.0, 0.5, 1.0, 1.0, -1.0, 0.5, 1.0]);
    assert_eq!(&x[1][..12], &[2.0, -1.0, 0.5, 1.0, 3.0, -1.0, 0.5, 1.0, 4.0, -1.0, 0.5, 1.0]);
    assert!(x[1][12..].iter().all(|&v| v == 0.0) && x[0][..slots - 8].iter().all(|&v| v == 0.0));
    assert_eq!((y[0][slots - 8], y[0][slots - 4], y[1][0], y[1][4], y[1][8]), (1.0, 0.0, 1.0, 1.0, 0.0));
    assert_eq!(y[0].iter().chain(&y[1]).filter(|&&v| v != 0.0).count(), 3);
    let mask = pack::row_mask(&p, &cfg, 1);
    assert_eq!(mask.iter().filter(|&&v| v == 1.0).count(), 3);
}

#[test]
fn bad_rows_labels_and_configurations_are_refused() {
    let p = params();
    let cfg = LogRegTrainConfig::new(3, 10, 1, 0.1);
    assert!(matches!(pack_rows(&p, &cfg, 0, &[vec![1.0, 2.0]]), Err(HeError::Packing { .. })));
    assert!(matches!(pack_rows(&p, &cfg, 0, &[vec![1.0, f64::NAN, 2.0]]), Err(HeError::Packing { .. })));
    assert!(matches!(pack_rows(&p, &cfg, 9, &[vec![1.0; 3], vec![1.0; 3]]), Err(HeError::Packing { .. })));
    assert!(matches!(pack_rows(&p, &cfg, usize::MAX, &[vec![1.0; 3]]), Err(HeError::Packing { .. })));
    assert!(matches!(pack_labels(&p, &cfg, 0, &[0.5]), Err(HeError::Packing { .. })));
    for bad in [
        LogRegTrainConfig { width: 3, ..cfg.clone() },
        LogRegTrainConfig { width: 2, ..cfg.clone() },
        LogRegTrainConfig { width: 2 * p.slot_count(), ..cfg.clone() },
        LogRegTrainConfig { rows: 0, ..cfg.clone() },
        LogRegTrainConfig { learning_rate: -1.0, ..cfg.clone() },
        LogRegTrainConfig { log2_weight_bound: 41, ..cfg.clone() },
    ] {
        assert!(matches!(bad.validate(&p), Err(HeError::InvalidConfig { .. })), "{bad:?}");
    }
    assert!(plaintext_reference(&[vec![1.0; 3]], &[1.0], &cfg, &sigmoid).is_err());
}

#[test]
fn rotation_steps_cover_row_sums_spreads_and_column_sums() {
    let p = params();
    let cfg = LogRegTrainConfig::new(30, 10, 1, 0.1);
    let steps = rotation_steps(&p, &cfg);
    let mut want: Vec<i64> = vec![1, 2, 4, 8, 16, -1, -2, -4, -8, -16];
    let mut s = 32;
    while s < p.slot_count() as i64 {
        want.push(s);
        s *= 2;
    }
    assert_eq!(steps, want);
}

#[test]
fn unpack_averages_the_blocks() {
    let cfg = LogRegTrainConfig::new(2, 4, 1, 0.1);
    let slots = [1.0, 2.0, 3.0, 9.0, 3.0, 4.0, 5.0, -9.0];
    assert_eq!(unpack_weights(&cfg, &slots), vec![2.0, 3.0, 4.0]);
}

#[test]
fn plaintext_reference_takes_the_documented_steps() {
    let cfg = LogRegTrainConfig {
        sigmoid: PolySigmoid { interval: 1.0, coefficients: [0.5, 0.25, 0.0, 0.0] },
        ..LogRegTrainConfig::new(1, 2, 2, 0.5)
    };
    let rows = [vec![2.0], vec![-1.0]];
    let labels = [1.0, 0.0];
    // Step 1 from w = (0, 0): p(0) = 0.5, d = 0.25·(−0.5, 0.5), g = (−0.375, 0), w = (0.375, 0).
    // Step 2: z = (0.75, −0.375), p = (0.6875, 0.40625), d = 0.25·(−0.3125, 0.40625),
    // g = (−0.15625 − 0.1015625, −0.078125 + 0.1015625) = (−0.2578125, 0.0234375).
    let w = plaintext_reference(&rows, &labels, &cfg, &|z| cfg.sigmoid.eval(z)).unwrap();
    assert!((w[0] - 0.6328125).abs() < 1e-12 && (w[1] + 0.0234375).abs() < 1e-12, "{w:?}");
}
