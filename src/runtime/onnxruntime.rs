//! The ONNX Runtime backend, through the `ort` crate with the library loaded at run time.
//!
//! Nothing is linked at build time. The library is found, in this order, at:
//! 1. an explicit path ([`OrtOptions::lib`], the CLI's `--ort-lib`);
//! 2. the `ORT_DYLIB_PATH` environment variable;
//! 3. an installed Python `onnxruntime` or `onnxruntime-gpu` package (`onnxruntime/capi/libonnxruntime.so*`).
//!
//! ONNX Runtime allows one environment per process, so the first library loaded is the only one: asking for
//! another path later is an error. The library must be 1.31 or newer (the API version of `ort` 2.0.0-rc.15).

use super::{Backend, DType, IoSpec, NamedTensors, RuntimeError, Tensor};
use ::ort::environment::Environment;
use ::ort::memory::Allocator;
use ::ort::session::Session;
use ::ort::session::builder::{GraphOptimizationLevel, SessionBuilder};
use ::ort::value::{DynTensor, DynTensorValueType, TensorElementType};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

/// Where the model runs.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Device {
    /// The CPU execution provider.
    #[default]
    Cpu,
    /// The CUDA execution provider (needs a GPU build of ONNX Runtime, e.g. the `onnxruntime-gpu` wheel).
    Cuda,
}

/// ONNX Runtime's graph optimization level.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum OptLevel {
    /// No graph optimizations.
    Disable,
    /// Constant folding and redundant-node elimination.
    Basic,
    /// Basic plus complex fusions.
    Extended,
    /// Everything, including layout optimizations.
    #[default]
    All,
}

impl std::str::FromStr for Device {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "cpu" => Ok(Device::Cpu),
            "cuda" => Ok(Device::Cuda),
            _ => Err(format!("unknown device `{s}` (expected cpu or cuda)")),
        }
    }
}

impl std::fmt::Display for Device {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Device::Cpu => "cpu",
            Device::Cuda => "cuda",
        })
    }
}

impl std::str::FromStr for OptLevel {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "disable" => Ok(OptLevel::Disable),
            "basic" => Ok(OptLevel::Basic),
            "extended" => Ok(OptLevel::Extended),
            "all" => Ok(OptLevel::All),
            _ => Err(format!("unknown optimization level `{s}` (expected disable, basic, extended or all)")),
        }
    }
}

impl std::fmt::Display for OptLevel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            OptLevel::Disable => "disable",
            OptLevel::Basic => "basic",
            OptLevel::Extended => "extended",
            OptLevel::All => "all",
        })
    }
}

/// How to load and run a model on ONNX Runtime.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OrtOptions {
    /// The ONNX Runtime shared library; `None` searches `ORT_DYLIB_PATH`, then a Python `onnxruntime` package.
    pub lib: Option<PathBuf>,
    /// Execution provider.
    pub device: Device,
    /// Graph optimization level.
    pub opt_level: OptLevel,
    /// Threads within an operator; `None` lets ONNX Runtime choose.
    pub intra_threads: Option<usize>,
    /// Threads across independent operators; setting it also turns on parallel execution.
    pub inter_threads: Option<usize>,
}

impl OrtOptions {
    /// The most threads of either kind: 4 × the CPUs this process may use, at most 1024.
    /// More only oversubscribes the machine, and ONNX Runtime allocates per thread up front.
    pub fn max_threads() -> usize {
        let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
        cpus.saturating_mul(4).min(1024)
    }

    /// Checks the thread counts: each at least 1 and at most [`OrtOptions::max_threads`].
    pub fn validate(&self) -> Result<(), RuntimeError> {
        let max = OrtOptions::max_threads();
        for (n, what) in [
            (self.intra_threads, "intra-op threads (--threads)"),
            (self.inter_threads, "inter-op threads (--inter-threads)"),
        ] {
            if let Some(n) = n
                && !(1..=max).contains(&n)
            {
                return Err(RuntimeError::Backend(format!(
                    "onnxruntime: {what} {n} is out of range: give 1 to {max} (4 × the available CPUs, at most 1024)"
                )));
            }
        }
        Ok(())
    }
}

/// A model loaded into an ONNX Runtime session.
pub struct OrtBackend {
    session: Session,
    inputs: Vec<IoSpec>,
    outputs: Vec<String>,
    rules: super::Rules,
}

const HOW_TO_GET: &str = "install one with `pip install onnxruntime` (1.31 or newer; `onnxruntime-gpu` for CUDA), \
     or point `--ort-lib PATH` or the ORT_DYLIB_PATH environment variable at libonnxruntime.so";

