//! The kustomization editor on arbitrary text and targets.
//!
//! Input: the file's text, then optionally a 0xFF byte (never part of UTF-8) and bytes that
//! choose the targets. Without them (as in the seed corpus, which is plain kustomization files)
//! every image the file lists (by a name the config accepts) is promoted to `sha-1a2b3c4`. Text that is not UTF-8 is skipped:
//! `edit` takes a `&str` (the caller refuses such a file before it gets there).
//!
//! Properties, for every input:
//! - no panic, in the editor or in the libraries it reads with;
//! - on `Ok`: the output differs from the input only inside `newTag`/`digest` values or by
//!   inserted `newTag`/`digest` keys holding the wanted values, and libyaml reads it as the
//!   input with only the targeted entries' values changed (`editor_check.rs`, shared with the
//!   proptests); the record says each entry now holds the wanted values; `image_entries` of the
//!   output shows every targeted entry at its new tag (and digest); editing the output again
//!   changes nothing;
//! - on `Err`: the error names a line and column inside the input. The input is a `&str`
//!   borrowed by `edit`, so it is untouched by construction.

#![no_main]

use arbitrary::Unstructured;
use gitops_promote::core::image::{ImageSpec, Tag};
use gitops_promote::core::kustomization::{EditError, Target, edit, image_entries};
use libfuzzer_sys::fuzz_target;

#[allow(dead_code)]
#[path = "../../src/core/editor_check.rs"]
mod editor_check;

use editor_check::{Want, names_a_place, only_values_changed};

const TAG: &str = "sha-1a2b3c4";
const DIGEST: &str = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
const IMAGES: [&str; 4] = ["backend", "frontend", "nginx", "redis"];
/// Tags the config accepts, among them some a plain scalar would not read back as a string.
const TAGS: [&str; 9] = [TAG, "v2", "1.10", "true", "0x1F", "_", "1e3", "null", "v1"];

struct Chosen {
    image: String,
    tag: String,
    digest: Option<String>,
}

fn choose(text: &str, control: Option<&[u8]>) -> Vec<Chosen> {
    let listed: Vec<String> = image_entries(text)
        .map(|es| es.into_iter().map(|e| e.name).collect())
        .unwrap_or_default();
    let Some(control) = control else {
        let mut images: Vec<String> = listed.into_iter().filter(|n| accepted(n)).collect();
        if images.is_empty() {
            images = vec!["backend".into(), "frontend".into()];
        }
        images.dedup();
        let mut chosen: Vec<Chosen> = Vec::new();
        for image in images {
            if !chosen.iter().any(|c| c.image == image) {
                chosen.push(Chosen {
                    image,
                    tag: TAG.into(),
                    digest: None,
                });
            }
        }
        return chosen;
    };
    let mut u = Unstructured::new(control);
    let count = u.int_in_range(1..=3u8).unwrap_or(1);
    let mut chosen: Vec<Chosen> = Vec::new();
    for _ in 0..count {
        let image = match u.int_in_range(0..=2u8).unwrap_or(0) {
            0 if !listed.is_empty() => listed[u.choose_index(listed.len()).unwrap_or(0)].clone(),
            1 => u
                .arbitrary::<&str>()
                .map(str::to_owned)
                .unwrap_or_else(|_| "backend".into()),
            _ => (*u.choose(&IMAGES).unwrap_or(&"backend")).to_owned(),
        };
        let tag = match u.int_in_range(0..=2u8).unwrap_or(0) {
            0 => (*u.choose(&TAGS).unwrap_or(&TAG)).to_owned(),
            1 => "a".repeat(128),
            // Any tag the config's `tag` input accepts.
            _ => u
                .arbitrary::<&str>()
                .ok()
                .filter(|t| Tag::parse(t).is_ok())
                .unwrap_or(TAG)
                .to_owned(),
        };
        let digest = match u.int_in_range(0..=2u8).unwrap_or(0) {
            0 => None,
            1 => Some(DIGEST.to_owned()),
            _ => {
                let bytes: [u8; 32] = u.arbitrary().unwrap_or([0; 32]);
                let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
                Some(format!("sha256:{hex}"))
            }
        };
        // Only names the config accepts, each once.
        let image = if accepted(&image) {
            image
        } else {
            "backend".to_owned()
        };
        if !chosen.iter().any(|c| c.image == image) {
            chosen.push(Chosen { image, tag, digest });
        }
    }
    chosen
}

/// An image name the config accepts (since F4's fix, also those YAML reads as a number, such as
/// `615`: the editor refuses them at the name).
fn accepted(name: &str) -> bool {
    ImageSpec::parse(name).is_ok_and(|spec| spec.name == name)
}

fuzz_target!(|data: &[u8]| {
    let (text, control) = match data.iter().position(|b| *b == 0xFF) {
        Some(i) => (&data[..i], Some(&data[i + 1..])),
        None => (data, None),
    };
    let Ok(text) = std::str::from_utf8(text) else {
        return;
    };
    let chosen = choose(text, control);
    let targets: Vec<Target> = chosen
        .iter()
        .map(|c| Target {
            image: &c.image,
            tag: &c.tag,
            digest: c.digest.as_deref(),
        })
        .collect();
    let wants: Vec<Want> = chosen
        .iter()
        .map(|c| Want {
            image: &c.image,
            tag: &c.tag,
            digest: c.digest.as_deref(),
        })
        .collect();

    let out = match edit(text, &targets) {
        Ok(out) => out,
        Err(err) => {
            check_error(text, &err);
            return;
        }
    };
    if let Err(broken) = only_values_changed(text, &out.text, &wants) {
        panic!("{broken}\n--- input\n{text}\n--- output\n{}", out.text);
    }
    for entry in &out.entries {
        let target = targets
            .iter()
            .find(|t| t.image == entry.image)
            .expect("a recorded entry is a targeted image");
        assert_eq!(entry.tag.new, target.tag, "{entry:?}");
        if let Some(d) = target.digest {
            assert_eq!(entry.final_digest.as_deref(), Some(d), "{entry:?}");
        }
    }
    // Where the input lists its entries (the editor refuses only what it edits: an untargeted
    // entry with a duplicate key is left alone), the output lists the new values.
    if image_entries(text).is_ok() {
        let listed = image_entries(&out.text).expect("the output lists its entries");
        for entry in &listed {
            if let Some(target) = targets.iter().find(|t| t.image == entry.name) {
                assert_eq!(
                    entry.new_tag.as_deref(),
                    Some(target.tag),
                    "{entry:?}\n{}",
                    out.text
                );
                if let Some(d) = target.digest {
                    assert_eq!(entry.digest.as_deref(), Some(d), "{entry:?}\n{}", out.text);
                }
            }
        }
    }
    let again = edit(&out.text, &targets).expect("the output edits again");
    assert_eq!(again.text, out.text, "a second edit changed the output");
    assert!(
        again.entries.iter().all(|e| !e.is_change()),
        "{:?}",
        again.entries
    );
});

/// An error names a place inside the input.
fn check_error(text: &str, err: &EditError) {
    let Some((line, col)) = err.position() else {
        panic!("an error without a position: {err}\n--- input\n{text:?}");
    };
    if let Err(outside) = names_a_place(text, line, col) {
        panic!("{err}: {outside}\n--- input\n{text:?}");
    }
}
