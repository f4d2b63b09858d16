//! [`Header`]: one header field as the WIT contract carries it.

/// One header field: a lowercase name and its raw value bytes.
///
/// ```
/// use weir_sdk::Header;
///
/// let header = Header::new("X-Trace", "abc");
/// assert_eq!(header.name, "x-trace");
/// assert_eq!(header.value, b"abc");
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Header {
    /// The field name, lowercase.
    pub name: String,
    /// The raw field value.
    pub value: Vec<u8>,
}

impl Header {
    /// A header with `name` (lowercased) and `value`. Nothing is validated here; the host
    /// validates a header when it is used in an edit or a local response.
    ///
    /// ```
    /// use weir_sdk::Header;
    ///
    /// assert_eq!(Header::new("Location", "/login").name, "location");
    /// ```
    pub fn new(name: &str, value: impl AsRef<[u8]>) -> Self {
        Self {
            name: name.to_ascii_lowercase(),
            value: value.as_ref().to_vec(),
        }
    }

    /// The value as UTF-8 text; `None` when it is not UTF-8.
    ///
    /// ```
    /// use weir_sdk::Header;
    ///
    /// assert_eq!(Header::new("a", "text").value_str(), Some("text"));
    /// assert_eq!(Header::new("a", [0xff]).value_str(), None);
    /// ```
    pub fn value_str(&self) -> Option<&str> {
        std::str::from_utf8(&self.value).ok()
    }
}
