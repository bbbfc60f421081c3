//! Namespaces, and any other kind: the metadata header and events.

use serde_json::Value;

use super::writer::events_none;
use super::writer::finish;
use super::writer::meta_header;
use super::writer::s;
use super::writer::W;

pub(crate) fn generic(o: &Value) -> String {
    let mut w = W(String::new());
    meta_header(&mut w, o, o.pointer("/metadata/namespace").is_some());
    events_none(&mut w);
    finish(w)
}

pub(crate) fn namespace(o: &Value) -> String {
    let mut w = W(String::new());
    meta_header(&mut w, o, false);
    w.w(0, &format!("Status:\t{}\n", s(o, "/status/phase")));
    w.w(0, "\nNo resource quota.\n\nNo LimitRange resource.\n");
    finish(w)
}
