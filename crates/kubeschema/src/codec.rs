//! The Kubernetes protobuf codec, driven by the schema table: JSON objects (as the lab's API
//! server holds them) to and from `application/vnd.kubernetes.protobuf` bodies.
//!
//! A body is the magic `k8s\0` followed by a `runtime.Unknown` whose `typeMeta` names the
//! apiVersion and kind and whose `raw` is the object's message. Kubernetes' special JSON forms
//! are kept: `Time`/`MicroTime` are RFC 3339 strings, `Duration` a Go duration string,
//! `IntOrString` a number or a string, `Quantity` a string, `RawExtension` and `FieldsV1`
//! embedded JSON, bytes base64, int64 JSON numbers.
//!
//! Decoding follows what Go's JSON encoding of the decoded struct prints, as far as the schema
//! knows it: empty strings and zero times (which Go's `omitempty` drops, or prints as null) are
//! left out; numbers and booleans are kept as sent (a pointer's explicit 0 or false matters:
//! `replicas: 0`, `gracePeriodSeconds: 0`).
//!
//! Encoding drops JSON fields the schema does not know: protobuf has no place for them, and the
//! real server never holds them either (its decoder drops unknown fields before storing), so a
//! dropped field is one no Kubernetes client could have read. A value of the wrong JSON type is
//! an error.

use base64::Engine as _;
use serde_json::Map;
use serde_json::Number;
use serde_json::Value;

use crate::schema::message;
use crate::schema::message_for;
use crate::schema::Field;
use crate::schema::Label;
use crate::schema::Message;
use crate::schema::Scalar;
use crate::schema::Ty;
use crate::wire::put_key;
use crate::wire::put_len;
use crate::wire::put_varint;
use crate::wire::Reader;
use crate::wire::FIXED32;
use crate::wire::FIXED64;
use crate::wire::LEN;
use crate::wire::VARINT;

/// The 4 bytes every Kubernetes protobuf body starts with.
pub const MAGIC: &[u8; 4] = b"k8s\0";

/// The media type of Kubernetes protobuf bodies.
pub const PROTOBUF: &str = "application/vnd.kubernetes.protobuf";

/// How deep messages may nest before a body is refused (hostile input).
const MAX_DEPTH: usize = 64;

const TIME: &str = "k8s.io.apimachinery.pkg.apis.meta.v1.Time";
const MICRO_TIME: &str = "k8s.io.apimachinery.pkg.apis.meta.v1.MicroTime";
const DURATION: &str = "k8s.io.apimachinery.pkg.apis.meta.v1.Duration";
const FIELDS_V1: &str = "k8s.io.apimachinery.pkg.apis.meta.v1.FieldsV1";
const INT_OR_STRING: &str = "k8s.io.apimachinery.pkg.util.intstr.IntOrString";
const QUANTITY: &str = "k8s.io.apimachinery.pkg.api.resource.Quantity";
const RAW_EXTENSION: &str = "k8s.io.apimachinery.pkg.runtime.RawExtension";
const WATCH_EVENT: &str = "k8s.io.apimachinery.pkg.apis.meta.v1.WatchEvent";

/// Seconds of Go's zero `time.Time` (0001-01-01T00:00:00Z) since the Unix epoch: what a Go
/// client writes for an unset non-pointer Time (`metadata.creationTimestamp`).
const GO_ZERO_TIME: i64 = -62_135_596_800;

