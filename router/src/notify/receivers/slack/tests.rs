use super::*;
use crate::notify::receivers::test_server::{
    Recorded, Reply, TestServer, context, reference_notification, resolved_notification,
};
use std::time::Duration;

/// The request Alertmanager 0.25 sent for `reference_notification` with default templates,
/// byte for byte (Content-Length 370).
const ALERTMANAGER_WEBHOOK_BODY: &str = concat!(
    r#"{"username":"Alertmanager","attachments":[{"title":"[FIRING:2] InstanceDown node (page)","title_link":"http://am.example:9093/#/alerts?receiver=team-x%5C.pager","text":"","fallback":"[FIRING:2] InstanceDown node (page) | http://am.example:9093/#/alerts?receiver=team-x%5C.pager","callback_id":"","footer":"","color":"danger","mrkdwn_in":["fallback","pretext","text"]}]}"#,
    "\n"
);

fn config(yaml: &str) -> SlackConfig {
    yaml_serde::from_str(yaml).unwrap()
}

async fn send_one(
    yaml: &str,
    replies: Vec<Reply>,
    n: &Notification,
) -> (Result<(), NotifyError>, Vec<Recorded>) {
    let server = TestServer::start(replies).await;
    let yaml = yaml.replace("BASE", &server.base);
    let integration = SlackIntegration::new(&config(&yaml), &context(None)).unwrap();
    let result = integration.notify(n).await;
    (result, server.requests())
}

fn json(r: &Recorded) -> serde_json::Value {
    serde_json::from_str(&r.body).unwrap()
}

#[tokio::test]
async fn webhook_matches_alertmanager() {
    let (result, requests) =
        send_one("api_url: BASE/services/T/B/X\n", vec![], &reference_notification()).await;
    assert_eq!(result, Ok(()));
    let r = &requests[0];
    assert_eq!(r.path, "/services/T/B/X");
    assert_eq!(r.body, ALERTMANAGER_WEBHOOK_BODY);
    assert_eq!(r.body.len(), 370);
    assert_eq!(r.headers["content-type"], "application/json");
    assert!(r.headers.get("authorization").is_none());
}

#[tokio::test]
async fn resolved_color_and_every_field() {
    let yaml = r#"
api_url: BASE/hook
channel: '#{{ .CommonLabels.job }}'
username: bot
icon_emoji: ':fire:'
icon_url: 'http://icon'
link_names: true
title: '{{ .Status | toUpper }}'
title_link: 'http://link'
pretext: pre
text: '{{ range .Alerts }}{{ .Labels.instance }} {{ end }}'
fallback: fb
callback_id: cb
footer: foot
image_url: 'http://img'
thumb_url: 'http://thumb'
short_fields: true
mrkdwn_in: [text]
fields:
  - title: Job
    value: '{{ .CommonLabels.job }}'
  - title: Long
    value: v
    short: false
actions:
  - type: button
    text: 'Runbook {{ .GroupLabels.alertname }}'
    url: 'http://runbook'
    style: primary
  - type: button
    text: Ack
    name: ack
    value: '1'
    confirm:
      text: Sure?
      ok_text: 'Yes'
"#;
    let (result, requests) = send_one(yaml, vec![], &resolved_notification()).await;
    assert_eq!(result, Ok(()));
    let want = serde_json::json!({
        "channel": "#node",
        "username": "bot",
        "icon_emoji": ":fire:",
        "icon_url": "http://icon",
        "link_names": true,
        "attachments": [{
            "title": "RESOLVED",
            "title_link": "http://link",
            "pretext": "pre",
            "text": "a:9100 b:9100 c:9100 ",
            "fallback": "fb",
            "callback_id": "cb",
            "fields": [
                {"title": "Job", "value": "node", "short": true},
                {"title": "Long", "value": "v", "short": false}
            ],
            "actions": [
                {"type": "button", "text": "Runbook InstanceDown", "url": "http://runbook", "style": "primary"},
                {"type": "button", "text": "Ack", "name": "ack", "value": "1", "confirm": {"text": "Sure?", "ok_text": "Yes"}}
            ],
            "image_url": "http://img",
            "thumb_url": "http://thumb",
            "footer": "foot",
            "color": "good",
            "mrkdwn_in": ["text"]
        }]
    });
    assert_eq!(json(&requests[0]), want);
}