/// The one ONNX Runtime environment of this process, with the library it was loaded from.
static ENV: Mutex<Option<(PathBuf, Environment)>> = Mutex::new(None);

fn backend_err<R>(what: &str) -> impl Fn(::ort::Error<R>) -> RuntimeError + '_ {
    move |e| {
        RuntimeError::Backend(format!(
            "onnxruntime: {what}: {}",
            e.to_string().split_whitespace().collect::<Vec<_>>().join(" ")
        ))
    }
}

impl OrtBackend {
    /// Loads the model at `path` (external data resolves next to it) into a session configured by `opts`.
    pub fn load(path: &Path, opts: &OrtOptions) -> Result<OrtBackend, RuntimeError> {
        opts.validate()?;
        let (inputs, outputs, rules) = super::model_contract(path)?;
        let (lib, env) = environment(opts.lib.as_deref())?;
        let mut builder = SessionBuilder::new(&env).map_err(backend_err("creating session options"))?;
        builder = builder
            .with_optimization_level(match opts.opt_level {
                OptLevel::Disable => GraphOptimizationLevel::Disable,
                OptLevel::Basic => GraphOptimizationLevel::Level1,
                OptLevel::Extended => GraphOptimizationLevel::Level2,
                OptLevel::All => GraphOptimizationLevel::All,
            })
            .map_err(backend_err("setting the optimization level"))?;
        if let Some(n) = opts.intra_threads {
            builder = builder.with_intra_threads(n).map_err(backend_err("setting intra-op threads"))?;
        }
        if let Some(n) = opts.inter_threads {
            builder = builder
                .with_parallel_execution(true)
                .map_err(backend_err("enabling parallel execution"))?
                .with_inter_threads(n)
                .map_err(backend_err("setting inter-op threads"))?;
        }
        if opts.device == Device::Cuda {
            builder = with_cuda(builder, &lib)?;
        }
        let session = builder
            .commit_from_file(path)
            .map_err(|e| RuntimeError::Backend(format!("onnxruntime: loading {}: {e}", path.display())))?;
        Ok(OrtBackend { session, inputs, outputs, rules })
    }

    /// Finds the ONNX Runtime library: `explicit` if given, else `ORT_DYLIB_PATH`, else an installed Python
    /// `onnxruntime` / `onnxruntime-gpu` package. The file must exist; nothing is loaded.
    pub fn find_library(explicit: Option<&Path>) -> Result<PathBuf, RuntimeError> {
        if let Some(p) = explicit {
            return existing(p, "--ort-lib");
        }
        if let Some(p) = std::env::var_os("ORT_DYLIB_PATH").filter(|s| !s.is_empty()) {
            return existing(Path::new(&p), "ORT_DYLIB_PATH");
        }
        python_packages()
            .iter()
            .find_map(|dir| library_in(&dir.join("capi")))
            .ok_or_else(|| RuntimeError::Backend(format!("no ONNX Runtime library found: {HOW_TO_GET}")))
    }

    /// The library this process has loaded, if any.
    pub fn loaded_library() -> Option<PathBuf> {
        ENV.lock().unwrap_or_else(|e| e.into_inner()).as_ref().map(|(p, _)| p.clone())
    }
}

fn existing(p: &Path, from: &str) -> Result<PathBuf, RuntimeError> {
    if p.is_file() {
        Ok(p.to_path_buf())
    } else {
        Err(RuntimeError::Backend(format!(
            "ONNX Runtime library {} (from {from}) does not exist or is not a file; {HOW_TO_GET}",
            p.display()
        )))
    }
}

/// Directories of installed Python `onnxruntime` packages (the `onnxruntime-gpu` wheel installs the same
/// module name), most likely first.
fn python_packages() -> Vec<PathBuf> {
    let mut out = Vec::new();
    // find_spec locates the package without importing it (importing pulls in numpy and takes a while).
    let probe = "import importlib.util as u; s = u.find_spec('onnxruntime'); \
                 print(s.submodule_search_locations[0] if s and s.submodule_search_locations else '')";
    for py in ["python3", "python"] {
        let Ok(o) = std::process::Command::new(py).args(["-c", probe]).stderr(std::process::Stdio::null()).output()
        else {
            continue;
        };
        let dir = String::from_utf8_lossy(&o.stdout).trim().to_string();
        if o.status.success() && !dir.is_empty() {
            out.push(PathBuf::from(dir));
            break;
        }
    }
    // A virtual environment that is active but whose interpreter is not first on PATH.
    if let Some(venv) = std::env::var_os("VIRTUAL_ENV") {
        for lib in ["lib", "lib64"] {
            let Ok(entries) = std::fs::read_dir(Path::new(&venv).join(lib)) else { continue };
            for e in entries.flatten() {
                if e.file_name().to_string_lossy().starts_with("python") {
                    out.push(e.path().join("site-packages").join("onnxruntime"));
                }
            }
        }
    }
    out
}

