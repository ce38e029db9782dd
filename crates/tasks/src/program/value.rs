//! Run-time values: `Int`, `Bool`, `List`; their text (`123`, `true`, `[1, 2, 3]`) and JSON
//! (a number, a bool, an array).

use std::fmt;

use serde::de::{self, SeqAccess, Visitor};
use serde::ser::SerializeSeq;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::types::{Type, MAX_INT, MAX_LIST_LEN};

/// A value a program takes or returns. Every int (and list element) has |x| <= [`MAX_INT`].
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Value {
    /// An exact integer.
    Int(i64),
    /// A boolean.
    Bool(bool),
    /// A list of integers.
    List(Vec<i64>),
}

impl Value {
    /// The value's type.
    pub fn ty(&self) -> Type {
        match self {
            Value::Int(_) => Type::Int,
            Value::Bool(_) => Type::Bool,
            Value::List(_) => Type::List,
        }
    }

    /// Whether every int is within [`MAX_INT`] and a list within [`MAX_LIST_LEN`].
    pub fn in_bounds(&self) -> bool {
        match self {
            Value::Int(x) => x.unsigned_abs() <= MAX_INT as u64,
            Value::Bool(_) => true,
            Value::List(l) => {
                l.len() <= MAX_LIST_LEN && l.iter().all(|x| x.unsigned_abs() <= MAX_INT as u64)
            }
        }
    }
}

impl fmt::Display for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Value::Int(x) => write!(f, "{x}"),
            Value::Bool(b) => write!(f, "{b}"),
            Value::List(l) => {
                f.write_str("[")?;
                for (i, x) in l.iter().enumerate() {
                    if i > 0 {
                        f.write_str(", ")?;
                    }
                    write!(f, "{x}")?;
                }
                f.write_str("]")
            }
        }
    }
}

impl Serialize for Value {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Value::Int(x) => s.serialize_i64(*x),
            Value::Bool(b) => s.serialize_bool(*b),
            Value::List(l) => {
                let mut seq = s.serialize_seq(Some(l.len()))?;
                for x in l {
                    seq.serialize_element(x)?;
                }
                seq.end()
            }
        }
    }
}

impl<'de> Deserialize<'de> for Value {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(ValueVisitor)
    }
}

struct ValueVisitor;

fn bounded<E: de::Error>(x: i128) -> Result<i64, E> {
    if x.unsigned_abs() <= MAX_INT as u128 {
        Ok(x as i64)
    } else {
        Err(E::custom(format!(
            "integer {x} outside -{MAX_INT}..={MAX_INT}"
        )))
    }
}

impl<'de> Visitor<'de> for ValueVisitor {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "an integer within ±{MAX_INT}, a bool, or a list of at most {MAX_LIST_LEN} such integers"
        )
    }

    fn visit_bool<E: de::Error>(self, b: bool) -> Result<Value, E> {
        Ok(Value::Bool(b))
    }

    fn visit_i64<E: de::Error>(self, x: i64) -> Result<Value, E> {
        bounded(x as i128).map(Value::Int)
    }

    fn visit_u64<E: de::Error>(self, x: u64) -> Result<Value, E> {
        bounded(x as i128).map(Value::Int)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut l = Vec::new();
        while let Some(x) = seq.next_element::<i64>()? {
            if l.len() == MAX_LIST_LEN {
                return Err(de::Error::custom(format!(
                    "list longer than {MAX_LIST_LEN} elements"
                )));
            }
            l.push(bounded(x as i128)?);
        }
        Ok(Value::List(l))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_and_json() {
        let cases = [
            (Value::Int(-42), "-42", "-42"),
            (Value::Bool(true), "true", "true"),
            (Value::List(vec![1, 2, 3]), "[1, 2, 3]", "[1,2,3]"),
            (Value::List(vec![]), "[]", "[]"),
        ];
        for (v, text, json) in cases {
            assert_eq!(v.to_string(), text);
            assert_eq!(serde_json::to_string(&v).unwrap(), json);
            assert_eq!(serde_json::from_str::<Value>(json).unwrap(), v);
        }
    }

    #[test]
    fn json_out_of_bounds_is_rejected() {
        assert!(serde_json::from_str::<Value>("1000000000000000000").is_err());
        assert!(serde_json::from_str::<Value>("-999999999999999999").is_ok());
        assert!(serde_json::from_str::<Value>("[1, 1e3]").is_err());
        assert!(serde_json::from_str::<Value>("\"1\"").is_err());
        let long = format!("[{}]", vec!["1"; MAX_LIST_LEN + 1].join(","));
        assert!(serde_json::from_str::<Value>(&long).is_err());
        assert!(!Value::Int(i64::MIN).in_bounds());
    }
}
