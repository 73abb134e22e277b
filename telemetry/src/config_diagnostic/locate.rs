//! Finding the line and column of a field path in the YAML text.
//!
//! yaml_serde attaches a position to the errors it raises while deserialising, but a value
//! carries no position afterwards. For problems found after deserialisation (a bad regex, a
//! duplicate job name, …) we deserialise the text once more with a [`DeserializeSeed`] that
//! walks the field path and raises a marker error when it reaches the wanted key (or sequence
//! element). yaml_serde stamps that error with the position of the event being read, which is
//! exactly the position we want. This needs no second YAML parser, follows anchors and aliases
//! like the real deserialisation does, and only runs when there is an error to report.

use serde::de::{self, DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use std::cell::RefCell;
use std::fmt;

/// One step of a field path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Segment {
    Key(String),
    Index(usize),
}

/// A field path such as `scrape_configs[1].scrape_timeout`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FieldPath(pub Vec<Segment>);

impl FieldPath {
    pub fn root() -> Self {
        FieldPath(Vec::new())
    }

    pub fn key(&self, key: &str) -> Self {
        let mut next = self.clone();
        next.0.push(Segment::Key(key.to_string()));
        next
    }

    pub fn index(&self, index: usize) -> Self {
        let mut next = self.clone();
        next.0.push(Segment::Index(index));
        next
    }

    pub fn is_root(&self) -> bool {
        self.0.is_empty()
    }

    /// Converts serde_path_to_error's path.
    pub fn from_serde(path: &serde_path_to_error::Path) -> Self {
        let mut out = FieldPath::root();
        for segment in path.iter() {
            match segment {
                serde_path_to_error::Segment::Seq { index } => out.0.push(Segment::Index(*index)),
                serde_path_to_error::Segment::Map { key } => out.0.push(Segment::Key(key.clone())),
                serde_path_to_error::Segment::Enum { variant } => out.0.push(Segment::Key(variant.clone())),
                serde_path_to_error::Segment::Unknown => {}
            }
        }
        out
    }
}

impl fmt::Display for FieldPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, segment) in self.0.iter().enumerate() {
            match segment {
                Segment::Key(key) if i == 0 => f.write_str(key)?,
                Segment::Key(key) => write!(f, ".{key}")?,
                Segment::Index(index) => write!(f, "[{index}]")?,
            }
        }
        Ok(())
    }
}

/// A 1-based line and column.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Position {
    pub line: usize,
    pub column: usize,
}

const MARKER: &str = "\u{0}harrier-locate";

/// The position of `path` in `yaml`: of its last key when it ends in a key, of the element
/// when it ends in an index. Falls back to the nearest ancestor that exists (a field left at
/// its default has no text of its own).
pub fn locate(yaml: &str, path: &FieldPath) -> Option<Position> {
    (1..=path.0.len()).rev().find_map(|len| locate_segments(yaml, &path.0[..len]))
}

/// The position of `path` itself, without falling back to an ancestor.
pub fn locate_exact(yaml: &str, path: &FieldPath) -> Option<Position> {
    if path.is_root() {
        return None;
    }
    locate_segments(yaml, &path.0)
}

fn locate_segments(yaml: &str, path: &[Segment]) -> Option<Position> {
    let found = RefCell::new(None);
    run(yaml, Walk { path, search: None, trail: &found });
    found.into_inner().map(|(position, _)| position)
}

/// Finds the first key named `key` anywhere below `under` (depth first, in document order) and
/// returns its position and full path. Used to pinpoint an unknown field reported for an
/// enclosing mapping (serde reports unknown fields of flattened structs at the outer mapping).
pub fn find_key_below(yaml: &str, under: &FieldPath, key: &str) -> Option<(Position, FieldPath)> {
    let found = RefCell::new(None);
    run(yaml, Walk { path: &under.0, search: Some((key, Vec::new())), trail: &found });
    found.into_inner().map(|(position, below)| {
        let mut full = under.clone();
        full.0.extend(below.0);
        (position, full)
    })
}

type Found = RefCell<Option<(Position, FieldPath)>>;

fn run(yaml: &str, walk: Walk<'_>) {
    let trail = walk.trail;
    let result = walk.deserialize(yaml_serde::Deserializer::from_str(yaml));
    if let Err(err) = result
        && err.to_string().contains(MARKER)
        && let Some(location) = err.location()
    {
        let mut slot = trail.borrow_mut();
        let path = slot.take().map(|(_, p)| p).unwrap_or_default();
        *slot = Some((Position { line: location.line(), column: location.column() }, path));
    }
}

/// Walks `path`; then either stops at the node (`search` is `None`) or searches the subtree
/// for a key (`search` holds the key and the path walked below `path` so far).
struct Walk<'a> {
    path: &'a [Segment],
    search: Option<(&'a str, Vec<Segment>)>,
    trail: &'a Found,
}

fn marker<E: de::Error>() -> E {
    E::custom(MARKER)
}

impl<'de> DeserializeSeed<'de> for Walk<'_> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_any(self)
    }
}

impl Walk<'_> {
    fn at_target(&self) -> bool {
        self.path.is_empty() && self.search.is_none()
    }
}

