//! Raw JSON (any of the accepted forms) to a validated [`Plan`].

use super::SchemaError;
use super::heads;
use super::json::At;
use super::locations::{self, Locs};
use super::orthogonal::OrthMap;
use super::plan::{Dims, Kind, MAX_COLUMNS, MAX_UNITS, Plan, Positions, Rep, Source};
use super::trained;
use super::weights::{StateDicts, Weights};
use serde_json::Value;
use std::collections::BTreeSet;
use std::path::Path;

/// Field order of pyvene's `RepresentationConfig` namedtuple, as saved configs list them.
const FIELDS: [&str; 14] = [
    "layer",
    "component",
    "unit",
    "max_number_of_units",
    "low_rank_dimension",
    "intervention_type",
    "intervention",
    "subspace_partition",
    "group_key",
    "intervention_link_key",
    "moe_key",
    "source_representation",
    "hidden_source_representation",
    "latent_dim",
];

/// Top-level keys of a schema, which a single-representation document also carries.
const TOP: [&str; 14] = [
    "representations",
    "intervene_on_prompt",
    "steps",
    "unit_locations",
    "subspaces",
    "weights",
    "model_type",
    "mode",
    "intervention_types",
    "intervention_dimensions",
    "intervention_constant_sources",
    "sorted_keys",
    "transformers_version",
    "head_dim",
];

/// Keys a representation dict may carry.
const EXTRA: [&str; 4] = ["interchange_dim", "source_representations", "orthogonal_map", "sae"];

/// Keys of a HF `PretrainedConfig` (transformers 4.51), which pyvene's saved `config.json`
/// (an `IntervenableConfig`) may carry; they say nothing about interventions and are ignored.
const HF_CONFIG: [&str; 57] = [
    "_attn_implementation_autoset",
    "_commit_hash",
    "_name_or_path",
    "add_cross_attention",
    "architectures",
    "bad_words_ids",
    "begin_suppress_tokens",
    "bos_token_id",
    "chunk_size_feed_forward",
    "cross_attention_hidden_size",
    "decoder_start_token_id",
    "diversity_penalty",
    "do_sample",
    "early_stopping",
    "encoder_no_repeat_ngram_size",
    "eos_token_id",
    "exponential_decay_length_penalty",
    "finetuning_task",
    "forced_bos_token_id",
    "forced_eos_token_id",
    "id2label",
    "is_decoder",
    "is_encoder_decoder",
    "label2id",
    "length_penalty",
    "max_length",
    "min_length",
    "no_repeat_ngram_size",
    "num_beam_groups",
    "num_beams",
    "num_return_sequences",
    "output_attentions",
    "output_hidden_states",
    "output_scores",
    "pad_token_id",
    "prefix",
    "problem_type",
    "pruned_heads",
    "remove_invalid_values",
    "repetition_penalty",
    "return_dict",
    "return_dict_in_generate",
    "sep_token_id",
    "suppress_tokens",
    "task_specific_params",
    "temperature",
    "tf_legacy_loss",
    "tie_encoder_decoder",
    "tie_word_embeddings",
    "tokenizer_class",
    "top_k",
    "top_p",
    "torch_dtype",
    "torchscript",
    "typical_p",
    "use_bfloat16",
    "output_past",
];

/// One representation with its fields looked up by name, whatever form it came in.
struct RawRep<'a> {
    at: At<'a>,
    fields: Vec<(&'static str, At<'a>)>,
}

impl<'a> RawRep<'a> {
    fn get(&self, key: &str) -> Option<&At<'a>> {
        self.fields.iter().find(|(k, v)| *k == key && !v.v.is_null()).map(|(_, v)| v)
    }
}

