//! Byte formats of [`ModelShape`] and [`EncryptedModel`].
//!
//! Shape: magic `b"VHEM"`, format version (`u16` LE), the 16-byte parameter fingerprint, then
//! `u32` window width, `u32` inputs, `u8` final activation (0 none, 1 sigmoid, 2 softmax),
//! `u8` packing (0 row sums, 1 diagonals), `u32` stage count and per stage `u32` outputs, `u8` coefficient count (0: no activation,
//! 1 to 3) and that many `f64` coefficients. An encrypted model is its shape followed, per
//! stage and weight ciphertext (output neuron or diagonal), by a `u64` length and a veil-ckks ciphertext (which carries its own
//! version and fingerprint). Decoding rebuilds and re-validates the layout from the shape, checks
//! every count against the parameters before allocating, every ciphertext's level, and rejects
//! trailing bytes; nothing in the input makes it panic.

use std::sync::Arc;

use veil_ckks::{Ciphertext, Parameters};

use super::{EncryptedModel, FinalActivation, ModelShape, Packing};
use crate::HeError;

/// Magic bytes of an encrypted model or model shape.
pub const MAGIC: [u8; 4] = *b"VHEM";
/// Current format version.
pub const MODEL_FORMAT_VERSION: u16 = 1;
/// Most stages a shape may announce (far above any depth the parameters allow).
const MAX_STAGES: u32 = 64;

fn bad(reason: impl Into<String>) -> HeError {
    HeError::MalformedModel { reason: reason.into() }
}

struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], HeError> {
        if self.0.len() < n {
            return Err(bad(format!("truncated: {} more bytes needed", n - self.0.len())));
        }
        let (a, b) = self.0.split_at(n);
        self.0 = b;
        Ok(a)
    }
    fn u8(&mut self) -> Result<u8, HeError> {
        Ok(self.take(1)?[0])
    }
    fn u32(&mut self) -> Result<u32, HeError> {
        let b = self.take(4)?;
        Ok(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }
    fn u64(&mut self) -> Result<u64, HeError> {
        let mut a = [0u8; 8];
        a.copy_from_slice(self.take(8)?);
        Ok(u64::from_le_bytes(a))
    }
}

impl ModelShape {
    /// The shape's bytes (the header of an encrypted model).
    pub fn to_bytes(&self, params: &Parameters) -> Vec<u8> {
        let mut v = Vec::new();
        v.extend_from_slice(&MAGIC);
        v.extend_from_slice(&MODEL_FORMAT_VERSION.to_le_bytes());
        v.extend_from_slice(&params.fingerprint().0);
        v.extend_from_slice(&(self.width as u32).to_le_bytes());
        v.extend_from_slice(&(self.inputs as u32).to_le_bytes());
        v.push(match self.output {
            FinalActivation::Identity => 0,
            FinalActivation::Sigmoid => 1,
            FinalActivation::Softmax => 2,
        });
        v.push(match self.packing {
            Packing::RowSum => 0,
            Packing::Diagonal => 1,
        });
        v.extend_from_slice(&(self.stages.len() as u32).to_le_bytes());
        for s in &self.stages {
            v.extend_from_slice(&(s.outputs as u32).to_le_bytes());
            let c = s.activation.as_deref().unwrap_or(&[]);
            v.push(c.len() as u8);
            for x in c {
                v.extend_from_slice(&x.to_le_bytes());
            }
        }
        v
    }

    /// Reads a shape (alone, or the header of an encrypted model: the rest is ignored).
    pub fn from_bytes(params: &Parameters, bytes: &[u8]) -> Result<Self, HeError> {
        Self::read(params, &mut Reader(bytes))
    }