/// Non-pointer `omitempty` numbers and booleans that Go clients always write (kubectl's
/// generators among them): their zero is left out as Go's JSON would. The schema cannot tell a
/// pointer (`replicas: 0` matters) from a plain field, so this list names the plain ones met in
/// the objects kubectl builds; any other zero is kept as sent.
const OMIT_ZERO: &[(&str, &[&str])] = &[
    ("ObjectMeta", &["generation"]),
    ("ContainerPort", &["hostPort"]),
    ("Container", &["stdin", "stdinOnce", "tty"]),
    ("EphemeralContainerCommon", &["stdin", "stdinOnce", "tty"]),
    ("PodSpec", &["hostNetwork", "hostPID", "hostIPC"]),
    ("DeploymentSpec", &["minReadySeconds", "paused"]),
    ("ReplicaSetSpec", &["minReadySeconds"]),
    ("DaemonSetSpec", &["minReadySeconds"]),
    (
        "ServiceSpec",
        &["publishNotReadyAddresses", "healthCheckNodePort"],
    ),
    ("ServicePort", &["nodePort"]),
    (
        "Probe",
        &[
            "initialDelaySeconds",
            "timeoutSeconds",
            "periodSeconds",
            "successThreshold",
            "failureThreshold",
        ],
    ),
    (
        "DeploymentStatus",
        &[
            "observedGeneration",
            "replicas",
            "updatedReplicas",
            "readyReplicas",
            "availableReplicas",
            "unavailableReplicas",
        ],
    ),
    (
        "ReplicaSetStatus",
        &[
            "replicas",
            "fullyLabeledReplicas",
            "readyReplicas",
            "availableReplicas",
            "observedGeneration",
        ],
    ),
];

/// A decoding or encoding failure, worded for a Status message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Error(pub String);

impl Error {
    pub(crate) fn new(msg: impl Into<String>) -> Self {
        Error(msg.into())
    }
}

impl std::fmt::Display for Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Error {}

pub type Result<T> = std::result::Result<T, Error>;

/// The apiVersion and kind of an envelope, and its raw message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Envelope<'a> {
    pub api_version: String,
    pub kind: String,
    pub raw: &'a [u8],
}

/// Reads the `k8s\0` + `runtime.Unknown` envelope.
pub fn open_envelope(bytes: &[u8]) -> Result<Envelope<'_>> {
    let body = bytes
        .strip_prefix(MAGIC.as_slice())
        .ok_or_else(|| Error::new("provided data does not appear to be a protobuf message, expected prefix [107 56 115 0]"))?;
    let mut r = Reader::new(body);
    let mut env = Envelope {
        api_version: String::new(),
        kind: String::new(),
        raw: &[],
    };
    while !r.done() {
        let (tag, wire) = r.key()?;
        match (tag, wire) {
            (1, LEN) => {
                let mut tm = Reader::new(r.len_delimited()?);
                while !tm.done() {
                    let (t, w) = tm.key()?;
                    match (t, w) {
                        (1, LEN) => env.api_version = utf8(tm.len_delimited()?)?,
                        (2, LEN) => env.kind = utf8(tm.len_delimited()?)?,
                        _ => tm.skip(w)?,
                    }
                }
            }
            (2, LEN) => env.raw = r.len_delimited()?,
            // contentEncoding and contentType: Kubernetes always sends them empty.
            (3, LEN) | (4, LEN) => {
                let v = r.len_delimited()?;
                if tag == 3 && !v.is_empty() {
                    return Err(Error::new(format!(
                        "unsupported contentEncoding {:?}",
                        String::from_utf8_lossy(v)
                    )));
                }
            }
            _ => r.skip(wire)?,
        }
    }
    Ok(env)
}

/// Writes the envelope around a message.
pub fn seal_envelope(api_version: &str, kind: &str, raw: &[u8]) -> Vec<u8> {
    let mut tm = Vec::new();
    put_len(&mut tm, 1, api_version.as_bytes());
    put_len(&mut tm, 2, kind.as_bytes());
    let mut out = Vec::with_capacity(raw.len() + tm.len() + 16);
    out.extend_from_slice(MAGIC);
    put_len(&mut out, 1, &tm);
    put_len(&mut out, 2, raw);
    put_len(&mut out, 3, b"");
    put_len(&mut out, 4, b"");
    out
}

/// Decodes a protobuf body into the JSON object (apiVersion and kind first).
pub fn decode(bytes: &[u8]) -> Result<Value> {
    decode_at(bytes, 0)
}