/// Parses and validates a schema document; `dir` anchors relative weight paths, `dicts` says
/// where pyvene state dicts come from.
pub fn parse(doc: &Value, dir: &Path, dicts: &StateDicts) -> Result<Plan, SchemaError> {
    let root = At::root(doc);
    if !doc.is_object() {
        return Err(root.err("a schema is a JSON object"));
    }
    let serial = match root.get("mode") {
        None => false,
        Some(m) => match m.str()? {
            "parallel" => false,
            "serial" => true,
            other => return Err(m.err(format!("unknown mode `{other}`; expected \"parallel\" or \"serial\""))),
        },
    };
    check_top_keys(&root)?;
    let (steps, defaulted) = super::steps::read(&root)?;
    if let Some(d) = defaulted {
        let mut plan = parse(&d, dir, dicts)?;
        plan.json = doc.clone();
        return Ok(plan);
    }
    let raws = representations(&root)?;
    let n = raws.len();
    for key in ["intervention_types", "intervention_dimensions", "intervention_constant_sources"] {
        if let Some(list) = root.get(key)
            && let Some(items) = list.v.as_array()
            && items.len() != n
        {
            return Err(list.err(format!("has {} entries but the schema has {n} representations", items.len())));
        }
    }
    let mut weights = Weights::load(&root, dir, dicts)?;
    let units = raws.iter().map(|r| heads::unit_of(r.get("unit"))).collect::<Result<Vec<_>, _>>()?;
    let (locs, head_locs) = if serial {
        if let Some(i) = units.iter().position(|u| *u != heads::Unit::Pos) {
            return Err(raws[i].at.err("serial mode is supported at unit pos"));
        }
        (Some(locations::serial_locations(&root, n)?), vec![None; n])
    } else {
        heads::split_locations(&root, &units)?
    };
    let subspaces = locations::subspaces(&root, n)?;
    let types = root.get("intervention_types");
    let dims = root.get("intervention_dimensions");
    let mut reps = Vec::with_capacity(n);
    let mut keyed = Vec::new();
    for (i, raw) in raws.iter().enumerate() {
        let kind = kind_of(raw, types.as_ref(), i)?;
        if units[i] == heads::Unit::Steps {
            super::time::check(kind, &raw.at.path)?;
        }
        let layer = raw.get("layer").map(At::int).transpose()?.unwrap_or(0);
        let component = match raw.get("component") {
            Some(c) => c.str()?.to_string(),
            None => "block_output".to_string(),
        };
        for key in ["intervention_link_key", "moe_key"] {
            if let Some(k) = raw.get(key) {
                return Err(k.err(format!("`{key}` is not supported yet")));
            }
        }
        let max_units = raw.get("max_number_of_units").map(At::index).transpose()?.unwrap_or(1);
        if max_units == 0 || max_units > MAX_UNITS {
            return Err(raw.get("max_number_of_units").unwrap().err(format!("must be 1 to {MAX_UNITS}")));
        }
        let partition = raw.get("subspace_partition").map(partition).transpose()?;
        let idim_at = raw
            .get("interchange_dim")
            .cloned()
            .or_else(|| dims.as_ref().and_then(|d| d.at(i)).filter(|d| !d.v.is_null()));
        let idim = if kind == Kind::Autoencoder { None } else { interchange_dim(raw, dims.as_ref(), i)? };
        if kind.is_trained()
            && let Some(rows) = &subspaces[i]
            && rows.iter().any(|r| r != &rows[0])
        {
            return Err(SchemaError::new(
                format!("subspaces[{i}]"),
                format!(
                    "{} with different subspaces per example is not supported yet; give one list for every example",
                    kind.class()
                ),
            ));
        }
        if let Some(sae) = raw.get("sae") {
            let path = dir.join(sae.str()?);
            let tensors = super::saelens::load(sae, &path, kind)?;
            weights.insert(i, &path, tensors);
        }
        let trained = if kind.is_trained() {
            let map = match raw.get("orthogonal_map") {
                Some(m) => {
                    Some(OrthMap::parse(m.str()?).ok_or_else(|| m.err("expected matrix_exp, cayley or householder"))?)
                }
                None => None,
            };
            Some(trained::read(kind, &weights, (i, &raw.at), map, idim_at.as_ref())?)
        } else {
            None
        };
        let dims = select_dims(&raw.at, subspaces[i].clone(), partition, idim)?;
        let loc = locs.as_ref().map(|l| l[i].clone());
        let constant = constant_source(raw, &weights, i, kind)?;
        let (mut positions, mut source) = sources(raw, kind, loc, constant)?;
        let heads = heads::selection(units[i], head_locs[i].clone(), &mut positions, &mut source);
        if let Source::Run { .. } = source {
            keyed.push((i, raw.get("group_key").map(At::int).transpose()?));
        }
        reps.push(Rep {
            index: i,
            at: raw.at.path.clone(),
            layer,
            component,
            max_units,
            kind,
            positions,
            dims,
            source,
            unit: units[i],
            heads,
            trained,
        });
    }
    let groups = assign_groups(&mut reps, &keyed, &raws)?;
    if serial {
        check_serial(&reps, &raws)?;
    }
    let model_type = root.get("model_type").map(|m| m.str().map(str::to_string)).transpose()?;
    let head_dim = root.get("head_dim").map(|d| d.index()).transpose()?;
    let tensors = super::export::tensors(&weights, &reps);
    Ok(Plan { model_type, reps, groups, head_dim, serial, steps, json: doc.clone(), tensors })
}

