//! What the veil-he integration tests share.

use std::sync::Arc;

use veil_ckks::{Parameters, ParametersLiteral, Security};

/// Six 40-bit levels like `n16384_l6_sec128`, on a ring of 2048 (fast, NOT secure): 32 rows of
/// width 32 per ciphertext.
pub fn small_l6() -> Arc<Parameters> {
    Parameters::new(ParametersLiteral {
        name: "insecure_test_n2048_l6".into(),
        log_n: 11,
        log_q: [vec![60], vec![40; 6]].concat(),
        log_p: vec![60],
        dnum: None,
        log_scale: 40,
        security: Security::InsecureTestOnly,
    })
    .expect("the test parameters are valid")
}
