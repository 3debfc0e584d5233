//! The step gate: *where in a generation* an intervention acts, computed in the graph from the
//! KV cache's past length, so the patched decoder needs no extra input. It wraps an
//! intervention's result (`Where(gate, new, old)`), whatever the intervention does.

use super::builder::{Builder, attr_int};
use crate::schema::{Calls, Steps};

/// The schema's step selection and the graph input it reads.
#[derive(Debug, Clone, Copy)]
pub struct StepGate<'a> {
    /// The selection.
    pub steps: &'a Steps,
    /// A past-key input `[batch, kv_heads, past, head_dim]`; its axis 2 is the past length.
    pub past: &'a str,
}

/// A built gate: one boolean for the whole call, or one per position of the call.
#[derive(Debug, Clone)]
pub enum Mask {
    /// A bool scalar: the call is intervened.
    Call(String),
    /// A bool `[seq]`: these positions of the call are intervened.
    Positions(String),
}

impl Mask {
    /// Builds the gate for a site whose value `x` has the call's positions on axis 1; `None`
    /// when every position of every call is intervened.
    pub fn build(b: &mut Builder, g: StepGate, x: &str) -> Option<Mask> {
        if *g.steps == Steps::Calls(Calls::Every) {
            return None;
        }
        // Lengths are compared as floats (exact below 2^24): tract folds integer comparisons
        // of symbolic dimensions at plan time, and gets `Equal(past, 0)` wrong.
        let past_shape = b.op("Shape", &[g.past], vec![]);
        let two = b.ints(&[], &[2]);
        let past = b.op("Gather", &[&past_shape, &two], vec![attr_int("axis", 0)]);
        let past = b.op("Cast", &[&past], vec![attr_int("to", FLOAT as i64)]);
        let call = |b: &mut Builder, prompt_pass: bool| {
            let half = b.constant(FLOAT, &[], &[0.5]).expect("0.5 is a float");
            let decode = b.op("Greater", &[&past, &half], vec![]);
            if prompt_pass { b.op("Not", &[&decode], vec![]) } else { decode }
        };
        match g.steps {
            Steps::Calls(Calls::Every) => unreachable!("handled above"),
            Steps::Calls(Calls::Prompt) => Some(Mask::Call(call(b, true))),
            Steps::Calls(Calls::Decode) => Some(Mask::Call(call(b, false))),
            Steps::Absolute { from, to } => {
                let (idx, _) = positions(b, x);
                let abs = b.op("Add", &[&idx, &past], vec![]);
                let lo = b.constant(FLOAT, &[], &[*from as f64 - 0.5]).expect("a position is a float");
                let mut m = b.op("Greater", &[&abs, &lo], vec![]);
                if let Some(to) = to {
                    let hi = b.constant(FLOAT, &[], &[*to as f64 - 0.5]).expect("a position is a float");
                    let below = b.op("Less", &[&abs, &hi], vec![]);
                    m = b.op("And", &[&m, &below], vec![]);
                }
                Some(Mask::Positions(m))
            }
            Steps::LastPromptToken => {
                let (idx, seq) = positions(b, x);
                let one = b.constant(FLOAT, &[], &[1.5]).expect("1.5 is a float");
                let last = b.op("Sub", &[&seq, &one], vec![]);
                let at_last = b.op("Greater", &[&idx, &last], vec![]);
                let is_prompt = call(b, true);
                Some(Mask::Positions(b.op("And", &[&at_last, &is_prompt], vec![])))
            }
        }
    }

    /// An int64 scalar, 1 on intervened calls and 0 otherwise: fixed positions are multiplied by
    /// it, so a call that is not intervened (and may be shorter) never indexes past its end.
    pub fn index_scale(&self, b: &mut Builder) -> Option<String> {
        match self {
            Mask::Call(g) => Some(b.op("Cast", &[g], vec![attr_int("to", 7)])),
            Mask::Positions(_) => None,
        }
    }

    /// `new` where the gate is open, else `old`; both of rank `rank` with positions on axis 1.
    pub fn select(&self, b: &mut Builder, new: &str, old: &str, rank: usize) -> String {
        let m = match self {
            Mask::Call(g) => g.clone(),
            Mask::Positions(m) => {
                let mut shape = vec![1, -1];
                shape.resize(rank.max(2), 1);
                let s = b.ints(&[shape.len() as i64], &shape);
                b.op("Reshape", &[m, &s], vec![])
            }
        };
        b.op("Where", &[&m, new, old], vec![])
    }

    /// A Collect tap's value for this call: all of `sel` (`[b, k, ...]`) when the call is
    /// intervened and none of it (`[b, 0, ...]`) otherwise; per-position gates keep the
    /// intervened positions of the whole-tensor selection.
    pub fn collect(&self, b: &mut Builder, sel: &str) -> String {
        match self {
            Mask::Call(g) => {
                let scale = b.op("Cast", &[g], vec![attr_int("to", 7)]);
                let shape = b.op("Shape", &[sel], vec![]);
                let one = b.ints(&[1], &[1]);
                let k = b.op("Gather", &[&shape, &one], vec![attr_int("axis", 0)]);
                let n = b.op("Mul", &[&k, &scale], vec![]);
                let zero = b.ints(&[], &[0]);
                let step = b.ints(&[], &[1]);
                let scalar = b.ints(&[1], &[0]);
                let n = b.op("Squeeze", &[&n, &scalar], vec![]);
                let idx = b.op("Range", &[&zero, &n, &step], vec![]);
                b.op("Gather", &[sel, &idx], vec![attr_int("axis", 1)])
            }
            Mask::Positions(m) => b.op("Compress", &[sel, m], vec![attr_int("axis", 1)]),
        }
    }
}

/// `arange(seq)` over the call's positions (axis 1 of `x`) and `seq` itself, both float.
fn positions(b: &mut Builder, x: &str) -> (String, String) {
    let shape = b.op("Shape", &[x], vec![]);
    let one = b.ints(&[], &[1]);
    let seq = b.op("Gather", &[&shape, &one], vec![attr_int("axis", 0)]);
    let seq = b.op("Cast", &[&seq], vec![attr_int("to", FLOAT as i64)]);
    let zero = b.constant(FLOAT, &[], &[0.0]).expect("0 is a float");
    let step = b.constant(FLOAT, &[], &[1.0]).expect("1 is a float");
    (b.op("Range", &[&zero, &seq, &step], vec![]), seq)
}

const FLOAT: i32 = crate::onnx::pb::tensor_proto::DataType::Float as i32;
