//! kubectl's JSONPath template dialect (`k8s.io/client-go/util/jsonpath`): text with `{…}`
//! actions such as `{.items[*].metadata.name}`, `{range .items[*]}…{end}`, filters
//! `[?(@.spec.type=="NodePort")]`, slices, `..` recursive descent and quoted literal text.
//! Missing keys print nothing (kubectl sets `AllowMissingKeys(true)`).

use serde_json::Value;

/// A JSONPath template could not be parsed or executed; the message is kubectl's.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JsonPathError(pub String);

impl std::fmt::Display for JsonPathError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

#[derive(Debug, Clone, PartialEq)]
enum Step {
    Root,
    Current,
    Field(String),
    Recursive,
    Wildcard,
    Slice {
        start: Option<i64>,
        end: Option<i64>,
        step: Option<i64>,
        single: bool,
    },
    Union(Vec<Vec<Step>>),
    Filter(Box<Filter>),
    Literal(Value),
}

#[derive(Debug, Clone, PartialEq)]
struct Filter {
    left: Vec<Step>,
    op: Option<String>,
    right: Vec<Step>,
}

#[derive(Debug, Clone, PartialEq)]
enum Node {
    Text(String),
    Expr(Vec<Step>),
    Range(Vec<Step>, Vec<Node>),
}

/// kubectl's `RelaxedJSONPathExpression`: `{.a.b}`, `{a.b}`, `.a.b` and `a.b` all become
/// `{.a.b}` (custom columns, `wait --for=jsonpath=`).
pub fn relaxed(expr: &str) -> Result<String, JsonPathError> {
    let inner = expr
        .strip_prefix('{')
        .and_then(|e| e.strip_suffix('}'))
        .unwrap_or(expr);
    let inner = inner.strip_prefix('.').unwrap_or(inner);
    if inner.is_empty() || inner.contains(['{', '}']) {
        return Err(JsonPathError("unexpected path string, expected a 'name1.name2' or '.name1.name2' or '{name1.name2}' or '{.name1.name2}'".into()));
    }
    Ok(format!("{{.{inner}}}"))
}

/// A parsed template.
#[derive(Debug, Clone)]
pub struct Template {
    nodes: Vec<Node>,
    source: String,
}

impl Template {
    /// Parses a template such as `{range .items[*]}{.metadata.name}{"\n"}{end}`.
    pub fn parse(text: &str) -> Result<Template, JsonPathError> {
        let mut flat = Vec::new();
        let mut rest = text;
        while !rest.is_empty() {
            match rest.find('{') {
                None => {
                    flat.push(Flat::Text(rest.to_string()));
                    break;
                }
                Some(i) => {
                    if i > 0 {
                        flat.push(Flat::Text(rest[..i].to_string()));
                    }
                    let after = &rest[i + 1..];
                    let close = find_action_end(after)
                        .ok_or_else(|| JsonPathError("unclosed action".to_string()))?;
                    let inner = after[..close].trim();
                    rest = &after[close + 1..];
                    if inner == "end" {
                        flat.push(Flat::End);
                    } else if let Some(r) = inner.strip_prefix("range ") {
                        flat.push(Flat::Range(parse_expr(r.trim())?));
                    } else {
                        flat.push(Flat::Expr(parse_expr(inner)?));
                    }
                }
            }
        }
        let mut iter = flat.into_iter();
        let nodes = nest(&mut iter, false)?;
        Ok(Template {
            nodes,
            source: text.to_string(),
        })
    }

    /// The template text as given.
    pub fn source(&self) -> &str {
        &self.source
    }

