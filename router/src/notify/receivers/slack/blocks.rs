//! The `layout: blocks` message: Slack Block Kit built from the rendered attachment.
//!
//! Harrier's own layout (Alertmanager only has the legacy attachment). It takes the
//! [`Message`] the attachment layout would send, with every template already rendered, and
//! lays the same values out as blocks, so a user's templates work unchanged in either layout:
//!
//! ```json
//! {"channel": "...", "username": "...", "icon_emoji": "...", "link_names": true,
//!  "text": "<fallback>",
//!  "attachments": [{"color": "danger", "blocks": [
//!    {"type": "header", "text": {"type": "plain_text", "text": "<title>"}},
//!    {"type": "section", "text": {"type": "mrkdwn", "text": "<pretext>\n<text>"}},
//!    {"type": "section", "fields": [{"type": "mrkdwn", "text": "*<title>*\n<value>"}]},
//!    {"type": "context", "elements": [{"type": "mrkdwn", "text": "<footer>"}]},
//!    {"type": "actions", "elements": [
//!      {"type": "button", "text": {"type": "plain_text", "text": "Open"}, "url": "<title_link>"},
//!      {"type": "button", "text": {"type": "plain_text", "text": "<text>"}, "url": "<url>",
//!       "style": "primary"}]}]}]}
//! ```
//!
//! - The top-level `text` (Slack's notification text, required with blocks) is the rendered
//!   `fallback`, or the title when `fallback` renders empty. `channel`, `username`,
//!   `icon_emoji`, `icon_url` and `link_names` are sent as the attachment layout sends them.
//! - The blocks sit in one attachment with the rendered `color`, so the firing/resolved
//!   color bar stays.
//! - `header`: the title, plain text, cut to [`MAX_HEADER_RUNES`].
//! - `section`: `pretext` and `text`, each when non-empty, one per line, mrkdwn, cut to
//!   [`MAX_SECTION_RUNES`].
//! - `fields`: each as mrkdwn `*title*\nvalue` (cut to [`MAX_FIELD_RUNES`]), at most
//!   [`MAX_FIELDS_PER_SECTION`] per section, in as many sections as needed. Block Kit fields
//!   are always two columns: `short` has no equivalent and is not used.
//! - `context`: the `footer`, cut to [`MAX_SECTION_RUNES`].
//! - `actions`: the header cannot hold a link, so a `title_link` becomes the first button,
//!   labelled [`TITLE_LINK_BUTTON_TEXT`]; then one button per configured action whose URL
//!   renders non-empty (legacy interactive actions with only `name`/`value` need an app
//!   endpoint and are left out), with the action's `style` when it is `primary` or
//!   `danger`. Button texts are cut to [`MAX_BUTTON_TEXT_RUNES`]; a button whose URL is
//!   longer than [`MAX_URL_RUNES`] is left out (a cut URL would be wrong), as are buttons
//!   beyond [`MAX_BUTTONS`].
//!
//! Slack rejects a whole message when one block breaks a limit, so every limit is applied
//! here, with a warning naming the group (as the attachment layout does for its title), and
//! a block with nothing to show is left out. The message never has more than
//! [`MAX_BLOCKS`] blocks: field sections beyond that are dropped, with a warning.
//!
//! Not used by this layout: `callback_id`, `image_url`, `thumb_url`, `mrkdwn_in` (block
//! texts are mrkdwn or plain text by type) and actions' `confirm` dialogs.

use serde::Serialize;

use super::{Action, Attachment, Field, Message, Sender};
use crate::notify::receivers::truncate_runes;

/// Slack's limit on a header block's text, in characters.
pub const MAX_HEADER_RUNES: usize = 150;
/// Slack's limit on a section's (and a context element's) text, in characters.
pub const MAX_SECTION_RUNES: usize = 3000;
/// Slack's limit on each text of a section's `fields`, in characters.
pub const MAX_FIELD_RUNES: usize = 2000;
/// Slack's limit on the `fields` of one section.
pub const MAX_FIELDS_PER_SECTION: usize = 10;
/// Slack's limit on a button's text, in characters.
pub const MAX_BUTTON_TEXT_RUNES: usize = 75;
/// Slack's limit on a button's URL, in characters.
pub const MAX_URL_RUNES: usize = 3000;
/// Slack's limit on the elements of an actions block.
pub const MAX_BUTTONS: usize = 25;
/// Slack's limit on the blocks of a message.
pub const MAX_BLOCKS: usize = 50;
/// The label of the button that opens `title_link`.
pub const TITLE_LINK_BUTTON_TEXT: &str = "Open";

/// The request body with `layout: blocks`.
#[derive(Serialize)]
pub(super) struct BlocksMessage {
    #[serde(flatten)]
    sender: Sender,
    text: String,
    /// Left out when nothing renders (an attachment without blocks is not valid).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    attachments: Vec<BlocksAttachment>,
}

/// An attachment that only carries the color bar and the blocks.
#[derive(Serialize)]
struct BlocksAttachment {
    #[serde(skip_serializing_if = "String::is_empty")]
    color: String,
    blocks: Vec<Block>,
}

/// The Block Kit blocks this layout uses.
#[derive(Debug, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum Block {
    Header {
        text: Text,
    },
    Section {
        #[serde(skip_serializing_if = "Option::is_none")]
        text: Option<Text>,
        #[serde(skip_serializing_if = "Vec::is_empty")]
        fields: Vec<Text>,
    },
    Context {
        elements: Vec<Text>,
    },
    Actions {
        elements: Vec<Element>,
    },
}

/// A Block Kit text object.
#[derive(Debug, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum Text {
    PlainText { text: String },
    Mrkdwn { text: String },
}

