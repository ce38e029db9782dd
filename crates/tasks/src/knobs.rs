//! `Knobs`: a family's difficulty settings by name, serialised as a JSON object of numbers
//! (integral values as integers: `{"digits":3,"width":8}`).

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Knob values by name, kept sorted by name (a small vector: cloning one costs one allocation,
/// which matters on the task-generation hot path).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Knobs(Vec<(Cow<'static, str>, f64)>);

impl Knobs {
    /// No knobs set.
    pub fn new() -> Self {
        Self(Vec::new())
    }

    /// Knobs from `(name, value)` pairs with static names (later pairs win).
    pub fn from_static(pairs: &[(&'static str, f64)]) -> Self {
        let mut k = Self::new();
        for &(name, value) in pairs {
            k.set(name, value);
        }
        k
    }

    /// Sets `name` to `value`, replacing an earlier value.
    pub fn set(&mut self, name: impl Into<Cow<'static, str>>, value: f64) {
        let name = name.into();
        match self
            .0
            .binary_search_by(|(n, _)| n.as_ref().cmp(name.as_ref()))
        {
            Ok(i) => self.0[i].1 = value,
            Err(i) => self.0.insert(i, (name, value)),
        }
    }

    /// The value of `name`, if set.
    #[inline]
    pub fn get(&self, name: &str) -> Option<f64> {
        self.0.iter().find(|(n, _)| n == name).map(|&(_, v)| v)
    }

    /// The value of `name` as an integer, `default` when unset.
    #[inline]
    pub fn int(&self, name: &str, default: i64) -> i64 {
        self.get(name).map_or(default, |v| v.round() as i64)
    }

    /// `(name, value)` pairs in name order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, f64)> {
        self.0.iter().map(|(n, v)| (n.as_ref(), *v))
    }

    /// Number of knobs set.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether no knob is set.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// These knobs with every knob of `over` set on top.
    pub fn overlay(&self, over: &Knobs) -> Knobs {
        let mut k = self.clone();
        for (n, v) in &over.0 {
            k.set(n.clone(), *v);
        }
        k
    }

    /// A short label such as `digits=3,width=8`.
    pub fn label(&self) -> String {
        self.to_string()
    }
}

impl fmt::Display for Knobs {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, (n, v)) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            write!(f, "{n}={}", fmt_number(*v))?;
        }
        Ok(())
    }
}

/// `3` for 3.0, `0.25` for 0.25.
pub(crate) fn fmt_number(v: f64) -> String {
    if is_integral(v) {
        format!("{}", v as i64)
    } else {
        format!("{v}")
    }
}

fn is_integral(v: f64) -> bool {
    v.fract() == 0.0 && v.abs() < 9.0e15
}

impl Serialize for Knobs {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut map = s.serialize_map(Some(self.0.len()))?;
        for (n, v) in &self.0 {
            if is_integral(*v) {
                map.serialize_entry(n.as_ref(), &(*v as i64))?;
            } else {
                map.serialize_entry(n.as_ref(), v)?;
            }
        }
        map.end()
    }
}

impl<'de> Deserialize<'de> for Knobs {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let map = BTreeMap::<String, f64>::deserialize(d)?;
        Ok(Self(
            map.into_iter().map(|(n, v)| (Cow::Owned(n), v)).collect(),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serialises_ints_as_ints_in_name_order() {
        let k = Knobs::from_static(&[("width", 8.0), ("digits", 3.0), ("p", 0.25)]);
        assert_eq!(
            serde_json::to_string(&k).unwrap(),
            r#"{"digits":3,"p":0.25,"width":8}"#
        );
        let back: Knobs = serde_json::from_str(r#"{"width":8,"digits":3,"p":0.25}"#).unwrap();
        assert_eq!(back, k);
        assert_eq!(k.label(), "digits=3,p=0.25,width=8");
    }

    #[test]
    fn overlay_replaces_and_adds() {
        let base = Knobs::from_static(&[("digits", 1.0), ("width", 8.0)]);
        let over = Knobs::from_static(&[("digits", 4.0), ("operands", 3.0)]);
        let k = base.overlay(&over);
        assert_eq!(k.int("digits", 0), 4);
        assert_eq!(k.int("operands", 0), 3);
        assert_eq!(k.int("width", 0), 8);
        assert_eq!(k.int("missing", 9), 9);
    }
}
