//! A data-only pickle interpreter for `torch.save`'s `data.pkl`. Nothing is executed: the
//! only callables are the tensor-rebuild allowlist ([`reduce`]); any other global is refused.
//!
//! Bounded on any input: memoised values are shared (`Rc`), never deep-copied, so `BINGET`
//! costs O(1); containers are dropped iteratively, so nesting never recurses on the Rust stack;
//! the stack, the memo and the total number of items and string bytes have fixed budgets.

use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;

/// Most values on the pickle stack at once: this caps the nesting the stack can build.
pub const MAX_STACK: usize = 1 << 16;
/// Most memo entries.
pub const MAX_MEMO: usize = 1 << 20;
/// Most values (container items included) and string bytes one pickle may create in all.
pub const MAX_ITEMS: usize = 1 << 24;

/// A tensor's description in the pickle: which storage, at which element offset, what shape.
#[derive(Debug, Clone)]
pub struct TensorRef {
    /// Storage key: the tensor's bytes are in the archive entry `data/<storage>`.
    pub storage: String,
    /// Storage class (`FloatStorage`, …).
    pub dtype: String,
    /// Offset in elements.
    pub offset: usize,
    /// Shape.
    pub shape: Vec<usize>,
    /// Strides in elements (torch saves column-major LAPACK results as they are).
    pub stride: Vec<usize>,
}

/// What a container holds; dicts keep flat `key, value` pairs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shape {
    Tuple,
    List,
    Dict,
}

/// A container, shared between the stack, the memo and other containers.
#[derive(Debug)]
pub struct Seq {
    pub shape: Shape,
    pub items: RefCell<Vec<Value>>,
}

impl Drop for Seq {
    fn drop(&mut self) {
        let mut pending = std::mem::take(self.items.get_mut());
        while let Some(v) = pending.pop() {
            if let Value::Seq(s) = v
                && let Some(mut inner) = Rc::into_inner(s)
            {
                pending.append(inner.items.get_mut());
            }
        }
    }
}

/// A pickled value, as far as a state_dict needs it.
#[derive(Debug, Clone)]
pub enum Value {
    None,
    Bool,
    Int(i64),
    Float,
    Str(Rc<str>),
    Seq(Rc<Seq>),
    Global(Rc<str>),
    Storage(Rc<str>, Rc<str>),
    Tensor(Rc<TensorRef>),
    Mark,
}

impl Value {
    fn seq(shape: Shape, items: Vec<Value>) -> Value {
        Value::Seq(Rc::new(Seq { shape, items: RefCell::new(items) }))
    }

    /// The items of a tuple.
    fn tuple(&self) -> Option<Vec<Value>> {
        match self {
            Value::Seq(s) if s.shape == Shape::Tuple => Some(s.items.borrow().clone()),
            _ => None,
        }
    }

    /// The `(key, value)` pairs of a dict.
    pub fn dict(&self) -> Option<Vec<(Value, Value)>> {
        match self {
            Value::Seq(s) if s.shape == Shape::Dict => {
                Some(s.items.borrow().chunks_exact(2).map(|kv| (kv[0].clone(), kv[1].clone())).collect())
            }
            _ => None,
        }
    }
}

/// Runs a pickle and returns its result.
pub fn load(p: &[u8]) -> Result<Value, String> {
    Unpickler { p, i: 0, stack: Vec::new(), memo: HashMap::new(), budget: MAX_ITEMS }.run()
}

struct Unpickler<'a> {
    p: &'a [u8],
    i: usize,
    stack: Vec<Value>,
    memo: HashMap<usize, Value>,
    budget: usize,
}

