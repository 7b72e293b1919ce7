//! Where contacts go. The name keys each sink's entry in a contact's stored state and labels its
//! metrics (`sink_calls{sink}`), so it never changes.

use std::fmt;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum SinkId {
    /// The CallTools dialer.
    CallTools,
    /// GoHighLevel, for the call outcomes CallTools reports.
    Ghl,
}

impl SinkId {
    pub const ALL: [SinkId; 2] = [SinkId::CallTools, SinkId::Ghl];

    pub fn as_str(self) -> &'static str {
        match self {
            SinkId::CallTools => "calltools",
            SinkId::Ghl => "ghl",
        }
    }

    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.as_str() == name)
    }
}

impl fmt::Display for SinkId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}
