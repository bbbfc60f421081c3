//! The packets panel's JSON: chain graph with counters, kernel/model traces, rule
//! snapshots and diffs, spread histograms. Only the session's owner may call them (403
//! otherwise); bad input is a 400 naming what was wrong.

use axum::extract::rejection::JsonRejection;
use axum::extract::{Path, Query, State};
use axum::{Extension, Json};
use serde::Deserialize;
use serde_json::json;

use super::{find_lab, or_lost};
use crate::domain::lifecycle;
use crate::domain::panel::{self, diff, graph};
use crate::domain::platform::now_ms;
use crate::store::{Session, Status};
use crate::web::auth::{owned_session, LearnerId};
use crate::web::error::{ApiError, AppError};
use crate::web::state::AppState;

fn body<T>(b: Result<Json<T>, JsonRejection>) -> Result<T, AppError> {
    b.map(|Json(t)| t)
        .map_err(|e| AppError::BadRequest(format!("bad request body: {}", e.body_text())))
}

async fn running(state: &AppState, learner: &LearnerId, id: &str) -> Result<Session, AppError> {
    let s = owned_session(state, learner, id).await?;
    if s.status != Status::Running {
        return Err(AppError::Conflict(format!(
            "the lab is {}, not running",
            s.status.as_str()
        )));
    }
    Ok(s)
}

fn check_node(state: &AppState, s: &Session, node: &str) -> Result<(), AppError> {
    let lab = find_lab(state, &s.lab)?;
    if node == "client" || !lab.hosts().iter().any(|h| h == node) {
        return Err(AppError::BadRequest(format!(
            "unknown node {:?}: this lab has {}",
            node.chars().take(40).collect::<String>(),
            lab.hosts()
                .into_iter()
                .filter(|h| h != "client")
                .collect::<Vec<_>>()
                .join(", ")
        )));
    }
    Ok(())
}

fn nodes(state: &AppState, s: &Session) -> Vec<String> {
    state
        .catalog
        .lab(&s.lab)
        .map(|l| l.hosts().into_iter().filter(|h| h != "client").collect())
        .unwrap_or_default()
}

/// Stores a snapshot of `node`'s rules if they changed since the last one (or the step did).
async fn capture(
    state: &AppState,
    s: &Session,
    node: &str,
    save: &str,
    dump: &netrules::save::Dump,
) -> Result<Option<crate::store::SnapshotMeta>, AppError> {
    let snaps = state.store.snapshots();
    let step = state.store.step(&s.learner, &s.lab).await? as i64;
    let hash = graph::rules_hash(dump);
    let latest = snaps.latest(&s.id, node).await?;
    if latest
        .as_ref()
        .is_some_and(|l| l.hash == hash && l.step == step)
    {
        return Ok(None);
    }
    let label = match &latest {
        None => format!("step {} start", step + 1),
        Some(l) if l.step != step => format!("step {} start", step + 1),
        Some(l) => match snaps.get(&s.id, &l.id).await? {
            Some((_, before)) => {
                let before = netrules::save::parse(&before).unwrap_or_default();
                let changes = diff::grouped(&before, dump, &Default::default());
                if changes.is_empty() {
                    "rules changed".into()
                } else {
                    changes
                        .iter()
                        .map(|c| c.summary.clone())
                        .collect::<Vec<_>>()
                        .join("; ")
                }
            }
            None => "rules changed".into(),
        },
    };
    let label: String = label.chars().take(500).collect();
    Ok(snaps
        .add_if_changed(
            &s.id,
            node,
            step,
            &hash,
            &label,
            &graph::strip_counters(save),
            now_ms(),
        )
        .await?)
}

