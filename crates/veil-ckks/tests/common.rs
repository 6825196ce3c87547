#![allow(clippy::unwrap_used)]
#![allow(dead_code)]
use std::sync::Arc;

use veil_ckks::*;

#[allow(missing_debug_implementations)]
pub struct Ctx {
    pub params: Arc<Parameters>,
    pub sk: SecretKey,
    pub pk: PublicKey,
    pub rlk: RelinearizationKey,
    pub gks: GaloisKeys,
    pub enc: Encoder,
    pub eval: Evaluator,
    pub rng: Prng,
}

pub fn setup(lit: ParametersLiteral, steps: &[i64]) -> Ctx {
    let params = Parameters::new(lit).unwrap();
    let mut rng = Prng::from_seed(&Seed([42; 32]));
    let sk = SecretKey::generate(&params, &mut rng).unwrap();
    let pk = PublicKey::generate(&sk, &mut rng).unwrap();
    let rlk = RelinearizationKey::generate(&sk, &mut rng).unwrap();
    let gks = GaloisKeys::generate(&sk, steps, true, &mut rng).unwrap();
    Ctx { enc: Encoder::new(&params), eval: Evaluator::new(&params), params, sk, pk, rlk, gks, rng }
}

impl Ctx {
    pub fn encrypt(&mut self, v: &[f64]) -> Ciphertext {
        let pt = self.enc.encode(v, self.params.max_level(), self.params.default_scale()).unwrap();
        Encryptor::with_public_key(&self.params, &self.pk).encrypt(&pt, &mut self.rng).unwrap()
    }

    pub fn decrypt(&self, ct: &Ciphertext) -> Vec<f64> {
        self.enc.decode(&Decryptor::new(&self.sk).decrypt(ct).unwrap()).unwrap()
    }

    pub fn decrypt_complex(&self, ct: &Ciphertext) -> Vec<Complex64> {
        self.enc.decode_complex(&Decryptor::new(&self.sk).decrypt(ct).unwrap()).unwrap()
    }

    pub fn random(&mut self, bound: f64) -> Vec<f64> {
        (0..self.params.slot_count()).map(|_| (self.rng.next_u64() as f64 / u64::MAX as f64 * 2.0 - 1.0) * bound).collect()
    }
}

pub fn max_err(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| (x - y).abs()).fold(0.0, f64::max)
}

pub fn rot(v: &[f64], k: i64) -> Vec<f64> {
    let n = v.len() as i64;
    (0..n).map(|i| v[(i + k).rem_euclid(n) as usize]).collect()
}
