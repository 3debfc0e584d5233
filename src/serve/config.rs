//! Triton's `config.pbtxt` for a model: every input and output with its Triton type and dims.

use super::ServeError;
use crate::ir::{Dim, Model, ValueType};
use crate::onnx::pb::tensor_proto::DataType;
use crate::onnx::{escape, s};

/// Where Triton runs the model's instances.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Instances {
    /// Instances per device (`count`).
    pub count: u32,
    /// `KIND_GPU` when set, `KIND_CPU` otherwise.
    pub gpu: bool,
}

/// One input or output as Triton declares it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tensor {
    /// The graph's name for it.
    pub name: String,
    /// Triton's type name, e.g. `TYPE_INT64`.
    pub data_type: &'static str,
    /// Its dims, the batch dimension left out when the model batches; `-1` where variable.
    pub dims: Vec<i64>,
    /// A tensor that is only the batch (`[batch]`): Triton declares it `[1]` and reshapes it to `[]`.
    pub reshape_to_scalar: bool,
}

/// A model's Triton configuration (`backend: "onnxruntime"`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TritonConfig {
    /// The model's name in the repository.
    pub name: String,
    /// Triton's `max_batch_size`; 0: Triton does not batch, dims are the full shapes.
    pub max_batch_size: u32,
    /// The instance group.
    pub instances: Instances,
    /// `Some(delay)`: dynamic batching, waiting up to `delay` microseconds to fill a batch.
    pub dynamic_batching: Option<u64>,
    /// Graph inputs (initializers excluded), in graph order.
    pub inputs: Vec<Tensor>,
    /// Graph outputs, in graph order.
    pub outputs: Vec<Tensor>,
}

/// Triton's name for an ONNX element type, or `None` (complex types, the float8 and 4-bit types).
pub fn triton_dtype(elem: i32) -> Option<&'static str> {
    Some(match DataType::try_from(elem).ok()? {
        DataType::Bool => "TYPE_BOOL",
        DataType::Uint8 => "TYPE_UINT8",
        DataType::Uint16 => "TYPE_UINT16",
        DataType::Uint32 => "TYPE_UINT32",
        DataType::Uint64 => "TYPE_UINT64",
        DataType::Int8 => "TYPE_INT8",
        DataType::Int16 => "TYPE_INT16",
        DataType::Int32 => "TYPE_INT32",
        DataType::Int64 => "TYPE_INT64",
        DataType::Float16 => "TYPE_FP16",
        DataType::Float => "TYPE_FP32",
        DataType::Double => "TYPE_FP64",
        DataType::Bfloat16 => "TYPE_BF16",
        DataType::String => "TYPE_STRING",
        _ => return None,
    })
}

impl TritonConfig {
    /// The configuration of `model`. With `max_batch_size > 0`, every input and output must have
    /// the batch as its first dimension: the symbol the first input's first dimension names,
    /// never a fixed size; anything else is refused, naming the tensor. `dynamic_batching` needs
    /// `max_batch_size > 0`.
    pub fn of(
        model: &Model,
        name: &str,
        max_batch_size: u32,
        instances: Instances,
        dynamic_batching: Option<u64>,
    ) -> Result<TritonConfig, ServeError> {
        check_name(name)?;
        if max_batch_size == 0 && dynamic_batching.is_some() {
            return Err(ServeError::Option {
                option: "--dynamic-batching",
                why: "needs --max-batch-size of 1 or more: Triton batches nothing when max_batch_size is 0".into(),
            });
        }
        if max_batch_size > i32::MAX as u32 {
            return Err(ServeError::Option {
                option: "--max-batch-size",
                why: format!("{max_batch_size} is past Triton's limit of {}", i32::MAX),
            });
        }
        if instances.count == 0 || instances.count > 1024 {
            return Err(ServeError::Option {
                option: "--instances",
                why: format!("{} is out of range: give 1 to 1024", instances.count),
            });
        }
        let g = &model.graph;
        let inits: Vec<&str> = g.initializers.iter().map(|t| s(&t.name)).collect();
        let declared = |kind: &'static str, vs: &[crate::onnx::pb::ValueInfoProto]| {
            vs.iter()
                .filter(|v| !inits.contains(&s(&v.name)))
                .map(|v| (kind, s(&v.name).to_string(), ValueType::from_value_info(v)))
                .collect::<Vec<_>>()
        };
        let ins = declared("input", &g.inputs);
        let outs = declared("output", &g.outputs);
        let batch = match (max_batch_size, ins.first()) {
            (0, _) | (_, None) => None,
            (_, Some((kind, n, ty))) => Some(batch_symbol(kind, n, ty)?),
        };
        let tensor = |(kind, n, ty): &(&'static str, String, ValueType)| tensor(kind, n, ty, batch.as_ref());
        Ok(TritonConfig {
            name: name.to_string(),
            max_batch_size,
            instances,
            dynamic_batching,
            inputs: ins.iter().map(tensor).collect::<Result<_, _>>()?,
            outputs: outs.iter().map(tensor).collect::<Result<_, _>>()?,
        })
    }

