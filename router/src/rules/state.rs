//! Alert state on disk, so a router restart resumes every alert where it was: pending since,
//! firing since, keep-firing deadline, last sent. Prometheus restores only `for` progress (from
//! `ALERTS_FOR_STATE`, shifted by the downtime) and loses `keep_firing_for` and the send
//! history, so a restart re-pages or forgets; this store keeps all of it.
//!
//! ## Format
//! One file per rule group, `<dir>/<16 hex digits of the group key's hash>.state`, replaced
//! atomically after every evaluation of a group that has alerts, in the format of
//! [`crate::state_file`] (a JSON [`GroupState`] with a `crc32c` line; the previous generation
//! kept). A file whose checksum or JSON does not verify is set aside and counted (the previous
//! generation, or else a fresh start, is used), never a crash.
//!
//! ## Restore
//! [`restore_group`] puts saved alerts back into the group's alerting rules (matched by rule
//! name and labels, as Prometheus matches rules across reloads), given how long the router was
//! down (`now` minus the saved evaluation time):
//!
//! - down longer than `outage_tolerance` (Prometheus's `--rules.alert.for-outage-tolerance`,
//!   1 h): nothing is restored;
//! - firing and resolved alerts come back as they were (same `startsAt`, last send time,
//!   keep-firing countdown), so no duplicate notification and no early resolve;
//! - a pending alert keeps its `active_at`, so it fires at its original time; but since the
//!   expression was not observed while the router was down, it fires no sooner than
//!   `min(for_grace_period, downtime, for)` after the restart (the grace period of
//!   Prometheus's `--rules.alert.for-grace-period`, applied only to the unobserved time).

use super::alerting::{ActiveAlert, AlertState};
use super::group::{Group, RuleKind, key_hash};
use crate::state_file;
use harrier_telemetry::model::Labels;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// Errors reading or writing alert state.
#[derive(Debug, thiserror::Error)]
pub enum StateError {
    #[error("alert state {path}: {source}")]
    Io { path: PathBuf, source: std::io::Error },
    #[error("alert state {path}: {reason}")]
    Write { path: PathBuf, reason: String },
    #[error("alert state {path} is corrupt: {reason}")]
    Corrupt { path: PathBuf, reason: String },
}

/// A group's saved alerts.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GroupState {
    pub file: String,
    pub group: String,
    /// The evaluation time the state is from (unix ms).
    pub saved_at_ms: i64,
    pub rules: Vec<RuleState>,
}

/// An alerting rule's saved alerts.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RuleState {
    pub name: String,
    pub labels: Vec<(String, String)>,
    pub alerts: Vec<SavedAlert>,
}

/// One saved alert (times in unix ms).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SavedAlert {
    pub state: AlertState,
    pub labels: Vec<(String, String)>,
    pub annotations: Vec<(String, String)>,
    /// The value as text (JSON has no NaN or infinities).
    pub value: String,
    pub active_at: i64,
    pub fired_at: Option<i64>,
    pub resolved_at: Option<i64>,
    pub last_sent_at: Option<i64>,
    pub valid_until: Option<i64>,
    pub keep_firing_since: Option<i64>,
}

fn pairs(labels: &Labels) -> Vec<(String, String)> {
    labels.iter().map(|l| (l.name.to_string(), l.value.to_string())).collect()
}

impl SavedAlert {
    fn from_alert(a: &ActiveAlert) -> Self {
        SavedAlert {
            state: a.state,
            labels: pairs(&a.labels),
            annotations: pairs(&a.annotations),
            value: a.value.to_string(),
            active_at: a.active_at,
            fired_at: a.fired_at,
            resolved_at: a.resolved_at,
            last_sent_at: a.last_sent_at,
            valid_until: a.valid_until,
            keep_firing_since: a.keep_firing_since,
        }
    }

    fn to_alert(&self) -> ActiveAlert {
        ActiveAlert {
            state: self.state,
            labels: Labels::from_pairs(self.labels.iter().map(|(k, v)| (k, v))),
            annotations: Labels::from_pairs(self.annotations.iter().map(|(k, v)| (k, v))),
            value: self.value.parse().unwrap_or(f64::NAN),
            active_at: self.active_at,
            fired_at: self.fired_at,
            resolved_at: self.resolved_at,
            last_sent_at: self.last_sent_at,
            valid_until: self.valid_until,
            keep_firing_since: self.keep_firing_since,
        }
    }
}

