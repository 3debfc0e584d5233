//! The validated plan: what to do at which site, with every pyvene shorthand resolved.

/// The most hidden columns a schema may name (2^24): `subspace_partition` ranges end at or below
/// it, and one representation's expanded subspaces hold at most this many columns in all.
pub const MAX_COLUMNS: usize = 1 << 24;

/// The largest `max_number_of_units` (2^20).
pub const MAX_UNITS: usize = 1 << 20;

/// The largest position a schema may name (2^31 - 1): runtimes add to positions, and one near
/// `i64::MAX` overflowed tract's shape arithmetic.
pub const MAX_POSITION: i64 = i32::MAX as i64;

/// An intervention kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Kind {
    /// Set the selection to zero.
    Zero,
    /// Replace the selection by the source (interchange).
    Vanilla,
    /// Add the source to the selection (steering).
    Addition,
    /// Subtract the source from the selection.
    Subtraction,
    /// Leave the selection and expose it as `collected.<i>`.
    Collect,
    /// Add pyvene's fixed seeded noise (causal tracing).
    Noise,
    /// Replace the module's output by its input (taken from the source run).
    Skip,
    /// DAS: interchange in a learned orthogonal basis, `(swap(xR, sR)) Rᵀ`.
    RotatedSpace,
    /// Low-rank DAS: `x + ((s − x) W) Wᵀ` over orthonormal columns W.
    LowRankRotatedSpace,
    /// A sigmoid boundary mask over a learned rotation.
    BoundlessRotatedSpace,
    /// A learned sigmoid mask over a learned rotation.
    SigmoidMaskRotatedSpace,
    /// A learned sigmoid mask in the original basis.
    SigmoidMask,
    /// Interchange in a PCA basis.
    PcaRotatedSpace,
    /// Interchange chosen latents of a ReLU autoencoder.
    Autoencoder,
    /// Interchange latents of a JumpReLU sparse autoencoder.
    JumpReluAutoencoder,
    /// pyreft's LoReFT: `h + (hWᵀ + b − hR) Rᵀ`.
    Loreft,
    /// pyreft's NoReFT: `h + (hWᵀ + b − (hW₂ᵀ + b₂)) W₂`.
    Noreft,
    /// pyreft's ConsReFT: `h + (b − hR) Rᵀ`.
    Consreft,
    /// pyreft's DiReFT: `h + (hWᵀ + b) Rᵀ`.
    Direft,
    /// pyreft's LobiReFT: `h + b Rᵀ`.
    Lobireft,
    /// pyreft's NodiReFT: `h + (hWᵀ + b) W₂`.
    Nodireft,
}

impl Kind {
    /// pyvene's class name.
    pub fn class(self) -> &'static str {
        match self {
            Kind::Zero => "ZeroIntervention",
            Kind::Vanilla => "VanillaIntervention",
            Kind::Addition => "AdditionIntervention",
            Kind::Subtraction => "SubtractionIntervention",
            Kind::Collect => "CollectIntervention",
            Kind::Noise => "NoiseIntervention",
            Kind::Skip => "SkipIntervention",
            Kind::RotatedSpace => "RotatedSpaceIntervention",
            Kind::LowRankRotatedSpace => "LowRankRotatedSpaceIntervention",
            Kind::BoundlessRotatedSpace => "BoundlessRotatedSpaceIntervention",
            Kind::SigmoidMaskRotatedSpace => "SigmoidMaskRotatedSpaceIntervention",
            Kind::SigmoidMask => "SigmoidMaskIntervention",
            Kind::PcaRotatedSpace => "PCARotatedSpaceIntervention",
            Kind::Autoencoder => "AutoencoderIntervention",
            Kind::JumpReluAutoencoder => "JumpReLUAutoencoderIntervention",
            Kind::Loreft => "LoreftIntervention",
            Kind::Noreft => "NoreftIntervention",
            Kind::Consreft => "ConsreftIntervention",
            Kind::Direft => "DireftIntervention",
            Kind::Lobireft => "LobireftIntervention",
            Kind::Nodireft => "NodireftIntervention",
        }
    }

    /// Every kind, in declaration order.
    pub const ALL: [Kind; 21] = [
        Kind::Zero,
        Kind::Vanilla,
        Kind::Addition,
        Kind::Subtraction,
        Kind::Collect,
        Kind::Noise,
        Kind::Skip,
        Kind::RotatedSpace,
        Kind::LowRankRotatedSpace,
        Kind::BoundlessRotatedSpace,
        Kind::SigmoidMaskRotatedSpace,
        Kind::SigmoidMask,
        Kind::PcaRotatedSpace,
        Kind::Autoencoder,
        Kind::JumpReluAutoencoder,
        Kind::Loreft,
        Kind::Noreft,
        Kind::Consreft,
        Kind::Direft,
        Kind::Lobireft,
        Kind::Nodireft,
    ];

    /// Whether the kind is one of pyreft's (source-less, `keep_last_dim`).
    pub fn is_reft(self) -> bool {
        matches!(self, Kind::Loreft | Kind::Noreft | Kind::Consreft | Kind::Direft | Kind::Lobireft | Kind::Nodireft)
    }

    /// Whether the kind carries weights of its own ([`Trained`]).
    pub fn is_trained(self) -> bool {
        !matches!(
            self,
            Kind::Zero | Kind::Vanilla | Kind::Addition | Kind::Subtraction | Kind::Collect | Kind::Noise | Kind::Skip
        )
    }

    /// Whether pyvene flattens the gathered units into one vector before calling the
    /// intervention (`do_intervention`): every kind that is neither Localist nor `keep_last_dim`.
    pub fn flattens(self) -> bool {
        self.is_trained() && !matches!(self, Kind::SigmoidMask | Kind::JumpReluAutoencoder) && !self.is_reft()
    }

    /// Whether the kind reads a source at all.
    pub fn takes_source(self) -> bool {
        matches!(self, Kind::Vanilla | Kind::Addition | Kind::Subtraction | Kind::Skip)
            || (self.is_trained() && !self.is_reft())
    }
}

