//! Text keys (usernames and identifiers as compared) kept back to back in one buffer: a DEP import of
//! 200,000 rows looks up, remembers and sorts 400,000 keys, and a `String` each was an allocation to
//! make and one to free, a good part of the import.

use std::hash::BuildHasher;

use rustc_hash::FxBuildHasher;

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
