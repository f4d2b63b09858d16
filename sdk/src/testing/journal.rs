//! [`Journal`]: the accepted edits of an in-memory request or response, rendered exactly as the
//! host's journal renders them (`set-path /new/x`, `set-header x-a 1`).

pub(crate) use weir_rules::journal::show_value;

/// An ordered list of accepted edits.
#[derive(Clone, Debug, Default)]
pub(crate) struct Journal(Vec<String>);

impl Journal {
    /// Records one accepted edit.
    pub(crate) fn record(&mut self, edit: String) {
        self.0.push(edit);
    }

    /// The recorded edits, oldest first.
    pub(crate) fn entries(&self) -> Vec<String> {
        self.0.clone()
    }
}