impl Unpickler<'_> {
    fn run(mut self) -> Result<Value, String> {
        loop {
            let op = self.take(1)?[0];
            match op {
                0x80 => {
                    self.take(1)?;
                }
                b'.' => return self.pop(),
                b'c' => {
                    let module = self.line()?;
                    let name = self.line()?;
                    self.push(Value::Global(format!("{module}.{name}").into()))?;
                }
                b'q' => {
                    let k = self.take(1)?[0] as usize;
                    self.memoize(k)?;
                }
                b'r' => {
                    let k = self.u32()? as usize;
                    self.memoize(k)?;
                }
                b'h' => {
                    let k = self.take(1)?[0] as usize;
                    self.recall(k)?;
                }
                b'j' => {
                    let k = self.u32()? as usize;
                    self.recall(k)?;
                }
                b'(' => self.push(Value::Mark)?,
                b')' => self.push(Value::seq(Shape::Tuple, vec![]))?,
                b']' => self.push(Value::seq(Shape::List, vec![]))?,
                b'}' => self.push(Value::seq(Shape::Dict, vec![]))?,
                b't' => {
                    let items = self.pop_mark()?;
                    self.push(Value::seq(Shape::Tuple, items))?;
                }
                0x85..=0x87 => {
                    let n = (op - 0x84) as usize;
                    let at = self.stack.len().checked_sub(n).ok_or("stack underflow")?;
                    let items = self.stack.split_off(at);
                    self.push(Value::seq(Shape::Tuple, items))?;
                }
                b'N' => self.push(Value::None)?,
                0x88 | 0x89 => self.push(Value::Bool)?,
                b'K' => {
                    let v = self.take(1)?[0] as i64;
                    self.push(Value::Int(v))?;
                }
                b'M' => {
                    let b = self.take(2)?;
                    let v = u16::from_le_bytes([b[0], b[1]]) as i64;
                    self.push(Value::Int(v))?;
                }
                b'J' => {
                    let v = self.u32()? as i32;
                    self.push(Value::Int(v as i64))?;
                }
                0x8a => {
                    let n = self.take(1)?[0] as usize;
                    let v = long(self.take(n)?)?;
                    self.push(Value::Int(v))?;
                }
                b'G' => {
                    self.take(8)?;
                    self.push(Value::Float)?;
                }
                b'X' => {
                    let n = self.u32()? as usize;
                    let s = self.text(n)?;
                    self.push(Value::Str(s))?;
                }
                0x8c => {
                    let n = self.take(1)?[0] as usize;
                    let s = self.text(n)?;
                    self.push(Value::Str(s))?;
                }
                b'Q' => {
                    let pid = self.pop()?;
                    self.push(persistent(&pid)?)?;
                }
                b'R' => {
                    let args = self.pop()?;
                    let f = self.pop()?;
                    self.push(reduce(&f, &args)?)?;
                }
                b'b' => {
                    self.pop()?;
                }
                b'u' => {
                    let items = self.pop_mark()?;
                    self.extend(Shape::Dict, items, "SETITEMS")?;
                }
                b's' => {
                    let v = self.pop()?;
                    let k = self.pop()?;
                    self.extend(Shape::Dict, vec![k, v], "SETITEM")?;
                }
                b'e' => {
                    let items = self.pop_mark()?;
                    self.extend(Shape::List, items, "APPENDS")?;
                }
                b'a' => {
                    let v = self.pop()?;
                    self.extend(Shape::List, vec![v], "APPEND")?;
                }
                other => return Err(format!("unsupported pickle opcode 0x{other:02x}")),
            }
        }
    }

    fn take(&mut self, n: usize) -> Result<&[u8], String> {
        let end = self.i.checked_add(n).filter(|&e| e <= self.p.len()).ok_or("truncated pickle")?;
        let s = &self.p[self.i..end];
        self.i = end;
        Ok(s)
    }

    fn u32(&mut self) -> Result<u32, String> {
        let b = self.take(4)?;
        Ok(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }

    fn line(&mut self) -> Result<String, String> {
        let rest = &self.p[self.i..];
        let end = rest.iter().position(|&c| c == b'\n').ok_or("bad GLOBAL")?;
        let text = String::from_utf8_lossy(&rest[..end]).into_owned();
        self.spend(end)?;
        self.i += end + 1;
        Ok(text)
    }

    fn text(&mut self, n: usize) -> Result<Rc<str>, String> {
        self.spend(n)?;
        Ok(String::from_utf8_lossy(self.take(n)?).into())
    }

    fn spend(&mut self, n: usize) -> Result<(), String> {
        self.budget = self
            .budget
            .checked_sub(n)
            .ok_or_else(|| format!("the pickle builds more than {MAX_ITEMS} values; refusing to go on"))?;
        Ok(())
    }

    fn push(&mut self, v: Value) -> Result<(), String> {
        if self.stack.len() >= MAX_STACK {
            return Err(format!("the pickle nests deeper than {MAX_STACK} levels"));
        }
        self.spend(1)?;
        self.stack.push(v);
        Ok(())
    }

    fn pop(&mut self) -> Result<Value, String> {
        self.stack.pop().ok_or("stack underflow".into())
    }

    fn memoize(&mut self, k: usize) -> Result<(), String> {
        let top = self.stack.last().cloned().ok_or("stack underflow")?;
        if self.memo.len() >= MAX_MEMO && !self.memo.contains_key(&k) {
            return Err(format!("the pickle memoises more than {MAX_MEMO} values"));
        }
        self.memo.insert(k, top);
        Ok(())
    }

    fn recall(&mut self, k: usize) -> Result<(), String> {
        let v = self.memo.get(&k).cloned().ok_or("bad memo")?;
        self.push(v)
    }

    fn pop_mark(&mut self) -> Result<Vec<Value>, String> {
        let at = self.stack.iter().rposition(|v| matches!(v, Value::Mark)).ok_or("no MARK")?;
        let items = self.stack.split_off(at + 1);
        self.stack.pop();
        Ok(items)
    }

    /// Appends `items` to the container on top of the stack, which must be a `shape`.
    fn extend(&mut self, shape: Shape, items: Vec<Value>, op: &str) -> Result<(), String> {
        match self.stack.last() {
            Some(Value::Seq(s)) if s.shape == shape => {
                self.budget = self.budget.checked_sub(items.len()).ok_or("the pickle builds too many values")?;
                s.items.borrow_mut().extend(items);
                Ok(())
            }
            _ => Err(format!("{op} on a non-{}", if shape == Shape::Dict { "dict" } else { "list" })),
        }
    }
}