    /// The values each part of the template finds in `data`, one list per part (text is its
    /// own value), as client-go's `FindResults`: what `kubectl wait --for=jsonpath=` compares.
    /// A `{range}` has no such list and is an error.
    pub fn results(&self, data: &Value) -> Result<Vec<Vec<Value>>, JsonPathError> {
        self.nodes
            .iter()
            .map(|node| match node {
                Node::Text(t) => Ok(vec![Value::String(t.clone())]),
                Node::Expr(steps) => eval(steps, data, data),
                Node::Range(..) => Err(JsonPathError("range is not supported here".into())),
            })
            .collect()
    }

    /// Executes the template against `data`.
    pub fn execute(&self, data: &Value) -> Result<String, JsonPathError> {
        let mut out = String::new();
        run(&self.nodes, data, data, &mut out)?;
        Ok(out)
    }
}

enum Flat {
    Text(String),
    Expr(Vec<Step>),
    Range(Vec<Step>),
    End,
}

fn nest(iter: &mut std::vec::IntoIter<Flat>, in_range: bool) -> Result<Vec<Node>, JsonPathError> {
    let mut nodes = Vec::new();
    while let Some(f) = iter.next() {
        match f {
            Flat::Text(t) => nodes.push(Node::Text(t)),
            Flat::Expr(e) => nodes.push(Node::Expr(e)),
            Flat::Range(e) => {
                let body = nest(iter, true)?;
                nodes.push(Node::Range(e, body));
            }
            Flat::End => {
                if in_range {
                    return Ok(nodes);
                }
                return Err(JsonPathError("not in range, nothing to end".into()));
            }
        }
    }
    if in_range {
        return Err(JsonPathError("unclosed range, missing {end}".into()));
    }
    Ok(nodes)
}

/// Finds the `}` closing an action, skipping quoted strings.
fn find_action_end(s: &str) -> Option<usize> {
    let b = s.as_bytes();
    let mut i = 0;
    let mut quote: Option<u8> = None;
    while i < b.len() {
        match quote {
            Some(q) => {
                if b[i] == b'\\' {
                    i += 1;
                } else if b[i] == q {
                    quote = None;
                }
            }
            None => match b[i] {
                b'"' | b'\'' => quote = Some(b[i]),
                b'}' => return Some(i),
                _ => {}
            },
        }
        i += 1;
    }
    None
}

struct Parser<'a> {
    s: &'a [u8],
    src: &'a str,
    pos: usize,
}

fn parse_expr(text: &str) -> Result<Vec<Step>, JsonPathError> {
    let mut p = Parser {
        s: text.as_bytes(),
        src: text,
        pos: 0,
    };
    let steps = p.path(&[])?;
    if p.pos < p.s.len() {
        return Err(JsonPathError(format!(
            "unrecognized character in action: {}",
            &text[p.pos..]
        )));
    }
    Ok(steps)
}

