//! What the instructor sees: a dashboard row per learner, and the export of every result.

use labkit::wire::TaskOutcome;
use serde::Serialize;

use crate::domain::error::AppError;
use crate::domain::platform::{now_ms, Platform};
use crate::store::Session;

use crate::store::{Member, Workshop};

/// The last failing check of a learner's current lab.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Failing {
    /// Task id.
    pub task: String,
    /// The failing check's title.
    pub check: String,
    /// What it found.
    pub message: String,
    /// When (unix ms).
    pub at_ms: i64,
}

/// One learner on the dashboard.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Row {
    /// Learner id.
    pub learner: String,
    /// Display name.
    pub name: String,
    /// Current lab.
    pub lab: String,
    /// Live or latest session id.
    pub session: Option<String>,
    /// `queued`, `waiting`, or the session status (`starting`, `running`, `stopped`, …).
    pub status: String,
    /// 1-based position in the start queue.
    pub queue_position: Option<usize>,
    /// Current step (1-based).
    pub step: usize,
    /// Its title.
    pub step_title: String,
    /// Steps in the lab.
    pub steps: usize,
    /// Tasks passed in the lab.
    pub tasks_passed: usize,
    /// Tasks in the lab.
    pub tasks_total: usize,
    /// Ids of passed tasks.
    pub passed: Vec<String>,
    /// Since when on this step (unix ms).
    pub step_since_ms: i64,
    /// Last activity (unix ms): a command typed, a check, a start.
    pub last_active_ms: i64,
    /// The latest failure of a task not yet passed.
    pub last_failing: Option<Failing>,
    /// Hand raised at (unix ms), if raised.
    pub hand_ms: Option<i64>,
    /// When this row was computed (unix ms).
    pub at_ms: i64,
}

async fn current_session(
    state: &Platform,
    w: &Workshop,
    learner: &str,
) -> Result<Option<Session>, AppError> {
    let mut best: Option<Session> = None;
    for lab in &w.labs {
        if let Some(s) = state.store.latest_session(learner, lab).await? {
            let better = match &best {
                None => true,
                Some(b) => (s.status.is_live(), s.created_ms) > (b.status.is_live(), b.created_ms),
            };
            if better {
                best = Some(s);
            }
        }
    }
    Ok(best)
}

/// A learner's row.
pub async fn row(state: &Platform, w: &Workshop, m: &Member) -> Result<Row, AppError> {
    let session = current_session(state, w, &m.learner).await?;
    let lab_id = session
        .as_ref()
        .map(|s| s.lab.clone())
        .or_else(|| w.labs.first().cloned())
        .unwrap_or_default();
    let lab = state.catalog.lab(&lab_id);
    let step = state.store.step(&m.learner, &lab_id).await?;
    let since = state
        .store
        .workshops()
        .progress_since(&m.learner, &lab_id)
        .await?;
    let results = state.store.results(&m.learner, &lab_id).await?;
    let passed: Vec<String> = results
        .iter()
        .filter(|r| r.passed)
        .map(|r| r.task.clone())
        .collect();
    let last_failing = results
        .iter()
        .filter(|r| !r.passed)
        .max_by_key(|r| r.created_ms)
        .and_then(|r| {
            let o: TaskOutcome = serde_json::from_str(&r.outcome).ok()?;
            let c = o.checks.iter().find(|c| !c.passed);
            Some(Failing {
                task: r.task.clone(),
                check: c.map(|c| c.title.clone()).unwrap_or_default(),
                message: c.map(|c| c.detail.clone()).or(o.hint).unwrap_or_default(),
                at_ms: r.created_ms,
            })
        });
    let idle_ms = state.config.idle.as_millis() as i64;
    let last_check = results.iter().map(|r| r.created_ms).max().unwrap_or(0);
    let last_active_ms = match &session {
        Some(s) if s.status.is_live() => (s.expires_ms - idle_ms).max(s.created_ms),
        Some(s) => s.updated_ms,
        None => m.joined_ms,
    }
    .max(last_check)
    .max(m.joined_ms);
    let queue_position = state.workshop.queue_position(&m.learner);
    let status = match (&session, queue_position) {
        (_, Some(_)) => "queued".to_string(),
        (Some(s), None) => s.status.as_str().to_string(),
        (None, None) => "waiting".to_string(),
    };
    let step_since_ms = since
        .unwrap_or(0)
        .max(
            session
                .as_ref()
                .map(|s| s.created_ms)
                .unwrap_or(m.joined_ms),
        )
        .max(m.joined_ms);
    Ok(Row {
        learner: m.learner.clone(),
        name: m.name.clone(),
        lab: lab_id.clone(),
        session: session.as_ref().map(|s| s.id.clone()),
        status,
        queue_position,
        step: step + 1,
        step_title: lab
            .and_then(|l| l.step(step))
            .map(|p| p.title.clone())
            .unwrap_or_default(),
        steps: lab.map(|l| l.steps.len()).unwrap_or(0),
        // Of the tasks that complete the lab: an optional step's do not count.
        tasks_passed: lab
            .map(|l| {
                l.required_tasks()
                    .filter(|t| passed.contains(&t.id))
                    .count()
            })
            .unwrap_or(0),
        tasks_total: lab.map(|l| l.required_tasks().count()).unwrap_or(0),
        passed,
        step_since_ms,
        last_active_ms,
        last_failing,
        hand_ms: (m.hand_ms > 0).then_some(m.hand_ms),
        at_ms: now_ms(),
    })
}