/// `GET /api/sessions/{id}/nodes/{node}/ruleset`: the node's chain graph with counters, grouped
/// by Service; takes a snapshot when the rules changed.
pub async fn get_ruleset(
    State(state): State<AppState>,
    Extension(learner): Extension<LearnerId>,
    Path((id, node)): Path<(String, String)>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let s = running(&state, &learner, &id).await?;
    check_node(&state, &s, &node)?;
    let view = or_lost(
        &state,
        &s,
        panel::node_graph(state.runtime.as_ref(), &s.sandbox, &node).await,
    )
    .await?;
    let text = view.save;
    let dump = netrules::save::parse(&text).unwrap_or_default();
    let snapshot = capture(&state, &s, &node, &text, &dump).await?;
    let mut v = serde_json::to_value(&view.graph).map_err(anyhow::Error::from)?;
    v["snapshot"] = serde_json::to_value(&snapshot).map_err(anyhow::Error::from)?;
    // kube-proxy in nftables mode: its table beside the iptables chains (Calico's stay there).
    v["nft"] = serde_json::to_value(&view.nft).map_err(anyhow::Error::from)?;
    v["nft_error"] = serde_json::to_value(&view.nft_error).map_err(anyhow::Error::from)?;
    Ok(Json(v))
}

/// `GET /api/sessions/{id}/nodes/{node}/nftables`: kube-proxy's nftables tables of the node
/// (`tables` empty in iptables mode); 422 with the reason when `nft -j` printed something the
/// panel cannot read.
pub async fn get_nftables(
    State(state): State<AppState>,
    Extension(learner): Extension<LearnerId>,
    Path((id, node)): Path<(String, String)>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let s = running(&state, &learner, &id).await?;
    check_node(&state, &s, &node)?;
    let rt = state.runtime.as_ref();
    let (inv, tables) = tokio::join!(
        panel::inventory(rt, &s.sandbox),
        panel::nft_raw(rt, &s.sandbox, &node)
    );
    let pods = inv.map(|i| i.pod_names()).unwrap_or_default();
    match panel::nft::parse_list(&or_lost(&state, &s, tables).await?, &pods) {
        Ok(t) => Ok(Json(json!({ "node": node, "tables": t }))),
        Err(e) => Err(AppError::Unreadable(e.0).into()),
    }
}

/// Body of `POST /trace`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TraceBody {
    /// `client`, `node-N`, or a pod.
    pub from: String,
    /// A Service, a node, a pod or an address.
    pub to: String,
    /// Port (1..65535).
    pub port: u16,
    /// `tcp` (default) or `udp`.
    #[serde(default)]
    pub protocol: Option<String>,
    /// `kernel` (default: a real connection, traced, beside the model) or `model`.
    #[serde(default)]
    pub mode: Option<String>,
}

/// Refuses port 0.
fn port(p: u16) -> Result<(), AppError> {
    if p == 0 {
        return Err(AppError::BadRequest("port must be 1..65535, not 0".into()));
    }
    Ok(())
}

fn protocol(p: Option<String>) -> Result<String, AppError> {
    let p = p.unwrap_or_else(|| "tcp".into()).to_ascii_lowercase();
    if p != "tcp" && p != "udp" {
        return Err(AppError::BadRequest(format!(
            "protocol must be tcp or udp, not {:?}",
            p.chars().take(20).collect::<String>()
        )));
    }
    Ok(p)
}

/// `POST /api/sessions/{id}/trace`: `{from, to, port, protocol}` -> hops (kernel and model).
pub async fn run_trace(
    State(state): State<AppState>,
    Extension(learner): Extension<LearnerId>,
    Path(id): Path<String>,
    b: Result<Json<TraceBody>, JsonRejection>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let b = body(b)?;
    port(b.port)?;
    let protocol = protocol(b.protocol)?;
    let kernel = match b.mode.as_deref().unwrap_or("kernel") {
        "kernel" => true,
        "model" => false,
        other => {
            return Err(AppError::BadRequest(format!(
                "mode must be \"kernel\" or \"model\", not {:?}",
                other.chars().take(20).collect::<String>()
            ))
            .into())
        }
    };
    let s = running(&state, &learner, &id).await?;
    let req = panel::TraceRequest {
        from: b.from,
        to: b.to,
        port: b.port,
        protocol,
        kernel,
    };
    let r = or_lost(
        &state,
        &s,
        panel::run_trace(state.runtime.as_ref(), &s.sandbox, &req).await,
    )
    .await?;
    lifecycle::touch(&state, &s.id);
    Ok(Json(serde_json::to_value(&r).map_err(anyhow::Error::from)?))
}