fn decode_at(bytes: &[u8], depth: usize) -> Result<Value> {
    let env = open_envelope(bytes)?;
    if env.kind.is_empty() {
        return Err(Error::new(
            "Object 'Kind' is missing in the protobuf envelope",
        ));
    }
    let msg = message_for(&env.api_version, &env.kind).ok_or_else(|| {
        Error::new(format!(
            "no kind \"{}\" is registered for version \"{}\"",
            env.kind, env.api_version
        ))
    })?;
    let body = decode_message(env.raw, msg, depth)?;
    let mut out = Map::new();
    out.insert("apiVersion".into(), Value::String(env.api_version));
    out.insert("kind".into(), Value::String(env.kind));
    if let Value::Object(m) = body {
        out.extend(m);
    }
    Ok(Value::Object(out))
}

/// Encodes a JSON object (with apiVersion and kind) as a protobuf body.
pub fn encode(obj: &Value) -> Result<Vec<u8>> {
    let api_version = obj
        .get("apiVersion")
        .and_then(Value::as_str)
        .ok_or_else(|| Error::new("Object 'apiVersion' is missing"))?;
    let kind = obj
        .get("kind")
        .and_then(Value::as_str)
        .ok_or_else(|| Error::new("Object 'Kind' is missing"))?;
    let msg = message_for(api_version, kind).ok_or_else(|| {
        Error::new(format!(
            "no kind \"{kind}\" is registered for version \"{api_version}\""
        ))
    })?;
    let raw = encode_message(obj, msg, 0)?;
    Ok(seal_envelope(api_version, kind, &raw))
}

/// Decodes a message's bytes into a JSON value by the schema (no envelope).
pub fn decode_message(bytes: &[u8], msg: &Message, depth: usize) -> Result<Value> {
    if depth > MAX_DEPTH {
        return Err(Error::new("the object nests too deeply"));
    }
    match msg.name {
        TIME | MICRO_TIME => return decode_time(bytes, msg.name == MICRO_TIME),
        DURATION => {
            let fields = plain(bytes, msg, depth)?;
            let ns = fields.get("duration").and_then(Value::as_i64).unwrap_or(0);
            return Ok(Value::String(format_duration(ns)));
        }
        INT_OR_STRING => {
            let fields = plain(bytes, msg, depth)?;
            let is_string = fields.get("type").and_then(Value::as_i64) == Some(1);
            return Ok(if is_string {
                fields
                    .get("strVal")
                    .cloned()
                    .unwrap_or_else(|| Value::String(String::new()))
            } else {
                fields
                    .get("intVal")
                    .cloned()
                    .unwrap_or_else(|| Value::from(0))
            });
        }
        QUANTITY => {
            let fields = plain(bytes, msg, depth)?;
            return Ok(fields
                .get("string")
                .cloned()
                .unwrap_or_else(|| Value::String("0".into())));
        }
        RAW_EXTENSION | FIELDS_V1 => {
            let raw = first_bytes(bytes)?;
            return embedded_json(raw, depth);
        }
        _ => {}
    }
    let mut out = plain(bytes, msg, depth)?;
    // Go's JSON leaves out empty strings (omitempty) and prints zero times as null.
    out.retain(|_, v| !(v.is_null() || v.as_str() == Some("")));
    // And the zero of a non-pointer omitempty number or bool, which a Go client always writes.
    let short = msg.short_name();
    out.retain(|k, v| {
        let zero = v.as_i64() == Some(0) || v.as_bool() == Some(false);
        !(zero
            && OMIT_ZERO
                .iter()
                .any(|(m, f)| *m == short && f.contains(&k.as_str())))
    });
    Ok(Value::Object(out))
}

/// The first length-delimited field's bytes (the `raw` of RawExtension and FieldsV1).
fn first_bytes(bytes: &[u8]) -> Result<&[u8]> {
    let mut r = Reader::new(bytes);
    let mut raw: &[u8] = &[];
    while !r.done() {
        let (tag, wire) = r.key()?;
        if tag == 1 && wire == LEN {
            raw = r.len_delimited()?;
        } else {
            r.skip(wire)?;
        }
    }
    Ok(raw)
}