impl Parser<'_> {
    fn peek(&self) -> Option<u8> {
        self.s.get(self.pos).copied()
    }

    fn path(&mut self, stop: &[u8]) -> Result<Vec<Step>, JsonPathError> {
        let mut steps = Vec::new();
        while let Some(c) = self.peek() {
            if stop.contains(&c) {
                break;
            }
            match c {
                b' ' if !stop.is_empty() => break,
                b' ' => self.pos += 1,
                b'$' => {
                    self.pos += 1;
                    steps.push(Step::Root);
                }
                b'@' => {
                    self.pos += 1;
                    steps.push(Step::Current);
                }
                b'.' => {
                    if self.s.get(self.pos + 1) == Some(&b'.') {
                        self.pos += 2;
                        steps.push(Step::Recursive);
                        if self.peek().is_some_and(is_ident) {
                            steps.push(Step::Field(self.ident()));
                        }
                    } else {
                        self.pos += 1;
                        if self.peek() == Some(b'*') {
                            self.pos += 1;
                            steps.push(Step::Wildcard);
                        } else if self.peek().is_some_and(is_ident) {
                            steps.push(Step::Field(self.ident()));
                        }
                    }
                }
                b'[' => steps.push(self.bracket()?),
                b'"' | b'\'' => steps.push(Step::Literal(Value::String(self.quoted()?))),
                c if c.is_ascii_digit() || c == b'-' => {
                    let start = self.pos;
                    self.pos += 1;
                    while self
                        .peek()
                        .is_some_and(|c| c.is_ascii_digit() || c == b'.' || c == b'e')
                    {
                        self.pos += 1;
                    }
                    let t = &self.src[start..self.pos];
                    let n: Value = serde_json::from_str(t)
                        .map_err(|_| JsonPathError(format!("cannot parse number {t}")))?;
                    steps.push(Step::Literal(n));
                }
                c if is_ident(c) => {
                    let id = self.ident();
                    match id.as_str() {
                        "true" => steps.push(Step::Literal(Value::Bool(true))),
                        "false" => steps.push(Step::Literal(Value::Bool(false))),
                        _ => steps.push(Step::Field(id)),
                    }
                }
                _ => {
                    return Err(JsonPathError(format!(
                        "unrecognized character in action: {}",
                        &self.src[self.pos..]
                    )))
                }
            }
        }
        Ok(steps)
    }

    fn ident(&mut self) -> String {
        let start = self.pos;
        while self.peek().is_some_and(is_ident) {
            self.pos += 1;
        }
        self.src[start..self.pos].to_string()
    }

    fn quoted(&mut self) -> Result<String, JsonPathError> {
        let q = self.s[self.pos];
        self.pos += 1;
        let mut out = String::new();
        let rest = &self.src[self.pos..];
        let mut chars = rest.char_indices();
        while let Some((i, c)) = chars.next() {
            if c as u32 == q as u32 {
                self.pos += i + 1;
                return Ok(out);
            }
            if c == '\\' {
                match chars.next() {
                    Some((_, 'n')) => out.push('\n'),
                    Some((_, 't')) => out.push('\t'),
                    Some((_, 'r')) => out.push('\r'),
                    Some((_, '0')) => out.push('\0'),
                    Some((_, other)) => out.push(other),
                    None => break,
                }
            } else {
                out.push(c);
            }
        }
        Err(JsonPathError(format!("unclosed quote in {}", self.src)))
    }

    fn bracket(&mut self) -> Result<Step, JsonPathError> {
        self.pos += 1; // [
        let close = self.matching_bracket()?;
        let inner = self.src[self.pos..close].trim().to_string();
        self.pos = close + 1;
        if inner == "*" {
            return Ok(Step::Wildcard);
        }
        if let Some(f) = inner.strip_prefix('?') {
            let f = f.trim();
            let body = f
                .strip_prefix('(')
                .and_then(|f| f.strip_suffix(')'))
                .ok_or_else(|| JsonPathError(format!("invalid filter: [{inner}]")))?;
            return Ok(Step::Filter(Box::new(parse_filter(body)?)));
        }
        if inner.starts_with('\'') || inner.starts_with('"') {
            let mut alts = Vec::new();
            for part in split_top(&inner, ',') {
                let mut p = Parser {
                    s: part.trim().as_bytes(),
                    src: part.trim(),
                    pos: 0,
                };
                alts.push(vec![Step::Field(p.quoted()?)]);
            }
            if alts.len() == 1 {
                return Ok(alts.pop().unwrap_or_default().remove(0));
            }
            return Ok(Step::Union(alts));
        }
        if inner.contains(',') {
            let mut alts = Vec::new();
            for part in split_top(&inner, ',') {
                alts.push(vec![parse_slice(part.trim())?]);
            }
            return Ok(Step::Union(alts));
        }
        parse_slice(&inner)
    }

    fn matching_bracket(&self) -> Result<usize, JsonPathError> {
        let mut depth = 1;
        let mut quote: Option<u8> = None;
        let mut i = self.pos;
        while i < self.s.len() {
            let c = self.s[i];
            if let Some(q) = quote {
                if c == q {
                    quote = None;
                }
            } else if c == b'"' || c == b'\'' {
                quote = Some(c);
            } else if c == b'[' {
                depth += 1;
            } else if c == b']' {
                depth -= 1;
                if depth == 0 {
                    return Ok(i);
                }
            }
            i += 1;
        }
        Err(JsonPathError(format!("unterminated array in {}", self.src)))
    }
}

