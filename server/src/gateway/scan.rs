//! One pass over a request body that builds no tree of it: the few top-level values the
//! envelope needs, the shape of the conversation list, and the caps on what a request may
//! cost to read (messages, content parts per message, nesting depth). The pass stops at
//! the first cap crossed, so a body far over a cap costs no more than one at it.

use super::error::{Complexity, GatewayError};
use serde::de::{self, DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_json::value::RawValue;
use std::borrow::Cow;
use std::cell::RefCell;
use std::fmt;

/// The caps on a body's shape; the body itself is at depth 1.
#[derive(Debug, Clone, Copy)]
pub struct Caps {
    pub messages: usize,
    pub parts: usize,
    pub depth: usize,
}

/// Where a dialect keeps its conversation: the top-level list, and the field of each item
/// that holds its content parts.
#[derive(Debug, Clone, Copy)]
pub struct Conversation {
    pub list: &'static str,
    pub parts: Option<&'static str>,
}

/// What to read: top-level scalars, scalars inside top-level objects, the conversation.
pub struct Wanted {
    pub scalars: &'static [&'static str],
    pub nested: &'static [(&'static str, &'static [&'static str])],
    pub conversation: Conversation,
}

/// A wanted value; absent and `null` are the same, and containers are only `Other`.
#[derive(Debug, Clone, PartialEq)]
pub enum Scalar<'a> {
    Null,
    Bool(bool),
    Unsigned(u64),
    Text(Cow<'a, str>),
    Other,
}

/// The conversation list's shape.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Shape {
    /// Absent or `null`.
    #[default]
    Null,
    Text,
    Array {
        first_not_object: Option<usize>,
    },
    Other,
}

/// What the pass found in a body that is a JSON object within the caps.
#[derive(Debug, Default)]
pub struct Scanned<'a> {
    /// By name, and by the name of the object holding it for nested ones; the last of
    /// duplicates wins, as in a JSON map.
    values: Vec<((&'static str, Option<&'static str>), Scalar<'a>)>,
    pub conversation: Shape,
}

impl<'a> Scanned<'a> {
    pub fn get(&self, name: &str) -> &Scalar<'a> {
        self.find(name, None)
    }

    /// `name` inside the top-level object `parent`.
    pub fn get_in(&self, parent: &str, name: &str) -> &Scalar<'a> {
        self.find(parent, Some(name))
    }

    fn find(&self, first: &str, second: Option<&str>) -> &Scalar<'a> {
        let found = self.values.iter().rev().find(|(name, _)| *name == (first, second));
        found.map_or(&Scalar::Null, |(_, value)| value)
    }
}

/// Reads `body` for `wanted`; the refusals are the contract's: not JSON, not an object,
/// or over a cap.
pub fn scan<'a>(body: &'a [u8], wanted: &Wanted, caps: Caps) -> Result<Scanned<'a>, GatewayError> {
    let pass = Pass { caps, wanted, refused: RefCell::new(None) };
    let mut deserializer = serde_json::Deserializer::from_slice(body);
    let read = Top(&pass).deserialize(&mut deserializer).and_then(|top| deserializer.end().map(|()| top));
    match read {
        Ok(Some(scanned)) => Ok(scanned),
        Ok(None) => Err(GatewayError::InvalidType { field: "body".into(), expected: "a JSON object" }),
        Err(err) => Err(match pass.refused.into_inner() {
            Some(refusal) => refusal.into_error(),
            None => GatewayError::InvalidJson(err.to_string()),
        }),
    }
}

/// The top-level fields of a body already scanned, as sent (names unescaped).
pub fn top_level(body: &[u8]) -> Result<Vec<(Cow<'_, str>, &RawValue)>, serde_json::Error> {
    struct Fields;
    impl<'de> Visitor<'de> for Fields {
        type Value = Vec<(Cow<'de, str>, &'de RawValue)>;

        fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
            f.write_str("a JSON object")
        }

        fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
            let mut fields = Vec::with_capacity(map.size_hint().unwrap_or(8));
            while let Some(name) = map.next_key_seed(Key)? {
                fields.push((name, map.next_value()?));
            }
            Ok(fields)
        }
    }
    let mut deserializer = serde_json::Deserializer::from_slice(body);
    deserializer.deserialize_map(Fields)
}