/// The JSON an embedded raw holds: JSON text, or a nested protobuf envelope (watch events).
fn embedded_json(raw: &[u8], depth: usize) -> Result<Value> {
    if raw.is_empty() {
        return Ok(Value::Null);
    }
    if raw.starts_with(MAGIC) {
        if depth > MAX_DEPTH {
            return Err(Error::new("the object nests too deeply"));
        }
        return decode_at(raw, depth + 1);
    }
    serde_json::from_slice(raw).map_err(|e| Error::new(format!("embedded JSON: {e}")))
}

/// The message's fields by JSON name, without the special forms of the message itself.
fn plain(bytes: &[u8], msg: &Message, depth: usize) -> Result<Map<String, Value>> {
    let mut out = Map::new();
    let mut r = Reader::new(bytes);
    while !r.done() {
        let (tag, wire) = r.key()?;
        let Some(f) = msg.field_by_tag(tag) else {
            r.skip(wire)?;
            continue;
        };
        match f.label {
            Label::Optional if f.inline => {
                if let Value::Object(m) = read_value(&mut r, wire, f.ty, f, depth)? {
                    out.extend(m);
                }
            }
            Label::Optional => {
                let v = read_value(&mut r, wire, f.ty, f, depth)?;
                out.insert(f.json.to_string(), v);
            }
            Label::Repeated => {
                let list = out
                    .entry(f.json.to_string())
                    .or_insert_with(|| Value::Array(Vec::new()));
                let Value::Array(items) = list else {
                    return Err(Error::new("internal: list slot"));
                };
                let packable = matches!(
                    f.ty,
                    Ty::Scalar(Scalar::Int32 | Scalar::Int64 | Scalar::Bool | Scalar::Double)
                );
                if packable && wire == LEN {
                    let mut p = Reader::new(r.len_delimited()?);
                    let inner = if f.ty == Ty::Scalar(Scalar::Double) {
                        FIXED64
                    } else {
                        VARINT
                    };
                    while !p.done() {
                        items.push(read_value(&mut p, inner, f.ty, f, depth)?);
                    }
                } else {
                    items.push(read_value(&mut r, wire, f.ty, f, depth)?);
                }
            }
            Label::Map(key) => {
                expect_wire(wire, LEN, f)?;
                let mut e = Reader::new(r.len_delimited()?);
                let mut k = Value::String(String::new());
                let mut v = Value::Null;
                while !e.done() {
                    let (t, w) = e.key()?;
                    match t {
                        1 => k = read_value(&mut e, w, Ty::Scalar(key), f, depth)?,
                        2 => v = read_value(&mut e, w, f.ty, f, depth)?,
                        _ => e.skip(w)?,
                    }
                }
                if v.is_null() {
                    v = zero_json(f.ty);
                }
                let k = match k {
                    Value::String(s) => s,
                    other => other.to_string(),
                };
                let map = out
                    .entry(f.json.to_string())
                    .or_insert_with(|| Value::Object(Map::new()));
                if let Value::Object(m) = map {
                    m.insert(k, v);
                }
            }
        }
    }
    Ok(out)
}

/// The JSON of a map value the entry left out.
fn zero_json(ty: Ty) -> Value {
    match ty {
        Ty::Scalar(Scalar::String | Scalar::Bytes) => Value::String(String::new()),
        Ty::Scalar(Scalar::Bool) => Value::Bool(false),
        Ty::Scalar(_) => Value::from(0),
        Ty::Message(QUANTITY) => Value::String("0".into()),
        Ty::Message(_) => Value::Object(Map::new()),
    }
}

fn expect_wire(got: u8, want: u8, f: &Field) -> Result<()> {
    if got == want {
        Ok(())
    } else {
        Err(Error::new(format!(
            "field {} (tag {}): wire type {got}, expected {want}",
            f.json, f.tag
        )))
    }
}

