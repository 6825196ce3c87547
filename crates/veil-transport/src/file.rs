//! A [`Channel`] over a directory used as a mailbox, for air-gapped sites that move removable
//! media by courier.
//!
//! Each message is one file, `<seq>.<from>-to-<to>.veilmsg`, where `<seq>` counts the messages
//! of that direction from 0 (ten digits). A file holds
//!
//! ```text
//! veil frame (24-byte header + payload) | 32-byte BLAKE3 tag
//! ```
//!
//! and is written under a temporary name, synced, then renamed, so a reader never sees half a
//! message. The tag is BLAKE3 in key-derivation mode over the sequence number, both party names
//! and the frame: it detects media corruption, truncation and a file renamed to another
//! position or direction. It is **not** authentication: anyone who handles the media can write
//! a valid file. Where the courier is not trusted, messages need signatures with the parties'
//! certificate keys (or an authenticated encryption key agreed over TLS beforehand); this is
//! not implemented yet.
//!
//! A mailbox holds one session: [`FileChannel::open`] refuses a directory that already holds
//! messages from this party to the peer, and messages are never overwritten. Received files are
//! left in place (the media may be read-only and the files serve as a record).
//! [`FileChannel::close`] leaves an end marker `<seq>.<from>-to-<to>.veilend` so that the peer's
//! next `recv` fails with [`ChannelError::Disconnected`] instead of waiting for its timeout.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use veil_channel::{split_frame, Channel, ChannelConfig, ChannelError, FrameHeader, LinkStats, StatsCounter, FRAME_HEADER_BYTES};

use crate::{pki, TransportError};

/// Size of the integrity tag at the end of each message file.
pub const TAG_BYTES: usize = 32;

/// Extension of message files.
pub const MESSAGE_EXTENSION: &str = "veilmsg";

/// Extension of end-of-session markers.
pub const END_EXTENSION: &str = "veilend";

const TAG_CONTEXT: &str = "veil-transport 2026 file message v1";

const MAX_POLL_PAUSE: Duration = Duration::from_millis(50);

/// One party's end of a file mailbox shared with one peer.
#[derive(Debug)]
pub struct FileChannel {
    dir: PathBuf,
    me: String,
    peer: String,
    config: ChannelConfig,
    next_send: u64,
    next_recv: u64,
    counter: StatsCounter,
    closed: bool,
}

impl FileChannel {
    /// Opens the mailbox `dir` (created with mode 0700 if missing) for messages between `me`
    /// and `peer`. `recv` waits at most `config.timeout` for the peer's next file.
    pub fn open(dir: &Path, me: &str, peer: &str, config: ChannelConfig) -> Result<FileChannel, TransportError> {
        pki::validate_party_name(me)?;
        pki::validate_party_name(peer)?;
        if me == peer {
            return Err(TransportError::InvalidName { name: me.to_string(), reason: "a party cannot mail itself" });
        }
        if !dir.is_dir() {
            fs::DirBuilder::new()
                .recursive(true)
                .mode(0o700)
                .create(dir)
                .map_err(|source| TransportError::WriteFile { path: dir.to_path_buf(), source })?;
        }
        let suffix = format!(".{me}-to-{peer}.{MESSAGE_EXTENSION}");
        let entries = fs::read_dir(dir).map_err(|source| TransportError::ReadFile { path: dir.to_path_buf(), source })?;
        for entry in entries {
            let entry = entry.map_err(|source| TransportError::ReadFile { path: dir.to_path_buf(), source })?;
            if entry.file_name().to_string_lossy().ends_with(&suffix) {
                return Err(TransportError::AlreadyExists { path: entry.path() });
            }
        }
        Ok(FileChannel {
            dir: dir.to_path_buf(),
            me: me.to_string(),
            peer: peer.to_string(),
            config,
            next_send: 0,
            next_recv: 0,
            counter: StatsCounter::default(),
            closed: false,
        })
    }

    /// The path of message `seq` from `from` to `to` in this mailbox.
    pub fn message_path(&self, seq: u64, from: &str, to: &str) -> PathBuf {
        self.dir.join(file_name(seq, from, to, MESSAGE_EXTENSION))
    }

    /// Ends this party's side of the session: writes an end marker after the last message.
    pub fn close(&mut self) -> Result<(), ChannelError> {
        if self.closed {
            return Ok(());
        }
        let path = self.dir.join(file_name(self.next_send, &self.me, &self.peer, END_EXTENSION));
        self.write_atomically(&path, b"")?;
        self.closed = true;
        Ok(())
    }

    fn io_err(&self, what: &str, path: &Path, e: io::Error) -> ChannelError {
        ChannelError::Io { peer: self.peer.clone(), source: io::Error::new(e.kind(), format!("{what} {}: {e}", path.display())) }
    }