/// The ONNX Runtime library in a wheel's `capi` directory (not the provider plugins next to it).
fn library_in(capi: &Path) -> Option<PathBuf> {
    let mut found: Vec<PathBuf> = std::fs::read_dir(capi)
        .ok()?
        .flatten()
        .map(|e| e.path())
        .filter(|p| {
            let n = p.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
            p.is_file()
                && (n.starts_with("libonnxruntime.so")
                    || (n.starts_with("libonnxruntime.") && n.ends_with(".dylib"))
                    || n == "onnxruntime.dll")
        })
        .collect();
    // Prefer the fully versioned name (the wheel ships only that one, but a source build has symlinks too).
    found.sort_by_key(|p| std::cmp::Reverse(p.as_os_str().len()));
    found.into_iter().next()
}

/// The process's ONNX Runtime environment, created on first use from the library that `lib` (or discovery)
/// names.
fn environment(lib: Option<&Path>) -> Result<(PathBuf, Environment), RuntimeError> {
    let mut guard = ENV.lock().unwrap_or_else(|e| e.into_inner());
    if let Some((loaded, env)) = guard.as_ref() {
        // Without an explicit path, reuse whatever is loaded; with one, it must be the same file.
        if let Some(want) = lib {
            let want = existing(want, "--ort-lib")?;
            if !same_file(&want, loaded) {
                return Err(RuntimeError::Backend(format!(
                    "ONNX Runtime is already loaded from {} in this process; it cannot also load {} \
                     (one library per process)",
                    loaded.display(),
                    want.display()
                )));
            }
        }
        return Ok((loaded.clone(), env.clone()));
    }
    let path = OrtBackend::find_library(lib)?;
    let path = std::fs::canonicalize(&path).unwrap_or(path);
    let builder = ::ort::init_from(&path).map_err(|e| load_error(&path, e))?;
    // ONNX Runtime's own log lines would repeat, in colour and on several lines, what pvc reports
    // once as an error; they are dropped.
    let env = builder
        .with_name("pvc")
        .with_logger(std::sync::Arc::new(|_, _, _, _, _| {}))
        .build()
        .map_err(|e| RuntimeError::Backend(format!("onnxruntime: creating the environment: {e}")))?;
    *guard = Some((path.clone(), env.clone()));
    Ok((path, env))
}

fn same_file(a: &Path, b: &Path) -> bool {
    let canon = |p: &Path| std::fs::canonicalize(p).unwrap_or_else(|_| p.to_path_buf());
    canon(a) == canon(b)
}

fn load_error(path: &Path, e: ::ort::LoadDynamicError) -> RuntimeError {
    use ::ort::LoadDynamicError as L;
    RuntimeError::Backend(match e {
        L::BadVersion { version_str, .. } => format!(
            "ONNX Runtime library {} is version {version_str}; pvc needs 1.{} or newer ({HOW_TO_GET})",
            path.display(),
            ::ort::MINOR_VERSION
        ),
        L::MissingApi { .. } => {
            format!("{} is not an ONNX Runtime library (it has no OrtGetApiBase); {HOW_TO_GET}", path.display())
        }
        L::Dlopen { error, .. } => {
            let why = std::error::Error::source(&error).map(|s| s.to_string()).unwrap_or_else(|| error.to_string());
            format!("cannot load {} as a shared library: {why}; {HOW_TO_GET}", path.display())
        }
        other => format!("cannot load the ONNX Runtime library {}: {other}", path.display()),
    })
}