/// Which positions (units) an intervention touches on one side.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Positions {
    /// The whole tensor (pyvene's `None`).
    All,
    /// Fixed positions: one row shared by every example, or one row per example.
    Fixed(Vec<Vec<i64>>),
    /// Given at run time as an int64 input `[batch, units]`.
    Runtime,
}

/// Which hidden dimensions are touched.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Dims {
    /// `[..., :n]`, or everything when `None`.
    Prefix(Option<usize>),
    /// These columns for every example.
    Shared(Vec<usize>),
    /// Per example, these columns.
    PerExample(Vec<Vec<usize>>),
}

/// Where an intervention's source comes from.
#[derive(Debug, Clone, PartialEq)]
pub enum Source {
    /// No source (Zero, Collect, Noise).
    None,
    /// A source forward pass: source group `group`, at these positions.
    Run {
        /// Source group, counted from 0 in group_key order.
        group: usize,
        /// Source-side positions.
        positions: Positions,
    },
    /// A constant vector (`source_representation`).
    Constant(Vec<f32>),
    /// An activation given at run time as input `source_representations.<i>`.
    Runtime,
}

/// One validated representation.
#[derive(Debug, Clone, PartialEq)]
pub struct Rep {
    /// Index in the schema.
    pub index: usize,
    /// JSON path of the representation, for errors.
    pub at: String,
    /// Layer that fills `{layer}` in abstract components.
    pub layer: i64,
    /// Component as written.
    pub component: String,
    /// pyvene's `max_number_of_units`.
    pub max_units: usize,
    /// The intervention.
    pub kind: Kind,
    /// Base-side positions.
    pub positions: Positions,
    /// Hidden dimensions touched.
    pub dims: Dims,
    /// The source.
    pub source: Source,
    /// The unit (`pos`, `h`, `h.pos`).
    pub unit: super::heads::Unit,
    /// At head units, which heads (positions then address the sequence axis).
    pub heads: Option<super::heads::HeadSel>,
    /// A trained kind's weights, as its module computes with them.
    pub trained: Option<super::trained::Trained>,
}

impl Rep {
    /// JSON path of one of this representation's fields.
    pub fn field(&self, name: &str) -> String {
        if self.at.is_empty() { name.to_string() } else { format!("{}.{name}", self.at) }
    }

    /// Where an error in this representation's `unit_locations` is: `unit_locations (base side of
    /// representations[0], example 1)`, leaving out what is not given (a single-representation
    /// schema has no path of its own).
    pub fn locations_field(&self, side: Option<&str>, example: Option<usize>) -> String {
        let mut parts = Vec::new();
        match (side, self.at.is_empty()) {
            (Some(s), false) => parts.push(format!("{s} side of {}", self.at)),
            (Some(s), true) => parts.push(format!("{s} side")),
            (None, false) => parts.push(self.at.clone()),
            (None, true) => {}
        }
        parts.extend(example.map(|e| format!("example {e}")));
        if parts.is_empty() { "unit_locations".into() } else { format!("unit_locations ({})", parts.join(", ")) }
    }
}

/// A validated schema.
#[derive(Debug, Clone, PartialEq)]
pub struct Plan {
    /// Model type named by the schema (`gpt2`, a pyvene class string), if any.
    pub model_type: Option<String>,
    /// Representations in schema order.
    pub reps: Vec<Rep>,
    /// Number of source groups (source inputs `source.<g>.*`).
    pub groups: usize,
    /// The size of one attention head, when the schema states it (pvc's top-level `head_dim`,
    /// for graphs that do not show their heads).
    pub head_dim: Option<usize>,
    /// pyvene's serial mode: representation `i` reads source run `i` and intervenes on run
    /// `i + 1` (source `i + 1`, or the base after the last), so each source run is itself
    /// intervened by the one before.
    pub serial: bool,
    /// Which calls (or absolute positions) of a generation the interventions act on; `None`:
    /// every call, as pyvene's `forward()`.
    pub steps: Option<super::steps::Steps>,
    /// The schema as given, recorded in the patched model's metadata.
    pub json: serde_json::Value,
    /// The weights the representations read, in their plain `<i>.<param>` form (what
    /// `pvc export-weights` writes).
    pub tensors: Vec<(String, Vec<usize>, Vec<f32>)>,
}

impl Plan {
    /// Whether the plan does nothing.
    pub fn is_empty(&self) -> bool {
        self.reps.is_empty()
    }
}