    fn write_atomically(&self, path: &Path, contents: &[u8]) -> Result<(), ChannelError> {
        if path.exists() {
            return Err(self.io_err(
                "refusing to overwrite",
                path,
                io::Error::new(io::ErrorKind::AlreadyExists, "a message of an earlier session is in the mailbox"),
            ));
        }
        let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        let tmp = self.dir.join(format!(".{name}.tmp"));
        let written = OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(&tmp)
            .and_then(|mut f| f.write_all(contents).and_then(|()| f.sync_all()));
        if let Err(e) = written {
            let _ = fs::remove_file(&tmp);
            return Err(self.io_err("cannot write", &tmp, e));
        }
        fs::rename(&tmp, path).map_err(|e| self.io_err("cannot rename into", path, e))?;
        // Persist the rename itself; some file systems of removable media cannot sync a
        // directory, and the message is complete without it.
        if let Ok(d) = File::open(&self.dir) {
            let _ = d.sync_all();
        }
        Ok(())
    }

    /// Waits for `path` (or the peer's end marker) until the timeout.
    fn wait_for(&self, path: &Path) -> Result<(), ChannelError> {
        let end = self.dir.join(file_name(self.next_recv, &self.peer, &self.me, END_EXTENSION));
        let deadline = Instant::now() + self.config.timeout;
        let mut pause = Duration::from_millis(1);
        loop {
            match fs::metadata(path) {
                Ok(_) => return Ok(()),
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(e) => return Err(self.io_err("cannot inspect", path, e)),
            }
            if end.exists() {
                return Err(ChannelError::Disconnected { peer: self.peer.clone() });
            }
            let now = Instant::now();
            if now >= deadline {
                return Err(ChannelError::Timeout { peer: self.peer.clone(), after: self.config.timeout });
            }
            std::thread::sleep(pause.min(deadline - now));
            pause = (pause * 2).min(MAX_POLL_PAUSE);
        }
    }

    fn malformed(&self, path: &Path, reason: String) -> ChannelError {
        ChannelError::Malformed { peer: self.peer.clone(), reason: format!("{}: {reason}", path.display()) }
    }
}

fn file_name(seq: u64, from: &str, to: &str, extension: &str) -> String {
    format!("{seq:010}.{from}-to-{to}.{extension}")
}

/// The integrity tag of message `seq` from `from` to `to` carrying `frame`.
fn tag(seq: u64, from: &str, to: &str, frame: &[u8]) -> blake3::Hash {
    let mut h = blake3::Hasher::new_derive_key(TAG_CONTEXT);
    h.update(&seq.to_le_bytes());
    for name in [from, to] {
        h.update(&(name.len() as u64).to_le_bytes());
        h.update(name.as_bytes());
    }
    h.update(frame);
    h.finalize()
}

impl Channel for FileChannel {
    fn send(&mut self, payload: &[u8]) -> Result<(), ChannelError> {
        if self.closed {
            return Err(ChannelError::Disconnected { peer: self.peer.clone() });
        }
        let header = FrameHeader::for_payload(&self.config, payload.len(), &self.peer)?;
        let mut contents = Vec::with_capacity(FRAME_HEADER_BYTES + payload.len() + TAG_BYTES);
        contents.extend_from_slice(&header.encode());
        contents.extend_from_slice(payload);
        let t = tag(self.next_send, &self.me, &self.peer, &contents);
        contents.extend_from_slice(t.as_bytes());
        let path = self.message_path(self.next_send, &self.me, &self.peer);
        self.write_atomically(&path, &contents)?;
        self.next_send += 1;
        self.counter.on_send(contents.len());
        Ok(())
    }

    fn recv_into(&mut self, buf: &mut Vec<u8>) -> Result<(), ChannelError> {
        let path = self.message_path(self.next_recv, &self.peer, &self.me);
        self.wait_for(&path)?;
        let max_len = self.config.max_message_bytes.saturating_add(FRAME_HEADER_BYTES + TAG_BYTES);
        let len = fs::metadata(&path).map_err(|e| self.io_err("cannot inspect", &path, e))?.len();
        if len > max_len as u64 {
            return Err(ChannelError::TooLarge {
                peer: self.peer.clone(),
                len: usize::try_from(len).unwrap_or(usize::MAX),
                max: self.config.max_message_bytes,
            });
        }
        let contents = fs::read(&path).map_err(|e| self.io_err("cannot read", &path, e))?;
        if contents.len() < FRAME_HEADER_BYTES + TAG_BYTES {
            return Err(self.malformed(&path, format!("{} bytes is shorter than an empty message (truncated?)", contents.len())));
        }
        let (frame, stored_tag) = contents.split_at(contents.len() - TAG_BYTES);
        let expected = tag(self.next_recv, &self.peer, &self.me, frame);
        // `blake3::Hash` compares in constant time.
        if blake3::Hash::from_slice(stored_tag).ok() != Some(expected) {
            let reason = format!(
                "integrity check failed: the file is corrupted, truncated, or not message {} from {} to {}",
                self.next_recv, self.peer, self.me
            );
            return Err(self.malformed(&path, reason));
        }
        let (_, payload) = split_frame(frame, &self.config, &self.peer).map_err(|e| match e {
            ChannelError::Malformed { reason, .. } => self.malformed(&path, reason),
            other => other,
        })?;
        buf.clear();
        buf.extend_from_slice(payload);
        self.next_recv += 1;
        self.counter.on_recv(contents.len());
        Ok(())
    }

    fn flush(&mut self) -> Result<(), ChannelError> {
        Ok(())
    }

    fn stats(&self) -> LinkStats {
        self.counter.stats()
    }

    fn peer(&self) -> &str {
        &self.peer
    }
}
