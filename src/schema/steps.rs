//! Which forward calls of a generation an intervention acts on: pyvene's `generate` gating
//! (`intervene_on_prompt` + `unit_locations`), and pvc's `steps`, absolute positions of the whole
//! sequence. A schema with neither acts on every call, as pyvene's `forward()` does.

use super::SchemaError;
use super::json::At;
use serde_json::Value;

/// Which calls of a KV-cache decoder an intervention acts on (a call is the prompt pass when
/// its past length is 0, a decode step otherwise).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Calls {
    /// Only the prompt pass (pyvene: `intervene_on_prompt: true` with locations).
    Prompt,
    /// Only decode steps (pyvene: `intervene_on_prompt: false`).
    Decode,
    /// Every call (pyvene: `intervene_on_prompt: true`, `unit_locations: None`).
    Every,
}

/// The step selection of a schema.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Steps {
    /// pyvene's per-call gate; positions (`unit_locations`) count within each call.
    Calls(Calls),
    /// Absolute positions `from <= p < to` of the whole sequence (`p` = past length + index in
    /// the call), in whichever call they occur; `to` = `None` is open-ended.
    Absolute {
        /// First position.
        from: u64,
        /// One past the last position, if bounded.
        to: Option<u64>,
    },
    /// The last token of the prompt pass.
    LastPromptToken,
}

impl Steps {
    /// Whether positions are absolute (so `unit_locations` must leave the whole tensor).
    pub fn is_absolute(&self) -> bool {
        !matches!(self, Steps::Calls(_))
    }
}

/// Reads `intervene_on_prompt` / `steps`, and returns the selection with the document pyvene's
/// defaults apply to: with `intervene_on_prompt: false` and no (or null) `unit_locations`,
/// pyvene uses `{"base": 0}`, the step's one token.
pub fn read(root: &At) -> Result<(Option<Steps>, Option<Value>), SchemaError> {
    let on_prompt = root.get("intervene_on_prompt");
    let steps = root.get("steps");
    if let (Some(_), Some(s)) = (&on_prompt, &steps) {
        return Err(s.err("give either pyvene's `intervene_on_prompt` or pvc's `steps`, not both"));
    }
    let located = root.v.get("unit_locations").is_some_and(|v| !v.is_null());
    if let Some(p) = on_prompt {
        let on = p.v.as_bool().ok_or_else(|| p.err(format!("expected true or false, got {}", p.v)))?;
        let calls = match (on, located) {
            (false, _) => Calls::Decode,
            (true, true) => Calls::Prompt,
            (true, false) => Calls::Every,
        };
        let doc = (!on && !located).then(|| {
            let mut d = root.v.clone();
            d["unit_locations"] = serde_json::json!({"base": 0});
            d
        });
        return Ok((Some(Steps::Calls(calls)), doc));
    }
    let Some(s) = steps else { return Ok((None, None)) };
    let parsed = parse_steps(&s)?;
    if parsed.is_absolute() && located {
        return Err(
            s.err("absolute steps pick positions themselves; drop `unit_locations` (or set it to null) to use them")
        );
    }
    Ok((Some(parsed), None))
}

fn parse_steps(s: &At) -> Result<Steps, SchemaError> {
    const FORMS: &str = "\"prompt\", \"decode\", \"every\", \"last_prompt_token\", {\"from\": N, \"to\": M}, \
                         or {\"prompt_length\": P, \"generated_from\": K}";
    if let Some(word) = s.v.as_str() {
        return Ok(match word {
            "prompt" => Steps::Calls(Calls::Prompt),
            "decode" => Steps::Calls(Calls::Decode),
            "every" => Steps::Calls(Calls::Every),
            "last_prompt_token" => Steps::LastPromptToken,
            _ => return Err(s.err(format!("unknown steps `{word}`; expected {FORMS}"))),
        });
    }
    let Some(map) = s.v.as_object() else { return Err(s.err(format!("expected {FORMS}"))) };
    for key in map.keys() {
        if !["from", "to", "prompt_length", "generated_from"].contains(&key.as_str()) {
            return Err(s.err(format!("unknown key `{key}`; expected {FORMS}")));
        }
    }
    let num = |k: &str| s.get(k).map(|v| v.index().map(|n| n as u64)).transpose();
    let (from, to, prompt, generated) = (num("from")?, num("to")?, num("prompt_length")?, num("generated_from")?);
    let from = match (from, prompt, generated) {
        (Some(f), None, None) => f,
        (None, Some(p), Some(g)) => p + g,
        (None, None, None) if to.is_some() => 0,
        _ => return Err(s.err(format!("expected {FORMS}"))),
    };
    if let Some(t) = to
        && t <= from
    {
        return Err(s.err(format!("empty range: from {from} to {t}")));
    }
    Ok(Steps::Absolute { from, to })
}