/// `GET /api/sessions/{id}/snapshots`: every snapshot (a fresh one first if a node's rules changed).
pub async fn list_snapshots(
    State(state): State<AppState>,
    Extension(learner): Extension<LearnerId>,
    Path(id): Path<String>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let s = running(&state, &learner, &id).await?;
    for node in nodes(&state, &s) {
        let (text, dump) = panel::ruleset(state.runtime.as_ref(), &s.sandbox, &node).await?;
        capture(&state, &s, &node, &text, &dump).await?;
    }
    let list = state.store.snapshots().list(&s.id).await?;
    Ok(Json(json!({ "snapshots": list })))
}

/// Query of `GET /diff`.
#[derive(Debug, Deserialize)]
pub struct DiffQuery {
    /// Snapshot id.
    pub from: Option<String>,
    /// Snapshot id.
    pub to: Option<String>,
}

/// `GET /api/sessions/{id}/diff?from=&to=`: grouped by Service and endpoint, with the raw diff.
pub async fn get_diff(
    State(state): State<AppState>,
    Extension(learner): Extension<LearnerId>,
    Path(id): Path<String>,
    Query(q): Query<DiffQuery>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let s = owned_session(&state, &learner, &id).await?;
    let (Some(from), Some(to)) = (q.from, q.to) else {
        return Err(AppError::BadRequest("from and to (snapshot ids) are required".into()).into());
    };
    let snaps = state.store.snapshots();
    let get = |sid: String| {
        let snaps = snaps.clone();
        let session = s.id.clone();
        async move {
            snaps.get(&session, &sid).await?.ok_or_else(|| {
                AppError::NotFound(format!(
                    "snapshot {}",
                    sid.chars().take(80).collect::<String>()
                ))
            })
        }
    };
    let (a, a_text) = get(from).await?;
    let (b, b_text) = get(to).await?;
    let (da, db) = (
        netrules::save::parse(&a_text).unwrap_or_default(),
        netrules::save::parse(&b_text).unwrap_or_default(),
    );
    let pods = if s.status == Status::Running {
        panel::inventory(state.runtime.as_ref(), &s.sandbox)
            .await
            .map(|i| i.pod_names())
            .unwrap_or_default()
    } else {
        Default::default()
    };
    let services = diff::grouped(&da, &db, &pods);
    let raw = diff::raw_diff(&a_text, &b_text, 2);
    Ok(Json(json!({
        "from": a, "to": b, "services": services,
        "raw": raw.iter().map(|l| format!("{}{}", l.op, l.line)).collect::<Vec<_>>(),
    })))
}

/// Body of `POST /spread`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SpreadBody {
    /// Source.
    pub from: String,
    /// Service (`NAME` or `NS/NAME`).
    pub service: String,
    /// Service port.
    pub port: u16,
    /// Connections (1..=1000).
    pub count: u32,
}

/// `POST /api/sessions/{id}/spread`: `{from, service, port, count}` -> per-endpoint counts,
/// expected shares, chi-square p-value.
pub async fn run_spread(
    State(state): State<AppState>,
    Extension(learner): Extension<LearnerId>,
    Path(id): Path<String>,
    b: Result<Json<SpreadBody>, JsonRejection>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let b = body(b)?;
    port(b.port)?;
    if !(1..=panel::MAX_SPREAD).contains(&b.count) {
        return Err(AppError::BadRequest(format!(
            "count must be 1..{}, not {}",
            panel::MAX_SPREAD,
            b.count
        ))
        .into());
    }
    let s = running(&state, &learner, &id).await?;
    let r = panel::run_spread(
        state.runtime.as_ref(),
        &s.sandbox,
        &b.from,
        &b.service,
        b.port,
        b.count,
    )
    .await;
    let r = or_lost(&state, &s, r).await?;
    lifecycle::touch(&state, &s.id);
    Ok(Json(serde_json::to_value(&r).map_err(anyhow::Error::from)?))
}