    /// The `config.pbtxt` text; the same configuration always gives the same bytes.
    pub fn to_pbtxt(&self) -> String {
        let mut out = format!(
            "name: \"{}\"\nbackend: \"onnxruntime\"\nmax_batch_size: {}\n",
            quote(&self.name),
            self.max_batch_size
        );
        for (field, list) in [("input", &self.inputs), ("output", &self.outputs)] {
            let items: Vec<String> = list.iter().map(tensor_pbtxt).collect();
            out.push_str(&format!("{field} [\n{}\n]\n", items.join(",\n")));
        }
        let kind = if self.instances.gpu { "KIND_GPU" } else { "KIND_CPU" };
        out.push_str(&format!(
            "instance_group [\n  {{\n    count: {}\n    kind: {kind}\n  }}\n]\n",
            self.instances.count
        ));
        if let Some(delay) = self.dynamic_batching {
            out.push_str(&format!("dynamic_batching {{\n  max_queue_delay_microseconds: {delay}\n}}\n"));
        }
        out
    }
}

/// A Triton model name is one plain path component of printable characters.
fn check_name(name: &str) -> Result<(), ServeError> {
    let bad = name.is_empty()
        || name == "."
        || name == ".."
        || name.starts_with('.')
        || name.chars().any(|c| c == '/' || c == '\\' || c.is_control());
    if bad {
        return Err(ServeError::Option {
            option: "--name",
            why: format!(
                "`{}` is not a model name: give one path component that does not start with `.`",
                escape(name)
            ),
        });
    }
    Ok(())
}

/// The batch symbol: the first dimension of the first input, which must be symbolic.
fn batch_symbol(kind: &'static str, name: &str, ty: &ValueType) -> Result<String, ServeError> {
    let refuse = |why: String| ServeError::NotBatchable { kind, name: escape(name).into_owned(), why };
    match ty.shape.as_deref() {
        None => Err(refuse("it declares no shape".into())),
        Some([]) => Err(refuse("it is a scalar".into())),
        Some([Dim::Fixed(n), ..]) => Err(refuse(format!("its first dimension is fixed to {n}"))),
        Some([Dim::Named(sym), ..]) if sym == "?" => Err(refuse("its first dimension has no name".into())),
        Some([Dim::Named(sym), ..]) => Ok(sym.clone()),
    }
}

fn tensor(kind: &'static str, name: &str, ty: &ValueType, batch: Option<&String>) -> Result<Tensor, ServeError> {
    let untyped = |why: String| ServeError::Untyped { kind, name: escape(name).into_owned(), why };
    let elem = ty.elem.ok_or_else(|| untyped("it declares no element type".into()))?;
    let data_type = triton_dtype(elem)
        .ok_or_else(|| untyped(format!("element type {} has no Triton type", crate::ir::dtype_name(elem))))?;
    let shape = ty.shape.as_deref().ok_or_else(|| match batch {
        Some(_) => {
            ServeError::NotBatchable { kind, name: escape(name).into_owned(), why: "it declares no shape".into() }
        }
        None => untyped("it declares no shape: Triton needs its dims".into()),
    })?;
    let dims = |d: &[Dim]| d.iter().map(|d| if let Dim::Fixed(n) = d { *n } else { -1 }).collect::<Vec<i64>>();
    let Some(batch) = batch else {
        return Ok(Tensor { name: name.to_string(), data_type, dims: dims(shape), reshape_to_scalar: false });
    };
    match shape {
        [Dim::Named(sym), rest @ ..] if sym == batch => Ok(Tensor {
            name: name.to_string(),
            data_type,
            dims: if rest.is_empty() { vec![1] } else { dims(rest) },
            reshape_to_scalar: rest.is_empty(),
        }),
        other => {
            let why = match other.first() {
                None => "it is a scalar".to_string(),
                Some(Dim::Fixed(n)) => {
                    format!("its first dimension is fixed to {n}, not the batch `{}`", escape(batch))
                }
                Some(Dim::Named(sym)) => {
                    format!("its first dimension is `{}`, not the batch `{}`", escape(sym), escape(batch))
                }
            };
            Err(ServeError::NotBatchable { kind, name: escape(name).into_owned(), why })
        }
    }
}

fn tensor_pbtxt(t: &Tensor) -> String {
    let dims: Vec<String> = t.dims.iter().map(i64::to_string).collect();
    let reshape = if t.reshape_to_scalar { "\n    reshape: { shape: [ ] }" } else { "" };
    format!(
        "  {{\n    name: \"{}\"\n    data_type: {}\n    dims: [ {} ]{reshape}\n  }}",
        quote(&t.name),
        t.data_type,
        dims.join(", ")
    )
}

/// `text` as the inside of a protobuf text-format string: `"`, `\` and non-printable bytes escaped.
fn quote(text: &str) -> String {
    let mut out = String::new();
    for b in text.bytes() {
        match b {
            b'"' => out.push_str("\\\""),
            b'\\' => out.push_str("\\\\"),
            0x20..=0x7e => out.push(b as char),
            _ => out.push_str(&format!("\\{b:03o}")),
        }
    }
    out
}
