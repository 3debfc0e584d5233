//! Reading the `intkey_*.bin` files of a pyvene save directory: `torch.save` archives of an
//! intervention's `state_dict`. Only what those files use is supported: a zip archive of stored
//! (uncompressed) entries, and a pickle (protocol 2) of an `OrderedDict` of tensors rebuilt by
//! `torch._utils._rebuild_tensor_v2` from persistent storages. Nothing is executed: the pickle
//! is interpreted as data, and any other callable is refused.

use std::collections::HashMap;

/// A tensor read from a state_dict, as f32 values with its shape.
#[derive(Debug, Clone, PartialEq)]
pub struct StateTensor {
    /// Shape.
    pub shape: Vec<usize>,
    /// Values, converted to f32.
    pub values: Vec<f32>,
}

/// Reads every tensor of a `torch.save`d state_dict.
pub fn read_state_dict(bytes: &[u8]) -> Result<HashMap<String, StateTensor>, String> {
    let entries = zip_entries(bytes)?;
    let (prefix, pkl) = entries
        .iter()
        .find_map(|(name, data)| name.strip_suffix("data.pkl").map(|p| (p.to_string(), *data)))
        .ok_or("not a torch.save archive: no data.pkl")?;
    let root = Unpickler::default().run(pkl)?;
    let Value::Dict(items) = root else { return Err("the pickle is not a state_dict".into()) };
    let mut out = HashMap::new();
    for (k, v) in items {
        let (Value::Str(key), Value::Tensor(t)) = (k, v) else { continue };
        let file = format!("{prefix}data/{}", t.storage);
        let data =
            entries.iter().find(|(n, _)| *n == file).map(|(_, d)| *d).ok_or(format!("missing storage {file}"))?;
        out.insert(key, t.read(data)?);
    }
    Ok(out)
}

fn zip_entries(bytes: &[u8]) -> Result<Vec<(String, &[u8])>, String> {
    let u16at =
        |o: usize| bytes.get(o..o + 2).map(|b| u16::from_le_bytes([b[0], b[1]]) as usize).ok_or("truncated zip");
    let u32at = |o: usize| {
        bytes.get(o..o + 4).map(|b| u32::from_le_bytes(b.try_into().unwrap()) as usize).ok_or("truncated zip")
    };
    let eocd = (0..bytes.len().saturating_sub(21))
        .rev()
        .find(|&o| bytes[o..].starts_with(&[0x50, 0x4b, 5, 6]))
        .ok_or("not a zip archive")?;
    let count = u16at(eocd + 10)?;
    let mut at = u32at(eocd + 16)?;
    let mut out = Vec::with_capacity(count);
    for _ in 0..count {
        if u32at(at)? != 0x0201_4b50 {
            return Err("corrupt zip central directory".into());
        }
        let method = u16at(at + 10)?;
        let size = u32at(at + 20)?;
        let (name_len, extra_len, comment_len) = (u16at(at + 28)?, u16at(at + 30)?, u16at(at + 32)?);
        let local = u32at(at + 42)?;
        let name = String::from_utf8_lossy(bytes.get(at + 46..at + 46 + name_len).ok_or("truncated zip")?).into_owned();
        if method != 0 {
            return Err(format!("zip entry {name} is compressed; torch.save stores entries"));
        }
        let data_at = local + 30 + u16at(local + 26)? + u16at(local + 28)?;
        out.push((name, bytes.get(data_at..data_at + size).ok_or("truncated zip entry")?));
        at += 46 + name_len + extra_len + comment_len;
    }
    Ok(out)
}

#[derive(Debug, Clone)]
struct TensorRef {
    storage: String,
    dtype: String,
    offset: usize,
    shape: Vec<usize>,
}

impl TensorRef {
    fn read(&self, data: &[u8]) -> Result<StateTensor, String> {
        let n: usize = self.shape.iter().product();
        let (size, conv): (usize, fn(&[u8]) -> f32) = match self.dtype.as_str() {
            "FloatStorage" => (4, |b| f32::from_le_bytes(b.try_into().unwrap())),
            "DoubleStorage" => (8, |b| f64::from_le_bytes(b.try_into().unwrap()) as f32),
            "HalfStorage" => (2, |b| half::f16::from_le_bytes([b[0], b[1]]).to_f32()),
            "BFloat16Storage" => (2, |b| half::bf16::from_le_bytes([b[0], b[1]]).to_f32()),
            "LongStorage" => (8, |b| i64::from_le_bytes(b.try_into().unwrap()) as f32),
            other => return Err(format!("unsupported storage type {other}")),
        };
        let start = self.offset * size;
        let bytes = data.get(start..start + n * size).ok_or("storage shorter than its tensor")?;
        Ok(StateTensor { shape: self.shape.clone(), values: bytes.chunks_exact(size).map(conv).collect() })
    }
}