#[tokio::test]
async fn long_title_is_cut() {
    let (result, requests) = send_one(
        "api_url: BASE/\ntitle: '{{ printf \"%2000s\" \"x\" }}'\n",
        vec![],
        &reference_notification(),
    )
    .await;
    assert_eq!(result, Ok(()));
    let title = json(&requests[0])["attachments"][0]["title"].as_str().unwrap().to_string();
    assert_eq!(title.chars().count(), MAX_TITLE_RUNES);
    assert!(title.ends_with('…'));
}

#[tokio::test]
async fn app_token_posts_to_the_web_api() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("token"), "xoxb-file\n").unwrap();
    let server = TestServer::start(vec![
        Reply::new(200, r#"{"ok":true,"ts":"1.2"}"#)
            .header("content-type", "application/json; charset=utf-8"),
        Reply::new(200, r#"{"ok":false,"error":"channel_not_found"}"#)
            .header("content-type", "application/json"),
        Reply::new(200, "<html>").header("content-type", "application/json"),
    ])
    .await;
    let yaml =
        format!("app_token_file: token\napp_url: {}/api/chat.postMessage\nchannel: '#ops'\n", server.base);
    let integration = SlackIntegration::new(&config(&yaml), &context(Some(dir.path()))).unwrap();
    let n = reference_notification();
    assert_eq!(integration.notify(&n).await, Ok(()));
    let e = integration.notify(&n).await.unwrap_err();
    assert_eq!(
        (e.message.as_str(), e.retryable),
        (r##"channel "#ops": error response from Slack: channel_not_found"##, false)
    );
    let e = integration.notify(&n).await.unwrap_err();
    assert!(e.retryable, "{e:?}");
    assert!(
        e.message.starts_with(r##"channel "#ops": could not unmarshal JSON response "<html>""##),
        "{}",
        e.message
    );
    let requests = server.requests();
    assert_eq!(requests[0].path, "/api/chat.postMessage");
    assert_eq!(requests[0].headers["authorization"], "Bearer xoxb-file");
    assert_eq!(json(&requests[0])["channel"], "#ops");
    // Inline token and the default Web API URL.
    let cfg = config("app_token: xoxb-1\n");
    let integration = SlackIntegration::new(&cfg, &context(None)).unwrap();
    assert!(matches!(&integration.endpoint, Endpoint::App { url, .. } if url == DEFAULT_APP_URL));
}

#[tokio::test]
async fn webhook_answers_and_statuses() {
    let n = reference_notification();
    let yaml = "api_url: BASE/\nchannel: '#c'\n";
    let (result, _) = send_one(yaml, vec![Reply::new(200, "invalid_payload")], &n).await;
    let e = result.unwrap_err();
    assert_eq!(
        (e.message.as_str(), e.retryable),
        (r##"channel "#c": received an error response from Slack: invalid_payload"##, false)
    );

    let (result, _) = send_one(yaml, vec![Reply::new(500, "oops")], &n).await;
    let e = result.unwrap_err();
    assert_eq!(
        (e.message.as_str(), e.retryable),
        (r##"channel "#c": unexpected status code 500: oops"##, true)
    );

    let (result, _) =
        send_one(yaml, vec![Reply::new(429, "rate_limited").header("retry-after", "30")], &n).await;
    let e = result.unwrap_err();
    assert!(e.retryable);
    assert_eq!(e.retry_after, Some(Duration::from_secs(30)));

    let (result, _) = send_one(yaml, vec![Reply::new(400, "invalid_token")], &n).await;
    let e = result.unwrap_err();
    assert_eq!(
        (e.message.as_str(), e.retryable, e.retry_after),
        (r##"channel "#c": unexpected status code 400: invalid_token"##, false, None)
    );

    let (result, _) = send_one(yaml, vec![Reply::new(404, "no_service")], &n).await;
    assert!(!result.unwrap_err().retryable);
}

#[tokio::test]
async fn api_url_file_is_read_at_send_time() {
    let server = TestServer::start(vec![]).await;
    let dir = tempfile::tempdir().unwrap();
    let integration =
        SlackIntegration::new(&config("api_url_file: url\n"), &context(Some(dir.path()))).unwrap();
    let e = integration.notify(&reference_notification()).await.unwrap_err();
    assert!(!e.retryable);
    assert!(e.message.contains("read api_url file"), "{}", e.message);
    std::fs::write(dir.path().join("url"), format!("{}/from-file\n", server.base)).unwrap();
    assert_eq!(integration.notify(&reference_notification()).await, Ok(()));
    assert_eq!(server.requests()[0].path, "/from-file");
}

#[tokio::test]
async fn template_errors_are_final() {
    let (result, requests) =
        send_one("api_url: BASE/\ntext: '{{ .Nope }}'\n", vec![], &reference_notification()).await;
    let e = result.unwrap_err();
    assert!(!e.retryable);
    assert_eq!(
        e.message,
        r#"template: :1:3: executing "" at <.Nope>: can't evaluate field Nope in type *template.Data"#
    );
    assert!(requests.is_empty());
}

#[test]
fn build_errors() {
    let ctx = context(None);
    let err = SlackIntegration::new(&config("channel: x\n"), &ctx).err();
    assert_eq!(err.as_deref(), Some("no Slack API URL nor App token set either inline or in a file"));
    let cfg = config("app_token: t\nhttp_config:\n  authorization:\n    credentials: c\n");
    let err = SlackIntegration::new(&cfg, &ctx).err();
    assert_eq!(err.as_deref(), Some("http authorization can't be set when using Slack App tokens"));
    let integration = SlackIntegration::new(&config("api_url: http://hooks.example/x\n"), &ctx).unwrap();
    assert!(!integration.send_resolved());
    assert_eq!(integration.name(), "slack");
}

#[tokio::test]
async fn an_endless_answer_is_read_up_to_the_limit() {
    let (base, _) = crate::notify::receivers::test_server::endless_server("200 OK", "application/json").await;
    let cfg = config(&format!("app_token: xoxb-1\napp_url: {base}/api\nchannel: '#c'\n"));
    let integration = SlackIntegration::new(&cfg, &context(None)).unwrap();
    let e = tokio::time::timeout(Duration::from_secs(30), integration.notify(&reference_notification()))
        .await
        .expect("an endless answer must not hold the attempt")
        .unwrap_err();
    // Cut at the limit, the answer does not parse: retried, as any unreadable answer.
    assert!(e.retryable);
    assert!(
        e.message.starts_with(r##"channel "#c": could not unmarshal JSON response "xxx"##),
        "{}",
        e.message
    );
    assert!(e.message.len() < 1000, "{} bytes", e.message.len());
}

/// Every templated setting the blocks layout uses; `text` lists the firing instances only, so
/// the resolved notification's section has just the pretext.
const BLOCKS_CONFIG: &str = r#"
api_url: BASE/hook
layout: blocks
channel: '#{{ .CommonLabels.job }}'
username: bot
icon_emoji: ':fire:'
link_names: true
pretext: '*{{ .CommonLabels.severity }}*'
text: '{{ range .Alerts.Firing }}{{ .Labels.instance }} {{ end }}'
footer: 'via {{ .Receiver }}'
fields:
  - title: Job
    value: '{{ .CommonLabels.job }}'
  - title: Alerts
    value: '{{ len .Alerts }}'
actions:
  - type: button
    text: 'Runbook {{ .GroupLabels.alertname }}'
    url: 'http://runbook/{{ .GroupLabels.alertname }}'
    style: primary
  - type: button
    text: Silence
    url: 'http://silence'
    style: danger
  - type: button
    text: Plain
    url: 'http://plain'
    style: default
  - type: button
    text: Ack
    name: ack
    value: '1'
"#;

/// The blocks layout's body for `BLOCKS_CONFIG`, built by hand.
fn expected_blocks(title: &str, color: &str, section: &str, alerts: &str) -> serde_json::Value {
    let link = "http://am.example:9093/#/alerts?receiver=team-x%5C.pager";
    serde_json::json!({
        "channel": "#node",
        "username": "bot",
        "icon_emoji": ":fire:",
        "link_names": true,
        "text": format!("{title} | {link}"),
        "attachments": [{
            "color": color,
            "blocks": [
                {"type": "header", "text": {"type": "plain_text", "text": title}},
                {"type": "section", "text": {"type": "mrkdwn", "text": section}},
                {"type": "section", "fields": [
                    {"type": "mrkdwn", "text": "*Job*\nnode"},
                    {"type": "mrkdwn", "text": format!("*Alerts*\n{alerts}")}
                ]},
                {"type": "context", "elements": [{"type": "mrkdwn", "text": "via team-x\\.pager"}]},
                {"type": "actions", "elements": [
                    {"type": "button", "text": {"type": "plain_text", "text": "Open"}, "url": link},
                    {"type": "button", "text": {"type": "plain_text", "text": "Runbook InstanceDown"},
                     "url": "http://runbook/InstanceDown", "style": "primary"},
                    {"type": "button", "text": {"type": "plain_text", "text": "Silence"},
                     "url": "http://silence", "style": "danger"},
                    {"type": "button", "text": {"type": "plain_text", "text": "Plain"}, "url": "http://plain"}
                ]}
            ]
        }]
    })
}

#[tokio::test]
async fn blocks_layout_for_the_reference_notifications() {
    let (result, requests) = send_one(BLOCKS_CONFIG, vec![], &reference_notification()).await;
    assert_eq!(result, Ok(()));
    assert_eq!(requests[0].path, "/hook");
    assert_eq!(requests[0].headers["content-type"], "application/json");
    assert_eq!(
        json(&requests[0]),
        expected_blocks("[FIRING:2] InstanceDown node (page)", "danger", "*page*\na:9100 b:9100 ", "3")
    );

    let (result, requests) = send_one(BLOCKS_CONFIG, vec![], &resolved_notification()).await;
    assert_eq!(result, Ok(()));
    // No firing alert: the empty `text` is left out of the section.
    assert_eq!(
        json(&requests[0]),
        expected_blocks("[RESOLVED] InstanceDown node (page)", "good", "*page*", "3")
    );
}

#[tokio::test]
async fn blocks_layout_with_default_templates_delivers() {
    let (result, requests) =
        send_one("api_url: BASE/services/T/B/X\nlayout: blocks\n", vec![], &reference_notification()).await;
    assert_eq!(result, Ok(()));
    let r = &requests[0];
    assert_eq!(r.path, "/services/T/B/X");
    // Go's JSON escaping, as in the attachment layout.
    assert!(r.body.ends_with("}\n") && !r.body.contains('&'), "{}", r.body);
    let body = json(r);
    let title = "[FIRING:2] InstanceDown node (page)";
    let link = "http://am.example:9093/#/alerts?receiver=team-x%5C.pager";
    // Alertmanager's default pretext, text and footer are empty: no section, no context.
    assert_eq!(
        body,
        serde_json::json!({
            "username": "Alertmanager",
            "text": format!("{title} | {link}"),
            "attachments": [{"color": "danger", "blocks": [
                {"type": "header", "text": {"type": "plain_text", "text": title}},
                {"type": "actions", "elements": [
                    {"type": "button", "text": {"type": "plain_text", "text": "Open"}, "url": link}
                ]}
            ]}]
        })
    );
    assert!(body.get("blocks").is_none() && body["attachments"][0]["blocks"].is_array());
}

/// The blocks of the body `yaml` (with `layout: blocks`) gives for the reference notification.
fn blocks_for(yaml: &str) -> Vec<serde_json::Value> {
    let integration = SlackIntegration::new(&config(yaml), &context(None)).unwrap();
    let (body, _) = integration.message(&reference_notification()).unwrap();
    let body: serde_json::Value = serde_json::from_str(&body).unwrap();
    body["attachments"][0]["blocks"].as_array().unwrap().clone()
}

fn block_text(block: &serde_json::Value) -> String {
    block["text"]["text"].as_str().unwrap().to_string()
}

#[test]
fn blocks_layout_limits() {
    let base = "api_url: http://hooks.example/x\nlayout: blocks\ntitle_link: ''\n";

    // A 400-character title: cut to the header's 150, with the ellipsis.
    let blocks = blocks_for(&format!("{base}title: '{{{{ printf \"%400s\" \"x\" }}}}'\n"));
    assert_eq!(blocks.len(), 1);
    assert_eq!(blocks[0]["type"], "header");
    let header = block_text(&blocks[0]);
    assert_eq!(header.chars().count(), blocks::MAX_HEADER_RUNES);
    assert_eq!(header.chars().filter(|c| *c == ' ').count(), 149);
    assert!(header.ends_with('…'), "{header}");

    // A 5,000-character text: cut to the section's 3000.
    let blocks = blocks_for(&format!("{base}title: t\ntext: '{{{{ printf \"%5000s\" \"y\" }}}}'\n"));
    assert_eq!(blocks[1]["type"], "section");
    let text = block_text(&blocks[1]);
    assert_eq!(text.chars().count(), blocks::MAX_SECTION_RUNES);
    assert!(text.ends_with('…'));

    // 12 fields: two field sections, 10 + 2, in order.
    let fields: String = (0..12).map(|i| format!("  - {{title: 'f{i}', value: 'v{i}'}}\n")).collect();
    let blocks = blocks_for(&format!("{base}title: t\nfields:\n{fields}"));
    let counts: Vec<usize> = blocks[1..].iter().map(|b| b["fields"].as_array().unwrap().len()).collect();
    assert_eq!(counts, [10, 2]);
    assert_eq!(blocks[2]["fields"][1]["text"], "*f11*\nv11");
    assert!(blocks[1..].iter().all(|b| b["type"] == "section" && b.get("text").is_none()));

    // 600 fields and 30 actions: at most 50 blocks, 25 buttons.
    let fields: String = (0..600).map(|i| format!("  - {{title: 'f{i}', value: 'v'}}\n")).collect();
    let actions: String =
        (0..30).map(|i| format!("  - {{type: button, text: 'b{i}', url: 'http://x/{i}'}}\n")).collect();
    let blocks = blocks_for(&format!("{base}title: t\nfooter: f\nfields:\n{fields}actions:\n{actions}"));
    assert_eq!(blocks.len(), blocks::MAX_BLOCKS);
    assert_eq!(blocks[0]["type"], "header");
    assert_eq!(blocks[48]["type"], "context");
    let buttons = blocks[49]["elements"].as_array().unwrap();
    assert_eq!(buttons.len(), blocks::MAX_BUTTONS);
    assert_eq!(buttons[24]["url"], "http://x/24");

    // A long button text is cut to 75; a URL over 3000 characters leaves its button out.
    let blocks = blocks_for(&format!(
        "{base}title: t\nactions:\n  - {{type: button, text: '{}', url: 'http://a'}}\n  - {{type: button, text: b, url: 'http://{}'}}\n",
        "z".repeat(100),
        "u".repeat(3000)
    ));
    let buttons = blocks[1]["elements"].as_array().unwrap();
    assert_eq!(buttons.len(), 1);
    assert_eq!(buttons[0]["text"]["text"].as_str().unwrap().chars().count(), blocks::MAX_BUTTON_TEXT_RUNES);
}

#[test]
fn blocks_layout_leaves_out_what_renders_empty() {
    // Title, pretext, text, footer and link empty, a field value empty: only the field
    // section is left, with the field's title alone.
    let blocks = blocks_for(
        "api_url: http://x/\nlayout: blocks\ntitle: ''\ntitle_link: ''\nfields:\n  - {title: a, value: '{{ \"\" }}'}\n",
    );
    assert_eq!(
        blocks,
        [serde_json::json!({"type": "section", "fields": [{"type": "mrkdwn", "text": "*a*"}]})]
    );
    // An empty fallback: the title is the notification text.
    let integration =
        SlackIntegration::new(&config("api_url: http://x/\nlayout: blocks\nfallback: ''\n"), &context(None))
            .unwrap();
    let (body, _) = integration.message(&reference_notification()).unwrap();
    let body: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(body["text"], "[FIRING:2] InstanceDown node (page)");
    // Fallback and title both empty: the group key, as Slack refuses a message without text.
    let integration = SlackIntegration::new(
        &config("api_url: http://x/\nlayout: blocks\nfallback: ' '\ntitle: ''\n"),
        &context(None),
    )
    .unwrap();
    let n = reference_notification();
    let (body, _) = integration.message(&n).unwrap();
    let body: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(body["text"], n.group_key.as_str());
}

/// A receiver with one Slack config whose `layout` is `layout`.
fn alertmanager_yml(layout: &str) -> String {
    format!(
        "route:\n  receiver: r\nreceivers:\n- name: r\n  slack_configs:\n  - api_url: http://hooks.example/x\n{layout}"
    )
}

#[test]
fn layout_is_checked_like_any_config_field() {
    use crate::route::config::SlackLayout;
    use crate::route::load_str;
    let layout_of = |text: &str| load_str(text, "am.yml").unwrap().receivers[0].slack_configs[0].layout;
    assert_eq!(layout_of(&alertmanager_yml("")), SlackLayout::Attachments);
    assert_eq!(layout_of(&alertmanager_yml("    layout: attachments\n")), SlackLayout::Attachments);
    assert_eq!(layout_of(&alertmanager_yml("    layout: blocks\n")), SlackLayout::Blocks);

    let e = load_str(&alertmanager_yml("    layout: tables\n"), "am.yml").unwrap_err().to_string();
    assert_eq!(
        e,
        "am.yml:7:13: receivers[0].slack_configs[0].layout: unknown variant `tables`, expected `attachments` or `blocks`"
    );
}
