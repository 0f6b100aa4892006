//! Planning an edit: which `images:` entries a promotion touches, what each will hold, and the
//! splices that get it there, returned as data. Nothing here writes text; [`super::splice`]
//! applies a plan and [`super::verify`] checks the result.

use saphyr_parser::ScalarStyle;

use super::scalar::{in_style, plain_or_quoted, plain_reading};
use super::splice::Splice;
use super::tree::{Kind, Node, after_colon, scalar_end};
use super::{EditError, EntryUpdate, Target, Update};

/// Everything an edit will change, entry by entry, in document order.
#[derive(Debug, Default, PartialEq, Eq)]
pub(super) struct Plan {
    pub entries: Vec<PlannedEntry>,
}

/// One `images:` entry naming a promoted image: what it will hold, where it is, and the splices
/// (none when it already holds the values) that stay within its own bytes.
#[derive(Debug, PartialEq, Eq)]
pub(super) struct PlannedEntry {
    pub update: EntryUpdate,
    pub item: Item,
    pub splices: Vec<Splice>,
}

/// Where an `images:` item sits in the original text, for the check that reads it back.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Item {
    /// The byte offset of the item's first key, or of its `{`.
    pub start: usize,
    /// The 1-based column of `start`; every line of a block item is indented at least this far.
    pub col: usize,
    /// For an item of a flow list (`images: [...]`): the byte offset just past its `}`.
    pub flow_end: Option<usize>,
    /// The byte offset of its `name` key.
    pub name: usize,
}

impl Plan {
    pub fn splices(&self) -> impl Iterator<Item = &Splice> {
        self.entries.iter().flat_map(|e| &e.splices)
    }

    pub fn into_updates(self) -> Vec<EntryUpdate> {
        self.entries.into_iter().map(|e| e.update).collect()
    }
}

/// Plans setting each target's tag (and digest) in every top-level `images:` entry whose `name`
/// is the target's image. `body` is the text the tree was read from.
pub(super) fn plan(body: &str, root: &Node, targets: &[Target]) -> Result<Plan, EditError> {
    let mut plan = Plan::default();
    if root.is_null() {
        return Ok(plan);
    }
    let Some((images, items)) = image_list(root)? else {
        return Ok(plan);
    };
    let flow = matches!(images.kind, Kind::Seq { flow: true, .. });
    for entry in items {
        let Some(target) = match_entry(root, entry, targets)? else {
            continue;
        };
        if images.anchor != 0 {
            return Err(images.unsupported(
                "the `images` list carries an anchor (&), so other parts of the file may alias \
                 it; the editor will not guess",
            ));
        }
        let (update, splices) = plan_entry(body, entry, target)?;
        let item = Item {
            start: entry.pos.byte,
            col: entry.pos.col,
            flow_end: flow.then_some(entry.end),
            name: entry
                .get("name")?
                .map_or(entry.pos.byte, |(key, _)| key.pos.byte),
        };
        plan.entries.push(PlannedEntry {
            update,
            item,
            splices,
        });
    }
    Ok(plan)
}

/// The top-level `images` list and its entries; `None` when there is none (or it is null).
/// Refuses, by place, a top level that is not a mapping and an `images` that is not a list.
pub(super) fn image_list<'n>(
    root: &'n Node<'_>,
) -> Result<Option<(&'n Node<'n>, &'n [Node<'n>])>, EditError> {
    if !matches!(root.kind, Kind::Map { .. }) {
        return Err(
            root.unsupported("the top level is not a mapping, so this is not a kustomization")
        );
    }
    let Some((images_key, images)) = root.get("images")? else {
        return Ok(None);
    };
    if images_key.tagged {
        // Fuzz finding F7: YAML readers disagree on a tagged key (kustomize drops the tag,
        // libyaml keeps it as another key), as for the entries' keys (F5).
        return Err(images_key.unsupported(
            "the key `images` has an explicit YAML tag (!); write it without the tag",
        ));
    }
    match &images.kind {
        Kind::Seq { items, .. } => Ok(Some((images, items))),
        _ if images.is_null() => Ok(None),
        Kind::Alias(_) => Err(images
            .unsupported("`images` is an alias; the editor will not guess where its entries live")),
        _ => Err(images_key.unsupported("`images` is not a list")),
    }
}