/// A map key, borrowed from the body unless it has escapes.
pub struct Key;

impl<'de> DeserializeSeed<'de> for Key {
    type Value = Cow<'de, str>;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Self::Value, D::Error> {
        deserializer.deserialize_str(self)
    }
}

impl<'de> Visitor<'de> for Key {
    type Value = Cow<'de, str>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a string")
    }

    fn visit_borrowed_str<E: de::Error>(self, text: &'de str) -> Result<Self::Value, E> {
        Ok(Cow::Borrowed(text))
    }

    fn visit_str<E: de::Error>(self, text: &str) -> Result<Self::Value, E> {
        Ok(Cow::Owned(text.to_owned()))
    }
}

/// A cap crossed, and where: the path is built innermost first as the error unwinds.
struct Refusal {
    limit: Complexity,
    path: Vec<Segment>,
}

enum Segment {
    Key(String),
    Index(usize),
}

/// Field names longer than this are cut in a refusal's `param`.
const SEGMENT_CHARS: usize = 64;

impl Refusal {
    fn into_error(self) -> GatewayError {
        let mut field = String::new();
        for segment in self.path.iter().rev() {
            match segment {
                Segment::Key(name) if field.is_empty() => field.extend(name.chars().take(SEGMENT_CHARS)),
                Segment::Key(name) => {
                    field.push('.');
                    field.extend(name.chars().take(SEGMENT_CHARS));
                }
                Segment::Index(index) => field.push_str(&format!("[{index}]")),
            }
        }
        GatewayError::RequestTooComplex { field, limit: self.limit }
    }
}

struct Pass<'w> {
    caps: Caps,
    wanted: &'w Wanted,
    refused: RefCell<Option<Refusal>>,
}

impl Pass<'_> {
    fn refuse<E: de::Error>(&self, limit: Complexity) -> E {
        *self.refused.borrow_mut() = Some(Refusal { limit, path: Vec::new() });
        E::custom("the request is too complex")
    }

    /// A container at `depth` opens.
    fn enter<E: de::Error>(&self, depth: usize) -> Result<(), E> {
        match depth > self.caps.depth {
            true => Err(self.refuse(Complexity::Depth(self.caps.depth))),
            false => Ok(()),
        }
    }

    /// Adds `segment` to the path of a refusal passing through.
    fn at<T, E>(&self, read: Result<T, E>, segment: impl FnOnce() -> Segment) -> Result<T, E> {
        if read.is_err() {
            if let Some(refusal) = self.refused.borrow_mut().as_mut() {
                refusal.path.push(segment());
            }
        }
        read
    }

    fn skip_seq<'de, A: SeqAccess<'de>>(&self, mut seq: A, depth: usize) -> Result<(), A::Error> {
        self.enter(depth)?;
        let mut index = 0;
        while self
            .at(seq.next_element_seed(Any { pass: self, depth: depth + 1 }), move || Segment::Index(index))?
            .is_some()
        {
            index += 1;
        }
        Ok(())
    }

    fn skip_map<'de, A: MapAccess<'de>>(&self, mut map: A, depth: usize) -> Result<(), A::Error> {
        self.enter(depth)?;
        while let Some(name) = map.next_key_seed(Key)? {
            let read = map.next_value_seed(Any { pass: self, depth: depth + 1 });
            self.at(read, || Segment::Key(name.into_owned()))?;
        }
        Ok(())
    }

    /// The value of the top-level field `name`.
    fn field<'de, A: MapAccess<'de>>(
        &self,
        map: &mut A,
        name: &str,
        scanned: &mut Scanned<'de>,
    ) -> Result<(), A::Error> {
        let wanted = self.wanted;
        if name == wanted.conversation.list {
            scanned.conversation = map.next_value_seed(List { pass: self, parts: wanted.conversation.parts })?;
        } else if let Some(&name) = wanted.scalars.iter().find(|wanted| **wanted == name) {
            let value = map.next_value_seed(Single { pass: self, depth: 2 })?;
            scanned.values.push(((name, None), value));
        } else if let Some(&(parent, names)) = wanted.nested.iter().find(|(parent, _)| *parent == name) {
            map.next_value_seed(Object { pass: self, parent, names, into: &mut scanned.values })?;
        } else {
            map.next_value_seed(Any { pass: self, depth: 2 })?;
        }
        Ok(())
    }
}

