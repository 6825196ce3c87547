//! The roles of a `veil mpc` session: computing parties (and the 2PC dealer), data
//! providers, the result receiver, and the benchmark mode of a computing party.

use std::time::Instant;

use anyhow::{bail, Context};
use serde::Serialize;
use veil_channel::{Channel, ChannelConfig, LinkStats};
use veil_ml::{Layer, Matrix, Model};
use veil_mpc::nn::{self, Arch, Engine, TrainConfig};
use veil_mpc::threepc::{Rep, ThreePc};
use veil_mpc::twopc::{Role as TwoRole, Shared, TwoPc};
use veil_mpc::{local, provider, wire, FixedPoint, MpcError};
use veil_transport::mesh::{self, PeerSpec};
use veil_transport::{Identity, TlsChannel};

use super::{io, MpcArgs, Protocol, Session, Task};

type Links = Vec<Option<TlsChannel>>;

fn fixed_point(s: &Session) -> anyhow::Result<FixedPoint> {
    Ok(FixedPoint::new(s.frac_bits)?)
}

/// Connects this member to every other member of the session.
fn connect_all(s: &Session, id: usize) -> anyhow::Result<Links> {
    let me = &s.members[id];
    let identity = Identity::load(&s.pki, &me.name).with_context(|| format!("loading the identity of {}", me.name))?;
    let peers: Vec<PeerSpec> = s.members.iter().map(|m| PeerSpec { id: m.id, name: m.name.clone(), addr: m.addr }).collect();
    let cfg = ChannelConfig::new(local::fingerprint(s.protocol.name(), fixed_point(s)?)).with_timeout(s.timeout());
    mesh::establish(id, &peers, &identity, cfg).with_context(|| format!("{}: connecting to the session", me.name))
}

fn take(links: &mut Links, id: usize) -> anyhow::Result<Box<dyn Channel>> {
    let ch = links.get_mut(id).and_then(Option::take).with_context(|| format!("no link to member {id}"))?;
    Ok(Box::new(ch))
}

/// Reading provider shares and sending result shares, per protocol.
trait ShareIo: Engine {
    /// This participant's share of a `rows × cols` tensor from a provider's message.
    fn recv_share(&mut self, ch: Option<&mut TlsChannel>, rows: usize, cols: usize) -> Result<Self::T, MpcError>;
    /// Sends this participant's share of a result to the receiver.
    fn send_result(&mut self, ch: Option<&mut TlsChannel>, t: &Self::T) -> Result<(), MpcError>;
    /// Row concatenation.
    fn vcat(parts: &[Self::T]) -> Result<Self::T, MpcError>;
    fn rounds(&self) -> u64;
    fn link_stats(&self) -> Vec<LinkStats>;
}

fn header_check(peer: &str, words: &[u64], rows: usize, cols: usize) -> Result<(), MpcError> {
    match words {
        [r, c, ..] if *r == rows as u64 && *c == cols as u64 => Ok(()),
        [r, c, ..] => {
            Err(MpcError::Shape { op: "provider data", expected: format!("{rows}×{cols}"), got: format!("{r}×{c} from {peer}") })
        }
        _ => Err(MpcError::Malformed { peer: peer.to_string(), step: "provider data", reason: "message too short".into() }),
    }
}

fn recv_words(ch: Option<&mut TlsChannel>, rows: usize, cols: usize, copies: usize) -> Result<Vec<u64>, MpcError> {
    let ch = ch.ok_or_else(|| MpcError::Config("no link to the provider".into()))?;
    let n = rows * cols;
    let bytes = ch.recv()?;
    if bytes.len() < 16 {
        return Err(MpcError::Malformed { peer: ch.peer().to_string(), step: "provider data", reason: "message too short".into() });
    }
    let head = wire::get(&bytes[..16], 2, ch.peer(), "provider data")?;
    header_check(ch.peer(), &head, rows, cols)?;
    wire::get(&bytes[16..], copies * n, ch.peer(), "provider data")
}

fn send_words(ch: Option<&mut TlsChannel>, rows: usize, cols: usize, v: &[u64]) -> Result<(), MpcError> {
    let ch = ch.ok_or_else(|| MpcError::Config("no link to the receiver".into()))?;
    let mut msg = vec![rows as u64, cols as u64];
    msg.extend_from_slice(v);
    wire::send(ch, &msg)?;
    ch.flush()?;
    Ok(())
}

