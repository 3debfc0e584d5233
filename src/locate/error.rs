/// Why a component could not be located in the graph.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LocateError {
    /// No module or tensor has this name.
    #[error("unknown component `{}`{}", abbreviate(.component), nearest(.suggestions))]
    Unknown {
        /// The component as written.
        component: String,
        /// The nearest valid spellings.
        suggestions: Vec<String>,
    },
    /// An abstract component was used without knowing the model family.
    #[error(
        "abstract component `{component}` needs the model family ({why}): set \"model_type\" (one of {families}), write rewrites/<family>/components.json and pass it with --model-type FILE, or use a module path such as `transformer.h[0].mlp.output`"
    )]
    NoFamily {
        /// The component.
        component: String,
        /// The known families.
        families: String,
        /// What detection and inference found.
        why: String,
    },
    /// The family does not define this abstract component.
    #[error("component `{}` is not defined for {family}{}", abbreviate(.component), nearest(.suggestions))]
    NotInFamily {
        /// The component.
        component: String,
        /// The family.
        family: String,
        /// Its components nearest to the name.
        suggestions: Vec<String>,
    },
    /// The family refuses this component, for a stated reason.
    #[error("component `{component}` of {family} is refused: {why}")]
    Refused {
        /// The component.
        component: String,
        /// The family.
        family: String,
        /// Why.
        why: String,
    },
    /// A fused projection's part could not be cut out.
    #[error("component `{component}` is a part of `{value}`, which cannot be cut: {why}")]
    Cut {
        /// The component.
        component: String,
        /// The fused tensor.
        value: String,
        /// Why.
        why: String,
    },
    /// The module exists but no tensor crosses that side of it.
    #[error("module `{module}` has no {side} tensor in this graph")]
    NoTensor {
        /// The module path.
        module: String,
        /// `input` or `output`.
        side: String,
    },
}

fn nearest(s: &[String]) -> String {
    if s.is_empty() {
        String::new()
    } else {
        format!("; nearest: {}", s.iter().map(|x| format!("`{x}`")).collect::<Vec<_>>().join(", "))
    }
}

/// `name` itself, or its first 80 characters and its length when it is longer: an error line
/// stays one readable line whatever the schema holds.
fn abbreviate(name: &str) -> String {
    match name.char_indices().nth(80) {
        Some((cut, _)) => format!("{}… ({} bytes)", &name[..cut], name.len()),
        None => name.to_string(),
    }
}
