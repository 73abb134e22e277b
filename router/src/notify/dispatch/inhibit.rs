//! Inhibition (Alertmanager's `inhibit` package): a firing alert matching a rule's source
//! matchers mutes the alerts matching its target matchers that have the same values for the
//! rule's `equal` labels (a missing label counts as the empty value, so two alerts both
//! lacking it are equal).
//!
//! As upstream, an alert that matches both the source and the target side of a rule is only
//! inhibited by source alerts that do not themselves match the target side: otherwise two such
//! alerts would mute each other (or one would mute itself).
//!
//! Each rule keeps an index of the alerts matching its source side (Alertmanager's per-rule
//! source cache), keyed by their `equal` label values, so checking an alert is one lookup.
//! Resolved sources stay in the index until the store collects them, and are skipped when
//! checking (a resolving source releases its targets at the next flush).

use crate::notify::alert::{Alert, Fingerprint};
use crate::route::config::InhibitRule;
use crate::route::matchers::Matcher;
use harrier_telemetry::model::Labels;
use std::collections::HashMap;

/// An alert matching a rule's source side.
#[derive(Debug, Clone)]
struct Source {
    labels: Labels,
    ends_at_ms: i64,
}

#[derive(Debug)]
struct Rule {
    source: Vec<Matcher>,
    target: Vec<Matcher>,
    /// Sorted, deduplicated.
    equal: Vec<String>,
    sources: HashMap<Vec<String>, HashMap<Fingerprint, Source>>,
}

fn matches_all(matchers: &[Matcher], labels: &Labels) -> bool {
    matchers.iter().all(|m| m.matches(labels.get(&m.name).unwrap_or("")))
}

impl Rule {
    fn equal_key(&self, labels: &Labels) -> Vec<String> {
        self.equal.iter().map(|n| labels.get(n).unwrap_or("").to_string()).collect()
    }
}

/// The inhibition rules of a config with their source indexes.
#[derive(Debug, Default)]
pub struct Inhibitor {
    rules: Vec<Rule>,
}

impl Inhibitor {
    pub fn new(rules: &[InhibitRule]) -> Inhibitor {
        let rules = rules
            .iter()
            .map(|r| {
                let mut equal = r.equal.clone();
                equal.sort();
                equal.dedup();
                Rule {
                    source: r.parsed_source.clone(),
                    target: r.parsed_target.clone(),
                    equal,
                    sources: HashMap::new(),
                }
            })
            .collect();
        Inhibitor { rules }
    }

    /// Records a stored alert (new or updated) in the source indexes it belongs to.
    pub fn observe(&mut self, alert: &Alert) {
        let fp = alert.fingerprint();
        for rule in &mut self.rules {
            if matches_all(&rule.source, &alert.labels) {
                let key = rule.equal_key(&alert.labels);
                rule.sources
                    .entry(key)
                    .or_default()
                    .insert(fp, Source { labels: alert.labels.clone(), ends_at_ms: alert.ends_at_ms });
            }
        }
    }

    /// Forgets an alert the store collected.
    pub fn forget(&mut self, alert: &Alert) {
        let fp = alert.fingerprint();
        for rule in &mut self.rules {
            let key = rule.equal_key(&alert.labels);
            if let Some(set) = rule.sources.get_mut(&key) {
                set.remove(&fp);
                if set.is_empty() {
                    rule.sources.remove(&key);
                }
            }
        }
    }

    /// Fingerprints (16 hex digits, sorted) of the firing alerts inhibiting `labels` at
    /// `now_ms`; empty when not inhibited.
    pub fn inhibited_by(&self, labels: &Labels, now_ms: i64) -> Vec<String> {
        let mut by: Vec<Fingerprint> = Vec::new();
        for rule in &self.rules {
            if !matches_all(&rule.target, labels) {
                continue;
            }
            let exclude_two_sided = matches_all(&rule.source, labels);
            let Some(sources) = rule.sources.get(&rule.equal_key(labels)) else { continue };
            for (fp, source) in sources {
                let resolved = source.ends_at_ms != 0 && source.ends_at_ms <= now_ms;
                if resolved || (exclude_two_sided && matches_all(&rule.target, &source.labels)) {
                    continue;
                }
                by.push(*fp);
            }
        }
        by.sort();
        by.dedup();
        by.into_iter().map(|fp| fp.to_string()).collect()
    }