impl ShareIo for TwoPc {
    fn recv_share(&mut self, ch: Option<&mut TlsChannel>, rows: usize, cols: usize) -> Result<Shared, MpcError> {
        if self.is_dealer() {
            return Ok(Shared { rows, cols, v: vec![0; rows * cols] });
        }
        Shared::new(rows, cols, recv_words(ch, rows, cols, 1)?)
    }
    fn send_result(&mut self, ch: Option<&mut TlsChannel>, t: &Shared) -> Result<(), MpcError> {
        if self.is_dealer() {
            return Ok(());
        }
        send_words(ch, t.rows, t.cols, &t.v)
    }
    fn vcat(parts: &[Shared]) -> Result<Shared, MpcError> {
        let cols = parts.first().map_or(0, |p| p.cols);
        let mut v = Vec::new();
        for p in parts {
            if p.cols != cols {
                return Err(MpcError::Shape { op: "row concatenation", expected: format!("{cols} columns"), got: format!("{}", p.cols) });
            }
            v.extend_from_slice(&p.v);
        }
        Ok(Shared { rows: parts.iter().map(|p| p.rows).sum(), cols, v })
    }
    fn rounds(&self) -> u64 {
        TwoPc::rounds(self)
    }
    fn link_stats(&self) -> Vec<LinkStats> {
        let (a, b) = self.stats();
        vec![a, b]
    }
}

impl ShareIo for ThreePc {
    fn recv_share(&mut self, ch: Option<&mut TlsChannel>, rows: usize, cols: usize) -> Result<Rep, MpcError> {
        let n = rows * cols;
        let mut w = recv_words(ch, rows, cols, 2)?;
        let b = w.split_off(n);
        self.from_shares(rows, cols, w, b)
    }
    fn send_result(&mut self, ch: Option<&mut TlsChannel>, t: &Rep) -> Result<(), MpcError> {
        send_words(ch, t.rows, t.cols, &t.a)
    }
    fn vcat(parts: &[Rep]) -> Result<Rep, MpcError> {
        let cols = parts.first().map_or(0, |p| p.cols);
        let (mut a, mut b) = (Vec::new(), Vec::new());
        for p in parts {
            if p.cols != cols {
                return Err(MpcError::Shape { op: "row concatenation", expected: format!("{cols} columns"), got: format!("{}", p.cols) });
            }
            a.extend_from_slice(&p.a);
            b.extend_from_slice(&p.b);
        }
        Ok(Rep { rows: parts.iter().map(|p| p.rows).sum(), cols, a, b })
    }
    fn rounds(&self) -> u64 {
        ThreePc::rounds(self)
    }
    fn link_stats(&self) -> Vec<LinkStats> {
        self.stats()
    }
}

/// Builds the protocol engine of computing member `id` and runs `f` on it.
fn with_engine<R>(
    s: &Session,
    id: usize,
    links: &mut Links,
    f2: impl FnOnce(&mut TwoPc, &mut Links) -> anyhow::Result<R>,
    f3: impl FnOnce(&mut ThreePc, &mut Links) -> anyhow::Result<R>,
) -> anyhow::Result<R> {
    let fp = fixed_point(s)?;
    match s.protocol {
        Protocol::TwoPcDealer => {
            let (role, a, b) = match id {
                0 => (TwoRole::P0, take(links, 1)?, take(links, 2)?),
                1 => (TwoRole::P1, take(links, 0)?, take(links, 2)?),
                _ => (TwoRole::Dealer, take(links, 0)?, take(links, 1)?),
            };
            let mut e = TwoPc::setup(role, fp, a, b)?;
            f2(&mut e, links)
        }
        Protocol::ThreePcReplicated => {
            let next = take(links, (id + 1) % 3)?;
            let prev = take(links, (id + 2) % 3)?;
            let mut e = ThreePc::setup(id, fp, next, prev)?;
            f3(&mut e, links)
        }
    }
}

fn provider_ids(s: &Session) -> Vec<usize> {
    s.providers().iter().map(|m| m.id).collect()
}

