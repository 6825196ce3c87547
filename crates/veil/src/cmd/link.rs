//! The two-party plumbing that the networked workflows (`party.rs`, `aggregate_net.rs`) share:
//! named sends and receives whose errors say what was awaited from whom, the ordered exchange of
//! one message each way, and the collective key generation of two parties over their link.

use anyhow::Context;
use veil_channel::Channel;
use veil_ckks::{GaloisKeys, PublicKey, RelinearizationKey};
use veil_math::sampler::Prng;
use veil_threshold::round::{GaloisRound, PublicKeyRound, RelinRound1, RelinRound2, Round};
use veil_threshold::{public_key_digest, GaloisKeyGen, PartyId, PublicKeyGen, RelinKeyGen, SecretShare, Session, Share};

/// Takes the link to member `id` out of the mesh.
pub fn take<T>(links: &mut [Option<T>], id: usize, name: &str) -> anyhow::Result<T> {
    links.get_mut(id).and_then(Option::take).with_context(|| format!("no link to {name}"))
}

/// Sends `bytes` (`what`, to `to`) and flushes.
pub fn send<C: Channel + ?Sized>(ch: &mut C, bytes: &[u8], to: &str, what: &str) -> anyhow::Result<()> {
    ch.send(bytes).and_then(|_| ch.flush()).with_context(|| format!("sending {what} to {to}"))
}

/// Receives one message (`what`, from `from`) within the link's timeout.
pub fn recv<C: Channel + ?Sized>(ch: &mut C, from: &str, what: &str) -> anyhow::Result<Vec<u8>> {
    ch.recv().with_context(|| format!("waiting for {what} from {from}"))
}

/// One message each way: the first party sends first, the other receives first, so two large
/// messages never wait on each other's send buffers.
pub fn exchange<C: Channel + ?Sized>(ch: &mut C, first: bool, mine: &[u8], peer: &str, what: &str) -> anyhow::Result<Vec<u8>> {
    if first {
        send(ch, mine, peer, what)?;
        recv(ch, peer, what)
    } else {
        let theirs = recv(ch, peer, what)?;
        send(ch, mine, peer, what)?;
        Ok(theirs)
    }
}

/// [`exchange`] of one protocol share, checked (session, round, authentication tag) on receipt.
pub fn exchange_share<R: Round, C: Channel + ?Sized>(
    session: &Session,
    ch: &mut C,
    first: bool,
    mine: &Share<R>,
    peer: &str,
) -> anyhow::Result<Share<R>> {
    let what = format!("{:?} share", R::KIND);
    let theirs = exchange(ch, first, &mine.to_bytes(session), peer, &what)?;
    Share::<R>::from_bytes(session, &theirs).with_context(|| format!("{what} from {peer}"))
}

/// The collective keys of parties 1 and 2 over their link: this party's secret share (bound to
/// the public key), the public key, the relinearisation key and the rotation keys for `steps`.
pub fn collective_keys<C: Channel + ?Sized>(
    session: &Session,
    me: PartyId,
    peer: &mut C,
    peer_name: &str,
    steps: &[i64],
    rng: &mut Prng,
) -> anyhow::Result<(SecretShare, PublicKey, RelinearizationKey, GaloisKeys)> {
    let params = session.params();
    let first = me == PartyId(1);
    let mut sk = SecretShare::generate(session, me, rng)?;
    let ckg = PublicKeyGen::new(session)?;
    let mine = ckg.share(&sk, rng)?;
    let theirs: Share<PublicKeyRound> = exchange_share(session, peer, first, &mine, peer_name)?;
    let pk = ckg.aggregate(&[mine, theirs])?;
    sk.bind(session, &pk);
    let key = public_key_digest(params, &pk);
    let rkg = RelinKeyGen::new(session)?;
    let (eph, mine) = rkg.round1(&sk, rng)?;
    let theirs: Share<RelinRound1> = exchange_share(session, peer, first, &mine, peer_name)?;
    let agg = rkg.aggregate_round1(key, &[mine, theirs])?;
    let mine = rkg.round2(&sk, eph, &agg, rng)?;
    let theirs: Share<RelinRound2> = exchange_share(session, peer, first, &mine, peer_name)?;
    let rlk = rkg.finalize(key, &agg, &[mine, theirs])?;
    let mut gks = GaloisKeys::default();
    for &step in steps {
        let gkg = GaloisKeyGen::new(session, params.galois_element(step))?;
        let mine = gkg.share(&sk, rng)?;
        let theirs: Share<GaloisRound> = exchange_share(session, peer, first, &mine, peer_name)?;
        gks.insert(gkg.aggregate(key, &[mine, theirs])?);
    }
    Ok((sk, pk, rlk, gks))
}
