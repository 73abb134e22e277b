//! The router's notification side (its own Alertmanager), built from `notifications:`:
//! alertmanager.yml (or a built-in one that keeps alerts but delivers nowhere), its templates,
//! receivers, time intervals, the silence store and the dispatcher, with state under
//! `<data dir>/notify`. A reload re-reads alertmanager.yml and swaps everything but the
//! silences and the alerts; a file that fails to load changes nothing.

use crate::api::alertmanager::{ApiAuth, ApiAuthError};
use crate::config::NotificationsConfig;
use crate::notify::dispatch::{DispatchMetrics, Dispatcher, DispatcherOptions};
use crate::notify::receivers::{self, BuildContext};
use crate::notify::template::{self, Templates};
use crate::notify::{AlertmanagerApi, Clock, Silences};
use crate::route::time_intervals::TimeIntervals;
use crate::route::{self, AlertmanagerConfig};
use harrier_telemetry::config_diagnostic::read_config;
use prometheus_client::registry::Registry;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::{Mutex, PoisonError};
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// The configuration used without `notifications.alertmanager_config`: every alert goes to a
/// receiver with no integrations, so it is kept, grouped and shown (API, web page) only.
const BUILT_IN_CONFIG: &str = "route:\n  receiver: default\nreceivers:\n- name: default\n";

/// How long expired silences are kept (Alertmanager's `--data.retention`).
const SILENCE_RETENTION: Duration = Duration::from_secs(120 * 3600);