fn long(b: &[u8]) -> Result<i64, String> {
    if b.len() > 8 {
        return Err(format!("a {}-byte integer does not fit in 64 bits", b.len()));
    }
    let mut bytes = [if b.last().is_some_and(|x| x & 0x80 != 0) { 0xff } else { 0 }; 8];
    bytes[..b.len()].copy_from_slice(b);
    Ok(i64::from_le_bytes(bytes))
}

fn persistent(pid: &Value) -> Result<Value, String> {
    let t = pid.tuple().ok_or("bad persistent id")?;
    match t.as_slice() {
        [Value::Str(kind), Value::Global(dtype), Value::Str(key), ..] if &**kind == "storage" => {
            let dtype = dtype.rsplit('.').next().unwrap_or(dtype);
            Ok(Value::Storage(key.clone(), dtype.into()))
        }
        _ => Err("unsupported persistent id".into()),
    }
}

fn ints(v: &Value, what: &str) -> Result<Vec<usize>, String> {
    let t = v.tuple().ok_or_else(|| format!("tensor {what}: expected a tuple of ints"))?;
    t.iter()
        .map(|x| match x {
            Value::Int(i) => usize::try_from(*i).map_err(|_| format!("tensor {what}: {i} is negative")),
            _ => Err(format!("tensor {what}: expected an int")),
        })
        .collect()
}

/// Calls one of the allowlisted globals; refuses everything else.
fn reduce(f: &Value, args: &Value) -> Result<Value, String> {
    let Value::Global(name) = f else { return Err("REDUCE on a non-callable".into()) };
    match &**name {
        "collections.OrderedDict" => Ok(Value::seq(Shape::Dict, vec![])),
        "torch._utils._rebuild_tensor_v2" | "torch._utils._rebuild_tensor" => {
            let a = args.tuple().ok_or("bad tensor arguments")?;
            let [Value::Storage(key, dtype), Value::Int(offset), size, stride, ..] = a.as_slice() else {
                return Err("bad tensor arguments".into());
            };
            let offset = usize::try_from(*offset).map_err(|_| format!("tensor offset {offset} is negative"))?;
            let shape = ints(size, "shape")?;
            let stride = ints(stride, "stride")?;
            if stride.len() != shape.len() {
                return Err(format!("tensor stride {stride:?} does not match its shape {shape:?}"));
            }
            let t = TensorRef { storage: key.to_string(), dtype: dtype.to_string(), offset, shape, stride };
            Ok(Value::Tensor(Rc::new(t)))
        }
        other => Err(format!("refusing to call `{other}` while reading a state_dict")),
    }
}