/// The visitor methods of every scalar, all answering `$value`.
macro_rules! scalars_are {
    ($value:expr) => {
        fn visit_bool<E: de::Error>(self, _: bool) -> Result<Self::Value, E> {
            Ok($value)
        }
        fn visit_i64<E: de::Error>(self, _: i64) -> Result<Self::Value, E> {
            Ok($value)
        }
        fn visit_u64<E: de::Error>(self, _: u64) -> Result<Self::Value, E> {
            Ok($value)
        }
        fn visit_f64<E: de::Error>(self, _: f64) -> Result<Self::Value, E> {
            Ok($value)
        }
        fn visit_str<E: de::Error>(self, _: &str) -> Result<Self::Value, E> {
            Ok($value)
        }
        fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
            Ok($value)
        }
    };
}

/// Implements `DeserializeSeed` for a visitor that takes any JSON value.
macro_rules! seed_of_any {
    ($visitor:ident $(<$($lifetime:lifetime),+>)?) => {
        impl<'de $(, $($lifetime),+)?> DeserializeSeed<'de> for $visitor $(<$($lifetime),+>)? {
            type Value = <Self as Visitor<'de>>::Value;

            fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Self::Value, D::Error> {
                deserializer.deserialize_any(self)
            }
        }
    };
}

/// The body: `None` when it is not an object (read through without the caps, as the
/// parser's own nesting limit still applies; its type is the refusal).
struct Top<'p>(&'p Pass<'p>);

seed_of_any!(Top<'p>);

impl<'de> Visitor<'de> for Top<'_> {
    type Value = Option<Scanned<'de>>;
    scalars_are!(None);

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON object")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(None)
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        self.0.enter(1)?;
        let mut scanned = Scanned::default();
        while let Some(name) = map.next_key_seed(Key)? {
            let read = self.0.field(&mut map, &name, &mut scanned);
            self.0.at(read, || Segment::Key(name.into_owned()))?;
        }
        Ok(Some(scanned))
    }
}

/// Any value at `depth`, only checked against the caps.
#[derive(Clone, Copy)]
struct Any<'p> {
    pass: &'p Pass<'p>,
    depth: usize,
}

seed_of_any!(Any<'p>);

impl<'de> Visitor<'de> for Any<'_> {
    type Value = ();
    scalars_are!(());

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<(), A::Error> {
        self.pass.skip_seq(seq, self.depth)
    }

    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<(), A::Error> {
        self.pass.skip_map(map, self.depth)
    }
}

/// A wanted value at `depth`.
struct Single<'p> {
    pass: &'p Pass<'p>,
    depth: usize,
}

seed_of_any!(Single<'p>);

impl<'de> Visitor<'de> for Single<'_> {
    type Value = Scalar<'de>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_bool<E: de::Error>(self, value: bool) -> Result<Self::Value, E> {
        Ok(Scalar::Bool(value))
    }

    fn visit_i64<E: de::Error>(self, _: i64) -> Result<Self::Value, E> {
        Ok(Scalar::Other)
    }

    fn visit_u64<E: de::Error>(self, value: u64) -> Result<Self::Value, E> {
        Ok(Scalar::Unsigned(value))
    }

    fn visit_f64<E: de::Error>(self, _: f64) -> Result<Self::Value, E> {
        Ok(Scalar::Other)
    }

    fn visit_borrowed_str<E: de::Error>(self, text: &'de str) -> Result<Self::Value, E> {
        Ok(Scalar::Text(Cow::Borrowed(text)))
    }

    fn visit_str<E: de::Error>(self, text: &str) -> Result<Self::Value, E> {
        Ok(Scalar::Text(Cow::Owned(text.to_owned())))
    }

    fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(Scalar::Null)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Self::Value, A::Error> {
        self.pass.skip_seq(seq, self.depth).map(|()| Scalar::Other)
    }

    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
        self.pass.skip_map(map, self.depth).map(|()| Scalar::Other)
    }
}