/// The state of a group's alerting rules; `None` when it has no alerts.
pub fn capture(group: &Group) -> Option<GroupState> {
    let rules: Vec<RuleState> = group
        .rules
        .iter()
        .filter_map(|r| match &r.rule {
            RuleKind::Alerting(a) if !a.alerts().is_empty() => Some(RuleState {
                name: a.name().to_string(),
                labels: a.labels().to_vec(),
                alerts: a.alerts().into_iter().map(SavedAlert::from_alert).collect(),
            }),
            _ => None,
        })
        .collect();
    if rules.is_empty() {
        return None;
    }
    Some(GroupState {
        file: group.settings.file.clone(),
        group: group.settings.name.clone(),
        saved_at_ms: group.last_eval_ms.unwrap_or(0),
        rules,
    })
}

/// How restored pending alerts are treated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RestoreOptions {
    pub outage_tolerance_ms: i64,
    pub for_grace_period_ms: i64,
}

impl Default for RestoreOptions {
    fn default() -> Self {
        RestoreOptions { outage_tolerance_ms: 3_600_000, for_grace_period_ms: 600_000 }
    }
}

/// Puts `state` back into `group` at `now_ms` (see the module docs); returns how many alerts
/// were restored.
pub fn restore_group(group: &mut Group, state: &GroupState, now_ms: i64, options: RestoreOptions) -> usize {
    let downtime = (now_ms - state.saved_at_ms).max(0);
    if downtime > options.outage_tolerance_ms {
        return 0;
    }
    let mut restored = 0;
    for rule in &mut group.rules {
        let RuleKind::Alerting(alerting) = &mut rule.rule else { continue };
        let Some(saved) =
            state.rules.iter().find(|r| r.name == alerting.name() && r.labels == alerting.labels())
        else {
            continue;
        };
        let hold = alerting.hold_ms();
        let alerts: Vec<ActiveAlert> = saved
            .alerts
            .iter()
            .map(|s| {
                let mut alert = s.to_alert();
                if alert.state == AlertState::Pending {
                    let not_before = now_ms + options.for_grace_period_ms.min(downtime).min(hold);
                    if alert.active_at + hold < not_before {
                        alert.active_at = not_before - hold;
                    }
                }
                alert
            })
            .collect();
        restored += alerts.len();
        alerting.set_alerts(alerts);
        // The ALERTS series written before the restart end with staleness markers if the
        // alerts are gone at the first evaluation.
        let series = alerting.output_series();
        rule.set_previous_series(series);
    }
    group.last_eval_ms = group.last_eval_ms.or(Some(state.saved_at_ms));
    restored
}

/// Where the state files of a router live.
#[derive(Debug, Clone)]
pub struct StateDir {
    dir: PathBuf,
}

impl StateDir {
    /// Creates the directory if needed.
    pub fn open(dir: impl Into<PathBuf>) -> Result<StateDir, StateError> {
        let dir = dir.into();
        std::fs::create_dir_all(&dir).map_err(|source| StateError::Io { path: dir.clone(), source })?;
        Ok(StateDir { dir })
    }

    /// The file of the group with key `key`.
    pub fn path_for(&self, key: &str) -> PathBuf {
        self.dir.join(format!("{:016x}.state", key_hash(key)))
    }

    /// Writes (or, with `None`, removes) a group's state atomically.
    pub fn save(&self, key: &str, state: Option<&GroupState>) -> Result<(), StateError> {
        let path = self.path_for(key);
        match state {
            Some(state) => state_file::write(&path, state),
            None => state_file::remove(&path),
        }
        .map_err(|e| StateError::Write { path, reason: e.to_string() })
    }

    /// Reads a group's state: `Ok(None)` when there is none. A damaged newest generation
    /// falls back to the previous one (logged); with none valid, the error says why.
    pub fn load(&self, key: &str) -> Result<Option<GroupState>, StateError> {
        let path = self.path_for(key);
        let outcome = state_file::read::<GroupState>(&path)
            .map_err(|e| StateError::Write { path: path.clone(), reason: e.to_string() })?;
        match (outcome.value, outcome.corrupt.into_iter().next()) {
            (Some(state), corrupt) => {
                if let Some((file, reason)) = corrupt {
                    tracing::warn!(file = %file.display(), %reason, "alert state corrupt; the previous generation is used");
                }
                Ok(Some(state))
            }
            (None, Some((path, reason))) => Err(StateError::Corrupt { path, reason }),
            (None, None) => Ok(None),
        }
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }
}

#[cfg(test)]
mod tests;