/// Every learner's row, in join order.
pub async fn rows(state: &Platform, w: &Workshop) -> Result<Vec<Row>, AppError> {
    let mut out = Vec::new();
    for m in state.store.workshops().members(&w.id).await? {
        out.push(row(state, w, &m).await?);
    }
    Ok(out)
}

/// One exported result: a learner and a task of a workshop lab.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct ExportRow {
    /// Learner id.
    pub learner: String,
    /// Display name.
    pub name: String,
    /// Lab id.
    pub lab: String,
    /// Task id.
    pub task: String,
    /// Passed (ever).
    pub passed: bool,
    /// Checked at least once.
    pub checked: bool,
    /// Last check (unix ms, 0 if never).
    pub last_checked_ms: i64,
    /// Last check in ISO 8601, UTC, to the second (`2026-12-07T18:21:11Z`; empty if never).
    pub last_checked: String,
}

/// Unix milliseconds as ISO 8601 in UTC to the second (`2026-12-07T18:21:11Z`); empty for 0
/// (never) or a time out of range.
pub fn iso_utc(ms: i64) -> String {
    const FORMAT: &[time::format_description::FormatItem<'static>] =
        time::macros::format_description!("[year]-[month]-[day]T[hour]:[minute]:[second]Z");
    if ms <= 0 {
        return String::new();
    }
    time::OffsetDateTime::from_unix_timestamp(ms.div_euclid(1000))
        .ok()
        .and_then(|t| t.format(FORMAT).ok())
        .unwrap_or_default()
}

/// Every (learner, task) of the workshop's labs.
pub async fn export(state: &Platform, w: &Workshop) -> Result<Vec<ExportRow>, AppError> {
    let mut out = Vec::new();
    for m in state.store.workshops().members(&w.id).await? {
        for lab_id in &w.labs {
            let Some(lab) = state.catalog.lab(lab_id) else {
                continue;
            };
            let results = state.store.results(&m.learner, lab_id).await?;
            for t in lab.steps.iter().flat_map(|p| p.tasks.iter()) {
                let r = results.iter().find(|r| r.task == t.id);
                out.push(ExportRow {
                    learner: m.learner.clone(),
                    name: m.name.clone(),
                    lab: lab_id.clone(),
                    task: t.id.clone(),
                    passed: r.is_some_and(|r| r.passed),
                    checked: r.is_some(),
                    last_checked_ms: r.map(|r| r.created_ms).unwrap_or(0),
                    last_checked: iso_utc(r.map(|r| r.created_ms).unwrap_or(0)),
                });
            }
        }
    }
    Ok(out)
}

fn csv_field(s: &str) -> String {
    // Quote always; double inner quotes; defuse spreadsheet formulas.
    let s = if s.starts_with(['=', '+', '-', '@']) {
        format!("'{s}")
    } else {
        s.to_string()
    };
    format!("\"{}\"", s.replace('"', "\"\""))
}

/// The export as CSV (RFC 4180, a header line) for a spreadsheet: the learner's name first
/// (their id beside it, as two learners may share a name), times in ISO 8601 UTC.
pub fn to_csv(rows: &[ExportRow]) -> String {
    let mut s = String::from("name,learner,lab,task,passed,checked,last_checked\r\n");
    for r in rows {
        s += &format!(
            "{},{},{},{},{},{},{}\r\n",
            csv_field(&r.name),
            csv_field(&r.learner),
            csv_field(&r.lab),
            csv_field(&r.task),
            r.passed,
            r.checked,
            csv_field(&r.last_checked)
        );
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_quotes_and_defuses_formulas() {
        let rows = vec![ExportRow {
            learner: "a".into(),
            name: "=cmd \"x\"".into(),
            lab: "00-hello".into(),
            task: "t".into(),
            passed: true,
            checked: true,
            last_checked_ms: 5,
            last_checked: iso_utc(5),
        }];
        let csv = to_csv(&rows);
        assert!(
            csv.ends_with("\"'=cmd \"\"x\"\"\",\"a\",\"00-hello\",\"t\",true,true,\"1970-01-01T00:00:00Z\"\r\n"),
            "{csv}"
        );
    }

    #[test]
    fn csv_names_learners_first_and_writes_times_in_iso_utc() {
        let rows = vec![
            ExportRow {
                learner: "3f9a0c".into(),
                name: "Grace Hopper".into(),
                lab: "00-hello".into(),
                task: "count-nodes".into(),
                passed: true,
                checked: true,
                last_checked_ms: 1_796_667_671_250,
                last_checked: iso_utc(1_796_667_671_250),
            },
            ExportRow {
                learner: "77aa01".into(),
                name: "Alan".into(),
                lab: "00-hello".into(),
                task: "count-nodes".into(),
                passed: false,
                checked: false,
                last_checked_ms: 0,
                last_checked: iso_utc(0),
            },
        ];
        let csv = to_csv(&rows);
        let lines: Vec<&str> = csv.split("\r\n").collect();
        assert_eq!(
            lines[0],
            "name,learner,lab,task,passed,checked,last_checked"
        );
        assert_eq!(
            lines[1],
            "\"Grace Hopper\",\"3f9a0c\",\"00-hello\",\"count-nodes\",true,true,\"2026-12-07T18:21:11Z\""
        );
        assert_eq!(
            lines[2],
            "\"Alan\",\"77aa01\",\"00-hello\",\"count-nodes\",false,false,\"\""
        );
        assert!(
            !csv.contains("1796667671250"),
            "no epoch milliseconds: {csv}"
        );
    }
}