/// An interactive element of an actions block: only link buttons here.
#[derive(Debug, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum Element {
    Button {
        text: Text,
        url: String,
        #[serde(skip_serializing_if = "Option::is_none")]
        style: Option<&'static str>,
    },
}

/// Cuts `text` to `max` characters, warning (with the group and what was cut) when it was.
fn cut(text: &str, max: usize, what: &str, group_key: &str) -> String {
    let (out, truncated) = truncate_runes(text, max);
    if truncated {
        tracing::warn!(key = %group_key, max_runes = max, "Truncated Slack block {what}");
    }
    out
}

fn has_text(s: &str) -> bool {
    !s.trim().is_empty()
}

impl BlocksMessage {
    /// Lays out `message` (the attachment layout's, rendered, title not yet cut) as blocks;
    /// `group_key` names the group in warnings.
    pub(super) fn new(message: Message, group_key: &str) -> BlocksMessage {
        let text = message
            .attachments
            .iter()
            .map(|a| if a.fallback.is_empty() { a.title.as_str() } else { a.fallback.as_str() })
            .find(|t| has_text(t))
            // Slack refuses a message without text ("no_text") and there would be no retry
            // helping it: the group key at least says which alerts this was.
            .map_or_else(|| group_key.to_string(), str::to_string);
        let attachments = message
            .attachments
            .into_iter()
            .map(|a| BlocksAttachment::new(a, group_key))
            .filter(|a| !a.blocks.is_empty())
            .collect();
        BlocksMessage { sender: message.sender, text, attachments }
    }
}

impl BlocksAttachment {
    fn new(a: Attachment, group_key: &str) -> BlocksAttachment {
        let mut head = Vec::new();
        if has_text(&a.title) {
            let text = cut(&a.title, MAX_HEADER_RUNES, "header", group_key);
            head.push(Block::Header { text: Text::PlainText { text } });
        }
        let body: Vec<&str> =
            [a.pretext.as_str(), a.text.as_str()].into_iter().filter(|s| has_text(s)).collect();
        if !body.is_empty() {
            let text = cut(&body.join("\n"), MAX_SECTION_RUNES, "section text", group_key);
            head.push(Block::Section { text: Some(Text::Mrkdwn { text }), fields: Vec::new() });
        }
        let mut tail = Vec::new();
        if has_text(&a.footer) {
            let text = cut(&a.footer, MAX_SECTION_RUNES, "context", group_key);
            tail.push(Block::Context { elements: vec![Text::Mrkdwn { text }] });
        }
        let buttons = buttons(&a.title_link, &a.actions, group_key);
        if !buttons.is_empty() {
            tail.push(Block::Actions { elements: buttons });
        }
        let mut sections = field_sections(&a.fields, group_key);
        let room = MAX_BLOCKS.saturating_sub(head.len() + tail.len());
        if sections.len() > room {
            tracing::warn!(
                key = %group_key,
                max_blocks = MAX_BLOCKS,
                dropped_sections = sections.len() - room,
                "Dropped Slack field sections beyond the block limit"
            );
            sections.truncate(room);
        }
        let mut blocks = head;
        blocks.append(&mut sections);
        blocks.append(&mut tail);
        BlocksAttachment { color: a.color, blocks }
    }
}

/// The fields as sections of at most [`MAX_FIELDS_PER_SECTION`]; a field that renders
/// empty is left out.
fn field_sections(fields: &[Field], group_key: &str) -> Vec<Block> {
    let texts: Vec<Text> = fields
        .iter()
        .filter_map(|f| {
            let text = match (has_text(&f.title), has_text(&f.value)) {
                (true, true) => format!("*{}*\n{}", f.title, f.value),
                (true, false) => format!("*{}*", f.title),
                (false, true) => f.value.clone(),
                (false, false) => return None,
            };
            Some(Text::Mrkdwn { text: cut(&text, MAX_FIELD_RUNES, "field", group_key) })
        })
        .collect();
    let mut sections = Vec::with_capacity(texts.len().div_ceil(MAX_FIELDS_PER_SECTION));
    let mut texts = texts.into_iter().peekable();
    while texts.peek().is_some() {
        let fields: Vec<Text> = texts.by_ref().take(MAX_FIELDS_PER_SECTION).collect();
        sections.push(Block::Section { text: None, fields });
    }
    sections
}

/// The `title_link` button, then one per action with a URL, at most [`MAX_BUTTONS`].
fn buttons(title_link: &str, actions: &[Action], group_key: &str) -> Vec<Element> {
    let link = std::iter::once((TITLE_LINK_BUTTON_TEXT, title_link, ""));
    let configured = actions.iter().map(|a| (a.text.as_str(), a.url.as_str(), a.style.as_str()));
    let mut out = Vec::new();
    for (text, url, style) in link.chain(configured) {
        if !has_text(text) || !has_text(url) {
            continue;
        }
        if url.chars().count() > MAX_URL_RUNES {
            tracing::warn!(key = %group_key, max_runes = MAX_URL_RUNES, "Left out a Slack button: URL too long");
            continue;
        }
        if out.len() == MAX_BUTTONS {
            tracing::warn!(key = %group_key, max_buttons = MAX_BUTTONS, "Left out Slack buttons beyond the limit");
            break;
        }
        let style = match style {
            "primary" => Some("primary"),
            "danger" => Some("danger"),
            _ => None,
        };
        out.push(Element::Button {
            text: Text::PlainText { text: cut(text, MAX_BUTTON_TEXT_RUNES, "button text", group_key) },
            url: url.to_string(),
            style,
        });
    }
    out
}