/// A top-level object some of whose fields are wanted (`generationConfig`, `stream_options`).
struct Object<'p, 'v, 'de> {
    pass: &'p Pass<'p>,
    parent: &'static str,
    names: &'static [&'static str],
    into: &'v mut Vec<((&'static str, Option<&'static str>), Scalar<'de>)>,
}

impl<'de> DeserializeSeed<'de> for Object<'_, '_, 'de> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Object<'_, '_, 'de> {
    type Value = ();
    scalars_are!(());

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<(), A::Error> {
        self.pass.skip_seq(seq, 2)
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        self.pass.enter(2)?;
        while let Some(name) = map.next_key_seed(Key)? {
            let read = match self.names.iter().find(|wanted| **wanted == name) {
                Some(wanted) => map
                    .next_value_seed(Single { pass: self.pass, depth: 3 })
                    .map(|value| self.into.push(((self.parent, Some(*wanted)), value))),
                None => map.next_value_seed(Any { pass: self.pass, depth: 3 }),
            };
            self.pass.at(read, || Segment::Key(name.into_owned()))?;
        }
        Ok(())
    }
}

/// The conversation list (at depth 2): its items counted against the message cap.
struct List<'p> {
    pass: &'p Pass<'p>,
    parts: Option<&'static str>,
}

seed_of_any!(List<'p>);

impl<'de> Visitor<'de> for List<'_> {
    type Value = Shape;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_bool<E: de::Error>(self, _: bool) -> Result<Shape, E> {
        Ok(Shape::Other)
    }

    fn visit_i64<E: de::Error>(self, _: i64) -> Result<Shape, E> {
        Ok(Shape::Other)
    }

    fn visit_u64<E: de::Error>(self, _: u64) -> Result<Shape, E> {
        Ok(Shape::Other)
    }

    fn visit_f64<E: de::Error>(self, _: f64) -> Result<Shape, E> {
        Ok(Shape::Other)
    }

    fn visit_str<E: de::Error>(self, _: &str) -> Result<Shape, E> {
        Ok(Shape::Text)
    }

    fn visit_unit<E: de::Error>(self) -> Result<Shape, E> {
        Ok(Shape::Null)
    }

    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Shape, A::Error> {
        self.pass.skip_map(map, 2).map(|()| Shape::Other)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Shape, A::Error> {
        let pass = self.pass;
        pass.enter(2)?;
        let (mut count, mut first_not_object) = (0, None);
        let item = Item { pass, parts: self.parts };
        while let Some(is_object) = pass.at(seq.next_element_seed(item), move || Segment::Index(count))? {
            if !is_object && first_not_object.is_none() {
                first_not_object = Some(count);
            }
            count += 1;
            if count > pass.caps.messages {
                return Err(pass.refuse(Complexity::Messages(pass.caps.messages)));
            }
        }
        Ok(Shape::Array { first_not_object })
    }
}

/// A conversation item (at depth 3): whether it is an object, its parts counted.
#[derive(Clone, Copy)]
struct Item<'p> {
    pass: &'p Pass<'p>,
    parts: Option<&'static str>,
}

seed_of_any!(Item<'p>);

impl<'de> Visitor<'de> for Item<'_> {
    type Value = bool;
    scalars_are!(false);

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<bool, A::Error> {
        self.pass.skip_seq(seq, 3).map(|()| false)
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<bool, A::Error> {
        self.pass.enter(3)?;
        while let Some(name) = map.next_key_seed(Key)? {
            let read = match self.parts == Some(&*name) {
                true => map.next_value_seed(Parts { pass: self.pass }),
                false => map.next_value_seed(Any { pass: self.pass, depth: 4 }),
            };
            self.pass.at(read, || Segment::Key(name.into_owned()))?;
        }
        Ok(true)
    }
}

/// An item's content parts (at depth 4), counted against the parts cap.
struct Parts<'p> {
    pass: &'p Pass<'p>,
}