/// Why the notification side could not start or reload.
#[derive(Debug, thiserror::Error)]
pub enum NotificationsError {
    #[error(transparent)]
    Config(#[from] route::ConfigError),
    #[error("alertmanager config {origin}: templates: {message}")]
    Templates { origin: String, message: String },
    #[error("alertmanager config {origin}: {source}")]
    Receivers { origin: String, source: receivers::BuildError },
    #[error("alertmanager config {origin}: time intervals: {message}")]
    TimeIntervals { origin: String, message: String },
    #[error("silences: {0}")]
    Silences(#[from] crate::notify::silences::SilenceError),
    #[error("dispatcher: {0}")]
    Dispatch(String),
    #[error("notifications.api_auth: reading {path}: {source}")]
    AuthFile { path: String, source: std::io::Error },
    #[error("notifications.api_auth: {path}: {message}")]
    AuthInvalid { path: String, message: String },
}

/// What a notification config is built from: alertmanager.yml's text and the template files
/// it names (path and content). A reload whose inputs are unchanged leaves the dispatcher
/// alone, so the rule-file watcher's reloads do not reset aggregation groups. (`*_file`
/// secrets are read by the integrations when they send.)
#[derive(Debug, Clone, PartialEq, Eq, Default)]
struct Inputs {
    text: String,
    templates: Vec<(PathBuf, String)>,
}

/// alertmanager.yml, parsed, with its inputs as read.
struct Loaded {
    config: AlertmanagerConfig,
    inputs: Inputs,
    /// Names the file in errors.
    origin: String,
    base_dir: Option<PathBuf>,
}

/// alertmanager.yml and what is built from it, ready for the dispatcher.
struct Built {
    config: Arc<AlertmanagerConfig>,
    inputs: Inputs,
    integrations: receivers::Integrations,
    time_intervals: TimeIntervals,
}

/// Reads alertmanager.yml and the template files it names, each once.
fn read_inputs(settings: &NotificationsConfig) -> Result<Loaded, NotificationsError> {
    let (config, text, origin, base_dir) = match &settings.alertmanager_config {
        Some(path) => {
            let path = Path::new(path);
            let text = read_config(path)?;
            let origin = path.display().to_string();
            (route::load_str(&text, &origin)?, text, origin, path.parent().map(Path::to_path_buf))
        }
        None => (
            route::load_str(BUILT_IN_CONFIG, "built-in")?,
            BUILT_IN_CONFIG.to_string(),
            "built-in".into(),
            None,
        ),
    };
    let templates = template::read_files(&config.templates, base_dir.as_deref())
        .map_err(|e| NotificationsError::Templates { origin: origin.clone(), message: e.to_string() })?;
    Ok(Loaded { config, inputs: Inputs { text, templates }, origin, base_dir })
}

fn build(loaded: Loaded) -> Result<Built, NotificationsError> {
    let Loaded { config, inputs, origin, base_dir } = loaded;
    let templates = Templates::from_files(&inputs.templates)
        .map_err(|e| NotificationsError::Templates { origin: origin.clone(), message: e.to_string() })?;
    let ctx = BuildContext { templates: Arc::new(templates), global: config.global.clone(), base_dir };
    let integrations = receivers::build(&config, &ctx)
        .map_err(|source| NotificationsError::Receivers { origin: origin.clone(), source })?;
    let time_intervals = TimeIntervals::new(&config)
        .map_err(|e| NotificationsError::TimeIntervals { origin, message: e.to_string() })?;
    Ok(Built { config: Arc::new(config), inputs, integrations, time_intervals })
}

/// The running notification side.
pub(super) struct Notifications {
    pub dispatcher: Arc<Dispatcher>,
    /// What the running config was built from.
    inputs: Mutex<Inputs>,
    /// Stops the silence store's garbage collection.
    gc_stop: CancellationToken,
}

/// How often expired silences past retention are collected (Alertmanager's
/// `--silences.maintenance-interval` is 15m).
const SILENCE_GC_INTERVAL: Duration = Duration::from_secs(15 * 60);

impl Notifications {
    pub fn start(
        settings: &NotificationsConfig,
        data_dir: &Path,
        external_url: &str,
        registry: &mut Registry,
    ) -> Result<Notifications, NotificationsError> {
        let built = build(read_inputs(settings)?)?;
        let dir = data_dir.join("notify");
        let clock = Clock::system();
        let silences = Arc::new(Silences::open(Some(&dir), clock, SILENCE_RETENTION)?);
        silences.register_metrics(registry);
        let options = DispatcherOptions {
            data_dir: Some(dir),
            external_url: external_url.trim_end_matches('/').to_string(),
            clock,
            metrics: DispatchMetrics::register(registry),
            ..DispatcherOptions::default()
        };
        let dispatcher = Dispatcher::start(
            built.config,
            built.inputs.text.clone(),
            built.integrations,
            Arc::clone(&silences),
            built.time_intervals,
            options,
        )
        .map_err(|e| NotificationsError::Dispatch(e.to_string()))?;
        let gc_stop = CancellationToken::new();
        {
            let stop = gc_stop.clone();
            tokio::spawn(async move { silences.run_gc(SILENCE_GC_INTERVAL, stop).await });
        }
        Ok(Notifications { dispatcher, inputs: Mutex::new(built.inputs), gc_stop })
    }

    /// Re-reads alertmanager.yml and its templates and applies them if they changed (the
    /// dispatcher re-forms its groups, as Alertmanager does on reload); on error the running
    /// config stays.
    pub fn reload(&self, settings: &NotificationsConfig) -> Result<(), NotificationsError> {
        let loaded = read_inputs(settings)?;
        if *self.inputs.lock().unwrap_or_else(PoisonError::into_inner) == loaded.inputs {
            tracing::debug!("alertmanager config unchanged");
            return Ok(());
        }
        let built = build(loaded)?;
        self.dispatcher
            .reload(built.config, built.inputs.text.clone(), built.integrations, built.time_intervals)
            .map_err(|e| NotificationsError::Dispatch(e.to_string()))?;
        *self.inputs.lock().unwrap_or_else(PoisonError::into_inner) = built.inputs;
        tracing::info!("alertmanager config reloaded");
        Ok(())
    }

    pub fn api(&self) -> Arc<dyn AlertmanagerApi> {
        Arc::clone(&self.dispatcher) as Arc<dyn AlertmanagerApi>
    }

    pub async fn stop(&self) {
        self.gc_stop.cancel();
        self.dispatcher.stop().await;
    }
}

/// The credentials `notifications.api_auth` names, read now.
pub(super) fn api_auth(settings: &NotificationsConfig) -> Result<ApiAuth, NotificationsError> {
    let read = |path: &String| {
        std::fs::read_to_string(path)
            .map_err(|source| NotificationsError::AuthFile { path: path.clone(), source })
    };
    let invalid = |path: &String, e: ApiAuthError| NotificationsError::AuthInvalid {
        path: path.clone(),
        message: e.to_string(),
    };
    let Some(auth) = &settings.api_auth else { return Ok(ApiAuth::None) };
    if let Some(path) = &auth.bearer_token_file {
        return ApiAuth::bearer_from_file_contents(&read(path)?).map_err(|e| invalid(path, e));
    }
    match &auth.basic_auth {
        Some(basic) => {
            let password = read(&basic.password_file)?;
            let password = password.trim_end_matches(['\n', '\r']);
            if password.is_empty() {
                return Err(invalid(&basic.password_file, ApiAuthError::Empty));
            }
            Ok(ApiAuth::basic(basic.username.clone(), password))
        }
        // Validation requires one of the two.
        None => Ok(ApiAuth::None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inputs_change_with_the_config_or_a_template_only() {
        let dir = tempfile::tempdir().unwrap();
        let am = dir.path().join("am.yml");
        std::fs::create_dir(dir.path().join("tmpl")).unwrap();
        std::fs::write(dir.path().join("tmpl/a.tmpl"), r#"{{ define "x" }}one{{ end }}"#).unwrap();
        std::fs::write(&am, "templates: ['tmpl/*.tmpl']\nroute:\n  receiver: r\nreceivers:\n- name: r\n")
            .unwrap();
        let settings = NotificationsConfig {
            alertmanager_config: Some(am.display().to_string()),
            ..NotificationsConfig::default()
        };
        let read = || read_inputs(&settings).unwrap().inputs;
        let first = read();
        assert_eq!(first.templates.len(), 1);
        assert_eq!(read(), first, "nothing changed");
        std::fs::write(dir.path().join("tmpl/a.tmpl"), r#"{{ define "x" }}two{{ end }}"#).unwrap();
        let second = read();
        assert_ne!(second, first, "a template changed");
        std::fs::write(
            &am,
            "templates: ['tmpl/*.tmpl']\nroute:\n  receiver: r\n  group_wait: 1s\nreceivers:\n- name: r\n",
        )
        .unwrap();
        assert_ne!(read(), second, "the config changed");
        // A broken file is an error naming it, and changes nothing.
        std::fs::write(&am, "route: [\n").unwrap();
        let err = read_inputs(&settings).err().map(|e| e.to_string()).unwrap_or_default();
        assert!(err.contains("am.yml"), "{err}");
    }
}
