//! The plumbing that the networked workflows (`party.rs`, `aggregate_net.rs`) share: the job
//! file's description of its members and how they reach each other ([`Mesh`]: TLS links or a
//! file mailbox), named sends and receives whose errors say what was awaited from whom, the
//! ordered exchange of one message each way, and the collective key generation of two parties
//! over their link.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::{bail, Context};
use serde::Deserialize;
use veil_channel::{Channel, ChannelConfig, ChannelError, LinkStats};
use veil_ckks::Parameters;
use veil_ckks::{GaloisKeys, PublicKey, RelinearizationKey};
use veil_math::sampler::{Prng, Seed};
use veil_threshold::round::{GaloisRound, PublicKeyRound, RelinRound1, RelinRound2, Round};
use veil_threshold::{public_key_digest, GaloisKeyGen, PartyId, PublicKeyGen, RelinKeyGen, SecretShare, Session, Share};
use veil_transport::file::FileChannel;
use veil_transport::mesh::{establish, PeerSpec};
use veil_transport::{Identity, TlsChannel};

/// One member of a job: its certificate name, and where it listens (TLS links only).
#[derive(Debug, Deserialize)]
pub struct Member {
    pub name: String,
    /// Listening address (TLS links; not needed with a mailbox).
    pub addr: Option<SocketAddr>,
}

fn default_timeout() -> u64 {
    60
}

/// The members of a two-party job (`[[parties]]` A and B, `[server]`) and how they reach each
/// other: mutually authenticated TLS (`certs`, an `addr` for everyone) or a directory used as
/// a mailbox (`mailbox`, for air-gapped sites), with `timeout_secs` on every wait.
#[derive(Debug, Deserialize)]
pub struct Mesh {
    /// CA and certificates of the TLS links.
    pub certs: Option<PathBuf>,
    /// A directory used as a mailbox instead of TLS links.
    pub mailbox: Option<PathBuf>,
    #[serde(default = "default_timeout")]
    pub timeout_secs: u64,
    pub parties: Vec<Member>,
    pub server: Member,
}

impl Mesh {
    /// Checks the shape: two parties (`roles` names them in errors), exactly one way of
    /// linking, and an address for everyone on TLS.
    pub fn validate(&self, workflow: &str, roles: &str) -> anyhow::Result<()> {
        if self.parties.len() != 2 {
            bail!("{workflow} needs exactly two [[parties]] ({roles}), got {}", self.parties.len());
        }
        if self.certs.is_some() == self.mailbox.is_some() {
            bail!("give either `certs` (TLS links) or `mailbox` (a directory of files), not both or neither");
        }
        if self.certs.is_some() && self.parties.iter().chain([&self.server]).any(|e| e.addr.is_none()) {
            bail!("TLS links need an `addr` for every party and the server");
        }
        if self.timeout_secs == 0 {
            bail!("timeout_secs must be at least 1");
        }
        Ok(())
    }

    /// The name of member `member` (0: A, 1: B, 2: the server).
    pub fn name(&self, member: usize) -> String {
        self.parties.get(member).unwrap_or(&self.server).name.clone()
    }

    /// Connects member `me` (0: A, 1: B, 2: server) to the others: TLS links, or a file mailbox
    /// per pair of members in the `mailbox` directory.
    pub fn connect(&self, me: usize, params: &Parameters) -> anyhow::Result<Vec<Option<Link>>> {
        let config = ChannelConfig::new(params.fingerprint()).with_timeout(Duration::from_secs(self.timeout_secs));
        let members: Vec<&Member> = self.parties.iter().chain(std::iter::once(&self.server)).collect();
        if let Some(dir) = &self.mailbox {
            let my_name = &members[me].name;
            return members
                .iter()
                .enumerate()
                .map(|(id, e)| {
                    if id == me {
                        return Ok(None);
                    }
                    let ch = FileChannel::open(dir, my_name, &e.name, config.clone())
                        .with_context(|| format!("opening the mailbox to {}", e.name))?;
                    Ok(Some(Link::File(ch)))
                })
                .collect();
        }
        let certs = self.certs.as_ref().context("no `certs` for the TLS links")?;
        let mesh = members
            .iter()
            .enumerate()
            .map(|(id, e)| Ok(PeerSpec { id, name: e.name.clone(), addr: e.addr.with_context(|| format!("no addr for {}", e.name))? }))
            .collect::<anyhow::Result<Vec<_>>>()?;
        let identity = Identity::load(certs, &mesh[me].name)?;
        Ok(establish(me, &mesh, &identity, config)?.into_iter().map(|c| c.map(|c| Link::Tls(Box::new(c)))).collect())
    }

    /// Connects party `index` (0: A, 1: B): its link to the other party and its link to the
    /// server, each with the member's name.
    pub fn connect_party(&self, index: usize, params: &Parameters) -> anyhow::Result<[(Link, String); 2]> {
        let mut links = self.connect(index, params)?;
        let (peer, server) = (self.name(1 - index), self.name(2));
        Ok([(take(&mut links, 1 - index, &peer)?, peer), (take(&mut links, 2, &server)?, server)])
    }

    /// Connects the server: its links to A and to B, each with the member's name.
    pub fn connect_server(&self, params: &Parameters) -> anyhow::Result<[(Link, String); 2]> {
        let mut links = self.connect(2, params)?;
        let (a, b) = (self.name(0), self.name(1));
        Ok([(take(&mut links, 0, &a)?, a), (take(&mut links, 1, &b)?, b)])
    }
}

/// Receives the session's 32-byte CRS seed from `from` (drawn by party A).
pub fn recv_seed<C: Channel + ?Sized>(ch: &mut C, from: &str) -> anyhow::Result<Seed> {
    let bytes = ch.recv_exact_len(32).with_context(|| format!("waiting for the CRS seed from {from}"))?;
    let mut seed = [0u8; 32];
    seed.copy_from_slice(&bytes);
    Ok(Seed(seed))
}

/// A link between two members of the job: TLS, or a file mailbox, which is closed (an end
/// marker for the peer) when the link is dropped, on success or failure alike.
pub enum Link {
    Tls(Box<TlsChannel>),
    File(FileChannel),
}

impl Link {
    fn channel(&mut self) -> &mut dyn Channel {
        match self {
            Link::Tls(c) => c.as_mut(),
            Link::File(c) => c,
        }
    }

    fn channel_ref(&self) -> &dyn Channel {
        match self {
            Link::Tls(c) => c.as_ref(),
            Link::File(c) => c,
        }
    }
}

impl Channel for Link {
    fn send(&mut self, payload: &[u8]) -> Result<(), ChannelError> {
        self.channel().send(payload)
    }

    fn recv_into(&mut self, buf: &mut Vec<u8>) -> Result<(), ChannelError> {
        self.channel().recv_into(buf)
    }

    fn flush(&mut self) -> Result<(), ChannelError> {
        self.channel().flush()
    }

    fn stats(&self) -> LinkStats {
        self.channel_ref().stats()
    }

    fn peer(&self) -> &str {
        self.channel_ref().peer()
    }
}

impl Drop for Link {
    fn drop(&mut self) {
        if let Link::File(c) = self {
            let _ = c.close();
        }
    }
}

/// Takes the link to member `id` out of the mesh.
fn take<T>(links: &mut [Option<T>], id: usize, name: &str) -> anyhow::Result<T> {
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
