//! [`HeaderList`]: the ordered header fields of an in-memory request or response, with the
//! semantics of the host's header map (case-insensitive names, `set` replaces every value in
//! place, `append` keeps a name's values together).

use crate::Header;

/// Ordered header fields; names are stored lowercase by every edit.
#[derive(Clone, Debug, Default)]
pub(crate) struct HeaderList(Vec<Header>);

impl HeaderList {
    /// Adds a field at the end, as given (builders model odd input with it).
    pub(crate) fn push(&mut self, header: Header) {
        self.0.push(header);
    }

    /// The first value of `name`.
    pub(crate) fn first(&self, name: &str) -> Option<&[u8]> {
        self.all(name).next()
    }

    /// Every value of `name`, in order.
    pub(crate) fn all<'a, 'n>(
        &'a self,
        name: &'n str,
    ) -> impl Iterator<Item = &'a [u8]> + use<'a, 'n> {
        self.0
            .iter()
            .filter(move |h| h.name.eq_ignore_ascii_case(name))
            .map(|h| h.value.as_slice())
    }

    /// The last field named `name`, to edit in place.
    pub(crate) fn last_mut(&mut self, name: &str) -> Option<&mut Header> {
        self.0
            .iter_mut()
            .rev()
            .find(|h| h.name.eq_ignore_ascii_case(name))
    }

    /// A copy of every field, in order.
    pub(crate) fn to_vec(&self) -> Vec<Header> {
        self.0.clone()
    }

    /// Replaces every value of `name` with `value`, at the position of the first one.
    pub(crate) fn set(&mut self, name: &str, value: Vec<u8>) {
        match self.position(name) {
            Some(first) => {
                if let Some(slot) = self.0.get_mut(first) {
                    slot.value = value;
                }
                let mut index = 0;
                self.0.retain(|h| {
                    let keep = index <= first || !h.name.eq_ignore_ascii_case(name);
                    index += 1;
                    keep
                });
            }
            None => self.0.push(Header {
                name: name.to_owned(),
                value,
            }),
        }
    }

    /// Adds `value` after the last value of `name`, or at the end.
    pub(crate) fn append(&mut self, name: &str, value: Vec<u8>) {
        let at = self
            .0
            .iter()
            .rposition(|h| h.name.eq_ignore_ascii_case(name))
            .map_or(self.0.len(), |last| last + 1);
        self.0.insert(
            at,
            Header {
                name: name.to_owned(),
                value,
            },
        );
    }

    /// Removes every value of `name`; returns whether there was one.
    pub(crate) fn remove(&mut self, name: &str) -> bool {
        let before = self.0.len();
        self.0.retain(|h| !h.name.eq_ignore_ascii_case(name));
        self.0.len() != before
    }

    /// Rewrites the values of `name` in place: `edit` returns `None` to keep a value byte for
    /// byte, `Some(None)` to drop it, `Some(Some(v))` to replace it. Returns how many values
    /// were dropped or replaced.
    pub(crate) fn edit_each(
        &mut self,
        name: &str,
        mut edit: impl FnMut(&[u8]) -> Option<Option<Vec<u8>>>,
    ) -> u32 {
        let mut changed = 0;
        self.0.retain_mut(|h| {
            if !h.name.eq_ignore_ascii_case(name) {
                return true;
            }
            match edit(&h.value) {
                None => true,
                Some(replacement) => {
                    changed += 1;
                    match replacement {
                        Some(value) => {
                            h.value = value;
                            true
                        }
                        None => false,
                    }
                }
            }
        });
        changed
    }

    fn position(&self, name: &str) -> Option<usize> {
        self.0
            .iter()
            .position(|h| h.name.eq_ignore_ascii_case(name))
    }
}

#[cfg(test)]
#[allow(
    clippy::unwrap_used,
    reason = "in tests a panic is the failure report; see STYLE §9 allow-unwrap-in-tests"
)]
mod tests {
    use super::*;

    fn list(fields: &[(&str, &str)]) -> HeaderList {
        let mut list = HeaderList::default();
        for (name, value) in fields {
            list.push(Header::new(name, value));
        }
        list
    }

    fn names_and_values(list: &HeaderList) -> Vec<(String, String)> {
        list.to_vec()
            .into_iter()
            .map(|h| (h.name, String::from_utf8(h.value).unwrap()))
            .collect()
    }

    #[test]
    fn set_replaces_every_value_at_the_first_position() {
        let mut l = list(&[("a", "1"), ("b", "2"), ("a", "3")]);
        l.set("a", b"9".to_vec());
        assert_eq!(
            names_and_values(&l),
            [("a".into(), "9".into()), ("b".into(), "2".into())]
        );
        l.set("c", b"4".to_vec());
        assert_eq!(l.first("C"), Some(&b"4"[..]));
    }

    #[test]
    fn append_keeps_a_names_values_together() {
        let mut l = list(&[("a", "1"), ("b", "2")]);
        l.append("a", b"3".to_vec());
        l.append("z", b"4".to_vec());
        let names: Vec<String> = l.to_vec().into_iter().map(|h| h.name).collect();
        assert_eq!(names, ["a", "a", "b", "z"]);
        assert_eq!(l.all("A").collect::<Vec<_>>(), [&b"1"[..], b"3"]);
    }

    #[test]
    fn remove_reports_presence() {
        let mut l = list(&[("a", "1"), ("a", "2")]);
        assert!(l.remove("A"));
        assert!(!l.remove("a"));
        assert!(l.to_vec().is_empty());
    }

    #[test]
    fn edit_each_keeps_drops_and_replaces_in_place() {
        let mut l = list(&[("s", "keep"), ("x", "1"), ("s", "drop"), ("s", "swap")]);
        let changed = l.edit_each("s", |v| match v {
            b"drop" => Some(None),
            b"swap" => Some(Some(b"new".to_vec())),
            _ => None,
        });
        assert_eq!(changed, 2);
        assert_eq!(
            names_and_values(&l),
            [
                ("s".into(), "keep".into()),
                ("x".into(), "1".into()),
                ("s".into(), "new".into())
            ]
        );
    }
}
