//! Editor speed: one promotion's edit of a kustomization file, the independent read-back check
//! included, on the bundled example's overlay (about 1 KB, two images) and on generated files of
//! 1,000 and 10,000 `images:` entries (about 100 KB and 1 MB) to show the growth is linear.
//! Run with `cargo bench --bench editor` (or scripts/bench).

use std::hint::black_box;
use std::time::Duration;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use gitops_promote::core::kustomization::{Target, edit, image_entries};

const TARGETS: [Target<'static>; 2] = [
    Target {
        image: "backend",
        tag: "sha-1a2b3c4",
        digest: None,
    },
    Target {
        image: "frontend",
        tag: "sha-1a2b3c4",
        digest: None,
    },
];

/// The example's analytics overlay: comments, a generator, two promoted images with Flux
/// image-policy markers.
fn overlay() -> String {
    std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/examples/flux-gitops-pipeline/apps/sample-saas-app/overlays/analytics/kustomization.yaml"
    ))
    .expect("the example overlay")
}

/// A kustomization with `entries` images entries of about 100 bytes each, two of them
/// (`backend` near the start, `frontend` near the end) promoted.
fn large(entries: usize) -> String {
    let mut text =
        String::from("apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nimages:\n");
    for i in 0..entries {
        let name = if i == entries / 100 {
            "backend".to_owned()
        } else if i == entries * 9 / 10 {
            "frontend".to_owned()
        } else {
            format!("svc-{i:05}")
        };
        text.push_str(&format!(
            "- name: {name}\n  newName: 123456789012.dkr.ecr.us-east-1.amazonaws.com/{name}\n  newTag: v1.{i}\n"
        ));
    }
    text
}

fn editor(c: &mut Criterion) {
    let cases = [
        ("overlay_1kb_2_images", overlay()),
        ("entries_1000_100kb", large(1_000)),
        ("entries_10000_1mb", large(10_000)),
    ];
    let mut group = c.benchmark_group("edit");
    for (name, text) in &cases {
        // Each case must really edit both images, or the bench would time a no-op.
        let edited = edit(text, &TARGETS).expect("edits");
        assert_eq!(edited.entries.iter().filter(|e| e.is_change()).count(), 2);
        group.throughput(Throughput::Bytes(text.len() as u64));
        group.bench_function(*name, |b| {
            b.iter(|| edit(black_box(text), black_box(&TARGETS)).expect("edits"))
        });
    }
    group.finish();

    let mut group = c.benchmark_group("image_entries");
    for (name, text) in &cases {
        group.throughput(Throughput::Bytes(text.len() as u64));
        group.bench_function(*name, |b| {
            b.iter(|| image_entries(black_box(text)).expect("lists"))
        });
    }
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .sample_size(20)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2));
    targets = editor
}
criterion_main!(benches);