seed_of_any!(Parts<'p>);

impl<'de> Visitor<'de> for Parts<'_> {
    type Value = ();
    scalars_are!(());

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<(), A::Error> {
        self.pass.skip_map(map, 4)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        let pass = self.pass;
        pass.enter(4)?;
        let mut count = 0;
        while pass.at(seq.next_element_seed(Any { pass, depth: 5 }), move || Segment::Index(count))?.is_some() {
            count += 1;
            if count > pass.caps.parts {
                return Err(pass.refuse(Complexity::Parts(pass.caps.parts)));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const WANTED: Wanted = Wanted {
        scalars: &["model", "stream"],
        nested: &[("generationConfig", &["maxOutputTokens"])],
        conversation: Conversation { list: "messages", parts: Some("content") },
    };
    const CAPS: Caps = Caps { messages: 3, parts: 2, depth: 6 };

    fn refusal(body: &str) -> (String, Complexity) {
        match scan(body.as_bytes(), &WANTED, CAPS) {
            Err(GatewayError::RequestTooComplex { field, limit }) => (field, limit),
            other => panic!("not refused as too complex: {other:?}"),
        }
    }

    #[test]
    fn reads_the_wanted_values_without_a_tree() {
        let body = r#"{"model":"m\u0031","stream":true,"messages":[{"role":"user","content":"hi"},7],
                       "generationConfig":{"maxOutputTokens":5,"x":[1]},"other":{"deep":[[1]]}}"#;
        let scanned = scan(body.as_bytes(), &WANTED, CAPS).unwrap();
        assert_eq!(scanned.get("model"), &Scalar::Text("m1".into()));
        assert_eq!(scanned.get("stream"), &Scalar::Bool(true));
        assert_eq!(scanned.get("absent"), &Scalar::Null);
        assert_eq!(scanned.get_in("generationConfig", "maxOutputTokens"), &Scalar::Unsigned(5));
        assert_eq!(scanned.conversation, Shape::Array { first_not_object: Some(1) });
    }

    #[test]
    fn each_cap_is_refused_naming_where() {
        let messages = r#"{"messages":[{},{},{},{}]}"#;
        assert_eq!(refusal(messages), ("messages".into(), Complexity::Messages(3)));
        let parts = r#"{"messages":[{},{"content":[{},{},{}]}]}"#;
        assert_eq!(refusal(parts), ("messages[1].content".into(), Complexity::Parts(2)));
        let deep = r#"{"tools":[{"schema":{"a":[[{"b":1}]]}}]}"#;
        assert_eq!(refusal(deep), ("tools[0].schema.a[0][0]".into(), Complexity::Depth(6)));
    }

    #[test]
    fn at_the_caps_a_body_passes() {
        let body = r#"{"messages":[{},{"content":[{},{}]},{}],"tools":[{"schema":{"a":[[1]]}}]}"#;
        assert!(scan(body.as_bytes(), &WANTED, CAPS).is_ok());
    }

    #[test]
    fn invalid_json_and_other_types_keep_their_refusals() {
        assert!(matches!(scan(b"{\"model\":", &WANTED, CAPS), Err(GatewayError::InvalidJson(_))));
        assert!(matches!(scan(b"[1,2]", &WANTED, CAPS), Err(GatewayError::InvalidType { .. })));
        assert!(matches!(scan(b"{} x", &WANTED, CAPS), Err(GatewayError::InvalidJson(_))));
    }

    #[test]
    fn top_level_fields_are_the_bytes_sent() {
        let fields = top_level(br#"{"model":"a","messages":[ 1, 2 ]}"#).unwrap();
        let fields: Vec<(&str, &str)> = fields.iter().map(|(name, raw)| (&**name, raw.get())).collect();
        assert_eq!(fields, [("model", "\"a\""), ("messages", "[ 1, 2 ]")]);
    }
}
