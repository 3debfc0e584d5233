//! Text in and out of `pvc generate`: a Hugging Face `tokenizer.json` (the `tokenizers` crate,
//! pure Rust, no network), checked against the model's vocabulary.

use super::GenerateError;
use std::path::Path;

/// Token names taken as end-of-sequence when the tokenizer has them, in this order.
const EOS_NAMES: [&str; 4] = ["<|endoftext|>", "</s>", "<eos>", "<|eot_id|>"];

/// A loaded tokenizer.
pub struct Text {
    tok: tokenizers::Tokenizer,
    path: String,
}

impl Text {
    /// Loads `tokenizer.json`.
    pub fn load(path: &Path) -> Result<Text, GenerateError> {
        let shown = path.display().to_string();
        let tok = tokenizers::Tokenizer::from_file(path)
            .map_err(|e| GenerateError::Option(format!("--tokenizer {shown}: {}", one_line(&e.to_string()))))?;
        Ok(Text { tok, path: shown })
    }

    /// Errors unless every token id fits a model whose logits are `vocab` wide.
    pub fn check_vocab(&self, vocab: usize) -> Result<(), GenerateError> {
        let n = self.tok.get_vocab_size(true);
        if n > vocab {
            return Err(GenerateError::Option(format!(
                "--tokenizer {}: {n} tokens, but the model's `logits` cover {vocab}: this tokenizer is not the model's",
                self.path
            )));
        }
        Ok(())
    }

    /// The prompt's ids.
    pub fn encode(&self, text: &str) -> Result<Vec<i64>, GenerateError> {
        let e = self
            .tok
            .encode(text, true)
            .map_err(|e| GenerateError::Option(format!("--prompt: {}", one_line(&e.to_string()))))?;
        Ok(e.get_ids().iter().map(|&i| i64::from(i)).collect())
    }

    /// The end-of-sequence id, when the tokenizer names one.
    pub fn eos(&self) -> Option<i64> {
        EOS_NAMES.iter().find_map(|n| self.tok.token_to_id(n)).map(i64::from)
    }

    /// The text of `ids`.
    pub fn decode(&self, ids: &[i64]) -> Result<String, GenerateError> {
        let ids: Vec<u32> = ids
            .iter()
            .map(|&i| {
                u32::try_from(i).ok().filter(|&u| (u as usize) < self.tok.get_vocab_size(true)).ok_or_else(|| {
                    GenerateError::Option(format!(
                        "--tokenizer {}: the model produced id {i}, which it lacks",
                        self.path
                    ))
                })
            })
            .collect::<Result<_, _>>()?;
        self.tok.decode(&ids, true).map_err(|e| GenerateError::Option(one_line(&e.to_string())))
    }
}

fn one_line(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}
