//! Base OT: the Chou–Orlandi "simplest OT" over Ristretto255, batched, random-OT form.
//!
//! Sender: `a ← Z_ℓ`, sends `A = a·G`. Receiver, for each choice `c_i`: `b_i ← Z_ℓ`, sends
//! `B_i = b_i·G + c_i·A`. Keys: `k_{i,0} = H(i, A, B_i, a·B_i)`,
//! `k_{i,1} = H(i, A, B_i, a·(B_i − A))`; the receiver computes `k_{i,c_i} = H(i, A, B_i, b_i·A)`.
//! `H` is BLAKE3 in key-derivation mode over the whole transcript entry.
//!
//! Security and known caveats: under CDH in the random-oracle model this is a secure random OT
//! against semi-honest parties, and the receiver's choices are perfectly hidden from any sender
//! (`B_i` is uniform). The original paper's claim of UC security against active adversaries
//! does not hold as stated (Genç, Iovino, Rial, ePrint 2017/1109; Hauck, Loss, ePrint
//! 2017/1011; Byali, Patra, Ravi, Sarkar, ePrint 2017/1165): a malicious sender reusing `A` with
//! a related choice can break simulation. veil uses it only to seed IKNP in the semi-honest
//! model, hashes the full transcript into each key, rejects non-canonical encodings and the
//! identity for `A`, and derives every key from fresh CSPRNG scalars.

use curve25519_dalek::ristretto::{CompressedRistretto, RistrettoPoint};
use curve25519_dalek::scalar::Scalar;
use curve25519_dalek::traits::Identity;
use rand_core::{CryptoRng, RngCore};
use subtle::{Choice, ConditionallySelectable};
use veil_channel::Channel;
use zeroize::Zeroize;

use crate::{Block, OtError};

const KDF_DOMAIN: &str = "veil-ot 2026-11 chou-orlandi base OT key";

fn derive_key(index: usize, a: &[u8; 32], b: &[u8; 32], shared: &RistrettoPoint) -> Block {
    let mut input = [0u8; 8 + 32 * 3];
    input[..8].copy_from_slice(&(index as u64).to_le_bytes());
    input[8..40].copy_from_slice(a);
    input[40..72].copy_from_slice(b);
    input[72..].copy_from_slice(shared.compress().as_bytes());
    let out = blake3::derive_key(KDF_DOMAIN, &input);
    input.zeroize();
    let mut k = [0u8; 16];
    k.copy_from_slice(&out[..16]);
    Block::from_bytes(k)
}

fn decode_point(bytes: &[u8], peer: &str, index: usize) -> Result<(RistrettoPoint, [u8; 32]), OtError> {
    let arr: [u8; 32] = bytes.try_into().map_err(|_| OtError::InvalidPoint { peer: peer.to_string(), index })?;
    let p = CompressedRistretto(arr).decompress().ok_or_else(|| OtError::InvalidPoint { peer: peer.to_string(), index })?;
    Ok((p, arr))
}

/// Sender side of `n` random base OTs: returns the key pairs `(k_{i,0}, k_{i,1})`.
pub fn send<C: Channel + ?Sized>(ch: &mut C, n: usize, rng: &mut (impl RngCore + CryptoRng)) -> Result<Vec<[Block; 2]>, OtError> {
    let mut a = Scalar::random(rng);
    let big_a = RistrettoPoint::mul_base(&a);
    let a_bytes = big_a.compress().to_bytes();
    ch.send(&a_bytes)?;
    ch.flush()?;
    let msg = ch.recv()?;
    if msg.len() != 32 * n {
        return Err(OtError::WrongLength {
            peer: ch.peer().to_string(),
            what: "base-OT receiver points",
            expected: 32 * n,
            got: msg.len(),
        });
    }
    let a_times_a = a * big_a;
    let mut keys = Vec::with_capacity(n);
    for (i, chunk) in msg.chunks_exact(32).enumerate() {
        let (b, b_bytes) = decode_point(chunk, ch.peer(), i)?;
        let ab = a * b;
        keys.push([derive_key(i, &a_bytes, &b_bytes, &ab), derive_key(i, &a_bytes, &b_bytes, &(ab - a_times_a))]);
    }
    a.zeroize();
    Ok(keys)
}