fn task<E: ShareIo>(e: &mut E, s: &Session, links: &mut Links) -> anyhow::Result<()> {
    let arch = Arch::parse(&s.arch)?;
    let provs = provider_ids(s);
    let recv_id = s.receiver().map(|m| m.id).context("no receiver")?;
    match s.task {
        Task::Infer => {
            let [owner, client] = provs[..] else { bail!("an infer session has two providers: the model owner and the client") };
            let mut wb = Vec::new();
            for (i, o) in nn::dense_shapes(&arch) {
                let w = e.recv_share(links[owner].as_mut(), i, o)?;
                let b = e.recv_share(links[owner].as_mut(), 1, o)?;
                wb.push((w, b));
            }
            let model = nn::prepare_model(e, &arch, wb)?;
            let x = e.recv_share(links[client].as_mut(), s.rows[1], arch.inputs)?;
            let y = nn::infer(e, &model, &x)?;
            e.send_result(links[recv_id].as_mut(), &y)?;
        }
        Task::TrainLogreg => {
            let f = arch.inputs;
            let (mut xs, mut ys) = (Vec::new(), Vec::new());
            for (k, p) in provs.iter().enumerate() {
                xs.push(e.recv_share(links[*p].as_mut(), s.rows[k], f)?);
                ys.push(e.recv_share(links[*p].as_mut(), s.rows[k], 1)?);
            }
            let x = E::vcat(&xs)?;
            let y = E::vcat(&ys)?;
            let w0 = e.public(f + 1, 1, &vec![0; f + 1]);
            let w = nn::train_logreg(e, &x, &y, &w0, &TrainConfig { lr: s.lr, batch: s.batch, epochs: s.epochs })?;
            e.send_result(links[recv_id].as_mut(), &w)?;
        }
        Task::TrainMlp => {
            let sizes = super::mlp_sizes(&arch)?;
            let (f, k) = (arch.inputs, arch.outputs());
            let (mut xs, mut ys) = (Vec::new(), Vec::new());
            for (j, p) in provs.iter().enumerate() {
                xs.push(e.recv_share(links[*p].as_mut(), s.rows[j], f)?);
                ys.push(e.recv_share(links[*p].as_mut(), s.rows[j], k)?);
            }
            let x = E::vcat(&xs)?;
            let y = E::vcat(&ys)?;
            let fp = e.fp();
            let init = Model::random_mlp(&sizes, Layer::Relu, None, s.init_seed)?;
            let mut layers = Vec::new();
            for l in &init.layers {
                if let Layer::Dense { weight, bias } = l {
                    let w = e.public(weight.rows(), weight.cols(), &fp.encode_all(weight.data())?);
                    let b = e.public(1, bias.len(), &fp.encode_all(bias)?);
                    layers.push((w, b));
                }
            }
            let trained = nn::train_mlp(e, &x, &y, layers, &TrainConfig { lr: s.lr, batch: s.batch, epochs: s.epochs })?;
            for (w, b) in &trained {
                e.send_result(links[recv_id].as_mut(), w)?;
                e.send_result(links[recv_id].as_mut(), b)?;
            }
        }
    }
    Ok(())
}

/// A class label from a data file: a non-negative integer below 2²⁰.
pub fn class_label(v: f64) -> anyhow::Result<usize> {
    if !(v.is_finite() && v >= 0.0 && v.fract() == 0.0 && v < f64::from(1u32 << 20)) {
        bail!("label {v} is not a class number 0, 1, 2, …");
    }
    Ok(v as usize)
}

/// A computing party or the dealer.
pub fn compute(s: &Session, id: usize) -> anyhow::Result<()> {
    let mut links = connect_all(s, id)?;
    let name = s.members[id].name.clone();
    with_engine(s, id, &mut links, |e, l| task(e, s, l), |e, l| task(e, s, l)).with_context(|| name.clone())?;
    // Tell the providers that the session completed (the dealer never talks to them).
    if s.members[id].role == super::Role::Party {
        for p in provider_ids(s) {
            if let Some(ch) = links[p].as_mut() {
                ch.send(b"")?;
                ch.flush()?;
            }
        }
    }
    tracing::info!(party = %name, "done");
    Ok(())
}

/// Shares `x` for the computing parties (2PC: parties 0 and 1; 3PC: all three).
fn send_shares(s: &Session, links: &mut Links, x: &Matrix) -> anyhow::Result<()> {
    let fp = fixed_point(s)?;
    let v = fp.encode_all(x.data())?;
    let mut rng = rand_chacha::ChaCha20Rng::from_rng(rand::rngs::OsRng)?;
    let (rows, cols) = (x.rows() as u64, x.cols() as u64);
    let mut msgs: Vec<Vec<u64>> = match s.protocol {
        Protocol::TwoPcDealer => provider::share_2pc(&v, &mut rng).into_iter().collect(),
        Protocol::ThreePcReplicated => provider::share_3pc(&v, &mut rng)
            .into_iter()
            .map(|(mut a, b)| {
                a.extend(b);
                a
            })
            .collect(),
    };
    for (party, body) in msgs.iter_mut().enumerate() {
        let mut m = vec![rows, cols];
        m.append(body);
        let ch = links[party].as_mut().context("no link to a computing party")?;
        wire::send(ch, &m)?;
        ch.flush()?;
    }
    Ok(())
}