fn read_value(r: &mut Reader<'_>, wire: u8, ty: Ty, f: &Field, depth: usize) -> Result<Value> {
    Ok(match ty {
        Ty::Scalar(Scalar::String) => {
            expect_wire(wire, LEN, f)?;
            Value::String(utf8(r.len_delimited()?)?)
        }
        Ty::Scalar(Scalar::Bytes) => {
            expect_wire(wire, LEN, f)?;
            Value::String(base64::engine::general_purpose::STANDARD.encode(r.len_delimited()?))
        }
        Ty::Scalar(Scalar::Int32) => {
            expect_wire(wire, VARINT, f)?;
            Value::from(r.varint()? as i64 as i32)
        }
        Ty::Scalar(Scalar::Int64) => {
            expect_wire(wire, VARINT, f)?;
            Value::from(r.varint()? as i64)
        }
        Ty::Scalar(Scalar::Bool) => {
            expect_wire(wire, VARINT, f)?;
            Value::Bool(r.varint()? != 0)
        }
        Ty::Scalar(Scalar::Double) => {
            expect_wire(wire, FIXED64, f)?;
            let d = f64::from_bits(r.fixed64()?);
            Number::from_f64(d)
                .map(Value::Number)
                .ok_or_else(|| Error::new(format!("field {}: {d} is not a JSON number", f.json)))?
        }
        Ty::Message(name) => {
            expect_wire(wire, LEN, f)?;
            let m =
                message(name).ok_or_else(|| Error::new(format!("internal: no message {name}")))?;
            decode_message(r.len_delimited()?, m, depth + 1)?
        }
    })
}

fn utf8(b: &[u8]) -> Result<String> {
    String::from_utf8(b.to_vec()).map_err(|_| Error::new("a string field is not valid UTF-8"))
}

fn decode_time(bytes: &[u8], micro: bool) -> Result<Value> {
    // Go writes a zero Time as an empty message (and reads one back as the zero Time).
    if bytes.is_empty() {
        return Ok(Value::Null);
    }
    let mut r = Reader::new(bytes);
    let (mut secs, mut nanos) = (0i64, 0i64);
    while !r.done() {
        let (tag, wire) = r.key()?;
        match (tag, wire) {
            (1, VARINT) => secs = r.varint()? as i64,
            (2, VARINT) => nanos = i64::from(r.varint()? as i64 as i32),
            (_, FIXED32) => {
                r.fixed32()?;
            }
            _ => r.skip(wire)?,
        }
    }
    if secs == GO_ZERO_TIME && nanos == 0 {
        return Ok(Value::Null);
    }
    Ok(Value::String(format_time(secs, nanos, micro)?))
}

/// RFC 3339 in UTC: `2024-05-01T10:00:00Z`, or with microseconds for MicroTime.
pub fn format_time(secs: i64, nanos: i64, micro: bool) -> Result<String> {
    if !(0..1_000_000_000).contains(&nanos) || !(-62_135_596_800..=253_402_300_799).contains(&secs)
    {
        return Err(Error::new(format!("time out of range: {secs}s {nanos}ns")));
    }
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    let (y, m, d) = civil_from_days(days);
    let (hh, mm, ss) = (rem / 3600, rem / 60 % 60, rem % 60);
    Ok(if micro {
        format!(
            "{y:04}-{m:02}-{d:02}T{hh:02}:{mm:02}:{ss:02}.{:06}Z",
            nanos / 1000
        )
    } else {
        format!("{y:04}-{m:02}-{d:02}T{hh:02}:{mm:02}:{ss:02}Z")
    })
}