impl<'de> Visitor<'de> for Walk<'_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any YAML value")
    }

    fn visit_bool<E: de::Error>(self, _: bool) -> Result<(), E> {
        if self.at_target() { Err(marker()) } else { Ok(()) }
    }
    fn visit_i64<E: de::Error>(self, _: i64) -> Result<(), E> {
        if self.at_target() { Err(marker()) } else { Ok(()) }
    }
    fn visit_u64<E: de::Error>(self, _: u64) -> Result<(), E> {
        if self.at_target() { Err(marker()) } else { Ok(()) }
    }
    fn visit_f64<E: de::Error>(self, _: f64) -> Result<(), E> {
        if self.at_target() { Err(marker()) } else { Ok(()) }
    }
    fn visit_str<E: de::Error>(self, _: &str) -> Result<(), E> {
        if self.at_target() { Err(marker()) } else { Ok(()) }
    }
    fn visit_unit<E: de::Error>(self) -> Result<(), E> {
        if self.at_target() { Err(marker()) } else { Ok(()) }
    }
    fn visit_none<E: de::Error>(self) -> Result<(), E> {
        if self.at_target() { Err(marker()) } else { Ok(()) }
    }
    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_any(self)
    }
    fn visit_enum<A: de::EnumAccess<'de>>(self, data: A) -> Result<(), A::Error> {
        // A tagged value (`!tag x`): look inside it.
        let (IgnoredAny, variant) = data.variant()?;
        de::VariantAccess::newtype_variant_seed(variant, self)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        if self.at_target() {
            return Err(marker());
        }
        let mut index = 0;
        match (self.path.first(), &self.search) {
            (Some(Segment::Index(wanted)), _) => {
                while index <= *wanted {
                    let next = if index == *wanted {
                        seq.next_element_seed(Walk {
                            path: &self.path[1..],
                            search: self.search.clone(),
                            trail: self.trail,
                        })?
                    } else {
                        seq.next_element::<IgnoredAny>()?.map(|_| ())
                    };
                    if next.is_none() {
                        break;
                    }
                    index += 1;
                }
            }
            (None, Some((key, below))) => loop {
                let mut below = below.clone();
                below.push(Segment::Index(index));
                let walk = Walk { path: &[], search: Some((key, below)), trail: self.trail };
                if seq.next_element_seed(walk)?.is_none() {
                    break;
                }
                index += 1;
            },
            _ => {}
        }
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(())
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        if self.at_target() {
            return Err(marker());
        }
        match (self.path.first(), &self.search) {
            (Some(Segment::Key(wanted)), _) => {
                let last = self.path.len() == 1 && self.search.is_none();
                while let Some(matched) = map.next_key_seed(KeyProbe { wanted, raise: last })? {
                    if matched {
                        map.next_value_seed(Walk {
                            path: &self.path[1..],
                            search: self.search.clone(),
                            trail: self.trail,
                        })?;
                    } else {
                        map.next_value::<IgnoredAny>()?;
                    }
                }
            }
            (None, Some((key, below))) => loop {
                // Record the path before the probe raises: the probe cannot see it.
                let Some(name) = map.next_key_seed(KeyName { wanted: key, trail: self.trail, below })? else {
                    break;
                };
                let mut below = below.clone();
                below.push(Segment::Key(name));
                map.next_value_seed(Walk { path: &[], search: Some((key, below)), trail: self.trail })?;
            },
            _ => while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {},
        }
        Ok(())
    }
}

/// Reads a mapping key and says whether it is the wanted one; raises the marker instead when
/// it is the wanted one and the last step of the path.
struct KeyProbe<'a> {
    wanted: &'a str,
    raise: bool,
}

impl<'de> DeserializeSeed<'de> for KeyProbe<'_> {
    type Value = bool;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<bool, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for KeyProbe<'_> {
    type Value = bool;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a mapping key")
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<bool, E> {
        match v == self.wanted {
            true if self.raise => Err(marker()),
            matched => Ok(matched),
        }
    }
    fn visit_bool<E: de::Error>(self, _: bool) -> Result<bool, E> {
        Ok(false)
    }
    fn visit_i64<E: de::Error>(self, _: i64) -> Result<bool, E> {
        Ok(false)
    }
    fn visit_u64<E: de::Error>(self, _: u64) -> Result<bool, E> {
        Ok(false)
    }
    fn visit_f64<E: de::Error>(self, _: f64) -> Result<bool, E> {
        Ok(false)
    }
    fn visit_unit<E: de::Error>(self) -> Result<bool, E> {
        Ok(false)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<bool, A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(false)
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<bool, A::Error> {
        while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
        Ok(false)
    }
}

/// Reads a mapping key during a subtree search: returns its text, or raises the marker (after
/// recording the key's full path) when it is the key searched for.
struct KeyName<'a> {
    wanted: &'a str,
    trail: &'a Found,
    below: &'a [Segment],
}

impl<'de> DeserializeSeed<'de> for KeyName<'_> {
    type Value = String;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<String, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for KeyName<'_> {
    type Value = String;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a mapping key")
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<String, E> {
        if v == self.wanted {
            let mut path = self.below.to_vec();
            path.push(Segment::Key(v.to_string()));
            *self.trail.borrow_mut() = Some((Position { line: 0, column: 0 }, FieldPath(path)));
            return Err(marker());
        }
        Ok(v.to_string())
    }
    fn visit_bool<E: de::Error>(self, v: bool) -> Result<String, E> {
        Ok(v.to_string())
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<String, E> {
        Ok(v.to_string())
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<String, E> {
        Ok(v.to_string())
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<String, E> {
        Ok(v.to_string())
    }
    fn visit_unit<E: de::Error>(self) -> Result<String, E> {
        Ok(String::new())
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<String, A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(String::new())
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<String, A::Error> {
        while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
        Ok(String::new())
    }
}