use rand::SeedableRng;

/// Index of provider `id` among the session's providers.
fn k_of(s: &Session, id: usize) -> anyhow::Result<usize> {
    provider_ids(s).iter().position(|p| *p == id).context("not a provider")
}

/// A data provider.
pub fn provide(s: &Session, id: usize, args: &MpcArgs) -> anyhow::Result<()> {
    let mut links = connect_all(s, id)?;
    let k = provider_ids(s).iter().position(|p| *p == id).context("not a provider")?;
    match s.task {
        Task::Infer if k == 0 => {
            let m = Model::load(args.model.as_ref().context("the model owner needs --model")?)?;
            if Arch::of(&m)? != Arch::parse(&s.arch)? {
                bail!("the model does not match the session's architecture {}", s.arch);
            }
            for l in &m.layers {
                if let Layer::Dense { weight, bias } = l {
                    send_shares(s, &mut links, weight)?;
                    send_shares(s, &mut links, &Matrix::new(1, bias.len(), bias.clone())?)?;
                }
            }
        }
        Task::Infer => {
            let x = io::read_matrix(args.input.as_ref().context("the client needs --input")?)?;
            if x.rows() != s.rows[k] {
                bail!("input has {} rows, the session announces {}", x.rows(), s.rows[k]);
            }
            send_shares(s, &mut links, &x)?;
        }
        Task::TrainLogreg => {
            let d = io::read_matrix(args.data.first().context("a provider needs --data")?)?;
            let f = d.cols().checked_sub(1).context("rows need features and a label")?;
            let x = Matrix::new(d.rows(), f, (0..d.rows()).flat_map(|i| d.row(i)[..f].to_vec()).collect())?;
            let y = Matrix::new(d.rows(), 1, (0..d.rows()).map(|i| d.row(i)[f]).collect())?;
            send_shares(s, &mut links, &x)?;
            send_shares(s, &mut links, &y)?;
        }
        Task::TrainMlp => {
            let arch = Arch::parse(&s.arch)?;
            let (f, k) = (arch.inputs, arch.outputs());
            let d = io::read_matrix(args.data.first().context("a provider needs --data")?)?;
            if d.cols() != f + 1 || d.rows() != s.rows[k_of(s, id)?] {
                bail!("data has {}×{}, the session announces {}×{}", d.rows(), d.cols(), s.rows[k_of(s, id)?], f + 1);
            }
            let x = Matrix::new(d.rows(), f, (0..d.rows()).flat_map(|i| d.row(i)[..f].to_vec()).collect())?;
            let mut onehot = vec![0.0; d.rows() * k];
            for i in 0..d.rows() {
                let c = class_label(d.row(i)[f]).with_context(|| format!("row {}", i + 1))?;
                if c >= k {
                    bail!("row {}: label {c}, but the session has {k} classes", i + 1);
                }
                onehot[i * k + c] = 1.0;
            }
            send_shares(s, &mut links, &x)?;
            send_shares(s, &mut links, &Matrix::new(d.rows(), k, onehot)?)?;
        }
    }
    // Wait for every computing party's confirmation that the session completed.
    let parties: &[usize] = if s.protocol == Protocol::TwoPcDealer { &[0, 1] } else { &[0, 1, 2] };
    for &p in parties {
        let ch = links[p].as_mut().context("no link to a computing party")?;
        let m = ch.recv().with_context(|| format!("waiting for {} to complete the session", s.members[p].name))?;
        if !m.is_empty() {
            bail!("unexpected message from {}", s.members[p].name);
        }
    }
    Ok(())
}