/// Parses RFC 3339 (`Z` or `±hh:mm`, optional fraction) into (seconds, nanos).
pub fn parse_time(s: &str) -> Result<(i64, i64)> {
    let bad = || Error::new(format!("parsing time {s:?} as RFC 3339"));
    let b = s.as_bytes();
    if b.len() < 20 || b[4] != b'-' || b[7] != b'-' || !matches!(b[10], b'T' | b't') {
        return Err(bad());
    }
    let num = |r: std::ops::Range<usize>| -> Result<i64> {
        let t = s.get(r).ok_or_else(bad)?;
        if !t.bytes().all(|c| c.is_ascii_digit()) {
            return Err(bad());
        }
        t.parse::<i64>().map_err(|_| bad())
    };
    let (y, mo, d) = (num(0..4)?, num(5..7)?, num(8..10)?);
    if b[13] != b':' || b[16] != b':' {
        return Err(bad());
    }
    let (hh, mi, ss) = (num(11..13)?, num(14..16)?, num(17..19)?);
    if !(1..=12).contains(&mo) || !(1..=31).contains(&d) || hh > 23 || mi > 59 || ss > 60 {
        return Err(bad());
    }
    let mut i = 19;
    let mut nanos = 0i64;
    if b.get(i) == Some(&b'.') {
        i += 1;
        let start = i;
        while i < b.len() && b[i].is_ascii_digit() {
            i += 1;
        }
        let frac = &s[start..i];
        if frac.is_empty() || frac.len() > 9 {
            return Err(bad());
        }
        nanos = frac.parse::<i64>().map_err(|_| bad())? * 10i64.pow(9 - frac.len() as u32);
    }
    let offset = match &s[i..] {
        "Z" | "z" => 0,
        o if o.len() == 6
            && (o.starts_with('+') || o.starts_with('-'))
            && o.as_bytes()[3] == b':' =>
        {
            let h = num(i + 1..i + 3)?;
            let m = num(i + 4..i + 6)?;
            let sign = if o.starts_with('-') { -1 } else { 1 };
            sign * (h * 3600 + m * 60)
        }
        _ => return Err(bad()),
    };
    let days = days_from_civil(y, mo, d);
    Ok((days * 86_400 + hh * 3600 + mi * 60 + ss - offset, nanos))
}

/// Days since 1970-01-01 of a proleptic Gregorian date.
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (if m <= 2 { y + 1 } else { y }, m, d)
}

/// Go's `time.Duration.String()`: `1h2m3s`, `1.5s`, `300ms`, `0s`.
pub fn format_duration(ns: i64) -> String {
    if ns == 0 {
        return "0s".into();
    }
    let neg = ns < 0;
    let u = ns.unsigned_abs();
    let mut out = String::new();
    if neg {
        out.push('-');
    }
    let frac = |v: u64, unit: u64| -> String {
        let whole = v / unit;
        let rest = v % unit;
        if rest == 0 {
            return whole.to_string();
        }
        let width = unit.ilog10() as usize;
        let digits = format!("{rest:0width$}");
        format!("{whole}.{}", digits.trim_end_matches('0'))
    };
    if u < 1_000 {
        out.push_str(&format!("{u}ns"));
    } else if u < 1_000_000 {
        out.push_str(&format!("{}µs", frac(u, 1_000)));
    } else if u < 1_000_000_000 {
        out.push_str(&format!("{}ms", frac(u, 1_000_000)));
    } else {
        let secs = u / 1_000_000_000;
        let sub = u % 1_000_000_000;
        let (h, m, s) = (secs / 3600, secs / 60 % 60, secs % 60);
        if h > 0 {
            out.push_str(&format!("{h}h"));
        }
        if h > 0 || m > 0 {
            out.push_str(&format!("{m}m"));
        }
        out.push_str(&frac(s * 1_000_000_000 + sub, 1_000_000_000));
        out.push('s');
    }
    out
}

/// Parses a Go duration string (`1h30m`, `2.5s`, `100ms`) into nanoseconds.
pub fn parse_duration(s: &str) -> Result<i64> {
    let bad = || Error::new(format!("time: invalid duration {s:?}"));
    let (neg, mut rest) = match s.strip_prefix('-') {
        Some(r) => (true, r),
        None => (false, s.strip_prefix('+').unwrap_or(s)),
    };
    if rest == "0" {
        return Ok(0);
    }
    if rest.is_empty() {
        return Err(bad());
    }
    let mut total: f64 = 0.0;
    while !rest.is_empty() {
        let n = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .ok_or_else(bad)?;
        let value: f64 = rest[..n].parse().map_err(|_| bad())?;
        rest = &rest[n..];
        let u = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let unit = match &rest[..u] {
            "ns" => 1.0,
            "us" | "µs" | "μs" => 1e3,
            "ms" => 1e6,
            "s" => 1e9,
            "m" => 60e9,
            "h" => 3600e9,
            _ => return Err(bad()),
        };
        rest = &rest[u..];
        total += value * unit;
    }
    if total > i64::MAX as f64 {
        return Err(bad());
    }
    let ns = total.round() as i64;
    Ok(if neg { -ns } else { ns })
}