fn representations<'a>(root: &At<'a>) -> Result<Vec<RawRep<'a>>, SchemaError> {
    let list: Vec<At<'a>> = match root.get("representations") {
        None if root.v.get("component").is_some() => vec![root.clone()],
        None => return Ok(vec![]),
        Some(r) if r.v.is_object() => vec![r],
        Some(r) => r.items()?,
    };
    list.into_iter()
        .map(|at| {
            if at.v.is_array() {
                let items = at.items()?;
                if items.len() > FIELDS.len() {
                    return Err(at.err(format!("a positional representation has at most {} fields", FIELDS.len())));
                }
                let fields = FIELDS.iter().copied().zip(items).collect();
                Ok(RawRep { at, fields })
            } else if let Some(map) = at.v.as_object() {
                let mut fields = Vec::new();
                for key in map.keys() {
                    if at.path.is_empty() && TOP.contains(&key.as_str()) {
                        continue;
                    }
                    let known = FIELDS.iter().chain(EXTRA.iter()).find(|f| **f == key.as_str());
                    let Some(&k) = known else {
                        let at_key = at.get(key).unwrap_or(at.clone());
                        let valid: Vec<&str> = FIELDS.iter().chain(EXTRA.iter()).copied().collect();
                        return Err(at_key.err(unknown_key(key, &valid)));
                    };
                    if let Some(v) = at.get(key) {
                        fields.push((k, v));
                    }
                }
                Ok(RawRep { at, fields })
            } else {
                Err(at.err("a representation is an object or a positional list"))
            }
        })
        .collect()
}

fn kind_of(raw: &RawRep, types: Option<&At>, i: usize) -> Result<Kind, SchemaError> {
    let named = raw.get("intervention_type").or(raw.get("intervention")).cloned();
    let from_top = types.and_then(|t| if t.v.is_array() { t.at(i) } else { Some(t.clone()) });
    let Some(at) = named.or(from_top) else { return Ok(Kind::Vanilla) };
    let text = at.str()?;
    let bare = text.trim_start_matches("<class '").trim_end_matches("'>");
    let bare = bare.rsplit('.').next().unwrap_or(bare);
    let key = bare.trim_end_matches("Intervention").to_ascii_lowercase();
    if let Some(k) = Kind::ALL.iter().find(|k| k.class().trim_end_matches("Intervention").eq_ignore_ascii_case(&key)) {
        return Ok(*k);
    }
    Ok(match key.as_str() {
        "zero" => Kind::Zero,
        "vanilla" | "interchange" => Kind::Vanilla,
        "addition" | "add" => Kind::Addition,
        "subtraction" | "subtract" => Kind::Subtraction,
        "das" | "rotated" => Kind::RotatedSpace,
        "lowrank" | "lowrankdas" => Kind::LowRankRotatedSpace,
        "boundless" => Kind::BoundlessRotatedSpace,
        "jumprelu" | "sae" => Kind::JumpReluAutoencoder,
        _ => {
            let classes: Vec<&str> = Kind::ALL.iter().map(|k| k.class()).collect();
            let near = nearest_names(bare, &classes);
            return Err(at.err(format!("unknown intervention `{text}`; nearest: {}", near.join(", "))));
        }
    })
}

/// The three names closest to `name` by edit distance (case-insensitive), closest first.
fn nearest_names<'k>(name: &str, valid: &[&'k str]) -> Vec<&'k str> {
    let name = name.to_ascii_lowercase();
    let mut scored: Vec<(usize, &str)> =
        valid.iter().map(|v| (edit_distance(&name, &v.to_ascii_lowercase()), *v)).collect();
    scored.sort();
    scored.into_iter().take(3).map(|(_, v)| v).collect()
}

fn partition(at: &At) -> Result<Vec<Vec<usize>>, SchemaError> {
    at.items()?
        .iter()
        .map(|p| {
            let v = p.ints()?;
            if v.iter().any(|x| *x < 0) {
                return Err(p.err("negative index"));
            }
            let v: Vec<usize> = v.into_iter().map(|x| x as usize).collect();
            if v.len() == 2 {
                if v[0] >= v[1] {
                    return Err(p.err(format!("empty range [{}, {})", v[0], v[1])));
                }
                if v[1] > MAX_COLUMNS {
                    return Err(p.err(format!("range end {} is past the widest supported site ({MAX_COLUMNS})", v[1])));
                }
                Ok((v[0]..v[1]).collect())
            } else {
                Ok(v)
            }
        })
        .collect()
}