/// The result receiver: reconstructs, decodes and writes the result.
pub fn receive(s: &Session, id: usize, output: Option<&std::path::Path>) -> anyhow::Result<()> {
    let output = output.context("the receiver needs --output")?;
    let mut links = connect_all(s, id)?;
    let fp = fixed_point(s)?;
    let arch = Arch::parse(&s.arch)?;
    let senders: &[usize] = if s.protocol == Protocol::TwoPcDealer { &[0, 1] } else { &[0, 1, 2] };
    let mut open = |rows: usize, cols: usize| -> anyhow::Result<Vec<u64>> {
        let mut acc = vec![0u64; rows * cols];
        for &p in senders {
            let w = recv_words(links[p].as_mut(), rows, cols, 1).with_context(|| format!("result share of {}", s.members[p].name))?;
            for (a, b) in acc.iter_mut().zip(&w) {
                *a = a.wrapping_add(*b);
            }
        }
        Ok(acc)
    };
    match s.task {
        Task::Infer => {
            let (rows, cols) = (s.rows[1], arch.outputs());
            let y = nn::decode(fp, rows, cols, &open(rows, cols)?)?;
            let classes = if cols == 1 {
                let sig = matches!(arch.layers.last(), Some(nn::ArchLayer::Sigmoid));
                y.data().iter().map(|&v| usize::from(v >= if sig { 0.5 } else { 0.0 })).collect()
            } else {
                y.argmax_rows()
            };
            io::write_outputs(output, &y, &classes)?;
        }
        Task::TrainLogreg => nn::logreg_model(fp, &open(arch.inputs + 1, 1)?)?.save(output)?,
        Task::TrainMlp => {
            let shapes = nn::dense_shapes(&arch);
            let mut layers = Vec::new();
            for (j, &(i, o)) in shapes.iter().enumerate() {
                let weight = nn::decode(fp, i, o, &open(i, o)?)?;
                let bias = fp.decode_all(&open(1, o)?);
                layers.push(Layer::Dense { weight, bias });
                if j + 1 < shapes.len() {
                    layers.push(Layer::Relu);
                }
            }
            Model::new(arch.inputs, layers)?.save(output)?;
        }
    }
    Ok(())
}

/// What one computing party measured in benchmark mode.
#[derive(Debug, Serialize, serde::Deserialize)]
pub struct BenchOutcome {
    pub id: usize,
    pub times_ms: Vec<f64>,
    /// Bytes this process sent per run (all its links, frame headers included).
    pub bytes_sent_per_run: f64,
    /// Protocol rounds per run (party 0's count).
    pub rounds_per_run: f64,
    /// Largest absolute error against the plaintext model (party 0), or accuracies.
    pub check: serde_json::Value,
}

fn sum_sent(st: &[LinkStats]) -> u64 {
    st.iter().map(|l| l.bytes_sent).sum()
}

/// Synchronises the computing parties before a timed run (not counted).
fn barrier<E: ShareIo>(e: &mut E, protocol: Protocol) -> Result<(), MpcError> {
    if e.is_dealer() {
        return Ok(());
    }
    let x = e.public(1, 1, &[0]);
    e.reveal(&x)?;
    if protocol == Protocol::ThreePcReplicated {
        e.reveal(&x)?;
    }
    Ok(())
}

