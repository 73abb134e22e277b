//! The routing tree built from a validated `route:` section, with Alertmanager's semantics
//! (`dispatch/route.go`):
//!
//! - Options are inherited: a node starts from its parent's options (the root from
//!   Alertmanager's defaults) and overrides what it sets. `group_by` replaces the parent's
//!   labels when it lists any; `['...']` groups by every label; an empty list inherits.
//!   `mute_time_intervals` and `active_time_intervals` are not inherited.
//! - Matching is depth-first, left to right: a node matches when all its matchers match; its
//!   children are tried in order, stopping after the first that matched unless that child has
//!   `continue: true`; a node none of whose children matched is itself the match.
//! - [`RouteNode::key`] is Alertmanager's route key (`{}/{severity="page"}`: each node's sorted
//!   matchers, joined by `/` from the root; `match_re` values anchored, as Alertmanager keeps
//!   them). Group keys, and so PagerDuty dedup keys and the
//!   notification log, are built from it, exactly as Alertmanager builds them.
//!
//! Nodes live in one vector in depth-first order; a node refers to its parent and children by
//! index ([`RouteId`]), so the tree is cheap to share and clone.

use super::config::{
    AlertmanagerConfig, DEFAULT_GROUP_INTERVAL, DEFAULT_GROUP_WAIT, DEFAULT_REPEAT_INTERVAL, Route,
};
use super::matchers::{MatchType, Matcher};
use std::time::Duration;

/// A node's index in [`RouteTree::nodes`] (depth-first order; the root is 0).
pub type RouteId = usize;

/// The options of a routing node after inheritance (Alertmanager's `RouteOpts`).
#[derive(Debug, Clone, PartialEq)]
pub struct RouteOpts {
    pub receiver: String,
    /// Sorted label names; ignored when `group_by_all`.
    pub group_by: Vec<String>,
    pub group_by_all: bool,
    pub group_wait: Duration,
    pub group_interval: Duration,
    pub repeat_interval: Duration,
    pub mute_time_intervals: Vec<String>,
    pub active_time_intervals: Vec<String>,
}

/// One node of the routing tree.
#[derive(Debug, Clone)]
pub struct RouteNode {
    pub id: RouteId,
    pub parent: Option<RouteId>,
    /// Position among the parent's children (0 for the root).
    pub position: usize,
    pub opts: RouteOpts,
    /// Sorted as Alertmanager sorts them (name, value, operator).
    pub matchers: Vec<Matcher>,
    pub continue_: bool,
    pub children: Vec<RouteId>,
    key: String,
}

impl RouteNode {
    /// Alertmanager's route key, e.g. `{}/{severity="page"}`.
    pub fn key(&self) -> &str {
        &self.key
    }

    /// Alertmanager's route ID: the key plus the position among siblings (the root has none).
    pub fn route_id(&self) -> String {
        match self.parent {
            Some(_) => format!("{}/{}", self.key, self.position),
            None => self.key.clone(),
        }
    }

    /// Whether every matcher of this node matches the label set (`get` returns a label's value).
    pub fn matches<'a>(&self, get: impl Fn(&str) -> Option<&'a str>) -> bool {
        self.matchers.iter().all(|m| m.matches(get(&m.name).unwrap_or("")))
    }
}

/// The routing tree.
#[derive(Debug, Clone)]
pub struct RouteTree {
    pub nodes: Vec<RouteNode>,
}

impl RouteTree {
    /// Builds the tree from a validated config (one whose `route` is set; a config without one
    /// gets a lone root sending to the first receiver, which validation never lets through).
    pub fn new(config: &AlertmanagerConfig) -> RouteTree {
        let root_opts = RouteOpts {
            receiver: String::new(),
            group_by: Vec::new(),
            group_by_all: false,
            group_wait: DEFAULT_GROUP_WAIT.as_duration(),
            group_interval: DEFAULT_GROUP_INTERVAL.as_duration(),
            repeat_interval: DEFAULT_REPEAT_INTERVAL.as_duration(),
            mute_time_intervals: Vec::new(),
            active_time_intervals: Vec::new(),
        };
        let mut tree = RouteTree { nodes: Vec::new() };
        let fallback;
        let root = match &config.route {
            Some(r) => r,
            None => {
                fallback =
                    Route { receiver: config.receivers.first().map(|r| r.name.clone()), ..Route::default() };
                &fallback
            }
        };
        tree.add(root, None, 0, &root_opts, "");
        tree
    }