/// The target an entry names, if any; fails where only resolving anchors could tell.
fn match_entry<'t>(
    root: &Node,
    entry: &Node,
    targets: &'t [Target<'t>],
) -> Result<Option<&'t Target<'t>>, EditError> {
    let name = match &entry.kind {
        Kind::Map { .. } => match entry.get("name")? {
            Some((_, name)) => name,
            None if entry.get("<<")?.is_some() => {
                return Err(entry.unsupported(
                    "an `images` entry takes its keys from a merge key (<<); the editor will not \
                     guess its name",
                ));
            }
            None => return Ok(None),
        },
        Kind::Alias(id) => {
            let aliased = root
                .find_anchor(*id)
                .and_then(|n| n.get("name").ok().flatten());
            let names_target = aliased
                .and_then(|(_, name)| name.as_str())
                .is_some_and(|name| targets.iter().any(|t| t.image == name));
            if names_target {
                return Err(entry.unsupported(
                    "an `images` entry is an alias (*); editing it would change its anchor's \
                     other uses, so the editor will not guess",
                ));
            }
            return Ok(None);
        }
        _ => return Err(entry.unsupported("an `images` entry is not a mapping")),
    };
    let Some(name_str) = name.as_str() else {
        return Ok(None);
    };
    let Some(target) = targets.iter().find(|t| t.image == name_str) else {
        return Ok(None);
    };
    // Fuzz finding F4: `name: 615` is the number 615 to YAML (and to kustomize, which then
    // finds no image name), not the image `615`.
    let plain = matches!(
        name.kind,
        Kind::Scalar {
            style: ScalarStyle::Plain,
            ..
        }
    ) && !name.tagged;
    if plain && let Some(reading) = plain_reading(name_str) {
        return Err(name.unsupported(format!(
            "`name: {name_str}` is read by YAML as {reading}, not as the image name \
             `{name_str}` (kustomize refuses it too); quote it: `name: \"{name_str}\"`"
        )));
    }
    // Fuzz finding F5: a tag on a key (`! newTag:`) makes it another key to YAML, so the
    // editor would read and write a key kustomize does not see. F6: in a flow mapping, libyaml
    // (and kustomize's Go port of it) reads `?newTag` as the key `newTag` behind an explicit-key
    // `?`, where the editor's parser reads the key `?newTag`.
    const KEYS: [&str; 4] = ["name", "newName", "newTag", "digest"];
    if let Kind::Map { pairs, flow } = &entry.kind {
        for (key, _) in pairs {
            let Some(text) = key.as_str() else { continue };
            if key.tagged && KEYS.contains(&text) {
                return Err(key.unsupported(format!(
                    "the key `{text}` of the `images` entry for `{name_str}` has an explicit YAML \
                     tag (!), so YAML does not read it as kustomize's key; write it without the tag"
                )));
            }
            if let Some(glued) = text.strip_prefix('?')
                && *flow
                && KEYS.contains(&glued)
            {
                return Err(key.unsupported(format!(
                    "the key `{text}` of the `images` entry for `{name_str}` is read as `{glued}` \
                     by some YAML readers (kustomize's among them) and as `{text}` by others; \
                     write `{glued}` without the `?`"
                )));
            }
        }
    }
    if entry.anchor != 0 {
        return Err(entry.unsupported(format!(
            "the `images` entry for `{name_str}` carries an anchor (&), so other parts of the file \
             may alias it; the editor will not guess"
        )));
    }
    if entry.get("<<")?.is_some() {
        return Err(entry.unsupported(format!(
            "the `images` entry for `{name_str}` uses a merge key (<<); the editor will not guess \
             which value wins"
        )));
    }
    Ok(Some(target))
}

