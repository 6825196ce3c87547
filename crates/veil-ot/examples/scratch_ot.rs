use rand_chacha::ChaCha20Rng;
use rand_core::SeedableRng;
use veil_channel::{memory, ChannelConfig};
use veil_ot::*;
fn main() {
    let (mut a, mut b) = memory::pair(ChannelConfig::default());
    let n = 1 << 22;
    let reps = 10;
    let t = std::thread::spawn(move || {
        let mut s = CotSender::setup(&mut a, IknpConfig::default(), &mut ChaCha20Rng::seed_from_u64(1)).unwrap();
        let mut o = Vec::new(); for _ in 0..reps { s.extend_into(&mut a, n, &mut o).unwrap(); std::hint::black_box(&o); }
    });
    let mut r = CotReceiver::setup(&mut b, IknpConfig::default(), &mut ChaCha20Rng::seed_from_u64(2)).unwrap();
    let t0 = std::time::Instant::now();
    let (mut c, mut o) = (Vec::new(), Vec::new()); for _ in 0..reps { r.extend_random_into(&mut b, n, &mut c, &mut o).unwrap(); std::hint::black_box(&o); }
    t.join().unwrap();
    eprintln!("wall {:?} => {:.1} M OT/s", t0.elapsed(), (reps * n) as f64 / t0.elapsed().as_secs_f64() / 1e6);
}
