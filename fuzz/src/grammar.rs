//! A small grammar of pyvene schemas for `rewrite_e2e`: fuzz bytes → a case JSON
//! (`{"model", "original", "schema"}`) for [`crate::entries::rewrite_case`].
//!
//! It draws from what the fixtures offer (gpt2_legacy: 2+ layers of width 64; mlp_legacy: `net[i]`
//! modules of width 8; pv_gru_legacy: 2 GRU cells of width 16 called for 6 steps), the forms pvc accepts (dict, list under `representations`, pyvene's
//! positional `config.json`), every intervention spelling, and the call-time `unit_locations` and
//! `subspaces` shapes, with integers biased to the edges (0, 1, the widths, negatives, huge).

use arbitrary::{Result, Unstructured};
use serde_json::{Value, json};

const GPT2_COMPONENTS: [&str; 12] = [
    "block_input",
    "block_output",
    "mlp_activation",
    "mlp_output",
    "mlp_input",
    "attention_value_output",
    "attention_weight",
    "attention_output",
    "attention_input",
    "query_output",
    "key_output",
    "value_output",
];

const GPT2_MODULES: [&str; 10] = [
    "transformer.h[0].mlp.output",
    "transformer.h[1].mlp.input",
    "transformer.h[0].attn.output",
    "transformer.h[1].output",
    "transformer.h[0].input",
    "transformer.h[1].ln_2.output",
    "transformer.wte.output",
    "transformer.ln_f.output",
    "lm_head.input",
    "h[1].mlp.c_fc.output",
];

const MLP_MODULES: [&str; 9] = [
    "net[0].input",
    "net[0].output",
    "net[1].output",
    "net[2].input",
    "net[2].output",
    "net[3].output",
    "net[4].output",
    "net.output",
    "x",
];

const INTERVENTIONS: [&str; 20] = [
    "zero",
    "vanilla",
    "addition",
    "subtraction",
    "collect",
    "noise",
    "skip",
    "interchange",
    "add",
    "subtract",
    "ZeroIntervention",
    "VanillaIntervention",
    "AdditionIntervention",
    "SubtractionIntervention",
    "CollectIntervention",
    "NoiseIntervention",
    "SkipIntervention",
    "RotatedSpaceIntervention",
    "<class 'pyvene.models.interventions.AdditionIntervention'>",
    "<class 'pyvene.models.interventions.VanillaIntervention'>",
];

const GRU_COMPONENTS: [&str; 8] = [
    "cell_input",
    "cell_output",
    "x2h_output",
    "h2h_output",
    "reset_gate_output",
    "update_gate_input",
    "new_x2h_output",
    "update_h2h_output",
];

const GRU_MODULES: [&str; 5] =
    ["cells[0].output", "cells[1].input", "cells[0].x2h.output", "cells[1].new_act.output", "cells[0].reset_act.input"];

const UNITS: [&str; 6] = ["pos", "h", "h.pos", "t", "t", ""];

/// An integer biased to the edges the fixtures have.
fn int(u: &mut Unstructured) -> Result<i64> {
    Ok(match u.int_in_range(0..=15)? {
        0..=8 => u.int_in_range(0..=6)?,
        9 => u.int_in_range(-3..=-1)?,
        10 => *u.choose(&[7, 8, 9, 31, 32, 33])?,
        11 => *u.choose(&[63, 64, 65, 128])?,
        12 => *u.choose(&[1 << 20, 1 << 31, 1 << 40, i64::MAX, i64::MIN])?,
        _ => u.int_in_range(0..=255)?,
    })
}

/// Positions or subspaces: an int or nested lists of ints, up to `depth` levels.
fn nested(u: &mut Unstructured, depth: u32) -> Result<Value> {
    if depth == 0 || u.ratio(1, 3)? {
        return Ok(json!(int(u)?));
    }
    let n = u.int_in_range(0..=3)?;
    (0..n).map(|_| nested(u, depth - 1)).collect::<Result<Vec<_>>>().map(Value::Array)
}

fn unit_locations(u: &mut Unstructured) -> Result<Value> {
    Ok(match u.int_in_range(0..=7)? {
        0 => Value::Null,
        1 => json!("runtime"),
        2 => json!(int(u)?),
        3 => json!([int(u)?, int(u)?]),
        4 => json!({ "base": nested(u, 4)? }),
        5 => json!({ "sources->base": [nested(u, 4)?, nested(u, 4)?] }),
        6 => json!({ "sources->base": nested(u, 5)? }),
        _ => nested(u, 4)?,
    })
}

fn vector(u: &mut Unstructured, width: i64) -> Result<Value> {
    let n = match u.int_in_range(0..=3)? {
        0 | 1 => width,
        2 => u.int_in_range(0..=4)?,
        _ => width + *u.choose(&[-1, 1, 64])?,
    };
    let v: Vec<Value> =
        (0..n.max(0)).map(|_| Ok(json!(f64::from(u.int_in_range(-8i8..=8)?) / 4.0))).collect::<Result<_>>()?;
    Ok(Value::Array(v))
}