fn plan_entry(
    body: &str,
    entry: &Node,
    target: &Target,
) -> Result<(EntryUpdate, Vec<Splice>), EditError> {
    let Kind::Map { flow, .. } = entry.kind else {
        unreachable!("match_entry only returns mappings");
    };
    let Some((name_key, name)) = entry.get("name")? else {
        unreachable!("matched entries have a name");
    };
    let new_name = entry.get("newName")?;
    let new_tag = entry.get("newTag")?;
    let digest = entry.get("digest")?;

    let tag = Update {
        old: match new_tag {
            Some((_, v)) => editable(v, "newTag")?,
            None => None,
        },
        new: target.tag.to_owned(),
    };
    let old_digest = match digest {
        Some((_, v)) => editable(v, "digest")?,
        None => None,
    };
    let (digest_update, kept_digest) = match (target.digest, old_digest) {
        (Some(new), old) => (
            Some(Update {
                old,
                new: new.to_owned(),
            }),
            None,
        ),
        (None, Some(old)) if tag.is_change() => {
            let value = digest.map_or(entry, |(_, v)| v);
            return Err(EditError::StaleDigest {
                line: value.pos.line,
                col: value.pos.col,
                image: target.image.to_owned(),
                digest: old,
            });
        }
        (None, old) => (None, old),
    };

    let mut splices = Vec::new();
    // Keys to insert, in order, after `anchor`'s value.
    let mut inserts: Vec<(&str, &str)> = Vec::new();
    let anchor = match new_tag {
        Some((key, value)) => {
            if tag.is_change() {
                splices.push(replace_value(body, key, value, &tag.new)?);
            }
            Some((key, value))
        }
        None => {
            inserts.push(("newTag", target.tag));
            None
        }
    };
    if let Some(update) = digest_update.as_ref().filter(|u| u.is_change()) {
        match digest {
            Some((key, value)) => splices.push(replace_value(body, key, value, &update.new)?),
            None => inserts.push(("digest", &update.new)),
        }
    }
    if !inserts.is_empty() {
        let (after_key, after_value) = anchor.or(new_name).unwrap_or((name_key, name));
        splices.push(insert_after(body, flow, after_key, after_value, &inserts)?);
    }

    let final_digest = digest_update
        .as_ref()
        .map(|d| d.new.clone())
        .or(kept_digest);
    let update = EntryUpdate {
        image: target.image.to_owned(),
        line: name_key.pos.line,
        new_name: new_name
            .filter(|(_, v)| !v.is_null())
            .and_then(|(_, v)| v.as_str())
            .map(str::to_owned),
        tag,
        digest: digest_update,
        final_digest,
    };
    Ok((update, splices))
}

/// The current value of a key the editor may rewrite, refusing what it would have to guess at.
fn editable(value: &Node, key: &str) -> Result<Option<String>, EditError> {
    if let Kind::Alias(_) = value.kind {
        return Err(value.unsupported(format!(
            "`{key}` is an alias (*); the editor will not guess whether to change the anchor"
        )));
    }
    if value.anchor != 0 {
        return Err(value.unsupported(format!(
            "`{key}` carries an anchor (&), so other parts of the file may alias it; the editor \
             will not guess"
        )));
    }
    if value.tagged {
        return Err(value.unsupported(format!("`{key}` has an explicit YAML tag (!)")));
    }
    if let Kind::Scalar {
        style: ScalarStyle::Literal | ScalarStyle::Folded,
        ..
    } = value.kind
    {
        // A block scalar's value ends in a line break (unless chomped), which no tag has; and
        // its bytes run to the next key's line. Issue 9: the splice ate that line break.
        return Err(value.unsupported(format!(
            "`{key}` is a block scalar (| or >); write it on one line, e.g. `{key}: v1`"
        )));
    }
    match &value.kind {
        _ if value.is_null() => Ok(None),
        Kind::Scalar { value, .. } => Ok(Some(value.to_string())),
        _ => Err(value.unsupported(format!("`{key}` is not a single value"))),
    }
}

/// Replaces a scalar's bytes, keeping its quoting style.
fn replace_value(body: &str, key: &Node, value: &Node, new: &str) -> Result<Splice, EditError> {
    let Kind::Scalar { style, .. } = &value.kind else {
        unreachable!("editable values are scalars");
    };
    if value.is_empty_plain() {
        // `newTag:` with nothing after the colon: write the value after it.
        let colon = after_colon(body, key)?;
        let rest = &body[colon..];
        return Ok(if rest.starts_with([' ', '\t']) {
            let gap = if rest[1..].starts_with('#') { " " } else { "" };
            Splice::insert(colon + 1, format!("{}{gap}", plain_or_quoted(new)))
        } else {
            Splice::insert(colon, format!(" {}", plain_or_quoted(new)))
        });
    }
    Ok(Splice {
        range: value.pos.byte..scalar_end(body, value)?,
        text: in_style(*style, new),
    })
}