fn is_ident(c: u8) -> bool {
    c.is_ascii_alphanumeric() || c == b'_' || c == b'-' || c == b'/'
}

fn split_top(s: &str, sep: char) -> Vec<&str> {
    let mut parts = Vec::new();
    let mut quote = None;
    let mut start = 0;
    for (i, c) in s.char_indices() {
        match quote {
            Some(q) if c == q => quote = None,
            Some(_) => {}
            None if c == '"' || c == '\'' => quote = Some(c),
            None if c == sep => {
                parts.push(&s[start..i]);
                start = i + 1;
            }
            None => {}
        }
    }
    parts.push(&s[start..]);
    parts
}

fn parse_slice(inner: &str) -> Result<Step, JsonPathError> {
    let bad = || JsonPathError(format!("invalid array index {inner}"));
    let parts: Vec<&str> = inner.split(':').collect();
    if parts.len() > 3 || inner.is_empty() {
        return Err(bad());
    }
    let num = |s: &str| -> Result<Option<i64>, JsonPathError> {
        let s = s.trim();
        if s.is_empty() {
            Ok(None)
        } else {
            s.parse().map(Some).map_err(|_| bad())
        }
    };
    Ok(Step::Slice {
        start: num(parts[0])?,
        end: if parts.len() > 1 {
            num(parts[1])?
        } else {
            None
        },
        step: if parts.len() > 2 {
            num(parts[2])?
        } else {
            None
        },
        single: parts.len() == 1,
    })
}

fn parse_filter(body: &str) -> Result<Filter, JsonPathError> {
    for op in ["==", "!=", "<=", ">=", "<", ">", "=~"] {
        if let Some(i) = find_op(body, op) {
            return Ok(Filter {
                left: parse_expr(body[..i].trim())?,
                op: Some(op.to_string()),
                right: parse_expr(body[i + op.len()..].trim())?,
            });
        }
    }
    Ok(Filter {
        left: parse_expr(body.trim())?,
        op: None,
        right: Vec::new(),
    })
}

fn find_op(s: &str, op: &str) -> Option<usize> {
    let mut quote = None;
    for (i, c) in s.char_indices() {
        match quote {
            Some(q) if c == q => quote = None,
            Some(_) => {}
            None if c == '"' || c == '\'' => quote = Some(c),
            None if s[i..].starts_with(op) => return Some(i),
            None => {}
        }
    }
    None
}

fn run(nodes: &[Node], root: &Value, cur: &Value, out: &mut String) -> Result<(), JsonPathError> {
    for node in nodes {
        match node {
            Node::Text(t) => out.push_str(t),
            Node::Expr(steps) => {
                let results = eval(steps, root, cur)?;
                for (i, r) in results.iter().enumerate() {
                    if i > 0 {
                        out.push(' ');
                    }
                    out.push_str(&print_value(r));
                }
            }
            Node::Range(steps, body) => {
                // Like client-go: the body runs once per result (no array flattening).
                let items = eval(steps, root, cur)?;
                for item in &items {
                    run(body, root, item, out)?;
                }
            }
        }
    }
    Ok(())
}

/// How a result is printed: strings raw, objects and arrays as compact JSON with sorted keys.
fn print_value(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => "null".into(),
        Value::Array(_) | Value::Object(_) => super::output::go_json_compact(v),
        other => other.to_string(),
    }
}

fn sorted_values(m: &serde_json::Map<String, Value>) -> Vec<Value> {
    let mut keys: Vec<&String> = m.keys().collect();
    keys.sort();
    keys.into_iter().map(|k| m[k].clone()).collect()
}