/// `interchange_dim` (or the config's `intervention_dimensions[i]`): a positive count.
fn interchange_dim(raw: &RawRep, dims: Option<&At>, i: usize) -> Result<Option<usize>, SchemaError> {
    let at = match raw.get("interchange_dim") {
        Some(d) => d.clone(),
        None => match dims.and_then(|d| d.at(i)) {
            Some(d) if !d.v.is_null() => d,
            _ => return Ok(None),
        },
    };
    match at.index()? {
        0 => Err(at.err("is 0, which selects no dimensions: give at least 1, or leave it out for every dimension")),
        n => Ok(Some(n)),
    }
}

fn select_dims(
    at: &At,
    subspaces: Option<Vec<Vec<usize>>>,
    partition: Option<Vec<Vec<usize>>>,
    idim: Option<usize>,
) -> Result<Dims, SchemaError> {
    let Some(rows) = subspaces else { return Ok(Dims::Prefix(idim)) };
    let expand = |row: &Vec<usize>| -> Result<Vec<usize>, SchemaError> {
        let Some(parts) = &partition else { return Ok(row.clone()) };
        let mut out = Vec::new();
        for &id in row {
            let p = parts.get(id).ok_or_else(|| {
                SchemaError::new(
                    format!("{}.subspace_partition", at.path),
                    format!("subspace id {id} has no partition ({} defined)", parts.len()),
                )
            })?;
            out.extend(p);
        }
        Ok(out)
    };
    if let Some(parts) = &partition {
        let size = |id: &usize| parts.get(*id).map_or(0, Vec::len);
        if rows.iter().flatten().map(size).fold(0usize, usize::saturating_add) > MAX_COLUMNS {
            let at = format!("{}.subspace_partition", at.path);
            return Err(SchemaError::new(at, format!("the subspaces expand to more than {MAX_COLUMNS} columns")));
        }
    }
    let rows: Vec<Vec<usize>> = rows.iter().map(expand).collect::<Result<_, _>>()?;
    if rows.iter().all(|r| *r == rows[0]) {
        return Ok(Dims::Shared(rows[0].clone()));
    }
    if rows.iter().all(|r| r.len() == rows[0].len()) {
        let union: BTreeSet<usize> = rows.iter().flatten().copied().collect();
        return Ok(Dims::Shared(union.into_iter().collect()));
    }
    Ok(Dims::PerExample(rows))
}

fn constant_source(raw: &RawRep, weights: &Weights, i: usize, kind: Kind) -> Result<Option<Vec<f32>>, SchemaError> {
    let inline = raw.get("source_representation").map(At::floats).transpose()?;
    let stored = weights.vector(i, "source_representation", &raw.at)?;
    let hidden = raw.get("hidden_source_representation").is_some_and(|h| h.v.as_bool() == Some(true));
    let v = inline.or(stored);
    if v.is_none() && hidden && kind.takes_source() {
        return Err(raw.at.err(format!(
            "its source_representation was saved separately (hidden_source_representation): give it as tensor `{i}.source_representation` in the schema's \"weights\" file"
        )));
    }
    if v.is_some() && kind.is_trained() {
        let at = raw.get("source_representation").cloned().unwrap_or(raw.at.clone());
        return Err(at.err(format!("{} takes its source from a source run, not a source_representation", kind.class())));
    }
    if v.is_some() && !kind.takes_source() {
        let at = raw.get("source_representation").cloned().unwrap_or(raw.at.clone());
        return Err(at.err(format!("{} takes no source_representation", kind.class())));
    }
    Ok(v)
}

fn sources(
    raw: &RawRep,
    kind: Kind,
    loc: Option<Locs>,
    constant: Option<Vec<f32>>,
) -> Result<(Positions, Source), SchemaError> {
    if let Some(c) = constant {
        let base = loc.map_or(Positions::All, |l| l.base);
        return Ok((base, Source::Constant(c)));
    }
    if !kind.takes_source() {
        return Ok((loc.map_or(Positions::All, |l| l.base), Source::None));
    }
    match loc {
        None if kind == Kind::Vanilla || kind == Kind::Skip => {
            Ok((Positions::Runtime, Source::Run { group: 0, positions: Positions::Runtime }))
        }
        None => Ok((Positions::All, Source::Run { group: 0, positions: Positions::All })),
        Some(Locs { source: None, base }) => {
            if kind == Kind::Skip {
                return Err(raw.at.err("SkipIntervention needs a source run: give \"sources->base\" locations"));
            }
            Ok((base, Source::Runtime))
        }
        Some(Locs { source: Some(s), base }) => Ok((base, Source::Run { group: 0, positions: s })),
    }
}