/// Receiver side: returns `k_{i,c_i}` for each choice bit `c_i`.
pub fn receive<C: Channel + ?Sized>(ch: &mut C, choices: &[bool], rng: &mut (impl RngCore + CryptoRng)) -> Result<Vec<Block>, OtError> {
    let msg = ch.recv()?;
    let (big_a, a_bytes) = decode_point(&msg, ch.peer(), 0)?;
    if big_a == RistrettoPoint::identity() {
        return Err(OtError::InvalidPoint { peer: ch.peer().to_string(), index: 0 });
    }
    let mut scalars = Vec::with_capacity(choices.len());
    let mut out = Vec::with_capacity(32 * choices.len());
    let identity = RistrettoPoint::identity();
    for &c in choices {
        let b = Scalar::random(rng);
        let offset = RistrettoPoint::conditional_select(&identity, &big_a, Choice::from(c as u8));
        out.extend_from_slice((RistrettoPoint::mul_base(&b) + offset).compress().as_bytes());
        scalars.push(b);
    }
    ch.send(&out)?;
    ch.flush()?;
    let keys = scalars
        .iter()
        .enumerate()
        .map(|(i, b)| {
            let mut b_bytes = [0u8; 32];
            b_bytes.copy_from_slice(&out[32 * i..32 * i + 32]);
            derive_key(i, &a_bytes, &b_bytes, &(b * big_a))
        })
        .collect();
    scalars.zeroize();
    Ok(keys)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand_chacha::ChaCha20Rng;
    use rand_core::SeedableRng;
    use veil_channel::{memory, ChannelConfig, ChannelError};

    #[test]
    fn receiver_gets_exactly_the_chosen_key() {
        let (mut a, mut b) = memory::pair(ChannelConfig::default());
        let choices: Vec<bool> = (0..64).map(|i| (i * 7) % 3 == 0).collect();
        let c2 = choices.clone();
        let t = std::thread::spawn(move || send(&mut a, 64, &mut ChaCha20Rng::seed_from_u64(1)));
        let got = receive(&mut b, &c2, &mut ChaCha20Rng::seed_from_u64(2)).expect("receive");
        let pairs = t.join().expect("thread").expect("send");
        for i in 0..64 {
            assert_eq!(got[i], pairs[i][choices[i] as usize]);
            assert_ne!(got[i], pairs[i][!choices[i] as usize]);
        }
    }

    #[test]
    fn invalid_points_and_lengths_are_typed_errors() {
        let (mut a, mut b) = memory::pair(ChannelConfig::default());
        b.send(&[0xffu8; 32]).expect("send");
        assert!(matches!(receive(&mut a, &[true], &mut ChaCha20Rng::seed_from_u64(3)), Err(OtError::InvalidPoint { .. })));
        b.send(&[0u8; 32]).expect("send identity");
        assert!(matches!(receive(&mut a, &[true], &mut ChaCha20Rng::seed_from_u64(3)), Err(OtError::InvalidPoint { .. })));
        let (mut s, mut r) = memory::pair(ChannelConfig::default());
        let t = std::thread::spawn(move || send(&mut s, 4, &mut ChaCha20Rng::seed_from_u64(4)));
        let _ = r.recv().expect("A");
        r.send(&[0u8; 31]).expect("short");
        assert!(matches!(t.join().expect("thread"), Err(OtError::WrongLength { .. })));
        drop(r);
        let (mut s, r) = memory::pair(ChannelConfig::default());
        drop(r);
        assert!(matches!(send(&mut s, 4, &mut ChaCha20Rng::seed_from_u64(4)), Err(OtError::Channel(ChannelError::Disconnected { .. }))));
    }
}