fn eval(steps: &[Step], root: &Value, cur: &Value) -> Result<Vec<Value>, JsonPathError> {
    let mut vals = vec![cur.clone()];
    for step in steps {
        let mut next = Vec::new();
        match step {
            Step::Root => next.push(root.clone()),
            Step::Current => next.push(cur.clone()),
            Step::Literal(v) => next.push(v.clone()),
            _ => {
                for v in &vals {
                    apply(step, v, root, &mut next)?;
                }
            }
        }
        vals = next;
    }
    Ok(vals)
}

fn apply(step: &Step, v: &Value, root: &Value, next: &mut Vec<Value>) -> Result<(), JsonPathError> {
    match step {
        Step::Field(name) => {
            if let Value::Object(m) = v {
                if let Some(x) = m.get(name) {
                    next.push(x.clone());
                }
            }
        }
        Step::Wildcard => match v {
            Value::Array(a) => next.extend(a.iter().cloned()),
            Value::Object(m) => next.extend(sorted_values(m)),
            _ => {}
        },
        Step::Recursive => collect_all(v, next),
        Step::Slice {
            start,
            end,
            step,
            single,
        } => {
            let Value::Array(a) = v else { return Ok(()) };
            let len = a.len() as i64;
            if *single {
                let i = start.unwrap_or(0);
                let idx = if i < 0 { len + i } else { i };
                if idx < 0 || idx >= len {
                    return Err(JsonPathError(format!(
                        "array index out of bounds: index {i}, length {len}"
                    )));
                }
                next.push(a[idx as usize].clone());
                return Ok(());
            }
            let norm = |x: i64| if x < 0 { (len + x).max(0) } else { x.min(len) };
            let s = norm(start.unwrap_or(0));
            let e = norm(end.unwrap_or(len));
            let st = step.unwrap_or(1).max(1);
            let mut i = s;
            while i < e {
                next.push(a[i as usize].clone());
                // A step as large as i64::MAX must end the walk, not overflow.
                i = i.saturating_add(st);
            }
        }
        Step::Union(alts) => {
            for alt in alts {
                let mut tmp = vec![v.clone()];
                for s in alt {
                    let mut n = Vec::new();
                    for t in &tmp {
                        apply(s, t, root, &mut n)?;
                    }
                    tmp = n;
                }
                next.extend(tmp);
            }
        }
        Step::Filter(f) => {
            let items: Vec<Value> = match v {
                Value::Array(a) => a.clone(),
                Value::Object(m) => sorted_values(m),
                _ => Vec::new(),
            };
            for item in items {
                let lefts = eval(&f.left, root, &item)?;
                let Some(op) = &f.op else {
                    if lefts.iter().any(|l| !l.is_null()) {
                        next.push(item);
                    }
                    continue;
                };
                let rights = eval(&f.right, root, &item)?;
                let (Some(l), Some(r)) = (lefts.first(), rights.first()) else {
                    continue;
                };
                if compare(l, op, r)? {
                    next.push(item);
                }
            }
        }
        Step::Root | Step::Current | Step::Literal(_) => {}
    }
    Ok(())
}

fn collect_all(v: &Value, out: &mut Vec<Value>) {
    out.push(v.clone());
    match v {
        Value::Array(a) => a.iter().for_each(|x| collect_all(x, out)),
        Value::Object(m) => {
            let mut keys: Vec<&String> = m.keys().collect();
            keys.sort();
            keys.into_iter().for_each(|k| collect_all(&m[k], out));
        }
        _ => {}
    }
}