fn bench_loop<E: ShareIo>(e: &mut E, s: &Session, id: usize, case: &str, reps: usize) -> anyhow::Result<BenchOutcome> {
    use rand::Rng;
    let fp = fixed_point(s)?;
    let mut rng = rand_chacha::ChaCha20Rng::seed_from_u64(1234);
    let mut times = Vec::new();
    let mut bytes = 0u64;
    let mut rounds = 0u64;
    let mut check = serde_json::Value::Null;
    let measure = |e: &mut E,
                   f: &mut dyn FnMut(&mut E) -> anyhow::Result<()>,
                   times: &mut Vec<f64>,
                   bytes: &mut u64,
                   rounds: &mut u64,
                   warm: bool|
     -> anyhow::Result<()> {
        barrier(e, s.protocol)?;
        let (b0, r0) = (sum_sent(&e.link_stats()), e.rounds());
        let t = Instant::now();
        f(e)?;
        let ms = t.elapsed().as_secs_f64() * 1e3;
        if !warm {
            times.push(ms);
            *bytes += sum_sent(&e.link_stats()) - b0;
            *rounds = e.rounds() - r0;
        }
        Ok(())
    };
    match case {
        "lr_infer_b1" | "lr_infer_b1000" | "mlp_infer_b1" | "mlp_infer_b100" => {
            let (sizes, last, batch, normal) = match case {
                "lr_infer_b1" => (vec![30, 1], Some(Layer::Sigmoid), 1, true),
                "lr_infer_b1000" => (vec![30, 1], Some(Layer::Sigmoid), 1000, true),
                "mlp_infer_b1" => (vec![784, 128, 128, 10], None, 1, false),
                _ => (vec![784, 128, 128, 10], None, 100, false),
            };
            let model = Model::random_mlp(&sizes, Layer::Relu, last, 7)?;
            let arch = Arch::of(&model)?;
            let sm = nn::share_model(e, 0, (id == 0).then_some(&model), &arch)?;
            let x: Vec<f64> =
                (0..batch * sizes[0]).map(|_| if normal { rng.gen_range(-2.0..2.0) } else { rng.gen_range(0.0..1.0) }).collect();
            let xe = fp.encode_all(&x)?;
            let mut out = Vec::new();
            let mut run = |e: &mut E| -> anyhow::Result<()> {
                let xs = e.input(1, batch, sizes[0], (id == 1).then_some(&xe[..]))?;
                out = nn::infer_reveal(e, &sm, &xs)?;
                Ok(())
            };
            measure(e, &mut run, &mut times, &mut bytes, &mut rounds, true)?;
            for _ in 0..reps {
                measure(e, &mut run, &mut times, &mut bytes, &mut rounds, false)?;
            }
            if id == 0 {
                let want = model.forward(&Matrix::new(batch, sizes[0], x)?)?;
                let got = nn::decode(fp, want.rows(), want.cols(), &out)?;
                let agree = veil_ml::accuracy(&model.classes(&got), &model.classes(&want));
                check = serde_json::json!({ "max_abs_err": got.max_abs_diff(&want)?, "class_agreement": agree });
            }
        }
        "lr_train_epoch" => {
            let path = std::env::var_os("VEIL_DATA")
                .map(|d| std::path::PathBuf::from(d).join("tabular/breast_cancer.csv"))
                .unwrap_or_else(|| std::path::PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../../data/tabular/breast_cancer.csv")));
            let (train, held) = veil_ml::data::breast_cancer_split(&path, 500, 0)?;
            let init = Model::random_mlp(&[30, 1], Layer::Relu, Some(Layer::Sigmoid), 99)?;
            let Layer::Dense { weight, bias } = &init.layers[0] else { bail!("logistic regression starts with a dense layer") };
            let mut w0: Vec<f64> = weight.data().to_vec();
            w0.push(bias[0]);
            let w0 = fp.encode_all(&w0)?;
            let xe = fp.encode_all(train.x.data())?;
            let ye: Vec<u64> = train.labels.iter().map(|&l| fp.encode(l as f64)).collect::<Result<_, _>>()?;
            let cfg = TrainConfig { lr: 0.5, batch: 50, epochs: 1 };
            let mut out = Vec::new();
            let mut run = |e: &mut E| -> anyhow::Result<()> {
                let x = e.input(1, 500, 30, (id == 1).then_some(&xe[..]))?;
                let y = e.input(1, 500, 1, (id == 1).then_some(&ye[..]))?;
                let w = e.input(0, 31, 1, (id == 0).then_some(&w0[..]))?;
                let w = nn::train_logreg(e, &x, &y, &w, &cfg)?;
                out = e.reveal(&w)?;
                Ok(())
            };
            measure(e, &mut run, &mut times, &mut bytes, &mut rounds, true)?;
            for _ in 0..reps {
                measure(e, &mut run, &mut times, &mut bytes, &mut rounds, false)?;
            }
            if id == 0 {
                let m = nn::logreg_model(fp, &out)?;
                let mut plain = init.clone();
                veil_ml::train::sgd(&mut plain, &train.x, &train.labels, &veil_ml::train::SgdConfig { lr: 0.5, batch: 50, epochs: 1 })?;
                check = serde_json::json!({
                    "secure_train_acc": m.accuracy(&train.x, &train.labels)?,
                    "secure_heldout_acc": m.accuracy(&held.x, &held.labels)?,
                    "plaintext_train_acc": plain.accuracy(&train.x, &train.labels)?,
                    "plaintext_heldout_acc": plain.accuracy(&held.x, &held.labels)?,
                });
            }
        }
        other => bail!("unknown benchmark case {other}"),
    }
    let runs = reps.max(1) as f64;
    Ok(BenchOutcome { id, times_ms: times, bytes_sent_per_run: bytes as f64 / runs, rounds_per_run: rounds as f64, check })
}

/// A computing party in benchmark mode: synthetic inputs as the peers use, timed runs.
pub fn bench_party(s: &Session, id: usize, case: &str, reps: usize) -> anyhow::Result<BenchOutcome> {
    let mut links = connect_all(s, id)?;
    with_engine(s, id, &mut links, |e, _| bench_loop(e, s, id, case, reps), |e, _| bench_loop(e, s, id, case, reps))
}