    fn add(
        &mut self,
        cfg: &Route,
        parent: Option<RouteId>,
        position: usize,
        inherited: &RouteOpts,
        parent_key: &str,
    ) -> RouteId {
        let mut opts = inherited.clone();
        if let Some(r) = cfg.receiver.as_deref().filter(|r| !r.is_empty()) {
            opts.receiver = r.to_string();
        }
        if cfg.group_by_all() {
            opts.group_by_all = true;
        } else if let Some(labels) = cfg.group_by.as_ref().filter(|l| !l.is_empty()) {
            let mut labels = labels.clone();
            labels.sort();
            labels.dedup();
            opts.group_by = labels;
            opts.group_by_all = false;
        }
        if let Some(d) = cfg.group_wait {
            opts.group_wait = d.as_duration();
        }
        if let Some(d) = cfg.group_interval {
            opts.group_interval = d.as_duration();
        }
        if let Some(d) = cfg.repeat_interval {
            opts.repeat_interval = d.as_duration();
        }
        opts.mute_time_intervals = cfg.mute_time_intervals.clone();
        opts.active_time_intervals = cfg.active_time_intervals.clone();

        // Alertmanager keeps `match_re` values anchored (`^(?:RE)$`) in its matchers, so they
        // appear so in route keys (and so in group keys and PagerDuty dedup keys).
        let mut matchers = cfg.parsed_matchers.clone();
        for (name, re) in &cfg.match_re {
            let Some(re) = re else { continue };
            let found =
                matchers.iter().position(|m| m.name == *name && m.op == MatchType::Regexp && m.value == *re);
            if let Some(i) = found
                && let Ok(anchored) = Matcher::new(name, MatchType::Regexp, &format!("^(?:{re})$"))
            {
                matchers[i] = anchored;
            }
        }
        matchers.sort_by(|a, b| {
            (a.name.as_str(), a.value.as_str(), a.op as u8).cmp(&(
                b.name.as_str(),
                b.value.as_str(),
                b.op as u8,
            ))
        });
        let own = format!("{{{}}}", matchers.iter().map(|m| m.to_string()).collect::<Vec<_>>().join(","));
        let key = if parent.is_some() { format!("{parent_key}/{own}") } else { own };

        let id = self.nodes.len();
        self.nodes.push(RouteNode {
            id,
            parent,
            position,
            opts: opts.clone(),
            matchers,
            continue_: cfg.continue_,
            children: Vec::new(),
            key: key.clone(),
        });
        let children: Vec<RouteId> = cfg
            .routes
            .iter()
            .enumerate()
            .map(|(i, child)| self.add(child, Some(id), i, &opts, &key))
            .collect();
        self.nodes[id].children = children;
        id
    }

    pub fn root(&self) -> &RouteNode {
        &self.nodes[0]
    }

    pub fn node(&self, id: RouteId) -> &RouteNode {
        &self.nodes[id]
    }

    /// The nodes a label set is routed to, in Alertmanager's order (`Route.Match`).
    pub fn match_labels<'a>(&self, get: impl Fn(&str) -> Option<&'a str> + Copy) -> Vec<RouteId> {
        let mut out = Vec::new();
        self.match_node(0, get, &mut out);
        out
    }

    fn match_node<'a>(
        &self,
        id: RouteId,
        get: impl Fn(&str) -> Option<&'a str> + Copy,
        out: &mut Vec<RouteId>,
    ) -> bool {
        let node = &self.nodes[id];
        if !node.matches(get) {
            return false;
        }
        let before = out.len();
        for &child in &node.children {
            if self.match_node(child, get, out) && !self.nodes[child].continue_ {
                break;
            }
        }
        if out.len() == before {
            out.push(id);
        }
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::route::load_str;
    use std::collections::BTreeMap;

    const CONFIG: &str = r#"
route:
  receiver: default
  group_by: [alertname]
  group_wait: 10s
  routes:
  - matchers: ['severity="page"', 'team=~"db|web"']
    receiver: pager
    continue: true
    mute_time_intervals: [nights]
  - match: {team: db}
    receiver: db
    group_by: ['...']
    routes:
    - match_re: {env: prod.*}
      receiver: db-prod
      group_wait: 1m
  - matchers: ['team="web"']
    group_by: []
    receiver: web
time_intervals:
- name: nights
  time_intervals: [{times: [{start_time: '00:00', end_time: '06:00'}]}]
receivers: [{name: default}, {name: pager}, {name: db}, {name: db-prod}, {name: web}]
"#;

    fn receivers(tree: &RouteTree, labels: &[(&str, &str)]) -> Vec<String> {
        let map: BTreeMap<&str, &str> = labels.iter().copied().collect();
        tree.match_labels(|n| map.get(n).copied())
            .into_iter()
            .map(|id| tree.node(id).opts.receiver.clone())
            .collect()
    }

    #[test]
    fn matching_follows_order_and_continue() {
        let tree = RouteTree::new(&load_str(CONFIG, "am.yml").unwrap());
        assert_eq!(receivers(&tree, &[("alertname", "x")]), ["default"]);
        assert_eq!(receivers(&tree, &[("severity", "page"), ("team", "db")]), ["pager", "db"]);
        assert_eq!(
            receivers(&tree, &[("severity", "page"), ("team", "db"), ("env", "prod-eu")]),
            ["pager", "db-prod"]
        );
        assert_eq!(receivers(&tree, &[("team", "web")]), ["web"]);
        assert_eq!(receivers(&tree, &[("severity", "page"), ("team", "ops")]), ["default"]);
    }

    #[test]
    fn options_are_inherited_and_keys_built_like_alertmanager() {
        let tree = RouteTree::new(&load_str(CONFIG, "am.yml").unwrap());
        let root = tree.root();
        assert_eq!(root.key(), "{}");
        assert_eq!(root.route_id(), "{}");
        assert_eq!(root.opts.group_wait, Duration::from_secs(10));
        assert_eq!(root.opts.group_interval, Duration::from_secs(300));
        let pager = tree.node(root.children[0]);
        assert_eq!(pager.key(), r#"{}/{severity="page",team=~"db|web"}"#);
        assert_eq!(pager.route_id(), r#"{}/{severity="page",team=~"db|web"}/0"#);
        assert_eq!(pager.opts.mute_time_intervals, ["nights"]);
        assert_eq!(pager.opts.group_by, ["alertname"]);
        let db = tree.node(root.children[1]);
        assert!(db.opts.group_by_all);
        let db_prod = tree.node(db.children[0]);
        assert_eq!(db_prod.key(), r#"{}/{team="db"}/{env=~"^(?:prod.*)$"}"#);
        assert!(db_prod.opts.group_by_all, "group_by_all inherited");
        assert_eq!(db_prod.opts.group_wait, Duration::from_secs(60));
        assert!(db_prod.opts.mute_time_intervals.is_empty(), "mute intervals are not inherited");
        let web = tree.node(root.children[2]);
        assert_eq!(web.opts.group_by, ["alertname"], "an empty group_by inherits");
    }
}