/// One representation in dict form.
fn rep(u: &mut Unstructured, model: &str, values: &[String]) -> Result<Value> {
    let mut r = serde_json::Map::new();
    let (gpt2, gru) = (model.starts_with("gpt2"), model.starts_with("pv_gru"));
    let width = if gpt2 {
        64
    } else if gru {
        16
    } else {
        8
    };
    let component = match u.int_in_range(0..=3)? {
        0 | 1 if gpt2 || gru => {
            r.insert("layer".into(), json!(*u.choose(&[0, 1, 1, 0, 2, -1])?));
            u.choose(if gpt2 { &GPT2_COMPONENTS[..] } else { &GRU_COMPONENTS[..] })?.to_string()
        }
        2 if !values.is_empty() => u.choose(values)?.clone(),
        _ if gpt2 => u.choose(&GPT2_MODULES)?.to_string(),
        _ if gru => u.choose(&GRU_MODULES)?.to_string(),
        _ => u.choose(&MLP_MODULES)?.to_string(),
    };
    r.insert("component".into(), json!(component));
    let key = if u.arbitrary()? { "intervention_type" } else { "intervention" };
    r.insert(key.into(), json!(u.choose(&INTERVENTIONS)?));
    if u.ratio(2, 3)? {
        r.insert("unit".into(), json!(u.choose(&UNITS)?));
    }
    if u.ratio(1, 4)? {
        r.insert("max_number_of_units".into(), json!(int(u)?));
    }
    if u.ratio(1, 4)? {
        r.insert("source_representation".into(), vector(u, width)?);
    }
    if u.ratio(1, 6)? {
        let n = u.int_in_range(0..=3)?;
        let parts = (0..n).map(|_| Ok(json!([int(u)?, int(u)?]))).collect::<Result<Vec<_>>>()?;
        r.insert("subspace_partition".into(), Value::Array(parts));
    }
    if u.ratio(1, 8)? {
        r.insert("interchange_dim".into(), json!(int(u)?));
    }
    if u.ratio(1, 8)? {
        r.insert("group_key".into(), json!(u.int_in_range(0..=2)?));
    }
    if u.ratio(1, 10)? {
        r.insert("unit_locations".into(), unit_locations(u)?);
    }
    Ok(Value::Object(r))
}

/// A dict-form representation as pyvene's positional `config.json` entry and its class string.
fn positional(r: &Value) -> (Value, Value) {
    let kind = r.get("intervention_type").or_else(|| r.get("intervention")).cloned().unwrap_or(Value::Null);
    let get = |k: &str, default: Value| r.get(k).cloned().unwrap_or(default);
    let mut entry = vec![Value::Null; 14];
    entry[0] = get("layer", json!(0));
    entry[1] = r["component"].clone();
    entry[2] = get("unit", json!("pos"));
    entry[3] = get("max_number_of_units", json!(1));
    entry[8] = get("group_key", Value::Null);
    let entry = Value::Array(entry);
    (entry, kind)
}

/// Builds one case from fuzz bytes; `values` names the fixture's tensors (for raw-name components).
pub fn case(u: &mut Unstructured, model: &str, values: &[String]) -> Result<Value> {
    let gpt2 = model.starts_with("gpt2");
    let n = u.int_in_range(1..=3)?;
    let reps = (0..n).map(|_| rep(u, model, values)).collect::<Result<Vec<_>>>()?;
    let mut schema = match u.int_in_range(0..=5)? {
        0 => reps[0].clone(),
        1 => {
            let (entries, kinds): (Vec<_>, Vec<_>) = reps.iter().map(positional).unzip();
            let mut kinds = kinds;
            if u.ratio(1, 4)? {
                kinds.truncate(u.int_in_range(0..=kinds.len())?);
            }
            json!({ "representations": entries, "intervention_types": kinds, "mode": "parallel" })
        }
        _ => json!({ "representations": reps }),
    };
    let obj = schema.as_object_mut().expect("every form is an object");
    if gpt2 && u.ratio(1, 2)? {
        obj.insert("model_type".into(), json!(*u.choose(&["gpt2", "GPT2LMHeadModel", "llama", "mlp"])?));
    }
    if u.ratio(3, 4)? {
        obj.insert("unit_locations".into(), unit_locations(u)?);
    }
    if u.ratio(1, 3)? {
        obj.insert("subspaces".into(), nested(u, 4)?);
    }
    if u.ratio(1, 10)? {
        obj.insert("weights".into(), json!("weights.safetensors"));
    }
    Ok(json!({ "model": model, "original": u.arbitrary::<bool>()?, "schema": schema }))
}
