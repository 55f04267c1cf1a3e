//! Text keys (usernames and identifiers as compared) kept back to back in one buffer: a DEP import of
//! 200,000 rows looks up, remembers and sorts 400,000 keys, and a `String` each was an allocation to
//! make and one to free, a good part of the import.

use std::hash::BuildHasher;

use rustc_hash::FxBuildHasher;

/// The key of a username or identifier, as they are compared (trimmed, lower-cased) into `key`, which is
/// used again (an ASCII text, the usual kind, without allocating).
pub fn key_into(text: &str, key: &mut String) {
    let text = text.trim();
    if text.is_ascii() {
        key.clear();
        key.push_str(text);
        key.make_ascii_lowercase();
    } else {
        *key = text.to_lowercase();
    }
}

/// Whether `key` is the key of `text` (`key_into`), without allocating for an ASCII text.
pub fn is_key_of(key: &str, text: &str) -> bool {
    let text = text.trim();
    if text.is_ascii() {
        key.len() == text.len() && key.bytes().zip(text.bytes()).all(|(k, t)| k == t.to_ascii_lowercase())
    } else {
        text.to_lowercase() == key
    }
}

/// Keys in the order pushed.
#[derive(Clone, Debug, Default)]
pub struct Keys {
    text: String,
    ends: Vec<usize>,
}

impl Keys {
    pub fn with_capacity(keys: usize) -> Keys {
        Keys { text: String::new(), ends: Vec::with_capacity(keys) }
    }

    /// Adds a key; returns its place.
    pub fn push(&mut self, key: &str) -> usize {
        self.text.push_str(key);
        self.ends.push(self.text.len());
        self.ends.len() - 1
    }

    /// The key at place `i` (which must be one).
    pub fn get(&self, i: usize) -> &str {
        &self.text[if i == 0 { 0 } else { self.ends[i - 1] }..self.ends[i]]
    }

    pub fn len(&self) -> usize {
        self.ends.len()
    }

    pub fn is_empty(&self) -> bool {
        self.ends.is_empty()
    }

    pub fn last(&self) -> Option<&str> {
        self.len().checked_sub(1).map(|i| self.get(i))
    }

    pub fn iter(&self) -> impl Iterator<Item = &str> {
        (0..self.len()).map(|i| self.get(i))
    }

    pub fn reserve(&mut self, keys: usize) {
        self.ends.reserve(keys);
    }
}

/// Distinct keys with a value each, found by key.
#[derive(Clone, Debug, Default)]
pub struct KeyMap<V> {
    keys: Keys,
    values: Vec<V>,
    /// Places in `keys`, by the key's hash.
    table: hashbrown::HashTable<usize>,
}

impl<V> KeyMap<V> {
    fn hash(key: &str) -> u64 {
        FxBuildHasher.hash_one(key)
    }

    pub fn get(&self, key: &str) -> Option<&V> {
        let i = *self.table.find(Self::hash(key), |&i| self.keys.get(i) == key)?;
        Some(&self.values[i])
    }

    /// Sets the value of `key`, whether it was there or not.
    pub fn insert(&mut self, key: &str, value: V) {
        let (keys, values) = (&mut self.keys, &mut self.values);
        let hash = Self::hash(key);
        match self.table.find(hash, |&i| keys.get(i) == key) {
            Some(&i) => values[i] = value,
            None => {
                let i = keys.push(key);
                values.push(value);
                self.table.insert_unique(hash, i, |&j| Self::hash(keys.get(j)));
            }
        }
    }

    pub fn len(&self) -> usize {
        self.values.len()
    }

    pub fn is_empty(&self) -> bool {
        self.values.is_empty()
    }

    /// Room for `more` keys without growing the table.
    pub fn reserve(&mut self, more: usize) {
        let keys = &self.keys;
        self.table.reserve(more, |&j| Self::hash(keys.get(j)));
        self.keys.reserve(more);
        self.values.reserve(more);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A key is the text trimmed and lower-cased as `str::to_lowercase` does it, ASCII or not (a final
    /// capital sigma included), and `is_key_of` agrees.
    #[test]
    fn a_key_is_the_text_trimmed_and_lower_cased() {
        let mut key = String::from("left over");
        for text in ["Apple-01", "  MiXeD ", "", "ÄÖÜ", "ΟΔΟΣ", " Straße\t", "İstanbul", "a\u{0}B"] {
            key_into(text, &mut key);
            assert_eq!(key, text.trim().to_lowercase(), "{text:?}");
            assert!(is_key_of(&key, text), "{text:?}");
            let shorter: String = key.chars().skip(1).collect();
            assert!(!is_key_of(&format!("{key}x"), text) && (key.is_empty() || !is_key_of(&shorter, text)));
        }
        assert!(!is_key_of("apple-01", "APPLE-02") && !is_key_of("APPLE-01", "APPLE-01"));
    }

    /// The map agrees with a `HashMap` over many keys (some given again, some empty, some not ASCII),
    /// through growth; the list keeps keys in order.
    #[test]
    fn keys_and_the_key_map_keep_what_they_are_given() {
        let mut map = KeyMap::default();
        let mut model = std::collections::HashMap::new();
        let mut list = Keys::default();
        let mut pushed = Vec::new();
        for i in 0..5000u32 {
            let key = match i % 7 {
                0 => String::new(),
                1 => format!("ünï{}", i % 300),
                _ => format!("k{}", i * 31 % 2000),
            };
            map.insert(&key, i);
            model.insert(key.clone(), i);
            assert_eq!(list.push(&key), pushed.len());
            pushed.push(key.clone());
            if i == 100 {
                map.reserve(10_000);
            }
        }
        assert_eq!(map.len(), model.len());
        for (k, v) in &model {
            assert_eq!(map.get(k), Some(v), "{k}");
        }
        assert_eq!(map.get("absent"), None);
        assert_eq!(list.len(), 5000);
        assert_eq!((list.get(0), list.get(1), list.get(2)), ("", "ünï1", "k62"));
        assert_eq!(list.last(), pushed.last().map(String::as_str));
        assert!(list.iter().eq(pushed.iter().map(String::as_str)));
    }
}