    pub fn is_empty(&self) -> bool {
        self.rules.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::route::matchers::parse_matchers;

    fn rule(source: &str, target: &str, equal: &[&str]) -> InhibitRule {
        InhibitRule {
            parsed_source: parse_matchers(source).unwrap(),
            parsed_target: parse_matchers(target).unwrap(),
            equal: equal.iter().map(|s| s.to_string()).collect(),
            ..InhibitRule::default()
        }
    }

    fn alert(pairs: &[(&str, &str)], ends: i64) -> Alert {
        Alert {
            labels: Labels::from_pairs(pairs.iter().copied()),
            annotations: Labels::new(),
            starts_at_ms: 1,
            ends_at_ms: ends,
            generator_url: String::new(),
            updated_at_ms: 1,
            timeout: false,
        }
    }

    #[test]
    fn source_inhibits_target_with_equal_labels() {
        let mut ih =
            Inhibitor::new(&[rule(r#"{severity="critical"}"#, r#"{severity="warning"}"#, &["cluster"])]);
        let crit = alert(&[("alertname", "Down"), ("severity", "critical"), ("cluster", "a")], 1_000);
        ih.observe(&crit);
        let warn_a = Labels::from_pairs([("alertname", "Slow"), ("severity", "warning"), ("cluster", "a")]);
        let warn_b = Labels::from_pairs([("alertname", "Slow"), ("severity", "warning"), ("cluster", "b")]);
        assert_eq!(ih.inhibited_by(&warn_a, 500), vec![crit.fingerprint().to_string()]);
        assert!(ih.inhibited_by(&warn_b, 500).is_empty(), "different cluster");
        assert!(ih.inhibited_by(&warn_a, 1_000).is_empty(), "resolved source does not inhibit");
        ih.forget(&crit);
        assert!(ih.inhibited_by(&warn_a, 500).is_empty());
    }

    #[test]
    fn missing_equal_label_counts_as_empty() {
        let mut ih =
            Inhibitor::new(&[rule(r#"{severity="critical"}"#, r#"{severity="warning"}"#, &["cluster"])]);
        ih.observe(&alert(&[("severity", "critical")], 0));
        assert_eq!(ih.inhibited_by(&Labels::from_pairs([("severity", "warning")]), 5).len(), 1);
        assert!(
            ih.inhibited_by(&Labels::from_pairs([("severity", "warning"), ("cluster", "x")]), 5).is_empty()
        );
    }

    #[test]
    fn two_sided_matches_do_not_inhibit_each_other() {
        // Source and target both match every alert named "X".
        let mut ih = Inhibitor::new(&[rule(r#"{alertname="X"}"#, r#"{alertname="X"}"#, &[])]);
        let a = alert(&[("alertname", "X"), ("i", "1")], 0);
        let b = alert(&[("alertname", "X"), ("i", "2")], 0);
        ih.observe(&a);
        ih.observe(&b);
        assert!(ih.inhibited_by(&a.labels, 5).is_empty());
        assert!(ih.inhibited_by(&b.labels, 5).is_empty());
        // A source-only alert still inhibits a two-sided one.
        let mut ih = Inhibitor::new(&[rule(r#"{sev="crit"}"#, r#"{alertname="X"}"#, &[])]);
        let src = alert(&[("alertname", "Y"), ("sev", "crit")], 0);
        ih.observe(&src);
        let both = Labels::from_pairs([("alertname", "X"), ("sev", "crit")]);
        assert_eq!(ih.inhibited_by(&both, 5), vec![src.fingerprint().to_string()]);
    }
}