    fn read(params: &Parameters, r: &mut Reader<'_>) -> Result<Self, HeError> {
        if r.take(4)? != MAGIC {
            return Err(bad("bad magic (not a veil encrypted model)"));
        }
        let version = u16::from_le_bytes([r.u8()?, r.u8()?]);
        if version != MODEL_FORMAT_VERSION {
            return Err(bad(format!("format version {version}, this build reads {MODEL_FORMAT_VERSION}")));
        }
        let fp = r.take(16)?;
        if fp != params.fingerprint().0 {
            let found: String = fp.iter().map(|b| format!("{b:02x}")).collect();
            return Err(bad(format!("made for parameters {found}, these are {}", params.fingerprint().to_hex())));
        }
        let slots = params.slot_count() as u32;
        let width = r.u32()?;
        let inputs = r.u32()?;
        if width == 0 || width > slots || inputs >= width {
            return Err(bad(format!("width {width} and {inputs} inputs do not fit {slots} slots")));
        }
        let output = match r.u8()? {
            0 => FinalActivation::Identity,
            1 => FinalActivation::Sigmoid,
            2 => FinalActivation::Softmax,
            k => return Err(bad(format!("final activation {k}"))),
        };
        let packing = match r.u8()? {
            0 => Packing::RowSum,
            1 => Packing::Diagonal,
            k => return Err(bad(format!("packing {k}"))),
        };
        let n = r.u32()?;
        if n == 0 || n > MAX_STAGES {
            return Err(bad(format!("{n} stages")));
        }
        let mut specs = Vec::with_capacity(n as usize);
        for i in 0..n {
            let outputs = r.u32()?;
            if outputs == 0 || outputs > width {
                return Err(bad(format!("stage {i}: {outputs} outputs for windows of {width}")));
            }
            let k = r.u8()?;
            if k > 3 {
                return Err(bad(format!("stage {i}: {k} activation coefficients (at most 3)")));
            }
            let activation = if k == 0 {
                None
            } else {
                let c = (0..k)
                    .map(|_| {
                        let x = f64::from_bits(r.u64()?);
                        if x.is_finite() {
                            Ok(x)
                        } else {
                            Err(bad(format!("stage {i}: non-finite coefficient")))
                        }
                    })
                    .collect::<Result<Vec<_>, HeError>>()?;
                Some(c)
            };
            specs.push((outputs as usize, activation));
        }
        Self::build(params, width as usize, inputs as usize, specs, output, packing)
    }
}

impl EncryptedModel {
    /// The shape followed by every weight ciphertext.
    pub fn to_bytes(&self, params: &Parameters) -> Vec<u8> {
        let mut v = self.shape.to_bytes(params);
        for ct in self.weights.iter().flatten() {
            let b = ct.to_bytes(params);
            v.extend_from_slice(&(b.len() as u64).to_le_bytes());
            v.extend_from_slice(&b);
        }
        v
    }

    /// Reads an encrypted model for `params`, checking every ciphertext's level.
    pub fn from_bytes(params: &Arc<Parameters>, bytes: &[u8]) -> Result<Self, HeError> {
        let mut r = Reader(bytes);
        let shape = ModelShape::read(params, &mut r)?;
        let mut weights = Vec::with_capacity(shape.stages.len());
        for (i, stage) in shape.stages.iter().enumerate() {
            let count = shape.ciphertexts_of(stage);
            let mut cts = Vec::with_capacity(count);
            for j in 0..count {
                let len = usize::try_from(r.u64()?).map_err(|_| bad("ciphertext length overflows"))?;
                let ct = Ciphertext::from_bytes(params, r.take(len)?)?;
                if ct.level() != stage.level || ct.degree() != 1 {
                    return Err(bad(format!(
                        "stage {i}, ciphertext {j} at level {} of degree {}, expected level {} of degree 1",
                        ct.level().0,
                        ct.degree(),
                        stage.level.0
                    )));
                }
                cts.push(ct);
            }
            weights.push(cts);
        }
        if !r.0.is_empty() {
            return Err(bad(format!("{} trailing bytes", r.0.len())));
        }
        Ok(Self { shape, weights })
    }
}
