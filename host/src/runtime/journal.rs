//! The per-request journal: every edit a filter made, in order, with the filter that made it.
//! It is the decision trace for the access log, the admin endpoint and the conformance tool.

use std::fmt;
use std::sync::Arc;

use super::bindings::EditError;
use super::validate::describe;

pub(crate) use weir_rules::journal::{ShownValue, show_value};

/// One accepted edit, rendered for people (`set-path /new/x`, `remove-cookie tracking`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct JournalEntry {
    /// The filter that made the edit.
    pub filter: Arc<str>,
    /// What it did.
    pub edit: String,
}

/// The capacity a journal line starts with: most lines fit, longer ones grow.
const LINE_CAPACITY: usize = 64;

/// The capacity the list of edits starts with.
const ENTRIES_CAPACITY: usize = 8;

/// An ordered list of accepted edits.
#[derive(Clone, Debug, Default)]
pub struct Journal {
    entries: Vec<JournalEntry>,
    refusals: Vec<JournalEntry>,
    notes: Vec<JournalEntry>,
    current: Option<Arc<str>>,
}

impl Journal {
    /// Names the filter whose edits are recorded next.
    pub(crate) fn set_filter(&mut self, filter: Arc<str>) {
        self.current = Some(filter);
    }

    /// Records one accepted edit.
    pub(crate) fn record(&mut self, edit: fmt::Arguments<'_>) {
        self.record_line(Self::line(edit));
    }

    /// Renders an edit's line, for [`record_line`](Self::record_line) once the edit is applied.
    /// Sized for a typical line (`set-header x-request-id 0a1b2c3d-1f`) so that writing it
    /// allocates once instead of growing piece by piece.
    pub(crate) fn line(edit: fmt::Arguments<'_>) -> String {
        use fmt::Write as _;
        let mut line = String::with_capacity(LINE_CAPACITY);
        // Writing into a `String` cannot fail.
        let _ = line.write_fmt(edit);
        line
    }

    /// Records one accepted edit whose line is already rendered.
    pub(crate) fn record_line(&mut self, edit: String) {
        let filter = self.current.clone().unwrap_or_else(|| Arc::from("host"));
        if self.entries.capacity() == 0 {
            // A chain's filters make a few edits each: one allocation for the usual request
            // instead of growing from 4.
            self.entries.reserve_exact(ENTRIES_CAPACITY);
        }
        self.entries.push(JournalEntry { filter, edit });
    }

    /// Records an edit the host refused: `op: reason`.
    pub(crate) fn refuse(&mut self, op: &str, error: &EditError) {
        let filter = self.current.clone().unwrap_or_else(|| Arc::from("host"));
        self.refusals.push(JournalEntry {
            filter,
            edit: format!("{op}: {}", describe(error)),
        });
    }

    /// Notes an accepted edit the host had to change before applying it (`set-path` of a path
    /// with dot segments, which weir resolves): not an edit, a fact for the conformance tool.
    pub(crate) fn note(&mut self, note: fmt::Arguments<'_>) {
        let filter = self.current.clone().unwrap_or_else(|| Arc::from("host"));
        self.notes.push(JournalEntry {
            filter,
            edit: note.to_string(),
        });
    }

    /// The notes of edits the host changed before applying them, oldest first.
    pub fn notes(&self) -> &[JournalEntry] {
        &self.notes
    }

    /// The edits the host refused, oldest first.
    pub fn refusals(&self) -> &[JournalEntry] {
        &self.refusals
    }

    /// The recorded edits, oldest first.
    pub fn entries(&self) -> &[JournalEntry] {
        &self.entries
    }
}
