//! The columns of a fused projection that belong to one component ([`Cut`]), from the
//! family's [`Split`] rule and the head geometry of the graph.

use super::family::{Layout, Split};
use super::heads::HeadCount;

/// Columns of a site's last axis that make up a component: sorted, disjoint ranges.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Cut {
    /// `[lo, hi)` column ranges, in order.
    pub ranges: Vec<(usize, usize)>,
    /// The width of the whole axis.
    pub full: usize,
}

impl Cut {
    /// The number of columns in the component.
    pub fn width(&self) -> usize {
        self.ranges.iter().map(|(lo, hi)| hi - lo).sum()
    }

    /// The one range, when the columns are contiguous.
    pub fn contiguous(&self) -> Option<(usize, usize)> {
        match self.ranges.as_slice() {
            [r] => Some(*r),
            _ => None,
        }
    }

    /// Every column, in order.
    pub fn columns(&self) -> Vec<usize> {
        self.ranges.iter().flat_map(|&(lo, hi)| lo..hi).collect()
    }
}

/// The attention geometry a split by heads needs: query and key/value head counts and the
/// head size.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HeadShape {
    /// Query heads.
    pub query: usize,
    /// Key/value heads.
    pub kv: usize,
    /// Columns per head.
    pub dim: usize,
}

/// The columns `split` selects of a `full`-wide axis; `heads` is the graph's head geometry
/// where the layout needs it (for an interleaved layout, `dim` may be unknown: it is
/// `full / (query × parts)`).
pub fn cut(split: &Split, full: usize, heads: Option<HeadShape>) -> Result<Cut, String> {
    let parts = split.parts as usize;
    let index = split.index as usize;
    match &split.layout {
        Layout::Equal => {
            if parts == 0 || index >= parts || !full.is_multiple_of(parts) {
                return Err(format!("{full} columns do not split into {parts} equal parts"));
            }
            let w = full / parts;
            Ok(Cut { ranges: vec![(index * w, (index + 1) * w)], full })
        }
        Layout::Heads(counts) => {
            let h = heads.ok_or("the graph shows no per-head reshapes to size the parts by")?;
            let size = |c: &HeadCount| h.dim * if *c == HeadCount::Query { h.query } else { h.kv };
            let total: usize = counts.iter().map(size).sum();
            if total != full {
                return Err(format!(
                    "parts of {} columns ({} query and {} key/value heads of {}) do not add up to the {full} columns",
                    counts.iter().map(|c| size(c).to_string()).collect::<Vec<_>>().join(" + "),
                    h.query,
                    h.kv,
                    h.dim
                ));
            }
            let lo: usize = counts[..index].iter().map(size).sum();
            Ok(Cut { ranges: vec![(lo, lo + size(&counts[index]))], full })
        }
        Layout::Interleaved => {
            let h = heads.ok_or("the graph shows no per-head reshapes to find the heads by")?;
            if h.query == 0 || parts == 0 || !full.is_multiple_of(h.query * parts) {
                return Err(format!("{full} columns do not split into {} heads of {parts} parts", h.query));
            }
            let d = full / (h.query * parts);
            let ranges = (0..h.query).map(|k| (k * parts * d + index * d, k * parts * d + (index + 1) * d)).collect();
            Ok(Cut { ranges, full })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn split(parts: u32, index: u32, layout: Layout) -> Split {
        Split { parts, index, layout }
    }

    #[test]
    fn equal_head_sized_and_interleaved_parts() {
        assert_eq!(cut(&split(3, 1, Layout::Equal), 192, None).unwrap().ranges, [(64, 128)]);
        let gqa = Some(HeadShape { query: 4, kv: 2, dim: 16 });
        let qkv = Layout::Heads(vec![HeadCount::Query, HeadCount::Kv, HeadCount::Kv]);
        assert_eq!(cut(&split(3, 0, qkv.clone()), 128, gqa).unwrap().ranges, [(0, 64)]);
        assert_eq!(cut(&split(3, 2, qkv.clone()), 128, gqa).unwrap().ranges, [(96, 128)]);
        assert!(cut(&split(3, 2, qkv), 192, gqa).unwrap_err().contains("do not add up"));
        let c = cut(&split(3, 1, Layout::Interleaved), 192, gqa).unwrap();
        assert_eq!(c.ranges, [(16, 32), (64, 80), (112, 128), (160, 176)]);
        assert_eq!(c.width(), 64);
    }
}
