//! Algebraic laws the protocols rely on, as property tests.

use proptest::prelude::*;
use rand::SeedableRng;
use veil_mpc::{provider, ring, FixedPoint};

proptest! {
    #[test]
    fn sharing_reconstructs(x in proptest::collection::vec(any::<u64>(), 1..40), seed in any::<u64>()) {
        let mut rng = rand_chacha::ChaCha20Rng::seed_from_u64(seed);
        let [a, b] = provider::share_2pc(&x, &mut rng);
        prop_assert_eq!(provider::open_2pc(&a, &b), x.clone());
        let [p0, p1, p2] = provider::share_3pc(&x, &mut rng);
        prop_assert_eq!(&p0.1, &p1.0);
        prop_assert_eq!(&p1.1, &p2.0);
        prop_assert_eq!(&p2.1, &p0.0);
        prop_assert_eq!(provider::open_3pc(&p0.0, &p1.0, &p2.0), x);
    }

    #[test]
    fn matmul_is_linear_in_shares(m in 1usize..5, k in 1usize..6, n in 1usize..5, seed in any::<u64>()) {
        use rand::Rng;
        let mut rng = rand_chacha::ChaCha20Rng::seed_from_u64(seed);
        let a0: Vec<u64> = (0..m * k).map(|_| rng.gen()).collect();
        let a1: Vec<u64> = (0..m * k).map(|_| rng.gen()).collect();
        let b: Vec<u64> = (0..k * n).map(|_| rng.gen()).collect();
        let whole = ring::matmul(&ring::add(&a0, &a1), &b, m, k, n);
        let parts = ring::add(&ring::matmul(&a0, &b, m, k, n), &ring::matmul(&a1, &b, m, k, n));
        prop_assert_eq!(whole, parts);
        let t = ring::transpose(&ring::transpose(&a0, m, k), k, m);
        prop_assert_eq!(t, a0);
    }

    #[test]
    fn encoding_round_trips_and_truncation_is_within_one_ulp(v in -1.0e6f64..1.0e6, w in -100.0f64..100.0, r in any::<u64>()) {
        let fp = FixedPoint::default();
        let e = fp.encode(v).expect("in range");
        prop_assert!((fp.decode(e) - v).abs() <= 0.5 / fp.scale());
        let p = e.wrapping_mul(fp.encode(w).expect("in range"));
        let mut s0 = [r];
        let mut s1 = [p.wrapping_sub(r)];
        fp.trunc_share(0, &mut s0);
        fp.trunc_share(1, &mut s1);
        let got = s0[0].wrapping_add(s1[0]) as i64;
        let want = (p as i64) >> 16;
        // |product| < 2^47 here, so a failure (probability ≤ 2^-16) shows as a huge error.
        prop_assume!((got - want).abs() < 1 << 20);
        prop_assert!((got - want).abs() <= 1);
    }
}