/// Encodes a JSON object's fields by the schema (no envelope).
pub fn encode_message(v: &Value, msg: &Message, depth: usize) -> Result<Vec<u8>> {
    if depth > MAX_DEPTH {
        return Err(Error::new("the object nests too deeply"));
    }
    let mut out = Vec::new();
    match msg.name {
        TIME | MICRO_TIME => {
            let s = v
                .as_str()
                .ok_or_else(|| type_error(msg.short_name(), "a string", v))?;
            let (secs, nanos) = parse_time(s)?;
            let nanos = if msg.name == TIME {
                0
            } else {
                nanos / 1000 * 1000
            };
            put_key(&mut out, 1, VARINT);
            put_varint(&mut out, secs as u64);
            put_key(&mut out, 2, VARINT);
            put_varint(&mut out, nanos as u64);
            return Ok(out);
        }
        DURATION => {
            let s = v
                .as_str()
                .ok_or_else(|| type_error("Duration", "a string", v))?;
            put_key(&mut out, 1, VARINT);
            put_varint(&mut out, parse_duration(s)? as u64);
            return Ok(out);
        }
        INT_OR_STRING => {
            match v {
                Value::Number(n) => {
                    let i = n
                        .as_i64()
                        .and_then(|i| i32::try_from(i).ok())
                        .ok_or_else(|| type_error("IntOrString", "an int32 or a string", v))?;
                    put_key(&mut out, 1, VARINT);
                    put_varint(&mut out, 0);
                    put_key(&mut out, 2, VARINT);
                    put_varint(&mut out, i as i64 as u64);
                    put_len(&mut out, 3, b"");
                }
                Value::String(s) => {
                    put_key(&mut out, 1, VARINT);
                    put_varint(&mut out, 1);
                    put_key(&mut out, 2, VARINT);
                    put_varint(&mut out, 0);
                    put_len(&mut out, 3, s.as_bytes());
                }
                _ => return Err(type_error("IntOrString", "an int32 or a string", v)),
            }
            return Ok(out);
        }
        QUANTITY => {
            let s = match v {
                Value::String(s) => s.clone(),
                Value::Number(n) => n.to_string(),
                _ => return Err(type_error("Quantity", "a string or a number", v)),
            };
            put_len(&mut out, 1, s.as_bytes());
            return Ok(out);
        }
        RAW_EXTENSION | FIELDS_V1 => {
            let raw = serde_json::to_vec(v).map_err(|e| Error::new(e.to_string()))?;
            put_len(&mut out, 1, &raw);
            return Ok(out);
        }
        _ => {}
    }
    let obj = v
        .as_object()
        .ok_or_else(|| type_error(msg.short_name(), "an object", v))?;
    for f in msg.fields {
        if f.inline {
            // The embedded struct's fields are the parent object's.
            put_value(&mut out, f, f.ty, v, depth)?;
            continue;
        }
        let Some(val) = obj.get(f.json).filter(|x| !x.is_null()) else {
            continue;
        };
        match f.label {
            Label::Optional => put_value(&mut out, f, f.ty, val, depth)?,
            Label::Repeated => {
                let items = val
                    .as_array()
                    .ok_or_else(|| type_error(f.json, "an array", val))?;
                for it in items {
                    put_value(&mut out, f, f.ty, it, depth)?;
                }
            }
            Label::Map(_) => {
                let m = val
                    .as_object()
                    .ok_or_else(|| type_error(f.json, "an object", val))?;
                for (k, item) in m {
                    let mut entry = Vec::new();
                    put_len(&mut entry, 1, k.as_bytes());
                    if !item.is_null() {
                        put_value(&mut entry, &Field { tag: 2, ..*f }, f.ty, item, depth)?;
                    }
                    put_len(&mut out, f.tag, &entry);
                }
            }
        }
    }
    Ok(out)
}

