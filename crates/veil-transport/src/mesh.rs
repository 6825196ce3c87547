//! A full mesh of TLS links between the parties of one session.
//!
//! Between parties `i < j`, party `i` listens and party `j` connects. Every party binds its
//! listener first, then connects to every lower party in increasing order, then accepts the
//! higher parties in whatever order they arrive. Party 0 only accepts, so by induction on the
//! id every party reaches its accepting phase and set-up cannot deadlock; connections made
//! before a listener is up are retried until the timeout.

use std::net::SocketAddr;

use veil_channel::ChannelConfig;

use crate::{connect, pki, Identity, Listener, TlsChannel, TransportError};

/// One party of a mesh.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PeerSpec {
    /// Party id (the index of its channel in [`establish`]'s result).
    pub id: usize,
    /// The name its certificate is issued for.
    pub name: String,
    /// The address it listens on (when a higher party connects to it).
    pub addr: SocketAddr,
}

/// Connects party `me` to every other party of `peers` (all parties, including `me`, sorted by
/// strictly increasing id): the lower id listens, the higher id connects, and every accepted
/// connection is checked to come from an expected peer (by its certificate's name).
///
/// Returns one channel per other party, indexed by party id (`None` at `me` and at ids that
/// are not in `peers`). Every wait is bounded by `config.timeout`.
pub fn establish(
    me: usize,
    peers: &[PeerSpec],
    identity: &Identity,
    config: ChannelConfig,
) -> Result<Vec<Option<TlsChannel>>, TransportError> {
    let invalid = |reason: String| Err(TransportError::InvalidMesh { reason });
    if peers.windows(2).any(|w| w[0].id >= w[1].id) {
        return invalid("peers must be sorted by strictly increasing id".to_string());
    }
    for (i, p) in peers.iter().enumerate() {
        pki::validate_party_name(&p.name)?;
        if peers[..i].iter().any(|q| q.name == p.name) {
            return invalid(format!("name {:?} is given to two parties", p.name));
        }
    }
    let Some(my_spec) = peers.iter().find(|p| p.id == me) else {
        return invalid(format!("party id {me} is not in the list of peers"));
    };
    if my_spec.name != identity.name() {
        return invalid(format!("party {me} is named {:?} in the mesh, but this identity is {:?}", my_spec.name, identity.name()));
    }
    let size = peers.last().map_or(0, |p| p.id + 1);
    let mut channels: Vec<Option<TlsChannel>> = (0..size).map(|_| None).collect();

    let higher: Vec<&PeerSpec> = peers.iter().filter(|p| p.id > me).collect();
    let listener = if higher.is_empty() { None } else { Some(Listener::bind(my_spec.addr, identity)?) };

    for lower in peers.iter().filter(|p| p.id < me) {
        channels[lower.id] = Some(connect(lower.addr, &lower.name, identity, config.clone())?);
    }

    if let Some(listener) = listener {
        let mut awaited: Vec<String> = higher.iter().map(|p| p.name.clone()).collect();
        while !awaited.is_empty() {
            let (channel, name) = listener.accept_one_of(config.clone(), &awaited)?;
            awaited.retain(|n| *n != name);
            if let Some(p) = higher.iter().find(|p| p.name == name) {
                channels[p.id] = Some(channel);
            }
        }
    }
    tracing::debug!(me, parties = peers.len(), "mesh established");
    Ok(channels)
}
