//! Feeds arbitrary bytes to every veil-ckks decoder: each must return `Ok` or a typed error,
//! never panic. (The same property runs briefly in `tests/serial.rs` on every CI run.)
#![no_main]

use std::sync::{Arc, OnceLock};

use libfuzzer_sys::fuzz_target;
use veil_ckks::*;

fn params() -> &'static Arc<Parameters> {
    static P: OnceLock<Arc<Parameters>> = OnceLock::new();
    P.get_or_init(|| Parameters::new(ParametersLiteral::insecure_n1024_l2()).expect("preset"))
}

fuzz_target!(|data: &[u8]| {
    let p = params();
    let _ = Parameters::from_bytes(data);
    let _ = Ciphertext::from_bytes(p, data);
    let _ = Plaintext::from_bytes(p, data);
    let _ = SecretKey::from_bytes(p, data);
    let _ = PublicKey::from_bytes(p, data);
    let _ = RelinearizationKey::from_bytes(p, data);
    let _ = GaloisKey::from_bytes(p, data);
    let _ = GaloisKeys::from_bytes(p, data);
});