fn type_error(what: &str, want: &str, got: &Value) -> Error {
    let kind = crate::schema::json_kind(got);
    Error::new(format!("{what}: expected {want}, got {kind}"))
}

fn put_value(out: &mut Vec<u8>, f: &Field, ty: Ty, v: &Value, depth: usize) -> Result<()> {
    match ty {
        Ty::Scalar(Scalar::String) => {
            let s = v
                .as_str()
                .ok_or_else(|| type_error(f.json, "a string", v))?;
            put_len(out, f.tag, s.as_bytes());
        }
        Ty::Scalar(Scalar::Bytes) => {
            let s = v
                .as_str()
                .ok_or_else(|| type_error(f.json, "a base64 string", v))?;
            let b = base64::engine::general_purpose::STANDARD
                .decode(s)
                .map_err(|e| Error::new(format!("{}: illegal base64 data: {e}", f.json)))?;
            put_len(out, f.tag, &b);
        }
        Ty::Scalar(Scalar::Int32) => {
            let i = v
                .as_i64()
                .and_then(|i| i32::try_from(i).ok())
                .ok_or_else(|| type_error(f.json, "an int32", v))?;
            put_key(out, f.tag, VARINT);
            put_varint(out, i as i64 as u64);
        }
        Ty::Scalar(Scalar::Int64) => {
            let i = v
                .as_i64()
                .ok_or_else(|| type_error(f.json, "an int64", v))?;
            put_key(out, f.tag, VARINT);
            put_varint(out, i as u64);
        }
        Ty::Scalar(Scalar::Bool) => {
            let b = v.as_bool().ok_or_else(|| type_error(f.json, "a bool", v))?;
            put_key(out, f.tag, VARINT);
            put_varint(out, u64::from(b));
        }
        Ty::Scalar(Scalar::Double) => {
            let d = v
                .as_f64()
                .ok_or_else(|| type_error(f.json, "a number", v))?;
            put_key(out, f.tag, FIXED64);
            out.extend_from_slice(&d.to_bits().to_le_bytes());
        }
        Ty::Message(name) => {
            let m =
                message(name).ok_or_else(|| Error::new(format!("internal: no message {name}")))?;
            let bytes = encode_message(v, m, depth + 1)?;
            put_len(out, f.tag, &bytes);
        }
    }
    Ok(())
}

/// One watch event as a protobuf frame, as kube-apiserver's watch encoder writes it: a 4-byte
/// big-endian length, then the `WatchEvent` message itself (the stream serializer is the raw
/// one: no `k8s\0` envelope, which client-go's decoder would read as fields and fail on, "proto:
/// illegal wireType"), whose `object.raw` holds the object's own envelope. The watched
/// resource's apiVersion is not written: the stream's media type says what it holds.
pub fn encode_watch_frame(_api_version: &str, event_type: &str, object: &Value) -> Result<Vec<u8>> {
    let inner = encode(object)?;
    let mut ev = Vec::new();
    put_len(&mut ev, 1, event_type.as_bytes());
    let mut raw = Vec::new();
    put_len(&mut raw, 1, &inner);
    put_len(&mut ev, 2, &raw);
    let len = u32::try_from(ev.len()).map_err(|_| Error::new("watch event too large"))?;
    let mut out = len.to_be_bytes().to_vec();
    out.extend_from_slice(&ev);
    Ok(out)
}

/// Splits one frame off a protobuf watch stream: (the event as JSON `{type, object}`, the
/// bytes used). None when the buffer does not yet hold a whole frame.
pub fn decode_watch_frame(buf: &[u8]) -> Result<Option<(Value, usize)>> {
    let Some(head) = buf.get(..4) else {
        return Ok(None);
    };
    let len = u32::from_be_bytes([head[0], head[1], head[2], head[3]]) as usize;
    let Some(frame) = buf.get(4..4 + len) else {
        return Ok(None);
    };
    let msg = message(WATCH_EVENT).ok_or_else(|| Error::new("internal: no WatchEvent"))?;
    let ev = decode_message(frame, msg, 0)?;
    Ok(Some((ev, 4 + len)))
}
