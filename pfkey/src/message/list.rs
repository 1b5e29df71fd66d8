//! `List`: a sequence of fixed or self-sized items (combs, algorithms, ipsecrequests) that is
//! either still the validated wire bytes (no allocation when parsing) or an owned vector.

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::error::EmitError;
use crate::wire::Dialect;

/// An item of a [`List`].
pub trait Item<'a>: Sized {
    /// Reads one item from the start of `b`; `None` if `b` does not hold one (cannot happen for
    /// validated bytes).
    fn read(b: &'a [u8], dialect: Dialect) -> Option<(Self, usize)>;
    /// Appends the item to `out`.
    fn write(&self, out: &mut Vec<u8>, dialect: Dialect) -> Result<(), EmitError>;
}

/// A sequence of items: validated wire bytes or an owned vector. Equality compares the items.
#[derive(Debug, Clone)]
pub enum List<'a, T> {
    /// Validated bytes of a received message, decoded on iteration.
    Wire {
        /// The items' bytes.
        bytes: &'a [u8],
        /// Their dialect.
        dialect: Dialect,
    },
    /// Items built in memory.
    Owned(Vec<T>),
}

impl<T> Default for List<'_, T> {
    fn default() -> Self {
        List::Owned(Vec::new())
    }
}

impl<'a, T> From<Vec<T>> for List<'a, T> {
    fn from(v: Vec<T>) -> Self {
        List::Owned(v)
    }
}

impl<'a, T: Item<'a> + Clone> List<'a, T> {
    pub(crate) fn wire(bytes: &'a [u8], dialect: Dialect) -> Self {
        List::Wire { bytes, dialect }
    }

    /// Iterates over the items.
    pub fn iter(&self) -> ListIter<'_, 'a, T> {
        match self {
            List::Wire { bytes, dialect } => ListIter::Wire { bytes, dialect: *dialect },
            List::Owned(v) => ListIter::Owned(v.iter()),
        }
    }

    /// The number of items.
    pub fn len(&self) -> usize {
        match self {
            List::Owned(v) => v.len(),
            List::Wire { .. } => self.iter().count(),
        }
    }

    /// Whether there are no items.
    pub fn is_empty(&self) -> bool {
        match self {
            List::Owned(v) => v.is_empty(),
            List::Wire { bytes, .. } => bytes.is_empty(),
        }
    }

    /// The items as a vector.
    pub fn to_vec(&self) -> Vec<T> {
        self.iter().collect()
    }

    /// Converts to an owned list, mapping each item with `f`.
    pub fn into_owned_with<U>(self, f: impl Fn(T) -> U) -> List<'static, U> {
        match self {
            List::Owned(v) => List::Owned(v.into_iter().map(f).collect()),
            w @ List::Wire { .. } => List::Owned(w.iter().map(f).collect()),
        }
    }

    pub(crate) fn write_all(&self, out: &mut Vec<u8>, dialect: Dialect) -> Result<(), EmitError> {
        match self {
            List::Wire { bytes, dialect: d } if *d == dialect => {
                out.extend_from_slice(bytes);
                Ok(())
            }
            List::Owned(v) => v.iter().try_for_each(|i| i.write(out, dialect)),
            List::Wire { .. } => self.iter().try_for_each(|i| i.write(out, dialect)),
        }
    }
}

/// Iterator over a [`List`].
pub enum ListIter<'l, 'a, T> {
    /// Decoding wire bytes.
    Wire {
        /// Bytes not yet decoded.
        bytes: &'a [u8],
        /// Their dialect.
        dialect: Dialect,
    },
    /// Cloning owned items.
    Owned(core::slice::Iter<'l, T>),
}

impl<'a, T: Item<'a> + Clone> Iterator for ListIter<'_, 'a, T> {
    type Item = T;

    fn next(&mut self) -> Option<T> {
        match self {
            ListIter::Owned(it) => it.next().cloned(),
            ListIter::Wire { bytes, dialect } => {
                if bytes.is_empty() {
                    return None;
                }
                match T::read(bytes, *dialect) {
                    Some((item, used)) if used > 0 && used <= bytes.len() => {
                        *bytes = &bytes[used..];
                        Some(item)
                    }
                    _ => {
                        *bytes = &[];
                        None
                    }
                }
            }
        }
    }
}

impl<'a, T: Item<'a> + Clone + PartialEq> PartialEq for List<'a, T> {
    fn eq(&self, other: &Self) -> bool {
        self.iter().eq(other.iter())
    }
}

impl<'a, T: Item<'a> + Clone + Eq> Eq for List<'a, T> {}

impl<'a, T: Item<'a> + Clone + Serialize> Serialize for List<'a, T> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(self.iter())
    }
}

impl<'de, 'a, T: Deserialize<'de>> Deserialize<'de> for List<'a, T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Vec::<T>::deserialize(d).map(List::Owned)
    }
}