#[derive(Debug, Clone)]
enum Value {
    None,
    Bool,
    Int(i64),
    Float,
    Str(String),
    Tuple(Vec<Value>),
    List(Vec<Value>),
    Dict(Vec<(Value, Value)>),
    Global(String),
    Storage(String, String),
    Tensor(TensorRef),
    Mark,
}

#[derive(Default)]
struct Unpickler {
    stack: Vec<Value>,
    memo: HashMap<usize, Value>,
}

impl Unpickler {
    fn run(mut self, p: &[u8]) -> Result<Value, String> {
        let mut i = 0;
        let take = |i: &mut usize, n: usize| -> Result<&[u8], String> {
            let s = p.get(*i..*i + n).ok_or("truncated pickle")?;
            *i += n;
            Ok(s)
        };
        loop {
            let op = *p.get(i).ok_or("truncated pickle")?;
            i += 1;
            match op {
                0x80 => i += 1,
                b'.' => return self.stack.pop().ok_or("empty pickle".into()),
                b'c' => {
                    let end = |i: usize| p[i..].iter().position(|&c| c == b'\n').map(|e| i + e).ok_or("bad GLOBAL");
                    let e1 = end(i)?;
                    let module = String::from_utf8_lossy(&p[i..e1]).into_owned();
                    let e2 = end(e1 + 1)?;
                    let name = String::from_utf8_lossy(&p[e1 + 1..e2]).into_owned();
                    i = e2 + 1;
                    self.stack.push(Value::Global(format!("{module}.{name}")));
                }
                b'q' => {
                    let k = take(&mut i, 1)?[0] as usize;
                    self.memo.insert(k, self.top()?);
                }
                b'r' => {
                    let k = u32::from_le_bytes(take(&mut i, 4)?.try_into().unwrap()) as usize;
                    self.memo.insert(k, self.top()?);
                }
                b'h' => {
                    let k = take(&mut i, 1)?[0] as usize;
                    self.stack.push(self.memo.get(&k).cloned().ok_or("bad memo")?);
                }
                b'j' => {
                    let k = u32::from_le_bytes(take(&mut i, 4)?.try_into().unwrap()) as usize;
                    self.stack.push(self.memo.get(&k).cloned().ok_or("bad memo")?);
                }
                b'(' => self.stack.push(Value::Mark),
                b')' => self.stack.push(Value::Tuple(vec![])),
                b']' => self.stack.push(Value::List(vec![])),
                b'}' => self.stack.push(Value::Dict(vec![])),
                b't' => {
                    let items = self.pop_mark()?;
                    self.stack.push(Value::Tuple(items));
                }
                0x85..=0x87 => {
                    let n = (op - 0x84) as usize;
                    let at = self.stack.len().checked_sub(n).ok_or("stack underflow")?;
                    let items = self.stack.split_off(at);
                    self.stack.push(Value::Tuple(items));
                }
                b'N' => self.stack.push(Value::None),
                0x88 | 0x89 => self.stack.push(Value::Bool),
                b'K' => self.stack.push(Value::Int(take(&mut i, 1)?[0] as i64)),
                b'M' => self.stack.push(Value::Int(u16::from_le_bytes(take(&mut i, 2)?.try_into().unwrap()) as i64)),
                b'J' => self.stack.push(Value::Int(i32::from_le_bytes(take(&mut i, 4)?.try_into().unwrap()) as i64)),
                0x8a => {
                    let n = take(&mut i, 1)?[0] as usize;
                    let b = take(&mut i, n)?;
                    let mut v: i64 = 0;
                    for (k, byte) in b.iter().enumerate().take(8) {
                        v |= (*byte as i64) << (8 * k);
                    }
                    if n > 0 && n < 8 && b[n - 1] & 0x80 != 0 {
                        v -= 1i64 << (8 * n);
                    }
                    self.stack.push(Value::Int(v));
                }
                b'G' => {
                    take(&mut i, 8)?;
                    self.stack.push(Value::Float);
                }
                b'X' => {
                    let n = u32::from_le_bytes(take(&mut i, 4)?.try_into().unwrap()) as usize;
                    self.stack.push(Value::Str(String::from_utf8_lossy(take(&mut i, n)?).into_owned()));
                }
                0x8c => {
                    let n = take(&mut i, 1)?[0] as usize;
                    self.stack.push(Value::Str(String::from_utf8_lossy(take(&mut i, n)?).into_owned()));
                }
                b'Q' => {
                    let pid = self.pop()?;
                    self.stack.push(persistent(pid)?);
                }
                b'R' => {
                    let args = self.pop()?;
                    let f = self.pop()?;
                    self.stack.push(reduce(f, args)?);
                }
                b'b' => {
                    self.pop()?;
                }
                b'u' => {
                    let items = self.pop_mark()?;
                    let Some(Value::Dict(d)) = self.stack.last_mut() else {
                        return Err("SETITEMS on a non-dict".into());
                    };
                    let mut it = items.into_iter();
                    while let (Some(k), Some(v)) = (it.next(), it.next()) {
                        d.push((k, v));
                    }
                }
                b's' => {
                    let v = self.pop()?;
                    let k = self.pop()?;
                    let Some(Value::Dict(d)) = self.stack.last_mut() else {
                        return Err("SETITEM on a non-dict".into());
                    };
                    d.push((k, v));
                }
                b'e' => {
                    let items = self.pop_mark()?;
                    let Some(Value::List(l)) = self.stack.last_mut() else {
                        return Err("APPENDS on a non-list".into());
                    };
                    l.extend(items);
                }
                b'a' => {
                    let v = self.pop()?;
                    let Some(Value::List(l)) = self.stack.last_mut() else { return Err("APPEND on a non-list".into()) };
                    l.push(v);
                }
                other => return Err(format!("unsupported pickle opcode 0x{other:02x}")),
            }
        }
    }