/// Registers the CUDA execution provider, failing (rather than falling back to the CPU) when the library was
/// built without it or it cannot start.
fn with_cuda(mut builder: SessionBuilder, lib: &Path) -> Result<SessionBuilder, RuntimeError> {
    use ::ort::ep::ExecutionProvider;
    let available = ::ort::ep::CUDA::is_available()
        .map_err(|e| RuntimeError::Backend(format!("onnxruntime: listing execution providers: {e}")))?;
    if !available {
        return Err(RuntimeError::Backend(format!(
            "--device cuda: the ONNX Runtime library {} has no CUDA execution provider (it is a CPU-only build); \
             install `onnxruntime-gpu` with its CUDA libraries and point --ort-lib or ORT_DYLIB_PATH at its \
             capi/libonnxruntime.so",
            lib.display()
        )));
    }
    ::ort::ep::CUDA::default().register(&mut builder).map_err(|e| {
        RuntimeError::Backend(format!(
            "--device cuda: the CUDA execution provider of {} failed to start: {e} \
             (are the CUDA and cuDNN libraries installed, e.g. the nvidia-* wheels, and is a GPU visible?)",
            lib.display()
        ))
    })?;
    Ok(builder)
}

fn element(d: DType) -> TensorElementType {
    match d {
        DType::F32 => TensorElementType::Float32,
        DType::F16 => TensorElementType::Float16,
        DType::BF16 => TensorElementType::Bfloat16,
        DType::F64 => TensorElementType::Float64,
        DType::I64 => TensorElementType::Int64,
        DType::I32 => TensorElementType::Int32,
        DType::U8 => TensorElementType::Uint8,
        DType::Bool => TensorElementType::Bool,
    }
}

fn dtype_of(t: TensorElementType) -> Option<DType> {
    [DType::F32, DType::F16, DType::BF16, DType::F64, DType::I64, DType::I32, DType::U8, DType::Bool]
        .into_iter()
        .find(|d| element(*d) == t)
}

fn to_ort(name: &str, t: &Tensor) -> Result<DynTensor, RuntimeError> {
    let mut v = DynTensor::new(&Allocator::default(), element(t.dtype), t.shape.clone())
        .map_err(|e| RuntimeError::BadInput { name: name.into(), reason: format!("onnxruntime: {e}") })?;
    if !t.bytes.is_empty() {
        let dst = v.data_ptr_mut().cast::<u8>();
        // SAFETY: the tensor was just allocated on the CPU for this type and shape, which `Tensor` guarantees
        // `bytes` fills exactly.
        unsafe { std::ptr::copy_nonoverlapping(t.bytes.as_ptr(), dst, t.bytes.len()) };
    }
    Ok(v)
}

fn from_ort(name: &str, v: ::ort::value::DynValue) -> Result<Tensor, RuntimeError> {
    let bad = |why: String| RuntimeError::Backend(format!("onnxruntime: output `{name}`: {why}"));
    let t = v.downcast::<DynTensorValueType>().map_err(|_| bad("not a tensor".into()))?;
    let ty = *t.data_type();
    let dtype = dtype_of(ty).ok_or_else(|| bad(format!("unsupported element type {ty:?}")))?;
    if !t.memory_info().is_cpu_accessible() {
        return Err(bad("the tensor is not in CPU memory".into()));
    }
    let shape: Vec<usize> = t.shape().iter().map(|&d| d as usize).collect();
    let n = shape.iter().product::<usize>() * dtype.size();
    let mut bytes = vec![0u8; n];
    if n > 0 {
        // SAFETY: a CPU tensor of this type and shape holds exactly `n` bytes.
        unsafe { std::ptr::copy_nonoverlapping(t.data_ptr().cast::<u8>(), bytes.as_mut_ptr(), n) };
    }
    Tensor::new(dtype, shape, bytes)
}

impl Backend for OrtBackend {
    fn name(&self) -> &'static str {
        "onnxruntime"
    }

    fn inputs(&self) -> &[IoSpec] {
        &self.inputs
    }

    fn outputs(&self) -> &[String] {
        &self.outputs
    }

    fn run(&mut self, inputs: &NamedTensors) -> Result<NamedTensors, RuntimeError> {
        let ordered = super::checked_inputs(&self.inputs, &self.rules, inputs)?;
        let feed: Vec<(String, DynTensor)> = self
            .inputs
            .iter()
            .zip(ordered)
            .map(|(spec, t)| Ok((spec.name.clone(), to_ort(&spec.name, t)?)))
            .collect::<Result<_, RuntimeError>>()?;
        let mut outs = self.session.run(feed).map_err(backend_err("run"))?;
        self.outputs
            .iter()
            .map(|name| {
                let v = outs
                    .remove(name.as_str())
                    .ok_or_else(|| RuntimeError::Backend(format!("onnxruntime: output `{name}` missing")))?;
                Ok((name.clone(), from_ort(name, v)?))
            })
            .collect()
    }
}
