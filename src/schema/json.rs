//! A JSON value paired with its path, so every error names the field it came from.

use super::SchemaError;
use serde_json::Value;

/// A value and its JSON path (`representations[1].component`).
#[derive(Debug, Clone)]
pub struct At<'a> {
    /// The value.
    pub v: &'a Value,
    /// Its path.
    pub path: String,
}

impl<'a> At<'a> {
    /// The document root; its path is empty.
    pub fn root(v: &'a Value) -> At<'a> {
        At { v, path: String::new() }
    }

    /// An error at this path.
    pub fn err(&self, message: impl Into<String>) -> SchemaError {
        let at = if self.path.is_empty() { "(top level)".to_string() } else { self.path.clone() };
        SchemaError::new(at, message)
    }

    /// Field `key`, unless absent or null.
    pub fn get(&self, key: &str) -> Option<At<'a>> {
        let v = self.v.get(key)?;
        if v.is_null() {
            return None;
        }
        let path = if self.path.is_empty() { key.to_string() } else { format!("{}.{key}", self.path) };
        Some(At { v, path })
    }

    /// Element `i` of an array, or the value itself for a path step in non-array positional data.
    pub fn at(&self, i: usize) -> Option<At<'a>> {
        let v = self.v.as_array()?.get(i)?;
        Some(At { v, path: format!("{}[{i}]", self.path) })
    }

    /// Elements of an array.
    pub fn items(&self) -> Result<Vec<At<'a>>, SchemaError> {
        let arr = self.v.as_array().ok_or_else(|| self.err(format!("expected a list, got {}", self.v)))?;
        Ok((0..arr.len()).filter_map(|i| self.at(i)).collect())
    }

    /// An integer.
    pub fn int(&self) -> Result<i64, SchemaError> {
        self.v.as_i64().ok_or_else(|| self.err(format!("expected an integer, got {}", self.v)))
    }

    /// A non-negative integer.
    pub fn index(&self) -> Result<usize, SchemaError> {
        usize::try_from(self.int()?).map_err(|_| self.err("expected a non-negative integer"))
    }

    /// A string.
    pub fn str(&self) -> Result<&'a str, SchemaError> {
        self.v.as_str().ok_or_else(|| self.err(format!("expected a string, got {}", self.v)))
    }

    /// A list of numbers as f32; a number too large for float32 is an error at its index.
    pub fn floats(&self) -> Result<Vec<f32>, SchemaError> {
        let arr = self.v.as_array().ok_or_else(|| self.err("expected a list of numbers"))?;
        arr.iter()
            .enumerate()
            .map(|(j, x)| {
                let at = || At { v: x, path: format!("{}[{j}]", self.path) };
                let f = x.as_f64().ok_or_else(|| at().err(format!("`{x}` is not a number")))?;
                let v = f as f32;
                if v.is_infinite() {
                    return Err(at().err(format!("{f:e} overflows float32 (largest {:e})", f32::MAX)));
                }
                Ok(v)
            })
            .collect()
    }

    /// Integers of a list of integers.
    pub fn ints(&self) -> Result<Vec<i64>, SchemaError> {
        let arr = self.v.as_array().ok_or_else(|| self.err(format!("expected a list of integers, got {}", self.v)))?;
        arr.iter().map(|x| x.as_i64().ok_or_else(|| self.err(format!("`{x}` is not an integer")))).collect()
    }
}

/// Whether `v` is a list whose elements are all integers.
pub fn is_int_list(v: &Value) -> bool {
    v.as_array().is_some_and(|a| a.iter().all(|x| x.is_i64()))
}