    fn top(&self) -> Result<Value, String> {
        self.stack.last().cloned().ok_or("stack underflow".into())
    }

    fn pop(&mut self) -> Result<Value, String> {
        self.stack.pop().ok_or("stack underflow".into())
    }

    fn pop_mark(&mut self) -> Result<Vec<Value>, String> {
        let at = self.stack.iter().rposition(|v| matches!(v, Value::Mark)).ok_or("no MARK")?;
        let items = self.stack.split_off(at + 1);
        self.stack.pop();
        Ok(items)
    }
}

fn persistent(pid: Value) -> Result<Value, String> {
    let Value::Tuple(t) = pid else { return Err("bad persistent id".into()) };
    match t.as_slice() {
        [Value::Str(kind), Value::Global(dtype), Value::Str(key), ..] if kind == "storage" => {
            let dtype = dtype.rsplit('.').next().unwrap_or(dtype).to_string();
            Ok(Value::Storage(key.clone(), dtype))
        }
        _ => Err("unsupported persistent id".into()),
    }
}

fn ints(v: &Value) -> Result<Vec<usize>, String> {
    let Value::Tuple(t) = v else { return Err("expected a tuple of ints".into()) };
    t.iter().map(|x| if let Value::Int(i) = x { Ok(*i as usize) } else { Err("expected an int".into()) }).collect()
}

fn reduce(f: Value, args: Value) -> Result<Value, String> {
    let Value::Global(name) = f else { return Err("REDUCE on a non-callable".into()) };
    match name.as_str() {
        "collections.OrderedDict" => Ok(Value::Dict(vec![])),
        "torch._utils._rebuild_tensor_v2" | "torch._utils._rebuild_tensor" => {
            let Value::Tuple(a) = args else { return Err("bad tensor arguments".into()) };
            let [Value::Storage(key, dtype), Value::Int(offset), size, stride, ..] = a.as_slice() else {
                return Err("bad tensor arguments".into());
            };
            let shape = ints(size)?;
            let stride = ints(stride)?;
            let mut expect = 1;
            for (d, s) in shape.iter().zip(&stride).rev() {
                if *d > 1 && *s != expect {
                    return Err("non-contiguous tensors are not supported".into());
                }
                expect *= d;
            }
            Ok(Value::Tensor(TensorRef { storage: key.clone(), dtype: dtype.clone(), offset: *offset as usize, shape }))
        }
        other => Err(format!("refusing to call `{other}` while reading a state_dict")),
    }
}