/// Adds `key: value` lines (block) or pairs (flow) right after an existing pair.
fn insert_after(
    body: &str,
    flow: bool,
    key: &Node,
    value: &Node,
    pairs: &[(&str, &str)],
) -> Result<Splice, EditError> {
    let value_end = if value.is_empty_plain() {
        after_colon(body, key)?
    } else {
        scalar_end(body, value)?
    };
    if flow {
        let text: String = pairs
            .iter()
            .map(|(k, v)| format!(", {k}: {}", plain_or_quoted(v)))
            .collect();
        return Ok(Splice::insert(value_end, text));
    }
    let indent = " ".repeat(key.pos.col - 1);
    let lines = |eol: &str| -> String {
        pairs
            .iter()
            .map(|(k, v)| format!("{indent}{k}: {}{eol}", plain_or_quoted(v)))
            .collect()
    };
    Ok(match body[value_end..].find('\n') {
        Some(nl) => {
            let at = value_end + nl + 1;
            let eol = if body[..at].ends_with("\r\n") {
                "\r\n"
            } else {
                "\n"
            };
            Splice::insert(at, lines(eol))
        }
        None => {
            // The last line has no line break: start a new line, and end without one too.
            let eol = if body.contains("\r\n") { "\r\n" } else { "\n" };
            let text = lines(eol);
            Splice::insert(
                body.len(),
                format!("{eol}{}", &text[..text.len() - eol.len()]),
            )
        }
    })
}

#[cfg(test)]
mod tests {
    use super::super::tree::read_document;
    use super::*;

    const DIGEST: &str = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

    fn target<'a>(image: &'a str, digest: Option<&'a str>) -> Target<'a> {
        Target {
            image,
            tag: "v2",
            digest,
        }
    }

    fn plan_of(text: &str, targets: &[Target]) -> Result<Plan, EditError> {
        let root = read_document(text)?.expect("a document");
        plan(text, &root, targets)
    }

    /// The plan names the exact bytes: the old value's span, or an empty span where a line is
    /// inserted, with the text for it. No text is produced here.
    #[test]
    fn a_plan_is_the_splices_and_the_record() {
        let text =
            "images:\n- name: backend\n  newTag: 'v1' # c\n- name: frontend\n  newName: r/f\n";
        let plan =
            plan_of(text, &[target("backend", None), target("frontend", None)]).expect("plans");
        let splices: Vec<(&str, &str)> = plan
            .splices()
            .map(|s| (&text[s.range.clone()], s.text.as_str()))
            .collect();
        assert_eq!(splices, [("'v1'", "'v2'"), ("", "  newTag: v2\n")]);
        let inserted = plan.entries[1].splices[0].range.start;
        assert_eq!(inserted, text.len());
        let updates = plan.into_updates();
        assert_eq!(
            updates[1],
            EntryUpdate {
                image: "frontend".into(),
                line: 4,
                new_name: Some("r/f".into()),
                tag: Update {
                    old: None,
                    new: "v2".into()
                },
                digest: None,
                final_digest: None,
            }
        );
    }

    /// An entry that already holds the values is recorded, with no splice.
    #[test]
    fn a_current_entry_is_recorded_without_splices() {
        let text = format!("images:\n- name: backend\n  newTag: v2\n  digest: {DIGEST}\n");
        let plan = plan_of(&text, &[target("backend", None)]).expect("plans");
        assert_eq!(plan.splices().count(), 0);
        let entry = &plan.entries[0];
        assert!(!entry.update.is_change());
        assert_eq!(entry.update.final_digest.as_deref(), Some(DIGEST));
        assert_eq!(
            entry.item,
            Item {
                start: 10,
                col: 3,
                flow_end: None,
                name: 10,
            }
        );
    }

    /// A written digest replaces the old one, and is the one the entry renders with.
    #[test]
    fn a_new_digest_replaces_the_old_one() {
        let text = "images: [{name: backend, newTag: v1, digest: \"sha256:0\"}]\n";
        let plan = plan_of(text, &[target("backend", Some(DIGEST))]).expect("plans");
        let texts: Vec<&str> = plan.splices().map(|s| s.text.as_str()).collect();
        assert_eq!(texts, ["v2", &format!("\"{DIGEST}\"")]);
        let entry = &plan.entries[0];
        assert_eq!(entry.item.flow_end, Some(text.len() - 2));
        assert_eq!(entry.update.final_digest.as_deref(), Some(DIGEST));
        assert_eq!(
            entry.update.digest,
            Some(Update {
                old: Some("sha256:0".into()),
                new: DIGEST.into()
            })
        );
    }

    /// Entries of other images, nested `images` lists and non-entries are not planned.
    #[test]
    fn only_top_level_entries_of_the_targets_are_planned() {
        let text = "helmCharts:\n- valuesInline:\n    images:\n    - name: backend\nimages:\n- name: nginx\n- name: Backend\n- name: backend-x\n";
        let plan = plan_of(text, &[target("backend", None)]).expect("plans");
        assert_eq!(plan, Plan::default());
    }
}