fn compare(l: &Value, op: &str, r: &Value) -> Result<bool, JsonPathError> {
    if let (Some(a), Some(b)) = (l.as_f64(), r.as_f64()) {
        return Ok(match op {
            "==" => a == b,
            "!=" => a != b,
            "<" => a < b,
            ">" => a > b,
            "<=" => a <= b,
            ">=" => a >= b,
            _ => false,
        });
    }
    match op {
        "==" => Ok(l == r),
        "!=" => Ok(l != r),
        _ => match (l.as_str(), r.as_str()) {
            (Some(a), Some(b)) => Ok(match op {
                "<" => a < b,
                ">" => a > b,
                "<=" => a <= b,
                ">=" => a >= b,
                _ => false,
            }),
            _ => Err(JsonPathError(format!(
                "cannot compare {} {op} {}",
                print_value(l),
                print_value(r)
            ))),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn data() -> Value {
        json!({"kind":"List","items":[
            {"metadata":{"name":"web","labels":{"app":"web"}},"spec":{"type":"NodePort","clusterIP":"10.96.10.20","ports":[{"port":80,"nodePort":30080},{"port":53}]}},
            {"metadata":{"name":"plain"},"spec":{"type":"ClusterIP","clusterIP":"10.96.0.5","ports":[{"port":8080}]}}
        ]})
    }

    fn run_t(t: &str) -> String {
        Template::parse(t).unwrap().execute(&data()).unwrap()
    }

    #[test]
    fn table() {
        let cases = [
            ("{.items[*].metadata.name}", "web plain"),
            ("{.items[0].metadata.name}", "web"),
            ("{.items[-1].metadata.name}", "plain"),
            ("{.items[0].spec.ports[*].port}{\"\\n\"}", "80 53\n"),
            (
                "{range .items[*]}{.metadata.name}{'\\t'}{.spec.clusterIP}{\"\\n\"}{end}",
                "web\t10.96.10.20\nplain\t10.96.0.5\n",
            ),
            (
                "{.items[?(@.spec.type==\"NodePort\")].metadata.name}",
                "web",
            ),
            (
                "{.items[?(@.spec.type!='NodePort')].metadata.name}",
                "plain",
            ),
            (
                "{.items[?(@.spec.ports[0].port>100)].metadata.name}",
                "plain",
            ),
            ("{.items[?(@.metadata.labels)].metadata.name}", "web"),
            ("{.items[0].metadata.labels}", "{\"app\":\"web\"}"),
            ("{.items[0].nope}", ""),
            ("{..nodePort}", "30080"),
            ("{$.kind}", "List"),
            ("{.items[0:1].metadata.name}", "web"),
            ("{.items[0].metadata['name']}", "web"),
            ("name: {.items[1].metadata.name}", "name: plain"),
        ];
        for (t, want) in cases {
            assert_eq!(run_t(t), want, "template {t}");
        }
    }

    #[test]
    fn index_out_of_bounds_is_an_error() {
        let e = Template::parse("{.items[5]}")
            .unwrap()
            .execute(&data())
            .unwrap_err();
        assert_eq!(e.0, "array index out of bounds: index 5, length 2");
    }

    #[test]
    fn unclosed_range_is_an_error() {
        assert!(Template::parse("{range .items[*]}{.x}").is_err());
        assert!(Template::parse("{.items[*]").is_err());
    }
}

/// Property tests: a learner types JSONPath templates (`-o jsonpath=`,
/// `custom-columns`, `wait --for=jsonpath=`). Whatever the template, parsing and running it
/// over an object does not panic, and a refusal says what was wrong.
#[cfg(test)]
mod props {
    use super::*;
    use crate::props::{any_text, config, json_value, nasty, CASES};
    use proptest::prelude::*;

    const FILE: &str = "proptest-regressions/kubectl_jsonpath.txt";

    fn piece() -> impl Strategy<Value = String> {
        prop_oneof![
            4 => prop::sample::select(vec![
                "{", "}", "{.items[*].metadata.name}", "{range .items[*]}", "{end}",
                ".items", ".metadata", ".name", "[*]", "[0]", "[-1]", "[1:3]", "[::2]",
                "[:-1:0]", "[1:3:9223372036854775807]", "[-9223372036854775808]",
                "[9223372036854775807:]", "[?(@.spec.type==\"NodePort\")]", "[?(@.a)]",
                "[?(@.port>=80)]", "[?(@.name=~\"w.*\")]", "[a,b]", "['x']", "..", "..*",
                "@", "$", "\"\\n\"", "'lit'", "range", "end", "{{", "}}", "[", "]", "(", ")",
                "==", "\\", "\"", "'", " ", "\t",
            ])
            .prop_map(str::to_string),
            1 => nasty(),
        ]
    }

    /// A step of a path: the pieces that parse, with odd numbers.
    fn step() -> impl Strategy<Value = String> {
        let int = prop_oneof![
            Just(String::new()),
            Just(i64::MAX.to_string()),
            Just(i64::MIN.to_string()),
            (-5i64..5).prop_map(|i| i.to_string()),
        ];
        prop_oneof![
            prop::sample::select(vec![
                ".items",
                ".metadata",
                ".name",
                ".spec",
                ".ports",
                "..",
                "[*]",
                ".*"
            ])
            .prop_map(str::to_string),
            int.clone().prop_map(|i| format!("[{i}]")),
            (int.clone(), int.clone(), int).prop_map(|(a, b, c)| format!("[{a}:{b}:{c}]")),
            Just("[?(@.port>=80)]".to_string()),
        ]
    }

    fn template() -> impl Strategy<Value = String> {
        prop_oneof![
            3 => prop::collection::vec(piece(), 0..10).prop_map(|p| p.concat()),
            3 => (any::<bool>(), prop::collection::vec(step(), 1..5)).prop_map(|(range, steps)| {
                let path = steps.concat();
                if range {
                    format!("{{range {path}}}[{{@}}]{{end}}")
                } else {
                    format!("{{{path}}}")
                }
            }),
            1 => any_text(),
        ]
    }

    fn data() -> impl Strategy<Value = Value> {
        prop_oneof![
            3 => Just(serde_json::json!({
                "kind": "List",
                "items": [
                    {"metadata": {"name": "web"}, "spec": {"type": "NodePort", "ports": [{"port": 80}, {"port": 443}]}},
                    {"metadata": {"name": "db"}, "spec": {"type": "ClusterIP", "ports": []}},
                    {"metadata": {"name": "x"}, "a": null, "port": "80"},
                ],
            })),
            1 => json_value(),
        ]
    }

    proptest! {
        #![proptest_config(config(CASES, FILE))]

        #[test]
        fn any_template_parses_and_runs_or_is_refused(text in template(), data in data()) {
            match Template::parse(&text) {
                Ok(t) => {
                    prop_assert_eq!(t.source(), text.as_str());
                    if let Err(e) = t.execute(&data) {
                        prop_assert!(!e.0.is_empty());
                    }
                    let _ = t.results(&data);
                }
                Err(e) => prop_assert!(!e.0.is_empty()),
            }
            if let Ok(r) = relaxed(&text) {
                prop_assert!(r.len() <= text.len() + 3);
            }
        }
    }

    // Regression tests: every template a property above ever failed on, by name.

    /// `i += step` overflowed (a panic in debug builds, an index far out of bounds after the
    /// wrap in release builds) when the step is near i64::MAX.
    #[test]
    fn regression_slice_with_a_huge_step() {
        let data = serde_json::json!({"items": [1, 2, 3, 4]});
        for t in [
            "{.items[1:3:9223372036854775807]}",
            "{.items[-9223372036854775808]}",
            "{.items[-9223372036854775808:]}",
        ] {
            let _ = Template::parse(t).map(|t| t.execute(&data));
        }
        let t = Template::parse("{.items[1:3:9223372036854775807]}").unwrap();
        assert_eq!(t.execute(&data).unwrap(), "2");
    }
}