/// Serial mode chains one source run per intervention: intervention `i` reads source `i` and
/// writes into run `i + 1` (the base after the last), as pyvene 0.1.8 does with one
/// intervention per group.
fn check_serial(reps: &[Rep], raws: &[RawRep]) -> Result<(), SchemaError> {
    for (i, rep) in reps.iter().enumerate() {
        match rep.source {
            Source::Run { group, .. } if group == i => {}
            Source::Run { .. } => {
                return Err(raws[i].at.err(
                    "serial mode takes one intervention per source group, in order (pyvene 0.1.8 applies a group's last \
                     base locations to all its interventions); drop group_key",
                ));
            }
            _ => {
                return Err(raws[i].at.err(format!(
                    "in serial mode every intervention reads the source run before it; {} here takes no source run",
                    rep.kind.class()
                )));
            }
        }
    }
    Ok(())
}

/// Numbers source groups: by ascending `group_key` when set (on all or none), else one group
/// per source-run representation in schema order.
fn assign_groups(reps: &mut [Rep], keyed: &[(usize, Option<i64>)], raws: &[RawRep]) -> Result<usize, SchemaError> {
    let with_key = keyed.iter().filter(|(_, k)| k.is_some()).count();
    if with_key != 0 && with_key != keyed.len() {
        let (i, _) = keyed.iter().find(|(_, k)| k.is_none()).unwrap();
        return Err(raws[*i]
            .at
            .err("group_key must be set on every representation that takes a source run, or on none"));
    }
    let keys: BTreeSet<i64> = keyed.iter().filter_map(|(_, k)| *k).collect();
    for (n, (i, key)) in keyed.iter().enumerate() {
        let g = match key {
            Some(k) => keys.iter().position(|x| x == k).unwrap(),
            None => n,
        };
        if let Source::Run { group, .. } = &mut reps[*i].source {
            *group = g;
        }
    }
    Ok(if with_key > 0 { keys.len() } else { keyed.len() })
}

/// Top-level keys must be schema keys, HF config boilerplate, or (in the single-representation
/// form) representation fields: a typo such as `unit_location` would otherwise silently change
/// what the model does.
fn check_top_keys(root: &At) -> Result<(), SchemaError> {
    let Some(map) = root.v.as_object() else { return Ok(()) };
    let single = map.contains_key("component");
    let mut valid: Vec<&str> = TOP.to_vec();
    if single {
        valid.extend(FIELDS.iter().chain(EXTRA.iter()));
    }
    for key in map.keys() {
        if valid.contains(&key.as_str()) || HF_CONFIG.contains(&key.as_str()) {
            continue;
        }
        let at = At { v: &map[key], path: key.clone() };
        return Err(at.err(unknown_key(key, &valid)));
    }
    Ok(())
}

/// "unknown field; did you mean `x`?" (or the list of valid keys when none is close).
fn unknown_key(key: &str, valid: &[&str]) -> String {
    match nearest(key, valid) {
        Some(k) => format!("unknown field; did you mean `{k}`? (valid: {})", valid.join(", ")),
        None => format!("unknown field; expected one of {}", valid.join(", ")),
    }
}

/// The valid key closest to `key` by edit distance, when it is close (at most a third of its
/// length away). Keys longer than 64 characters get no suggestion.
fn nearest<'k>(key: &str, valid: &[&'k str]) -> Option<&'k str> {
    if key.len() > 64 {
        return None;
    }
    let distance = edit_distance;
    let (best, d) = valid.iter().map(|v| (*v, distance(key, v))).min_by_key(|(_, d)| *d)?;
    (d <= key.chars().count().div_ceil(3).max(1)).then_some(best)
}

/// Levenshtein distance over chars (names are short: callers cap their length).
fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().take(256).collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().take(256).enumerate() {
        let mut prev = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let cur = row[j + 1];
            row[j + 1] = (prev + usize::from(ca != *cb)).min(row[j] + 1).min(cur + 1);
            prev = cur;
        }
    }
    row[b.len()]
}
